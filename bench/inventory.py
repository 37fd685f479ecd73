"""Bench: TIMS stock changes to PrestaShop and ChannelAdvisor through the inventory flow (issue #12), against
`sandbox serve` and a django-q2 cluster in their own processes, and a naive loop in the same run.

    DATABASE_URL=postgres://... python bench/inventory.py [--minutes 10] [--rate 10000] [--skus 2000] [--burst 5000]
                                                         [--workers 4] [--naive-minutes 2] [--settle 420]
                                                         [--skip burst naive] [--port 8114]

Setup (not measured): --skus items in TIMS that the shop (a plain product with its own stock_available row, no
combinations) and the marketplace (a product, DC 0) both list; one TIMS connection and two live integrations with
flows=["inventory"] and no stock rules (each channel shows TIMS's Available), the connections at their kinds'
default limits (the governor as in production), the production schedules, TIMS's signed webhooks subscribed to
/hooks/tims/<connection>/ (inventory.changed rings poll_connection), and a reconciliation reported done a moment
ago (the daily one is not what is measured). Opening levels for every SKU are then published by the cluster, so
StockLevel, PublishedStock and the connectors' id caches are warm as in a running deployment.

Measured, each phase starting on a wall-clock minute (ChannelAdvisor counts its budget in such windows):
- steady: a driver thread sets a random SKU's MAIN on-hand every 3600/--rate s for --minutes;
- burst: then --burst changes spread over 60 s; the run waits up to --settle s for both channels to catch up;
- naive (cluster stopped, integrations paused, webhooks off, same sandbox): the steady rate for --naive-minutes
  while a plain loop in a thread of this process reads TIMS's /inventory/changes every second and, one change at a
  time, reads the channel's quantity and writes the change's Available (PrestaShop: GET stock_availables filtered
  by product, PATCH it; ChannelAdvisor: GET Products?$filter=Sku eq ..., POST Products(ID)/UpdateQuantity): no
  coalescing, no batching, no governor, no durability. Its SKU → product id map is read before the clock starts.

Each change sets a value that SKU never had in this run, so a value the channel shows names the one change that
produced it. Freshness of a change (TIMS seq s, committed at t: taken when its transaction returns) on a channel
= the time of the first write to that SKU in the channel's write log (PrestaShop StockWrite.at of a PUT/PATCH on
the product's row, ChannelAdvisor QuantityWrite.written_at for DC 0, both stamped inside the channel's write) whose
value is that of a change of seq >= s, minus t. So a change overtaken by a newer one of the same SKU is settled when
the newer value lands; a change never so settled is counted as not settled. A write whose value is older than one
already written for the SKU is counted as `older_over_newer`.

Calls, from the sandboxes' own counts: per system per change (sandbox.models.SandboxCall; for ChannelAdvisor
`requests` are HTTP requests, the UpdateQuantity parts inside the portal's $batch calls left out), and
ChannelAdvisor's budget as it counts it (its RateCounter rows: every request and every $batch part, refused ones
included, per 60 s window, against the sandbox's requests_per_window): units per change, mean and peak share of
the minute's budget, and the share refused with 429. Prints JSON: per phase and channel p50/p95/p99/max freshness
and how many settled, record outcomes, batch sizes, `stages` ([p50, p95] of committed → record made by a poll →
first attempt began → the channel showed it), the calls, the targets and the ratios to the naive loop.
Production settings (DEBUG off). Talks to 127.0.0.1 only.
"""

import argparse
import json
import logging
import math
import os
import random
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench_inventory")

import orders as orders_bench  # noqa: E402  (production settings and Django; its cluster and sandbox helpers)
import read_orders  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection as db_connection  # noqa: E402
from django.db import transaction  # noqa: E402
from django.db.models import Count, Min  # noqa: E402
from django.utils import timezone  # noqa: E402

