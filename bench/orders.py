"""Bench: PrestaShop orders into TIMS through the pipeline, against `sandbox serve` in its own processes.

    DATABASE_URL=postgres://... python bench/orders.py [--orders 150] [--workers 1 2 4] [--latency-ms 0 50]
                                                      [--rate 20] [--seconds 15] [--port 8112]
                                                      [--brokers orm redis] [--skip throughput customers latency]
                                                      [--no-search] [--search-steps 3] [--step-seconds 8]

Prints JSON with three parts, each measured in the same run as what it is compared with:
- throughput: for each added API latency (0 ms: localhost, so the two cores shared by the sandbox server,
  PostgreSQL and the workers are the limit; 50 ms: closer to a hosted API), a naive baseline (a plain loop that
  reads each order and its customer and POSTs a sales order: no durability, no idempotency, no batching) and the
  pipeline with 1, 2 and 4 workers (a django-q2 cluster of separate processes working off what one poll received):
  orders per second, the ratio to the baseline, API calls per order per system (counted by the sandboxes);
- customers: API calls per order when the customers are new to TIMS, then for a second batch from the same
  (repeat) customers worked by fresh worker processes;
- latency: webhook-to-TIMS seconds (p50/p95/p99) with signed webhooks sent at a steady rate, each a hint the worker
  reads back, on the ORM broker and on Redis (4 workers): at the fixed --rate (as in earlier runs; it overloads a
  machine slower than that), at half the throughput measured in the same run (`latency_reference`: 4 workers, 0 ms
  per call), and `search`: the highest steady rate that keeps p99 under --p99-target (2 s), bisected in a few short
  steps between half and full measured throughput (between 0 and half when half does not hold); --no-search skips it.
Production settings (DEBUG off). Talks to 127.0.0.1 only. The Redis run flushes and uses BENCH_REDIS_URL
(default redis://127.0.0.1:6379/11).
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
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")  # flushed by the Redis run

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
    os.kill(process.pid, signal.SIGTERM)  # the cluster's main process stops its workers; the whole group would hang
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


def centiles(seconds):
    """p50/p95/p99/max of a list of latencies (None when there is nothing to rank)."""
    if not seconds:
        return {"p50_s": None, "p95_s": None, "p99_s": None, "max_s": None}
    ranks = statistics.quantiles(seconds, n=100) if len(seconds) > 1 else seconds * 99
    top = max(seconds)  # with under 100 samples the upper centiles extrapolate past the slowest order
    return {"p50_s": round(min(ranks[49], top), 3), "p95_s": round(min(ranks[94], top), 3),
            "p99_s": round(min(ranks[98], top), 3), "max_s": round(top, 3)}


def steady_webhooks(sandbox, organization, shop, tims, args, broker, rate, seconds, settle, seed, label):
    """Send one signed order webhook every 1/rate s for `seconds` to the server on args.port (a cluster is running);
    latency = webhook sent → TIMS answered and the link committed. Bounded: rate × seconds webhooks, sending stops
    at 2 × seconds + 10 s however far behind it is, and the wait for the last orders at `settle` seconds."""
    count = max(int(rate * seconds), 2)
    made = services.system_module("prestashop").generate(sandbox, orders=count, products=0, customers=0,
                                                         state="Payment accepted", unknown_sku=0,
                                                         rng=random.Random(seed))
    order_ids = [str(o["id"]) for o in made["orders"]]
    integration = new_integration(organization, shop, tims, f"latency {broker} {label}")
    secret = integration.webhook_secret["secret"]
    url = f"http://127.0.0.1:{args.port}/hooks/{integration.pk}/prestashop/"
    sent = {}
    session = requests.Session()
    started = time.perf_counter()
    cutoff = started + 2 * seconds + 10
    for index, order_id in enumerate(order_ids):
        time.sleep(max(started + index / rate - time.perf_counter(), 0))
        if time.perf_counter() > cutoff:
            break
        body = json.dumps({"event": "order.created", "id_order": int(order_id)}).encode()
        stamp = str(int(time.time()))
        sent[order_id] = time.time()
        session.post(url, data=body, timeout=30, headers={
            "Content-Type": "application/json", signing.TIMESTAMP_HEADER: stamp,
            signing.SIGNATURE_HEADER: signing.sign(secret, stamp, body)}).raise_for_status()
    sending = time.perf_counter() - started
    done = wait_settled(integration, len(sent), time.perf_counter() + settle)
    linked = dict(Link.objects.filter(integration=integration, entity_type="order")
                  .values_list("source_id", "created_at"))
    latencies = sorted(linked[oid].timestamp() - sent[oid] for oid in sent if oid in linked)
    say("latency", broker, label, f"{rate:.2f}/s:", len(latencies), "linked of", count)
    return {"rate_per_second": round(rate, 2), "orders": count, "sent": len(sent),
            "sent_per_second": round(len(sent) / sending, 1), "succeeded": done, "linked": len(latencies),
            **centiles(latencies)}


def holds(run, target):
    """Every order sent reached TIMS, and the 99th percentile is under the target."""
    return run["sent"] == run["orders"] and run["linked"] == run["sent"] and run["p99_s"] is not None \
        and run["p99_s"] < target


def highest_steady_rate(step, capacity, half, args):
    """Bisect for the highest rate whose p99 stays under args.p99_target: between half and full `capacity` when
    the half-throughput run held, else between 0 and half. `step(rate)` runs args.step_seconds at that rate.
    At most args.search_steps steps, and no step started once args.search_budget seconds have gone."""
    target = args.p99_target
    low, high = (half["rate_per_second"], capacity) if holds(half, target) else (0.0, half["rate_per_second"])
    steps = []
    started = time.perf_counter()
    longest = 0.0
    for _ in range(args.search_steps):
        if time.perf_counter() - started + longest > args.search_budget:
            break
        step_started = time.perf_counter()
        rate = (low + high) / 2
        run = step(rate)
        longest = max(longest, time.perf_counter() - step_started)
        run["held"] = holds(run, target)
        steps.append(run)
        low, high = (rate, high) if run["held"] else (low, rate)
    return {"p99_target_s": target, "seconds_per_step": args.step_seconds,
            "highest_rate_per_second": round(low, 2) if low else None,
            "vs_measured_throughput": round(low / capacity, 2) if low else None,
            "lowest_failing_rate_per_second": round(high, 2) if high < capacity else None,
            "steps": steps, "search_seconds": round(time.perf_counter() - started, 1)}


def webhook_latency(sandbox, organization, shop, tims, args, broker, capacity):
    """One server and one 4-worker cluster on `broker`: the fixed rate (args.rate, as in earlier runs), half the
    throughput measured in this run, then the search for the highest rate that keeps p99 under the target."""
    if broker == "redis":
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        os.environ["REDIS_URL"] = REDIS_URL  # the server that takes the webhooks enqueues on Redis too
    server = read_orders.serve(args.port)
    os.environ.pop("REDIS_URL", None)
    fresh_tims(sandbox)
    cluster = start_cluster(4, redis=broker == "redis")
    try:
        result = {"broker": broker, **steady_webhooks(sandbox, organization, shop, tims, args, broker, args.rate,
                                                      args.seconds, args.deadline, 9, "fixed")}
        if capacity:
            half = steady_webhooks(sandbox, organization, shop, tims, args, broker, capacity / 2, args.seconds,
                                   args.step_settle, 10, "half")
            result["half_throughput"] = half
            if not args.no_search and args.search_steps > 0:
                seeds = iter(range(11, 11 + args.search_steps))
                result["search"] = highest_steady_rate(
                    lambda rate: steady_webhooks(sandbox, organization, shop, tims, args, broker, rate,
                                                 args.step_seconds, args.step_settle, next(seeds), "search"),
                    capacity, half, args)
    finally:
        stop(cluster)
        read_orders.stop(server)
    return result


def latency_reference(sandbox, organization, shop, tims, args, measured):
    """The throughput the latency part scales to: 4 workers (the latency runs' cluster) with no added latency,
    from the throughput part of this run, else measured here on the shop's orders (or given by --capacity)."""
    if args.capacity is not None:
        return {"orders_per_second": args.capacity, "from": "--capacity"}
    if measured and "0ms_per_call" in measured and "4_workers" in measured["0ms_per_call"]:
        run = measured["0ms_per_call"]
        return {"orders_per_second": run["4_workers"]["orders_per_second"],
                "from": "throughput: 0 ms per call, 4 workers",
                "baseline_orders_per_second": run["baseline"]["orders_per_second"]}
    set_latency(sandbox, 0)
    fresh_tims(sandbox)
    integration = new_integration(organization, shop, tims, "capacity")
    done, seconds = work_off_one_poll(integration, 4, args.orders, args.deadline)
    say("capacity: 4 workers,", done, "orders in", round(seconds, 2), "s")
    return {"orders_per_second": round(done / seconds, 2),
            "from": f"one poll of {args.orders} orders worked off by 4 workers, 0 ms per call"}


def main():
    logging.getLogger("django-q").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=150)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 50],
                        help="API latency the sandboxes add to every call, one throughput run each.")
    parser.add_argument("--rate", type=float, default=20,
                        help="Webhooks per second in the fixed-rate latency run (kept to compare with earlier runs).")
    parser.add_argument("--seconds", type=float, default=15,
                        help="How long the fixed-rate and the half-throughput latency runs send webhooks.")
    parser.add_argument("--brokers", nargs="+", default=["orm", "redis"], choices=["orm", "redis"])
    parser.add_argument("--skip", nargs="+", default=[], choices=["throughput", "customers", "latency"])
    parser.add_argument("--no-search", action="store_true",
                        help="Skip the search for the highest rate under --p99-target (the half-throughput run stays).")
    parser.add_argument("--search-steps", type=int, default=3, help="Bisection steps per broker (0: no search).")
    parser.add_argument("--step-seconds", type=float, default=8, help="How long each search step sends webhooks.")
    parser.add_argument("--step-settle", type=float, default=45,
                        help="Seconds a half-throughput run or search step waits for its last orders at most.")
    parser.add_argument("--search-budget", type=float, default=75,
                        help="Seconds per broker after which no further search step starts.")
    parser.add_argument("--p99-target", type=float, default=2.0, help="Seconds the search keeps p99 under.")
    parser.add_argument("--capacity", type=float,
                        help="Orders/s to take as the measured throughput instead of measuring it (for quick runs).")
    parser.add_argument("--port", type=int, default=8112)
    parser.add_argument("--deadline", type=float, default=600, help="Seconds per pipeline run at most.")
    args = parser.parse_args()
    sandbox, organization, shop, tims = prepare(args.orders, args.port)
    result = {"orders": args.orders, "cores": os.cpu_count()}
    server = read_orders.serve(args.port)
    try:
        if "throughput" not in args.skip:
            result["throughput"] = throughput(sandbox, organization, shop, tims, args)
        if "latency" not in args.skip:  # the rate the latency part scales to, measured before more orders are made
            result["latency_reference"] = latency_reference(sandbox, organization, shop, tims, args,
                                                            result.get("throughput"))
        if "customers" not in args.skip:
            result["customers"] = customers(sandbox, organization, shop, tims, args)
    finally:
        read_orders.stop(server)
    if "latency" not in args.skip:
        capacity = result["latency_reference"]["orders_per_second"]
        result["latency"] = [webhook_latency(sandbox, organization, shop, tims, args, broker, capacity)
                             for broker in args.brokers]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
