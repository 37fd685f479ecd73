"""Bench: how fast a TIMS shipment becomes tracking in the channel, against `sandbox serve` and a django-q2 cluster
in their own processes.

    DATABASE_URL=postgres://... python bench/fulfillment.py [--rate 5] [--seconds 30] [--settle 45] [--workers 4]
                                                           [--skip webhooks feed naive channeladvisor] [--port 8113]

Setup (not measured): the orders flow imports PrestaShop's (and ChannelAdvisor's) orders into TIMS, a poll each
worked off by the cluster as bench/orders.py does; TIMS stock is set high enough to ship them all; the integrations
then run the shipments flow alone (so the channel's calls are the shipments'), with the production schedules, and
a first read of the TIMS feed moves past the setup's events. Per channel, TIMS ships one order in full from its
back office every 1/--rate s for --seconds, with the same cluster of --workers running throughout:
- webhooks: TIMS's signed webhooks subscribed to the portal (/hooks/tims/<connection>/), each ringing a poll of
  the feed (one per 2 s); the workers' feed ticker and the schedules run as in production;
- feed: the subscription deactivated, so only polls move shipments (the feed ticker, the minute's poll_all);
and for PrestaShop, with the cluster stopped, the baseline:
- naive: a plain loop that reads TIMS `GET /api/v1/shipments?updated_since=` every second and, for each new
  shipment, finds the PrestaShop order by reference, GETs its order_carriers, writes the tracking number on the row
  and POSTs an order_histories row: no durability, no idempotency, no replay protection.
Latency per shipment: committed in TIMS (taken right after backoffice.ship returns) → its shipment link committed
(the channel confirmed it); for the naive loop → its last call answered. Prints JSON, per channel and mode:
p50/p95/p99/max, how many arrived within --settle seconds of the last shipment, API calls per shipment per system
and per channel route (counted by the sandboxes), `stages` ([p50, p95] of committed → record made by a poll →
first attempt began → linked), for webhooks how many TIMS sent per shipment and how long each took to leave, and
the ratios to the naive loop. Production settings (DEBUG off). Talks to 127.0.0.1 only.
"""

import argparse
import json
import logging
import os
import random
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench_fulfillment")

import orders as orders_bench  # noqa: E402  (production settings and Django; its cluster and sandbox helpers)
import read_orders  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection as db_connection  # noqa: E402
from django.db import transaction  # noqa: E402
from django.db.models import Count, Min  # noqa: E402

from integrations.connectors.prestashop import parsers  # noqa: E402
from integrations.connectors.prestashop.client import PrestaShopClient  # noqa: E402
from integrations.models import Connection, Integration, Link, PollState, SyncRecord  # noqa: E402
from integrations.pipeline import pollers  # noqa: E402
from portal import demo, schedules  # noqa: E402
from sandbox import services  # noqa: E402
from sandbox.models import SandboxCall, WebhookDelivery, WebhookSubscription  # noqa: E402
from sandbox.tims import backoffice, operations  # noqa: E402
from sandbox.tims.models import Item, Location  # noqa: E402

say = orders_bench.say
TARGETS = {"webhooks_p99_s": 5.0, "feed_p99_s": 30.0, "channel_calls_per_shipment": 3.0}


# --- setup (not measured) ----------------------------------------------------------------------------------------

def marketplace(sandbox, organization, orders, port):
    """ChannelAdvisor orders (paid, so the orders flow imports them all) and its connection."""
    module = services.system_module("channeladvisor")
    module.generate(sandbox, orders=orders, products=30, customers=0, state="Cleared", unknown_sku=0,
                    rng=random.Random(7))
    base_url = f"http://127.0.0.1:{port}" + services.base_path(sandbox, "channeladvisor")
    secrets = module.issue_credentials(sandbox, base_url)
    services.set_faults(sandbox, "channeladvisor", "none", latency_ms=0, jitter_ms=0)
    connection, _ = Connection.objects.update_or_create(organization=organization, name="Bench marketplace", defaults={
        "kind": "channeladvisor", "base_url": secrets["base_url"], "sandbox": sandbox,
        "credentials": {k: secrets[k] for k in ("application_id", "shared_secret", "refresh_token")},
        "settings": {"profile_id": int(secrets.get("profile_id") or 12345678)},
        "rate_limit_per_minute": 1_000_000, "max_concurrent_requests": 50})
    return connection