from integrations.connectors.channeladvisor.client import ChannelAdvisorClient  # noqa: E402
from integrations.connectors.channeladvisor.parsers import odata_string  # noqa: E402
from integrations.connectors.models import CircuitBreaker, RateLease, RateState  # noqa: E402
from integrations.connectors.prestashop import parsers  # noqa: E402
from integrations.connectors.prestashop.client import PrestaShopClient  # noqa: E402
from integrations.connectors.tims.client import TimsClient  # noqa: E402
from integrations.models import (  # noqa: E402
    Connection,
    Integration,
    PollState,
    PublishedStock,
    StockLevel,
    StockReport,
    SyncAttempt,
    SyncRecord,
)
from mappings import services as mapping_services  # noqa: E402
from portal import demo, schedules  # noqa: E402
from portal.models import Organization  # noqa: E402
from sandbox import fakedata, services  # noqa: E402
from sandbox.channeladvisor import auth as ca_auth  # noqa: E402
from sandbox.channeladvisor import models as ca  # noqa: E402
from sandbox.models import SandboxCall, WebhookDelivery, WebhookSubscription  # noqa: E402
from sandbox.prestashop import clock  # noqa: E402
from sandbox.prestashop import models as ps  # noqa: E402
from sandbox.tims import operations  # noqa: E402
from sandbox.tims.models import Item, Location  # noqa: E402

say = orders_bench.say
SLUG = "bench-inventory"
SYSTEMS = ("prestashop", "channeladvisor", "tims")
CHANNELS = ("prestashop", "channeladvisor")
TARGETS = {"steady_p99_s": 60.0, "burst_p99_s": 300.0, "channeladvisor_calls_fewer_than_naive": 20.0,
           "share_429": 0.01}
VALUES = 100_000  # on-hand values are drawn below this, never twice for one SKU
PRODUCTION_LIMITS = {"rate_limit_per_minute": None, "max_concurrent_requests": None}  # the kinds' defaults


# --- setup (not measured) ----------------------------------------------------------------------------------------

def catalog(sandbox, count, rng):
    """`count` SKUs TIMS has (without stock yet) and both channels list as plain products."""
    entries = fakedata.catalog(count)
    Item.objects.bulk_create([Item(sandbox=sandbox, sku=e["sku"], description=e["name"], unit_price=e["price"],
                                   cost=e["cost"], weight=e["weight"]) for e in entries])
    services.system_module("channeladvisor").generate(sandbox, orders=0, products=count, customers=0, state=None,
                                                      unknown_sku=0, rng=rng)
    now = clock.now(ps.Shop.objects.get(sandbox=sandbox))
    products = ps.Product.objects.bulk_create([ps.Product(
        sandbox=sandbox, reference=e["sku"], price=e["price"], wholesale_price=e["cost"], weight=e["weight"],
        active=True, available_for_order=True, show_price=True, state=1, product_type="standard", type="simple",
        minimal_quantity=1, id_category_default=2, id_tax_rules_group=1, name={"en": e["name"], "fr": e["name"]},
        link_rewrite={"en": e["sku"].lower(), "fr": e["sku"].lower()}, date_add=now, date_upd=now)
        for e in entries])
    ps.StockAvailable.objects.bulk_create([ps.StockAvailable(
        sandbox=sandbox, id_product=p.id, id_product_attribute=0, id_shop=1, quantity=0, out_of_stock=2)
        for p in products])
    return [e["sku"] for e in entries]


