"""Bench: PrestaShop orders into TIMS through the pipeline, against `sandbox serve` in its own processes.

    DATABASE_URL=postgres://... python bench/orders.py [--orders 150] [--workers 1 2 4] [--latency-ms 0 50]
                                                      [--rate 20] [--seconds 15] [--port 8112]

Prints JSON with three parts, each measured in the same run as what it is compared with:
- throughput: for each added API latency (0 ms: localhost, so the two cores shared by the sandbox server,
  PostgreSQL and the workers are the limit; 50 ms: closer to a hosted API), a naive baseline (a plain loop that
  reads each order and its customer and POSTs a sales order: no durability, no idempotency, no batching) and the
  pipeline with 1, 2 and 4 workers (a django-q2 cluster of separate processes working off what one poll received):
  orders per second, the ratio to the baseline, API calls per order per system (counted by the sandboxes);
- customers: API calls per order when the customers are new to TIMS, then for a second batch from the same
  (repeat) customers worked by fresh worker processes;
- latency: webhook-to-TIMS seconds (p50/p95/p99) with signed webhooks sent at a steady rate, each a hint the worker
  reads back, on the ORM broker and on Redis.
Production settings (DEBUG off). Talks to 127.0.0.1 only.
"""

import argparse
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from portal.env import development_encryption_key  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench")
os.environ["DJANGO_DEBUG"] = "false"  # as in production: no query log in every process
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + "k" * 50)
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", development_encryption_key())  # what earlier runs wrote stays readable
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")  # plain http on 127.0.0.1
os.environ.pop("REDIS_URL", None)  # the ORM broker unless a run asks for Redis
REDIS_URL = "redis://127.0.0.1:6379/11"

import read_orders  # noqa: E402  (sets up Django; reuses its sandbox server helpers)
from django.core.management import call_command  # noqa: E402
from django.db.models import Count  # noqa: E402

from integrations.connectors.prestashop import parsers  # noqa: E402
from integrations.connectors.prestashop.client import PrestaShopClient  # noqa: E402
from integrations.models import Connection, Integration, Link, PollState, RecordStatus, SyncRecord  # noqa: E402
from integrations.pipeline import pollers  # noqa: E402
from portal import signing  # noqa: E402
from portal.models import Organization  # noqa: E402
from sandbox import services  # noqa: E402
from sandbox.models import SandboxCall  # noqa: E402

SLUG = "bench-orders"
FINISHED = (RecordStatus.SUCCEEDED, RecordStatus.DEAD, RecordStatus.HELD, RecordStatus.DISCARDED)
SYSTEMS = ("prestashop", "tims")


