"""Bench: PrestaShop orders into TIMS through the pipeline, against `sandbox serve` in its own processes.

    DATABASE_URL=postgres://... python bench/orders.py [--orders 150] [--workers 1 2 4] [--port 8112]

For each worker count, a django-q2 cluster (separate processes) works off the orders a poll puts in the inbox;
the same run also times a naive baseline: a plain loop that reads each order and its customer and POSTs a sales
order (no durability, no idempotency, no batching). Prints JSON: orders per second for each, the ratio to the
baseline, and API calls per order per system (counted by the sandboxes). Talks to 127.0.0.1 only.
"""

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench")

import read_orders  # noqa: E402  (sets up Django; reuses its sandbox server helpers)
from django.core.management import call_command  # noqa: E402
from django.db.models import Count  # noqa: E402

from integrations.connectors.prestashop import parsers  # noqa: E402
from integrations.connectors.prestashop.client import PrestaShopClient  # noqa: E402
from integrations.models import Connection, Integration, RecordStatus, SyncRecord  # noqa: E402
from integrations.pipeline import pollers  # noqa: E402
from portal.models import Organization  # noqa: E402
from sandbox import services  # noqa: E402
from sandbox.models import SandboxCall  # noqa: E402

SLUG = "bench-orders"
FINISHED = (RecordStatus.SUCCEEDED, RecordStatus.DEAD, RecordStatus.HELD, RecordStatus.DISCARDED)


def prepare(orders, port):
    call_command("migrate", verbosity=0)
    sandbox, _ = services.create_sandbox(SLUG)
    services.reset_sandbox(sandbox)
    rng = random.Random(7)
    services.system_module("prestashop").generate(sandbox, orders=orders, products=30, customers=max(orders // 5, 1),
                                                  state="Payment accepted", unknown_sku=0, rng=rng)
    secrets = services.issue_credentials(sandbox, f"http://127.0.0.1:{port}")
    organization, _ = Organization.objects.get_or_create(name="Bench orders")
    unlimited = {"rate_limit_per_minute": 1_000_000, "max_concurrent_requests": 50}
    shop, _ = Connection.objects.update_or_create(organization=organization, name="Bench shop", defaults={
        "kind": "prestashop", "base_url": secrets["prestashop"]["base_url"], "sandbox": sandbox,
        "credentials": {"ws_key": secrets["prestashop"]["ws_key"]}, "settings": {"timezone": "Europe/Paris"},
        **unlimited})
    tims, _ = Connection.objects.update_or_create(organization=organization, name="Bench TIMS", defaults={
        "kind": "tims", "base_url": secrets["tims"]["base_url"], "sandbox": sandbox,
        "credentials": {k: secrets["tims"][k] for k in ("client_id", "client_secret")},
        "settings": {"default_location": "MAIN", "default_customer_code": "C-GUEST"}, **unlimited})
    return sandbox, organization, shop, tims


def fresh_tims(sandbox):
    services.reset_sandbox(sandbox, ["tims"])
    services.system_module("tims").generate(sandbox, orders=0, products=30, customers=0, state=None, unknown_sku=0,
                                            rng=random.Random(7))


def calls_by_system(sandbox, since_id):
    rows = (SandboxCall.objects.filter(sandbox=sandbox, pk__gt=since_id).values("system")
            .annotate(n=Count("id")))
    return {row["system"]: row["n"] for row in rows}


def last_call_id():
    return SandboxCall.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def naive(shop, tims):
    """Read each order and its customer, POST a sales order: what a script would do."""
    client = PrestaShopClient(shop, use_governor=False, use_breaker=False)
    ids = [parsers.text(r["id"]) for page in client.pages("orders", display="[id]") for r in page]
    base = tims.base_url
    token = requests.post(f"{base}/oauth/token", data={"grant_type": "client_credentials", **tims.credentials},
                          timeout=30).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    for order_id in ids:
        raw = client.get("orders", order_id)
        client.get("customers", parsers.text(raw["id_customer"]))
        lines = [{"SKU": row["product_reference"], "Quantity": int(float(row["product_quantity"])),
                  "Price": f"{float(row['unit_price_tax_excl']):.2f}"}
                 for row in raw["associations"]["order_rows"]]
        session.post(f"{base}/api/v1/sales-orders", timeout=30, json={
            "ExternalOrderID": f"naive-{raw['reference']}", "CustomerID": "C-GUEST", "LineItems": lines,
            "Location": "MAIN"}).raise_for_status()
    return len(ids), time.perf_counter() - started


def pipeline(organization, shop, tims, workers, orders, deadline):
    integration = Integration.objects.create(
        organization=organization, name=f"Bench {workers} workers {time.time():.0f}", template="prestashop_tims",
        channel_connection=shop, tims_connection=tims, flows=["orders"], state="live",
        options={"first_poll_days": 60})
    env = {**os.environ, "Q_WORKERS": str(workers)}
    cluster = subprocess.Popen([sys.executable, str(HERE.parent / "manage.py"), "qcluster"], cwd=HERE.parent,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        time.sleep(3)  # let the cluster boot before the clock starts
        started = time.perf_counter()
        pollers.poll_integration(integration.pk)
        records = SyncRecord.objects.filter(integration=integration)
        while time.perf_counter() - started < deadline:
            if records.count() >= orders and not records.exclude(status__in=FINISHED).exists():
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        done = records.filter(status=RecordStatus.SUCCEEDED).count()
    finally:
        stop_cluster(cluster)
    return done, seconds


def stop_cluster(cluster):
    os.killpg(cluster.pid, signal.SIGTERM)
    try:
        cluster.wait(timeout=20)
    except subprocess.TimeoutExpired:  # still finishing a task: the measurement is over anyway
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(timeout=10)


def main():
    logging.getLogger("django-q").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=150)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--port", type=int, default=8112)
    parser.add_argument("--deadline", type=float, default=600, help="Seconds per pipeline run at most.")
    args = parser.parse_args()
    sandbox, organization, shop, tims = prepare(args.orders, args.port)
    server = read_orders.serve(args.port)
    result = {"orders": args.orders, "pipeline": {}}
    try:
        fresh_tims(sandbox)
        mark = last_call_id()
        count, seconds = naive(shop, tims)
        result["baseline"] = {"orders": count, "seconds": round(seconds, 2),
                              "orders_per_second": round(count / seconds, 2),
                              "calls_per_order": {k: round(v / count, 2) for k, v in
                                                  calls_by_system(sandbox, mark).items()}}
        for workers in args.workers:
            fresh_tims(sandbox)
            mark = last_call_id()
            done, seconds = pipeline(organization, shop, tims, workers, args.orders, args.deadline)
            result["pipeline"][f"{workers}_workers"] = {
                "succeeded": done, "seconds": round(seconds, 2), "orders_per_second": round(done / seconds, 2),
                "vs_baseline": round((done / seconds) / result["baseline"]["orders_per_second"], 2),
                "calls_per_order": {k: round(v / max(done, 1), 2) for k, v in
                                    calls_by_system(sandbox, mark).items()}}
    finally:
        read_orders.stop(server)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