def prepare(args, rng):
    from django_q.models import Schedule

    call_command("migrate", verbosity=0)
    Schedule.objects.filter(func__endswith="poll_all").delete()  # nothing polls before the integrations are ready
    Integration.objects.filter(name__startswith="Bench ").update(state="paused")  # earlier runs stay out of it
    sandbox, _ = services.create_sandbox(SLUG)
    services.reset_sandbox(sandbox)
    for system in SYSTEMS:
        services.set_faults(sandbox, system, "none", latency_ms=0, jitter_ms=0)
    skus = catalog(sandbox, args.skus, rng)
    secrets = services.issue_credentials(sandbox, f"http://127.0.0.1:{args.port}")
    organization, _ = Organization.objects.get_or_create(name="Bench inventory")
    tims, _ = Connection.objects.update_or_create(organization=organization, name="Bench TIMS", defaults={
        "kind": "tims", "base_url": secrets["tims"]["base_url"], "sandbox": sandbox,
        "credentials": {k: secrets["tims"][k] for k in ("client_id", "client_secret")},
        "settings": {"default_location": "MAIN"}, **PRODUCTION_LIMITS})
    shop, _ = Connection.objects.update_or_create(organization=organization, name="Bench shop", defaults={
        "kind": "prestashop", "base_url": secrets["prestashop"]["base_url"], "sandbox": sandbox,
        "credentials": {"ws_key": secrets["prestashop"]["ws_key"]}, "settings": {"timezone": "Europe/Paris"},
        **PRODUCTION_LIMITS})
    market_secrets = secrets["channeladvisor"]
    market, _ = Connection.objects.update_or_create(organization=organization, name="Bench marketplace", defaults={
        "kind": "channeladvisor", "base_url": market_secrets["base_url"], "sandbox": sandbox,
        "credentials": {k: market_secrets[k] for k in ("application_id", "shared_secret", "refresh_token")},
        "settings": {"profile_id": int(market_secrets["profile_id"]), "distribution_center_id": 0},
        **PRODUCTION_LIMITS})
    connections = [tims, shop, market]
    # The fresh TIMS numbers its feed from 1 again: an earlier run's cursor, levels, pauses and circuits must go.
    PollState.objects.filter(connection=tims).delete()
    StockLevel.objects.filter(connection=tims).delete()
    for model in (RateState, RateLease, CircuitBreaker):
        model.objects.filter(connection__in=connections).delete()
    mapping_services.ensure_global_value_maps()
    integrations = {}
    for channel, template in ((shop, "prestashop_tims"), (market, "channeladvisor_tims")):
        integration = Integration.objects.create(
            organization=organization, name=f"Bench inventory {channel.kind} {time.time():.0f}", template=template,
            channel_connection=channel, tims_connection=tims, flows=["inventory"], state="paused")
        StockReport.objects.create(integration=integration, started_at=timezone.now(), finished_at=timezone.now(),
                                   status=StockReport.Status.DONE, started_by="bench")
        integrations[channel.kind] = integration
    demo.subscribe_webhooks(sandbox, f"http://127.0.0.1:{args.port}", [], tims)
    schedules.ensure_schedules()
    return sandbox, skus, tims, integrations


class Changes:
    """Stock moves in TIMS, and what each one was: (sku, seq, value, committed at, phase)."""

    def __init__(self, sandbox, skus, rng):
        self.items = {item.sku: item for item in Item.objects.filter(sandbox=sandbox, sku__in=skus)}
        self.main = Location.objects.get(sandbox=sandbox, code="MAIN")
        self.skus, self.rng = list(skus), rng
        self.used = {sku: set() for sku in skus}
        self.rows = []

    def new_value(self, sku):
        while True:
            value = self.rng.randrange(VALUES)
            if value not in self.used[sku]:
                self.used[sku].add(value)
                return value

    def apply(self, skus, phase):
        """Set each SKU's MAIN on-hand to a value it never had, in one transaction; committed = when it returned."""
        made = []
        with transaction.atomic():
            for sku in skus:
                value = self.new_value(sku)
                level = operations.level_for(self.items[sku], self.main)
                level.on_hand = value
                made.append((sku, operations.stock_changed(level).seq, value))  # set_on_hand, keeping its feed row
        committed = time.time()
        self.rows += [(sku, seq, value, committed, phase) for sku, seq, value in made]

    def of(self, *phases):
        return [row for row in self.rows if row[4] in phases]

    def value_seqs(self):
        """{sku: {value: the seq of the change that set it}} (values are never reused for a SKU)."""
        found = {}
        for sku, seq, value, _, _ in self.rows:
            found.setdefault(sku, {})[value] = seq
        return found

    def newest(self):
        latest = {}
        for sku, seq, *_ in self.rows:
            latest[sku] = max(latest.get(sku, 0), seq)
        return latest


def drive(changes, per_second, seconds, phase, start):
    """A random SKU every 1/per_second s from `start` (epoch seconds) for `seconds`. Bounded: stops at twice the
    planned time plus 10 s however far behind it is."""
    cutoff = start + 2 * seconds + 10
    for index in range(round(per_second * seconds)):
        time.sleep(max(start + index / per_second - time.time(), 0))
        if time.time() > cutoff:
            break
        changes.apply([changes.rng.choice(changes.skus)], phase)