def import_orders(organization, channel, tims, template, orders, args):
    """The orders flow brings the channel's orders into TIMS on the running cluster; then the integration runs the
    shipments flow only (paused until its turn)."""
    integration = Integration.objects.create(
        organization=organization, name=f"Bench shipments {channel.kind} {time.time():.0f}", template=template,
        channel_connection=channel, tims_connection=tims, flows=["orders"], state="live",
        options={"first_poll_days": 60})
    started = time.perf_counter()
    received = pollers.poll_integration(integration.pk)
    while 0 < received < orders:  # ChannelAdvisor's exported=false pages shift while workers export: poll again
        more = pollers.poll_integration(integration.pk)
        received += more
        if not more:
            break
    done = orders_bench.wait_settled(integration, received, started + args.deadline)
    say("setup:", done, channel.kind, "orders in TIMS in", round(time.perf_counter() - started, 1), "s")
    Integration.objects.filter(pk=integration.pk).update(flows=["shipments"], state="paused")
    integration.refresh_from_db()
    return integration


@transaction.atomic
def stock_up(sandbox, quantity=1_000_000):
    main = Location.objects.get(sandbox=sandbox, code="MAIN")
    for item in Item.objects.filter(sandbox=sandbox):
        operations.set_on_hand(item, main, quantity)


def sales_orders(integration):
    """The TIMS sales orders the integration's orders became, oldest first."""
    return list(Link.objects.filter(integration=integration, entity_type="order").order_by("pk")
                .values_list("target_id", flat=True))


def set_webhooks(sandbox, tims, port, active):
    if active:
        demo.subscribe_webhooks(sandbox, f"http://127.0.0.1:{port}", [], tims)
    else:
        WebhookSubscription.objects.filter(sandbox=sandbox, system="tims").update(active=False)


# --- measuring ---------------------------------------------------------------------------------------------------

def ship_steadily(sandbox, codes, rate):
    """Ship each TIMS order in full, one every 1/rate s. Bounded: stops at twice the planned time plus 10 s however
    far behind it is. Returns ({ShipmentID: time it committed}, seconds spent shipping)."""
    shipped = {}
    started = time.perf_counter()
    cutoff = started + 2 * len(codes) / rate + 10
    for index, code in enumerate(codes):
        time.sleep(max(started + index / rate - time.perf_counter(), 0))
        if time.perf_counter() > cutoff:
            break
        shipment = backoffice.ship(sandbox, code)["shipment"]
        shipped[shipment["ShipmentID"]] = time.time()  # backoffice.ship commits before it returns
    return shipped, time.perf_counter() - started


def wait_for(arrived, expected, deadline):
    """Until `arrived()` (a dict) holds every id in `expected`, or the deadline. Returns the last answer."""
    while True:
        found = arrived()
        if expected <= found.keys() or time.perf_counter() >= deadline:
            return found
        time.sleep(0.2)


def calls(sandbox, since_id, shipments, channel):
    """API calls per shipment: per system, and per route of the channel (method and URL pattern)."""
    endpoints = (SandboxCall.objects.filter(sandbox=sandbox, pk__gt=since_id, system=channel)
                 .values("method", "endpoint").annotate(n=Count("id")).order_by("-n"))
    return {"calls_per_shipment": orders_bench.calls_per_order(sandbox, since_id, shipments),
            "channel_calls_per_shipment_by_route": {f"{row['method']} {row['endpoint']}":
                                                       round(row["n"] / max(shipments, 1), 2) for row in endpoints}}


def figures(shipped, sending, arrived_at, sandbox, mark, channel):
    latencies = sorted(arrived_at[sid] - at for sid, at in shipped.items() if sid in arrived_at)
    return {"shipments": len(shipped), "shipped_per_second": round(len(shipped) / max(sending, 1e-9), 2),
            "arrived": len(latencies), **orders_bench.centiles(latencies),
            **calls(sandbox, mark, len(shipped), channel)}


def last_webhook_id():
    return WebhookDelivery.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def webhooks_sent(sandbox, since_id, shipments, deadline):
    """TIMS's webhooks queued since `since_id`: how many per shipment and how long from queued to delivered. Waits
    (until the deadline) for the sender to catch up, so the next mode starts without hints still to come."""
    rows = WebhookDelivery.objects.filter(subscription__sandbox=sandbox, subscription__system="tims", pk__gt=since_id)
    while rows.filter(delivered_at__isnull=True).exists() and time.perf_counter() < deadline:
        time.sleep(0.2)
    lags = orders_bench.centiles(sorted((delivered - queued).total_seconds() for queued, delivered in rows.filter(
        delivered_at__isnull=False).values_list("created_at", "delivered_at")))
    return {"per_shipment": round(rows.count() / max(shipments, 1), 2), "delivered_p50_s": lags["p50_s"],
            "delivered_p99_s": lags["p99_s"], "undelivered": rows.filter(delivered_at__isnull=True).count()}