def prepare(orders, port):
    from django_q.models import Schedule

    call_command("migrate", verbosity=0)
    Schedule.objects.filter(func__endswith="poll_all").delete()  # the bench polls when it means to
    Integration.objects.filter(name__startswith="Bench ").update(state="paused")  # earlier runs stay out of it
    sandbox, _ = services.create_sandbox(SLUG)
    services.reset_sandbox(sandbox)
    services.system_module("prestashop").generate(sandbox, orders=orders, products=30, customers=max(orders // 5, 1),
                                                  state="Payment accepted", unknown_sku=0, rng=random.Random(7))
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


def set_latency(sandbox, milliseconds):
    for system in SYSTEMS:
        services.set_faults(sandbox, system, "none", latency_ms=milliseconds, jitter_ms=0)


def last_call_id():
    return SandboxCall.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def calls_per_order(sandbox, since_id, orders):
    rows = (SandboxCall.objects.filter(sandbox=sandbox, pk__gt=since_id).values("system")
            .annotate(n=Count("id")))
    return {row["system"]: round(row["n"] / max(orders, 1), 2) for row in rows}


def naive(shop, tims):
    """Read each order and its customer, POST a sales order: what a script would do. Returns (orders, seconds)."""
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


def new_integration(organization, shop, tims, label):
    return Integration.objects.create(
        organization=organization, name=f"Bench {label} {time.time():.0f}", template="prestashop_tims",
        channel_connection=shop, tims_connection=tims, flows=["orders"], state="live",
        options={"first_poll_days": 60})


def start_cluster(workers, redis=False):
    env = {**os.environ, "Q_WORKERS": str(workers)}
    if redis:
        env["REDIS_URL"] = REDIS_URL
    cluster = subprocess.Popen([sys.executable, str(HERE.parent / "manage.py"), "qcluster"], cwd=HERE.parent,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    time.sleep(3)  # let the cluster boot before any clock starts
    return cluster


def stop(process):
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:  # still finishing a task: the measurement is over anyway
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_settled(integration, expected, deadline):
    records = SyncRecord.objects.filter(integration=integration)
    while time.perf_counter() < deadline:
        if records.count() >= expected and not records.exclude(status__in=FINISHED).exists():
            break
        time.sleep(0.1)
    return records.filter(status=RecordStatus.SUCCEEDED).count()


def work_off_one_poll(integration, workers, expected, deadline):
    """Poll once and let a fresh cluster work the orders off. Returns (succeeded, seconds)."""
    cluster = start_cluster(workers)
    try:
        started = time.perf_counter()
        pollers.poll_integration(integration.pk)
        done = wait_settled(integration, expected, started + deadline)
        return done, time.perf_counter() - started
    finally:
        stop(cluster)


def say(*what):
    print(time.strftime("%H:%M:%S"), *what, file=sys.stderr, flush=True)


def throughput(sandbox, organization, shop, tims, args):
    result = {}
    for latency in args.latency_ms:
        set_latency(sandbox, latency)
        fresh_tims(sandbox)
        mark = last_call_id()
        count, seconds = naive(shop, tims)
        baseline = count / seconds
        run = {"baseline": {"orders": count, "seconds": round(seconds, 2), "orders_per_second": round(baseline, 2),
                            "calls_per_order": calls_per_order(sandbox, mark, count)}}
        for workers in args.workers:
            fresh_tims(sandbox)
            mark = last_call_id()
            integration = new_integration(organization, shop, tims, f"{workers} workers")
            done, seconds = work_off_one_poll(integration, workers, args.orders, args.deadline)
            run[f"{workers}_workers"] = {
                "succeeded": done, "seconds": round(seconds, 2), "orders_per_second": round(done / seconds, 2),
                "vs_baseline": round(done / seconds / baseline, 2),
                "calls_per_order": calls_per_order(sandbox, mark, done)}
        result[f"{latency}ms_per_call"] = run
        say("throughput", latency, "ms:", json.dumps(run))
    set_latency(sandbox, 0)
    return result


def customers(sandbox, organization, shop, tims, args):
    """The same integration twice: first batch mostly new customers, second batch only repeat customers."""
    fresh_tims(sandbox)
    integration = new_integration(organization, shop, tims, "customers")
    mark = last_call_id()
    done, _ = work_off_one_poll(integration, 4, args.orders, args.deadline)
    first = {"orders": done, "calls_per_order": calls_per_order(sandbox, mark, done)}
    services.system_module("prestashop").generate(sandbox, orders=args.orders, products=0, customers=0,
                                                  state="Payment accepted", unknown_sku=0, rng=random.Random(8))
    PollState.objects.filter(integration=integration).delete()  # generated orders carry past dates: poll them all
    mark = last_call_id()
    done, _ = work_off_one_poll(integration, 4, 2 * args.orders, args.deadline)
    repeat = done - first["orders"]
    say("customers: first", first, "repeat", repeat)
    return {"new_customers_batch": first,
            "repeat_customers_batch": {"orders": repeat, "calls_per_order": calls_per_order(sandbox, mark, repeat)},
            "note": "every fifth order is a guest checkout (the default customer code, no look-up)"}


def webhook_latency(sandbox, organization, shop, tims, args, broker):
    """Send one signed order webhook every 1/rate s; latency = webhook sent → TIMS answered and the link committed."""
    if broker == "redis":
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        os.environ["REDIS_URL"] = REDIS_URL  # the server that takes the webhooks enqueues on Redis too
    server = read_orders.serve(args.port)
    os.environ.pop("REDIS_URL", None)
    count = int(args.rate * args.seconds)
    fresh_tims(sandbox)
    made = services.system_module("prestashop").generate(sandbox, orders=count, products=0, customers=0,
                                                         state="Payment accepted", unknown_sku=0,
                                                         rng=random.Random(9))
    order_ids = [str(o["id"]) for o in made["orders"]]
    integration = new_integration(organization, shop, tims, f"latency {broker}")
    secret = integration.webhook_secret["secret"]
    url = f"http://127.0.0.1:{args.port}/hooks/{integration.pk}/prestashop/"
    sent = {}
    cluster = start_cluster(4, redis=broker == "redis")
    try:
        session = requests.Session()
        started = time.perf_counter()
        for index, order_id in enumerate(order_ids):
            time.sleep(max(started + index / args.rate - time.perf_counter(), 0))
            body = json.dumps({"event": "order.created", "id_order": int(order_id)}).encode()
            stamp = str(int(time.time()))
            sent[order_id] = time.time()
            session.post(url, data=body, timeout=30, headers={
                "Content-Type": "application/json", signing.TIMESTAMP_HEADER: stamp,
                signing.SIGNATURE_HEADER: signing.sign(secret, stamp, body)}).raise_for_status()
        sending = time.perf_counter() - started
        done = wait_settled(integration, count, time.perf_counter() + args.deadline)
    finally:
        stop(cluster)
        read_orders.stop(server)
    linked = dict(Link.objects.filter(integration=integration, entity_type="order")
                  .values_list("source_id", "created_at"))
    seconds = sorted(linked[oid].timestamp() - sent[oid] for oid in order_ids if oid in linked)
    say("latency", broker, len(seconds), "linked of", count)
    centiles = statistics.quantiles(seconds, n=100) if len(seconds) > 1 else seconds * 99
    return {"broker": broker, "orders": count, "sent_per_second": round(count / sending, 1), "succeeded": done,
            "p50_s": round(centiles[49], 3), "p95_s": round(centiles[94], 3), "p99_s": round(centiles[98], 3),
            "max_s": round(seconds[-1], 3) if seconds else None}


def main():
    logging.getLogger("django-q").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=150)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 50],
                        help="API latency the sandboxes add to every call, one throughput run each.")
    parser.add_argument("--rate", type=float, default=20, help="Webhooks per second in the latency run.")
    parser.add_argument("--seconds", type=float, default=15, help="How long the latency run sends webhooks.")
    parser.add_argument("--brokers", nargs="+", default=["orm", "redis"], choices=["orm", "redis"])
    parser.add_argument("--skip", nargs="+", default=[], choices=["throughput", "customers", "latency"])
    parser.add_argument("--port", type=int, default=8112)
    parser.add_argument("--deadline", type=float, default=600, help="Seconds per pipeline run at most.")
    args = parser.parse_args()
    sandbox, organization, shop, tims = prepare(args.orders, args.port)
    result = {"orders": args.orders, "cores": os.cpu_count()}
    server = read_orders.serve(args.port)
    try:
        for part in ("throughput", "customers"):
            if part not in args.skip:
                result[part] = globals()[part](sandbox, organization, shop, tims, args)
    finally:
        read_orders.stop(server)
    if "latency" not in args.skip:
        result["latency"] = [webhook_latency(sandbox, organization, shop, tims, args, broker)
                             for broker in args.brokers]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