def behind(changes, integrations):
    """How many (SKU, channel) pairs were last sent a value older than TIMS's newest change of the SKU."""
    newest = changes.newest()
    late = 0
    for integration in integrations:
        sent = dict(PublishedStock.objects.filter(integration=integration).values_list("sku", "seq"))
        late += sum(1 for sku, seq in newest.items() if sent.get(sku, 0) < seq)
    return late


def wait_published(changes, integrations, deadline, label):
    while True:
        late = behind(changes, integrations)
        if not late or time.perf_counter() >= deadline:
            say(label + ":", late, "SKU values not yet on their channel")
            return late
        time.sleep(2)


def wait_webhooks_sent(sandbox, deadline):
    rows = WebhookDelivery.objects.filter(subscription__sandbox=sandbox, delivered_at__isnull=True)
    while rows.exists() and time.perf_counter() < deadline:
        time.sleep(1)
    return rows.count()


def next_minute(after=0.0):
    """The first wall-clock minute boundary at least `after` seconds from now."""
    return (math.floor((time.time() + after) / 60) + 1) * 60.0


def sleep_until(moment):
    time.sleep(max(moment - time.time(), 0))


def warm_up(sandbox, changes, integrations, args):
    """Every SKU's opening level, published by the cluster; then TIMS's webhooks drain and a minute begins."""
    started = time.perf_counter()
    for start in range(0, len(changes.skus), 100):
        changes.apply(changes.skus[start:start + 100], "opening")
    late = wait_published(changes, integrations, started + args.deadline, "warm-up")
    wait_webhooks_sent(sandbox, time.perf_counter() + 120)
    say("warm-up took", round(time.perf_counter() - started, 1), "s")
    return {"seconds": round(time.perf_counter() - started, 1), "not_published": late}


# --- measuring ---------------------------------------------------------------------------------------------------

def marks(sandbox):
    """Where each log ends now: calls, records, and both channels' write logs."""
    def last(rows):
        return rows.order_by("-pk").values_list("pk", flat=True).first() or 0
    return {"call": last(SandboxCall.objects.all()), "record": last(SyncRecord.objects.all()),
            "webhook": last(WebhookDelivery.objects.filter(subscription__sandbox=sandbox)),
            "prestashop": last(ps.StockWrite.objects.filter(sandbox=sandbox)),
            "channeladvisor": last(ca.QuantityWrite.objects.filter(sandbox=sandbox)), "at": time.time()}


def channel_writes(sandbox, since):
    """{channel: {sku: [(epoch seconds, value)] in write order}} from the sandboxes' write logs after `since`."""
    references = dict(ps.Product.objects.filter(sandbox=sandbox).values_list("id", "reference"))
    row_sku = {row_id: references.get(product_id) for row_id, product_id in ps.StockAvailable.objects.filter(
        sandbox=sandbox, id_product_attribute=0).values_list("id", "id_product")}
    shop, market = {}, {}
    for row_id, quantity, at in ps.StockWrite.objects.filter(
            sandbox=sandbox, pk__gt=since["prestashop"], cause__in=("PUT", "PATCH")).order_by("pk").values_list(
            "id_stock_available", "quantity", "at"):
        shop.setdefault(row_sku.get(row_id), []).append((at.timestamp(), quantity))
    for sku, quantity, at in ca.QuantityWrite.objects.filter(
            sandbox=sandbox, pk__gt=since["channeladvisor"], distribution_center_id=0).order_by("pk").values_list(
            "sku", "available_quantity", "written_at"):
        market.setdefault(sku, []).append((at.timestamp(), quantity))
    return {"prestashop": shop, "channeladvisor": market}


def shown_at(rows, writes, value_seqs):
    """{(sku, seq): when the channel first showed a value of that change or a newer one}, and how many writes put
    an older value over a newer one."""
    shown = {}
    for sku, seq, _, _, _ in rows:
        seqs = value_seqs[sku]
        at = next((when for when, value in writes.get(sku, ()) if seqs.get(value, 0) >= seq), None)
        if at is not None:
            shown[(sku, seq)] = at
    older = 0
    for sku, written in writes.items():
        newest = 0
        for _, value in written:
            seq = value_seqs.get(sku, {}).get(value)
            if seq is not None and seq < newest:
                older += 1
            newest = max(newest, seq or 0)
    return shown, older