def stages(records, shipped, linked):
    """Where the time went (p50, p95): committed in TIMS → a poll made the record → a worker began its first attempt
    → the link committed (the step, with the channel's calls)."""
    found = {"to_record": [], "queued": [], "step": []}
    for source_id, created, began in records.annotate(began=Min("attempt_rows__started_at")).values_list(
            "source_id", "created_at", "began"):
        if began is None or source_id not in linked:
            continue
        found["to_record"].append(created.timestamp() - shipped[source_id])
        found["queued"].append((began - created).total_seconds())
        found["step"].append(linked[source_id] - began.timestamp())
    return {stage: [orders_bench.centiles(sorted(values))[key] for key in ("p50_s", "p95_s")]
            for stage, values in found.items()}


def through_portal(sandbox, integration, codes, args, mode):
    """Ship steadily while the cluster runs; latency = commit in TIMS → the shipment's link committed."""
    mark, webhooks_mark = orders_bench.last_call_id(), last_webhook_id()
    shipped, sending = ship_steadily(sandbox, codes, args.rate)
    links = Link.objects.filter(integration=integration, entity_type="shipment", source_id__in=list(shipped))
    linked = wait_for(lambda: {sid: at.timestamp() for sid, at in links.values_list("source_id", "created_at")},
                      shipped.keys(), time.perf_counter() + args.settle)
    records = SyncRecord.objects.filter(integration=integration, flow="shipments", source_id__in=list(shipped))
    statuses = dict(records.values_list("status").annotate(n=Count("id")))
    hints = webhooks_sent(sandbox, webhooks_mark, len(shipped), time.perf_counter() + args.settle) \
        if mode == "webhooks" else None
    run = {**figures(shipped, sending, linked, sandbox, mark, integration.channel_connection.kind),
           "records": statuses, "stages": stages(records, shipped, linked), **({"webhooks": hints} if hints else {})}
    say(integration.channel_connection.kind, mode + ":", json.dumps(run))
    return run


def naive(sandbox, shop, tims, codes, args):
    """The baseline loop in a thread of this process while this thread ships; latency = commit in TIMS → its last
    PrestaShop call answered."""
    client = PrestaShopClient(shop, use_governor=False, use_breaker=False)
    token = requests.post(f"{tims.base_url}/oauth/token", timeout=30,
                          data={"grant_type": "client_credentials", **tims.credentials}).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    done, failed, stop = {}, [], threading.Event()
    mark = orders_bench.last_call_id()
    since = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    loop = threading.Thread(target=naive_loop, args=(client, session, tims.base_url, since, done, failed, stop),
                            name="naive", daemon=True)
    loop.start()
    try:
        shipped, sending = ship_steadily(sandbox, codes, args.rate)
        answered = wait_for(lambda: dict(done), shipped.keys() if not failed else set(),
                            time.perf_counter() + args.settle)
    finally:
        stop.set()
        loop.join(30)
    run = {**figures(shipped, sending, answered, sandbox, mark, "prestashop"), "failed": failed[:1]}
    say("prestashop naive:", json.dumps(run))
    return run


def naive_loop(client, session, base, since, done, failed, stop):
    """What a script would do: read new shipments every second and tell the shop about each one, in memory."""
    seen = set()
    shipped_state = client.state_named("Shipped").id
    try:
        while not stop.is_set():
            tick = time.perf_counter()
            answer = session.get(f"{base}/api/v1/shipments", timeout=30,
                                 params={"updated_since": since, "page_size": 200})
            answer.raise_for_status()
            for shipment in answer.json()["results"]:
                since = shipment["UpdatedAt"]  # the list is in UpdatedAt order; the same second is read again
                if shipment["ShipmentID"] in seen:
                    continue
                seen.add(shipment["ShipmentID"])
                order = client.decode(client.request("GET", "orders", params={
                    "display": "full", "filter[reference]": f"[{shipment['ExternalOrderID']}]"}))[0]
                order_id = parsers.text(order["id"])
                row = client.decode(client.request("GET", "order_carriers", params={
                    "display": "full", "filter[id_order]": f"[{order_id}]"}))[0]
                client.update("order_carriers", parsers.text(row["id"]),
                              {"tracking_number": shipment["TrackingNumber"]}, current=row)
                client.create("order_histories", {"id_order": order_id, "id_order_state": shipped_state})
                done[shipment["ShipmentID"]] = time.time()
            stop.wait(max(1 - (time.perf_counter() - tick), 0))
    except Exception as exc:  # noqa: BLE001 - a script would just die; the bench says why
        failed.append(f"{type(exc).__name__}: {exc}"[:300])
    finally:
        db_connection.close()  # this thread's own


def versus(run, baseline):
    """The portal's figures over the naive loop's, measured in the same run."""
    def ratio(a, b):
        return round(a / b, 2) if a is not None and b else None
    return {"p50": ratio(run["p50_s"], baseline["p50_s"]), "p99": ratio(run["p99_s"], baseline["p99_s"]),
            "channel_calls": ratio(run["calls_per_shipment"].get("prestashop"),
                                   baseline["calls_per_shipment"].get("prestashop"))}


