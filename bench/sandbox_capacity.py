"""Bench: how many requests per second the sandboxes answer when served in their own process.

    python bench/sandbox_capacity.py [--requests 300] [--threads 4] [--workers 2] [--port 8123]

It uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/portal_bench; created if missing), migrates
it, fills a sandbox called "bench" for every system that can generate data (a system whose provision.generate
raises NotImplementedError is skipped), starts `manage.py sandbox serve` as a separate process, measures a fixed
number of requests with a few client threads, prints JSON and stops the server. Scenarios:

- prestashop_order_list: GET /api/orders?display=full&limit=50
- prestashop_order: GET /api/orders/{id}
- tims_sales_order_post: POST /api/v1/sales-orders (each with its own Idempotency-Key)

A scenario whose endpoint answers 404 or 501 is reported as skipped. Only 127.0.0.1 is contacted; every request
has a timeout and the whole run a deadline.
"""

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/portal_bench"
SLUG = "bench"
HOST = "127.0.0.1"
REQUEST_TIMEOUT = 15


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="Requests per scenario.")
    parser.add_argument("--threads", type=int, default=4, help="Client threads.")
    parser.add_argument("--workers", type=int, default=2, help="Server processes.")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--orders", type=int, default=120, help="Channel orders to generate.")
    parser.add_argument("--products", type=int, default=60)
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--deadline", type=float, default=600, help="Seconds for the whole run.")
    args = parser.parse_args()
    if not (1 <= args.requests <= 100_000 and 1 <= args.threads <= 64 and 1 <= args.workers <= 16):
        parser.error("requests 1..100000, threads 1..64, workers 1..16")
    return args


def ensure_database(url):
    """Create the database named by a PostgreSQL URL if it does not exist yet."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.scheme not in ("postgres", "postgresql", "pgsql") or not re.fullmatch(r"\w+", name):
        return
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def prepare(args, server_root):
    """Migrate, (re)fill the bench sandbox and return its credentials per system plus what was generated."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from sandbox import services

    call_command("migrate", interactive=False, verbosity=0)
    sandbox, created = services.create_sandbox(SLUG)
    if not created:
        services.reset_sandbox(sandbox)
    services.set_faults(sandbox, "prestashop", "none")
    services.set_faults(sandbox, "channeladvisor", "none")
    services.set_faults(sandbox, "tims", "none")
    generated = {}
    # TIMS first: it owns the catalog the channels' orders refer to.
    for system in ("tims", "prestashop", "channeladvisor"):
        try:
            generated[system] = services.system_module(system).generate(
                sandbox, orders=0 if system == "tims" else args.orders, products=args.products,
                customers=args.customers, state=None, unknown_sku=0, rng=random.Random(42))
        except NotImplementedError:
            generated[system] = "skipped: generate is not implemented"
    return services.issue_credentials(sandbox, server_root), generated


class Server:
    """`manage.py sandbox serve` in its own process group, so stopping it stops its workers too."""

    def __init__(self, port, workers):
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "sandbox", "serve", "--port", str(port), "--workers", str(workers)],
            cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"The sandbox server exited with status {self.process.returncode}.")
            try:
                requests.get(f"http://{HOST}:{self.port}/sandbox/{SLUG}/tims/api/v1/openapi.json", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.3)
        raise RuntimeError("The sandbox server did not answer in time.")

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def measure(count, threads, send, deadline):
    """Run `send(session)` `count` times over `threads` threads; return rate, latencies and statuses."""
    lock = threading.Lock()
    remaining = [count]
    latencies, statuses, failures = [], {}, []

    def worker():
        session = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            started = time.monotonic()
            try:
                status = send(session).status_code
            except requests.RequestException as exc:
                status = "error"
                failures.append(type(exc).__name__)
            with lock:
                latencies.append((time.monotonic() - started) * 1000)
                statuses[str(status)] = statuses.get(str(status), 0) + 1
        session.close()

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "requests_per_second": round(len(latencies) / elapsed, 1) if elapsed else None,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 1) if latencies else None,
        "statuses": statuses,
        "transport_errors": sorted(set(failures)),
    }