def freshness(rows, shown):
    lags = sorted(shown[(sku, seq)] - committed for sku, seq, _, committed, _ in rows if (sku, seq) in shown)
    return {"changes": len(rows), "settled": len(lags), **orders_bench.centiles(lags)}


def portal_records(integration, since):
    """{(sku, seq): (status, created at, first attempt began)} for the flow's records made after `since`."""
    found = {}
    for sku, version, status, created, began in SyncRecord.objects.filter(
            integration=integration, flow="inventory", pk__gt=since).annotate(
            began=Min("attempt_rows__started_at")).values_list(
            "source_id", "source_version", "status", "created_at", "began"):
        if version.isdigit():
            found[(sku, int(version))] = (status, created.timestamp(), began.timestamp() if began else None)
    return found


def stages(rows, shown, found):
    """Where the time went ([p50, p95] s): committed → a poll made the record → its first attempt began → the
    channel showed it (only records that were sent themselves, not overtaken)."""
    spans = {"to_record": [], "queued": [], "to_shown": []}
    for sku, seq, _, committed, _ in rows:
        record = found.get((sku, seq))
        if record is None:
            continue
        status, created, began = record
        spans["to_record"].append(created - committed)
        if began is not None:
            spans["queued"].append(began - created)
            if status == "succeeded" and (sku, seq) in shown:
                spans["to_shown"].append(shown[(sku, seq)] - began)
    return {stage: [orders_bench.centiles(sorted(values))[key] for key in ("p50_s", "p95_s")]
            for stage, values in spans.items()}