def verdict(runs, channel):
    """Each target, and whether this run met it (every shipment arrived, p99 under the target)."""
    met = {}
    for mode in ("webhooks", "feed"):
        run = runs.get(mode)
        if run:
            met[f"{mode}_p99_s"] = run["arrived"] == run["shipments"] and run["p99_s"] is not None \
                and run["p99_s"] < TARGETS[f"{mode}_p99_s"]
            per_shipment = run["calls_per_shipment"].get(channel)
            met[f"{mode}_channel_calls"] = per_shipment is not None and \
                per_shipment <= TARGETS["channel_calls_per_shipment"]
    return met


def measure_channel(sandbox, tims, integration, codes, modes, args):
    """Each mode in turn on the running cluster, each with orders of its own; only this integration is live."""
    kind = integration.channel_connection.kind
    Integration.objects.filter(pk=integration.pk).update(state="live")
    runs = {"orders_in_tims": len(codes)}
    try:
        for index, mode in enumerate(modes):
            set_webhooks(sandbox, tims, args.port, active=mode == "webhooks")
            mine = codes[index * args.per_mode:(index + 1) * args.per_mode]
            runs[mode] = through_portal(sandbox, integration, mine, args, mode)
    finally:
        set_webhooks(sandbox, tims, args.port, active=False)
        Integration.objects.filter(pk=integration.pk).update(state="paused")
    runs["targets_met"] = verdict(runs, kind)
    return runs


def main():
    logging.getLogger("django-q").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5, help="Shipments per second.")
    parser.add_argument("--seconds", type=float, default=30, help="How long each mode ships.")
    parser.add_argument("--settle", type=float, default=45,
                        help="Seconds each mode waits for its last shipments at most after the last one shipped.")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--skip", nargs="+", default=[], choices=["webhooks", "feed", "naive", "channeladvisor"])
    parser.add_argument("--port", type=int, default=8113)
    parser.add_argument("--deadline", type=float, default=300, help="Seconds the setup's import takes at most.")
    args = parser.parse_args()
    args.per_mode = max(int(args.rate * args.seconds), 2)
    modes = [m for m in ("webhooks", "feed") if m not in args.skip]
    shop_orders = args.per_mode * (len(modes) + ("naive" not in args.skip))
    sandbox, organization, shop, tims = orders_bench.prepare(shop_orders, args.port)
    orders_bench.set_latency(sandbox, 0)
    orders_bench.fresh_tims(sandbox)
    PollState.objects.filter(connection=tims).delete()  # an earlier run's cursor is past the fresh TIMS's events
    set_webhooks(sandbox, tims, args.port, active=False)
    channels = {"prestashop": (shop, "prestashop_tims", shop_orders)}
    if "channeladvisor" not in args.skip and modes:
        count = args.per_mode * len(modes)
        channels["channeladvisor"] = (marketplace(sandbox, organization, count, args.port), "channeladvisor_tims",
                                      count)
    result = {"rate_per_second": args.rate, "seconds": args.seconds, "settle_s": args.settle,
              "workers": args.workers, "feed_poll_seconds": settings.PIPELINE_FEED_POLL_SECONDS,
              "cores": os.cpu_count(), "targets": TARGETS}
    server = read_orders.serve(args.port)
    cluster = orders_bench.start_cluster(args.workers)  # one cluster for the setup and the portal's modes
    try:
        integrations = {kind: import_orders(organization, channel, tims, template, count, args)
                        for kind, (channel, template, count) in channels.items()}
        codes = {kind: sales_orders(integration) for kind, integration in integrations.items()}
        stock_up(sandbox)
        Integration.objects.filter(pk=integrations["prestashop"].pk).update(state="live")
        pollers.poll_connection(tims.pk)  # past the setup's events: a feed's first read starts at its beginning
        Integration.objects.filter(pk=integrations["prestashop"].pk).update(state="paused")
        schedules.ensure_schedules()  # the setup polled by hand; production also polls every minute
        for kind, integration in integrations.items():
            if modes:
                result[kind] = measure_channel(sandbox, tims, integration, codes[kind], modes, args)
        orders_bench.stop(cluster)
        cluster = None
        if "naive" not in args.skip:
            rest = codes["prestashop"][len(modes) * args.per_mode:][:args.per_mode]
            baseline = result.setdefault("prestashop", {})["naive"] = naive(sandbox, shop, tims, rest, args)
            for mode in modes:
                result["prestashop"][mode]["vs_naive"] = versus(result["prestashop"][mode], baseline)
    finally:
        if cluster is not None:
            orders_bench.stop(cluster)
        read_orders.stop(server)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