def local(url):
    if urlsplit(url).hostname != HOST:
        raise ValueError(f"Refusing to contact {url}: the bench talks to {HOST} only.")
    return url


def prestashop_scenarios(credentials):
    base = credentials.get("base_url", "")
    key = credentials.get("ws_key")
    if not key:
        return {"prestashop_order_list": None, "prestashop_order": None}
    auth = (key, "")
    list_url = local(f"{base}/api/orders?display=full&limit=50")
    probe = requests.get(list_url, auth=auth, timeout=REQUEST_TIMEOUT)
    if probe.status_code in (404, 501):
        return {"prestashop_order_list": None, "prestashop_order": None}
    found = re.search(r"<id>(?:<!\[CDATA\[)?(\d+)", probe.text) or re.search(r'"id":\s*"?(\d+)', probe.text)
    order_url = local(f"{base}/api/orders/{found.group(1) if found else 1}")
    return {
        "prestashop_order_list": lambda session: session.get(list_url, auth=auth, timeout=REQUEST_TIMEOUT),
        "prestashop_order": lambda session: session.get(order_url, auth=auth, timeout=REQUEST_TIMEOUT),
    }


def tims_scenarios(credentials):
    base = credentials.get("base_url", "")
    if not credentials.get("client_id"):
        return {"tims_sales_order_post": None}
    token_response = requests.post(local(f"{base}/oauth/token"), timeout=REQUEST_TIMEOUT, data={
        "grant_type": "client_credentials", "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"]})
    if token_response.status_code in (404, 501):
        return {"tims_sales_order_post": None}
    headers = {"Authorization": f"Bearer {token_response.json()['access_token']}"}
    url = local(f"{base}/api/v1/sales-orders")
    items = requests.get(local(f"{base}/api/v1/items?page_size=5"), headers=headers, timeout=REQUEST_TIMEOUT)
    if items.status_code in (404, 501) or not items.json().get("results"):
        return {"tims_sales_order_post": None}
    skus = [item["SKU"] for item in items.json()["results"]]

    def post(session):
        body = {"ExternalOrderID": f"BENCH-{uuid.uuid4().hex[:12]}", "CustomerID": "C-GUEST",
                "LineItems": [{"SKU": sku, "Quantity": 1, "Price": "10.00", "TaxAmount": "0.80"} for sku in skus[:3]],
                "ShippingMethod": "UPS Ground", "Currency": "USD"}
        return session.post(url, json=body, timeout=REQUEST_TIMEOUT,
                            headers={**headers, "Idempotency-Key": uuid.uuid4().hex})

    return {"tims_sales_order_post": post}


def main():
    args = parse_args()
    deadline = time.monotonic() + args.deadline
    os.environ["DATABASE_URL"] = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    ensure_database(os.environ["DATABASE_URL"])
    server_root = f"http://{HOST}:{args.port}"
    credentials, generated = prepare(args, server_root)
    server = Server(args.port, args.workers)
    results = {}
    try:
        server.wait_ready()
        scenarios = {**prestashop_scenarios(credentials.get("prestashop", {})),
                     **tims_scenarios(credentials.get("tims", {}))}
        for name, send in scenarios.items():
            if send is None:
                results[name] = "skipped: no credentials, or the endpoint answers 404/501"
            elif time.monotonic() >= deadline:
                results[name] = "skipped: deadline reached"
            else:
                results[name] = measure(args.requests, args.threads, send, deadline)
    finally:
        server.stop()
    print(json.dumps({"database": urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/"), "workers": args.workers,
                      "threads": args.threads, "requests_per_scenario": args.requests,
                      "generated": {system: summary if isinstance(summary, str) else "ok"
                                    for system, summary in generated.items()},
                      "scenarios": results}, indent=2))


if __name__ == "__main__":
    main()