def batches(integration, since, start, end):
    """Batch step runs (the records one attempt took together) that began in [start, end)."""
    sizes = sorted(Counter(SyncAttempt.objects.filter(
        record__integration=integration, record__flow="inventory", record__pk__gt=since,
        started_at__gte=datetime.fromtimestamp(start, UTC), started_at__lt=datetime.fromtimestamp(end, UTC))
        .values_list("worker", "started_at")).values())
    if not sizes:
        return {"runs": 0}
    return {"runs": len(sizes), "records_mean": round(sum(sizes) / len(sizes), 1),
            "records_p50": sizes[len(sizes) // 2], "records_max": sizes[-1]}


def calls(sandbox, first, last, changes, portal):
    """Calls per change per system as the sandboxes counted them, ChannelAdvisor's HTTP requests, and per route."""
    rows = SandboxCall.objects.filter(sandbox=sandbox, pk__gt=first, pk__lte=last)
    per_system = dict(rows.values_list("system").annotate(n=Count("id")).order_by())
    throttled = dict(rows.filter(status=429).values_list("system").annotate(n=Count("id")).order_by())
    # The portal sends UpdateQuantity only as $batch parts; the naive loop only directly.
    parts = rows.filter(system="channeladvisor", endpoint__endswith="UpdateQuantity").count() if portal else 0
    routes = {}
    for row in rows.values("system", "method", "endpoint").annotate(n=Count("id")).order_by("-n"):
        routes.setdefault(row["system"], {})[f"{row['method']} {row['endpoint']}"] = round(row["n"] / changes, 3)
    return {"per_change": {system: round(n / max(changes, 1), 3) for system, n in per_system.items()},
            "channeladvisor_requests_per_change": round((per_system.get("channeladvisor", 0) - parts)
                                                        / max(changes, 1), 3),
            "top_level_429": throttled, "per_route_per_change": routes}


def budget(sandbox, start, end, changes):
    """ChannelAdvisor's own count of its budget in the windows that began in [start, end)."""
    config = ca_auth.config_for(sandbox)
    limit, window = config.requests_per_window, config.rate_window_seconds
    counts = list(ca.RateCounter.objects.filter(
        sandbox=sandbox, window_start__gte=datetime.fromtimestamp(start, UTC),
        window_start__lt=datetime.fromtimestamp(end, UTC)).values_list("count", flat=True))
    used, refused = sum(counts), sum(max(count - limit, 0) for count in counts)
    windows = max(round((end - start) / window), 1)
    return {"budget_per_window": limit, "window_s": window, "windows": windows, "units": used,
            "units_per_change": round(used / max(changes, 1), 3),
            "share_mean": round(used / windows / limit, 3), "share_peak_window": round(max(counts or [0]) / limit, 3),
            "refused_429": refused, "share_429": round(refused / used, 4) if used else 0.0}


def webhooks(sandbox, first, last, changes):
    """TIMS's inventory.changed webhooks queued in the phase: how many per change, and queued → delivered."""
    rows = WebhookDelivery.objects.filter(subscription__sandbox=sandbox, pk__gt=first, pk__lte=last)
    lags = orders_bench.centiles(sorted((delivered - queued).total_seconds() for queued, delivered in rows.filter(
        delivered_at__isnull=False).values_list("created_at", "delivered_at")))
    return {"per_change": round(rows.count() / max(changes, 1), 2), "delivered_p50_s": lags["p50_s"],
            "delivered_p95_s": lags["p95_s"], "undelivered": rows.filter(delivered_at__isnull=True).count()}


def phase_figures(sandbox, rows, writes, value_seqs, integrations, mark, start, end, first, last, portal=True):
    """Freshness per channel, calls and ChannelAdvisor's budget for one phase's changes."""
    commits = [row[3] for row in rows]
    run = {"changes": len(rows), "driven_per_second": round(len(rows) / max(max(commits) - min(commits), 1e-9), 2)
           if len(rows) > 1 else None}
    for channel in CHANNELS:
        shown, older = shown_at(rows, writes[channel], value_seqs)
        figures = {**freshness(rows, shown), "older_over_newer": older}
        if portal:
            found = portal_records(integrations[channel], mark["record"])
            statuses = Counter(found[(sku, seq)][0] for sku, seq, *_ in rows if (sku, seq) in found)
            figures.update(records=dict(statuses), stages=stages(rows, shown, found),
                           batches=batches(integrations[channel], mark["record"], start, end))
        run[channel] = figures
    if portal:
        run["webhooks"] = webhooks(sandbox, first["webhook"], last["webhook"], len(rows))
    run["calls"] = calls(sandbox, first["call"], last["call"], len(rows), portal)
    run["channeladvisor_budget"] = budget(sandbox, start, end, len(rows))
    return run


def through_portal(sandbox, changes, integrations, args):
    """Steady, then burst, while the cluster runs; each phase's calls are those made until the next one began."""
    start = next_minute(5)
    sleep_until(start)
    before = marks(sandbox)
    burst_at = start + args.minutes * 60
    failed = []

    def phases():
        try:
            drive(changes, args.rate / 3600, args.minutes * 60, "steady", start)
            if "burst" not in args.skip:
                drive(changes, args.burst / 60, 60, "burst", burst_at)
        except Exception as exc:  # noqa: BLE001 - the bench reports why the driver stopped
            failed.append(f"{type(exc).__name__}: {exc}"[:300])
        finally:
            db_connection.close()  # this thread's own

    driver = threading.Thread(target=phases, name="driver", daemon=True)
    driver.start()
    while time.time() < burst_at and driver.is_alive():
        time.sleep(min(60, max(burst_at - time.time(), 0.1)))
        say("steady:", len(changes.of("steady")), "changes;", behind(changes, integrations.values()), "behind")
    at_burst = marks(sandbox)
    while driver.is_alive():
        driver.join(15)
        say("burst:", len(changes.of("burst")), "changes;", behind(changes, integrations.values()), "behind")
    driven = time.time()
    late = wait_published(changes, integrations.values(), time.perf_counter() + args.settle, "settle")
    end = marks(sandbox)
    windows_end = next_minute()  # the window the settling ended in is counted whole
    sleep_until(windows_end)
    writes = channel_writes(sandbox, before)
    value_seqs = changes.value_seqs()
    result = {"driver_failed": failed[:1], "not_settled_after_settle": late,
              "settle_s": round(end["at"] - driven, 1),
              "steady": phase_figures(sandbox, changes.of("steady"), writes, value_seqs, integrations, before, start,
                                      burst_at, before, at_burst)}
    if changes.of("burst"):
        result["burst"] = phase_figures(sandbox, changes.of("burst"), writes, value_seqs, integrations, before,
                                        burst_at, windows_end, at_burst, end)
    for phase in ("steady", "burst"):
        if phase in result:
            say(phase + ":", json.dumps({channel: {k: result[phase][channel][k] for k in
                                                   ("changes", "settled", "p50_s", "p99_s", "max_s")}
                                         for channel in CHANNELS}))
    return result


def naive(sandbox, changes, tims, integrations, args):
    """The baseline loop in a thread of this process while this thread changes stock at the steady rate."""
    shop_client = PrestaShopClient(integrations["prestashop"].channel_connection, use_governor=False,
                                   use_breaker=False)
    market_client = ChannelAdvisorClient(integrations["channeladvisor"].channel_connection, use_governor=False,
                                         use_breaker=False)
    tims_client = TimsClient(tims, use_governor=False, use_breaker=False)
    product_ids = {parsers.text(row["reference"]): parsers.text(row["id"])
                   for page in shop_client.pages("products", display="[id,reference]") for row in page}
    cursor = ""
    while True:  # a script starts at the end of the feed
        rows, after = tims_client.inventory_changes_raw(cursor)
        if not rows:
            break
        cursor = after
    start = next_minute(5)
    sleep_until(start)
    before = marks(sandbox)
    done, failed, stop = {"seq": 0}, [], threading.Event()
    loop = threading.Thread(target=naive_loop, args=((shop_client, market_client, tims_client), product_ids, cursor,
                                                     done, failed, stop), name="naive", daemon=True)
    loop.start()
    try:
        drive(changes, args.rate / 3600, args.naive_minutes * 60, "naive", start)
        last_seq = max(seq for _, seq, *_ in changes.of("naive"))
        deadline = time.perf_counter() + args.settle
        while done["seq"] < last_seq and not failed and time.perf_counter() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        loop.join(30)
    end = marks(sandbox)
    windows_end = next_minute()
    sleep_until(windows_end)
    rows = changes.of("naive")
    run = phase_figures(sandbox, rows, channel_writes(sandbox, before), changes.value_seqs(), integrations, before,
                        start, windows_end, before, end, portal=False)
    run["failed"] = failed[:1]
    say("naive:", json.dumps({channel: {k: run[channel][k] for k in ("changes", "settled", "p50_s", "p99_s")}
                              for channel in CHANNELS}))
    return run


def naive_loop(clients, product_ids, cursor, done, failed, stop):
    """What a script would do: read the feed every second and, for each change, read and set both channels."""
    shop, market, tims = clients
    try:
        while not stop.is_set():
            tick = time.perf_counter()
            while not stop.is_set():
                rows, cursor = tims.inventory_changes_raw(cursor)
                for row in rows:
                    sku, quantity = row["SKU"], max(int(row["Available"]), 0)
                    stock = shop.decode(shop.request("GET", "stock_availables", params={
                        "display": "full", "filter[id_product]": f"[{product_ids[sku]}]",
                        "filter[id_product_attribute]": "[0]"}))[0]
                    if parsers.text(stock.get("quantity")) != str(quantity):
                        shop.update("stock_availables", parsers.text(stock["id"]), {"quantity": quantity},
                                    current=stock)
                    product = next(market.pages("Products", {"$filter": f"Sku eq {odata_string(sku)}",
                                                             "$select": "ID,Sku", "$expand": "DCQuantities"}))[0]
                    shows = {dc.get("DistributionCenterID"): dc.get("AvailableQuantity")
                             for dc in product.get("DCQuantities") or []}
                    if shows.get(0) != quantity:
                        market.update_quantity(product["ID"], quantity, dc_id=0)
                    done["seq"] = row["Seq"]
                if not rows:
                    break
            stop.wait(max(1 - (time.perf_counter() - tick), 0))
    except Exception as exc:  # noqa: BLE001 - a script would just die; the bench says why
        failed.append(f"{type(exc).__name__}: {exc}"[:300])
    finally:
        db_connection.close()  # this thread's own


def versus(run, baseline):
    """How the portal compares with the naive loop measured in the same run."""
    def ratio(a, b):
        return round(a / b, 2) if a is not None and b else None
    fewer = {"prestashop_calls": ratio(baseline["calls"]["per_change"].get("prestashop"),
                                       run["calls"]["per_change"].get("prestashop")),
             "channeladvisor_requests": ratio(baseline["calls"]["channeladvisor_requests_per_change"],
                                              run["calls"]["channeladvisor_requests_per_change"]),
             "channeladvisor_budget_units": ratio(baseline["channeladvisor_budget"]["units_per_change"],
                                                  run["channeladvisor_budget"]["units_per_change"])}
    return {"times_fewer": fewer,
            "freshness_p50": {c: ratio(run[c]["p50_s"], baseline[c]["p50_s"]) for c in CHANNELS},
            "freshness_p99": {c: ratio(run[c]["p99_s"], baseline[c]["p99_s"]) for c in CHANNELS}}


def verdict(result):
    """Each aim, and whether this run met it (every change settled, and the figure within the aim)."""
    met = {}
    for phase, target in (("steady", TARGETS["steady_p99_s"]), ("burst", TARGETS["burst_p99_s"])):
        run = result["portal"].get(phase)
        if run:
            met[f"{phase}_p99"] = all(run[c]["settled"] == run[c]["changes"] and run[c]["p99_s"] is not None
                                      and run[c]["p99_s"] < target for c in CHANNELS)
            met[f"{phase}_429"] = run["channeladvisor_budget"]["share_429"] < TARGETS["share_429"]
    for phase, ratios in result.get("vs_naive", {}).items():
        fewer = ratios["times_fewer"]
        met[f"{phase}_channeladvisor_requests_20x"] = (fewer["channeladvisor_requests"] or 0) >= 20
        met[f"{phase}_channeladvisor_budget_20x"] = (fewer["channeladvisor_budget_units"] or 0) >= 20
    return met


def limits_of(connection):
    return {"per_minute": connection.effective_rate_limit, "concurrent": connection.effective_max_concurrent}


def main():
    logging.getLogger("django-q").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="How long the steady rate runs.")
    parser.add_argument("--rate", type=float, default=10_000, help="Changes per hour at the steady rate.")
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--burst", type=int, default=5000, help="Changes in the minute after the steady rate.")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--naive-minutes", type=float, default=2, help="How long the naive loop runs (steady rate).")
    parser.add_argument("--settle", type=float, default=420,
                        help="Seconds to wait at most, after the last change, for the channels to catch up.")
    parser.add_argument("--deadline", type=float, default=900, help="Seconds the warm-up takes at most.")
    parser.add_argument("--skip", nargs="+", default=[], choices=["burst", "naive"])
    parser.add_argument("--port", type=int, default=8114)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sandbox, skus, tims, integrations = prepare(args, rng)
    changes = Changes(sandbox, skus, rng)
    result = {"skus": args.skus, "rate_per_hour": args.rate, "minutes": args.minutes, "burst": args.burst,
              "workers": args.workers, "cores": os.cpu_count(),
              "feed_poll_seconds": settings.PIPELINE_FEED_POLL_SECONDS,
              "limits": {"tims": limits_of(tims), **{kind: limits_of(i.channel_connection)
                                                     for kind, i in integrations.items()}},
              "targets": TARGETS}
    server = read_orders.serve(args.port)
    cluster = orders_bench.start_cluster(args.workers)
    try:
        Integration.objects.filter(pk__in=[i.pk for i in integrations.values()]).update(state="live")
        result["warm_up"] = warm_up(sandbox, changes, list(integrations.values()), args)
        result["portal"] = through_portal(sandbox, changes, integrations, args)
        orders_bench.stop(cluster)
        cluster = None
        Integration.objects.filter(pk__in=[i.pk for i in integrations.values()]).update(state="paused")
        WebhookSubscription.objects.filter(sandbox=sandbox, system="tims").update(active=False)
        if "naive" not in args.skip:
            baseline = result["naive"] = naive(sandbox, changes, tims, integrations, args)
            result["vs_naive"] = {phase: versus(result["portal"][phase], baseline)
                                  for phase in ("steady", "burst") if phase in result["portal"]}
        result["targets_met"] = verdict(result)
    finally:
        if cluster is not None:
            orders_bench.stop(cluster)
        read_orders.stop(server)
        Integration.objects.filter(pk__in=[i.pk for i in integrations.values()]).update(state="paused")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
