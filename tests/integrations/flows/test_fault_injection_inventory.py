"""Under injected faults every channel ends with TIMS's stock, and no channel is ever sent a value older than one
it already had.

One TIMS feeds a PrestaShop shop and ChannelAdvisor marketplaces (one TIMS connection, two integrations). A few
hundred SKUs that both channels list as plain products take a few thousand stock moves in TIMS, some SKUs far more
often than others, at both locations, while all three sandboxes run the chaos profile (5xx, 429 bursts, latency,
hangs, writes committed then answered with 500) and real django-q2 clusters poll the feed and publish: now and then
the feed serves again changes the portal has read already, workers are SIGKILLed and a whole cluster is replaced.
Once the faults stop, the work settles and both integrations are reconciled, every SKU shows TIMS's Available on
every channel, read through the channels' own APIs (ChannelAdvisor: in the connection's distribution center; the
other DCs are left alone), and the sandboxes' write logs show each channel's values for a SKU walking forward
through TIMS's history of that SKU, never back.
"""

import itertools
import pprint
import random
import subprocess
import threading
import time
from collections import Counter, defaultdict

import pytest
from django.db import connection as db
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from integrations.connectors.checks import client_for
from integrations.flows import inventory
from integrations.models import (
    Connection,
    Integration,
    PollState,
    RecordStatus,
    SkuIssue,
    StockLevel,
    StockReport,
    SyncRecord,
)
from integrations.pipeline import pollers, records
from mappings import services as mapping_services
from sandbox import services
from sandbox.channeladvisor import models as ca
from sandbox.faults import Decider
from sandbox.prestashop import models as ps
from sandbox.tims import operations
from sandbox.tims import views as tims_views
from sandbox.tims.models import InventoryChange, Item, Location
from tests.integrations.flows import chaos
from tests.integrations.flows.test_fault_injection import CHAOS, LIMITS, SYSTEMS

PRODUCTS = 300  # the shared catalog in all three systems; the shop sells one in four as combinations
SKUS = 200  # plain products in both channels whose stock moves
CHANGES = 2000
STOCKING_SECONDS = 70
HOT_SHARE = 0.5  # half the moves hit a tenth of the SKUs (busy items: their records supersede each other)
REPLAY_EVERY = 3  # reads of TIMS's inventory feed between two replays of rows already read
REPLAY_ROWS = 300
WORKERS = 3
# Our clusters differ from chaos.start_cluster's in two ways, both as deployed. One poll task pages through the feed
# for up to pollers.POLL_TASK_SECONDS (hundreds of records a page) and one batch writes up to 100 PrestaShop rows, one
# call each: 20 s is too short a task timeout for them (production: 120 s; the lease stays above it). And the workers
# keep their database connections (production settings): settings_test's CONN_MAX_AGE=0 is for the live server's
# threads, and under it django-q's ORM broker reconnects for every doorbell, which makes a poll page 3 times slower.
TASK_TIMEOUT = 60
KILL_AT = 15  # seconds into the stocking
FEED_POLL_SECONDS = 3  # the workers' feed ticker (10 s by default): more, smaller reads, so values go out as they move
DC = "0"  # the marketplaces connection's distribution center; TIMS's locations all feed it under the default rules


def make_world(live_server, cast):
    sandbox, _ = services.create_sandbox("chaos-stock")
    secrets = services.issue_credentials(sandbox, live_server.url)
    rng = random.Random(17)
    for system in SYSTEMS:
        services.system_module(system).generate(sandbox, orders=0, products=PRODUCTS, customers=0, state=None,
                                                unknown_sku=0, rng=rng)
    org, market = cast.org_a, secrets["channeladvisor"]

    def connection(kind, name, **fields):
        return Connection.objects.create(organization=org, kind=kind, name=name, sandbox=sandbox, **LIMITS, **fields)

    def shop(name):
        return connection("prestashop", name, base_url=secrets["prestashop"]["base_url"],
                          credentials={"ws_key": secrets["prestashop"]["ws_key"]})

    def marketplace(name):
        return connection("channeladvisor", name, base_url=market["base_url"],
                          credentials={k: market[k] for k in ("application_id", "shared_secret", "refresh_token")},
                          settings={"profile_id": int(market.get("profile_id") or 12345678),
                                    "distribution_center_id": int(DC)})

    tims = connection("tims", "TIMS", base_url=secrets["tims"]["base_url"],
                      credentials={k: secrets["tims"][k] for k in ("client_id", "client_secret")},
                      settings={"default_location": "MAIN"})
    integrations = [
        Integration.objects.create(organization=org, name="Shop", template="prestashop_tims",
                                   channel_connection=shop("Shop"), tims_connection=tims, flows=["inventory"],
                                   state="live"),
        Integration.objects.create(organization=org, name="Marketplaces", template="channeladvisor_tims",
                                   channel_connection=marketplace("Marketplaces"), tims_connection=tims,
                                   flows=["inventory"], state="live")]
    mapping_services.ensure_global_value_maps()
    # The test's own eyes on the channels (same accounts): the pipeline's circuits and pacing stay its own.
    auditors = [shop("Shop (auditor)"), marketplace("Marketplaces (auditor)")]
    combined = set(ps.Product.objects.filter(sandbox=sandbox, id__in=ps.Combination.objects.filter(
        sandbox=sandbox).values("id_product")).values_list("reference", flat=True))
    plain = (set(ps.Product.objects.filter(sandbox=sandbox).values_list("reference", flat=True)) - combined) & set(
        ca.Product.objects.filter(sandbox=sandbox).values_list("sku", flat=True)) & set(
        Item.objects.filter(sandbox=sandbox).values_list("sku", flat=True))
    skus = sorted(plain)[:SKUS]
    assert len(skus) == SKUS, f"the catalog has only {len(skus)} plain products in both channels"
    return sandbox, tims, integrations, auditors, skus, combined


def start_cluster(log_dir, name, monkeypatch):
    """chaos.start_cluster, with TASK_TIMEOUT, FEED_POLL_SECONDS and the production settings (see above)."""
    real_popen = subprocess.Popen

    def popen(args, *, env, **kwargs):
        return real_popen(args, env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings",
                                     "Q_TIMEOUT": str(TASK_TIMEOUT), "PIPELINE_LEASE_SECONDS": str(TASK_TIMEOUT + 10),
                                     "PIPELINE_FEED_POLL_SECONDS": str(FEED_POLL_SECONDS)}, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(chaos.subprocess, "Popen", popen)
        return chaos.start_cluster(log_dir, name, workers=WORKERS)


class Stocker(threading.Thread):
    """TIMS's warehouse at work: CHANGES moves of OnHand over STOCKING_SECONDS, in small transactions, mostly at MAIN
    and sometimes at EAST."""

    def __init__(self, sandbox, skus, rng):
        super().__init__(daemon=True)
        self.sandbox, self.skus, self.rng = sandbox, skus, rng
        self.hot = skus[:max(len(skus) // 10, 1)]
        self.errors, self.moved = [], 0

    def run(self):
        try:
            items = {item.sku: item for item in Item.objects.filter(sandbox=self.sandbox, sku__in=self.skus)}
            locations = [Location.objects.get(sandbox=self.sandbox, code=code) for code in ("MAIN", "EAST")]
            started = time.monotonic()
            while self.moved < CHANGES:
                chaos.surviving_db_errors(self.move, items, locations)
                behind = started + self.moved * STOCKING_SECONDS / CHANGES - time.monotonic()
                time.sleep(max(behind, 0))
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(exc))
        finally:
            db.close()

    def move(self, items, locations):
        count = min(self.rng.randint(1, 5), CHANGES - self.moved)
        with transaction.atomic():
            for _ in range(count):
                sku = self.rng.choice(self.hot if self.rng.random() < HOT_SHARE else self.skus)
                location = locations[0] if self.rng.random() < 0.8 else locations[1]
                operations.set_on_hand(items[sku], location, self.rng.randrange(0, 500))
        self.moved += count


def replaying_feed(monkeypatch):
    """Every REPLAY_EVERY-th read of TIMS's inventory feed is answered from REPLAY_ROWS rows before the cursor it
    was given, as a feed that delivers at least once may: changes the portal has read already (older values) come
    again, and the cursor goes back with them. Returns the positions replayed (the sandbox serves in this process)."""
    real = tims_views._cursor_position
    reads, replayed = itertools.count(1), []

    def cursor_position(request):
        position = real(request)
        if request.path.endswith("/inventory/changes") and position and next(reads) % REPLAY_EVERY == 0:
            replayed.append(position)
            return max(position - REPLAY_ROWS, 0)
        return position

    monkeypatch.setattr(tims_views, "_cursor_position", cursor_position)
    return replayed


def read_to_the_end(sandbox, tims):
    """Has the portal read TIMS's feed to its last row? (That row's level carries the feed's newest seq.)"""
    newest = InventoryChange.objects.filter(sandbox=sandbox).aggregate(m=Max("seq"))["m"]
    return StockLevel.objects.filter(connection=tims).aggregate(m=Max("seq"))["m"] == newest


def wait_for_a_free_feed(tims, seconds=30):
    """Wait for a moment no poll is reading the inventory feed (a poll reads TIMS's events after it, and the
    workers' tickers leave short gaps between reads once they have caught up); False when there was none."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not PollState.objects.filter(connection=tims, name="inventory", lease_until__gt=timezone.now()).exists():
            return True
        time.sleep(0.05)
    return False


def settle(sandbox, tims, deadline, poll_every=5.0):
    """Act as the schedules (polls queued for the workers, the sweeper) until the feed is read to its end and no
    record is open. When nothing runs or waits its turn, records sleeping out a backoff are rung now: the test is
    the clock, and each still has to succeed through the pipeline."""
    last_poll = last_report = time.monotonic() - 1000
    while time.monotonic() < deadline:
        if time.monotonic() - last_poll > poll_every:
            chaos.surviving_db_errors(pollers.poll_all)
            last_poll = time.monotonic()
        if time.monotonic() - last_report > 15:  # shown when it fails
            print(time.strftime("%X"), chaos.surviving_db_errors(lambda: {**chaos.snapshot(), **feed_progress(
                sandbox, tims)}))
            last_report = time.monotonic()

        def done():
            records.sweep()
            if read_to_the_end(sandbox, tims) and not SyncRecord.objects.filter(status__in=chaos.OPEN).exists():
                return True
            if not SyncRecord.objects.filter(status__in=(RecordStatus.PENDING, RecordStatus.RUNNING)).exists():
                for record_id in SyncRecord.objects.filter(status=RecordStatus.RETRYING).values_list("pk", flat=True):
                    SyncRecord.objects.filter(pk=record_id).update(next_attempt_at=None)
                    records.dispatch(record_id)
            return False

        if chaos.surviving_db_errors(done):
            return True
        time.sleep(1)
    return False


def reconciled(integration, attempts=5):
    """A reconciliation that finished; one that met a circuit still open from the faults is run again later."""
    for _ in range(attempts):
        report = inventory.reconcile(integration, started_by="fault test")
        if report.status == StockReport.Status.DONE:
            return report
        time.sleep(5)
    return report


def tims_histories(sandbox, skus):
    """{sku: [what a channel should show after each of its changes, oldest first]}, from TIMS's feed rows: the sum
    of the Available at every location (the default rules), never below zero."""
    levels, history = defaultdict(dict), defaultdict(list)
    for sku, location, available in InventoryChange.objects.filter(sandbox=sandbox, sku__in=skus).order_by(
            "seq").values_list("sku", "location", "available"):
        levels[sku][location] = available
        history[sku].append(sum(max(units, 0) for units in levels[sku].values()))
    return history


def tims_available(sandbox, skus):
    """{sku: what a channel should show now}, from TIMS's own levels."""
    totals = dict.fromkeys(skus, 0)
    for item in Item.objects.filter(sandbox=sandbox, sku__in=skus).prefetch_related("levels"):
        totals[item.sku] = sum(max(level.available, 0) for level in item.levels.all())
    return totals


def first_step_back(written, history):
    """None when `written` is a walk forward through `history` (values may repeat, never go back), else (which
    write, its value, how far the walk had got). Greedy: each value is matched at the earliest place at or after the
    previous one's, which leaves the most room for the values after it, so it finds a walk whenever there is one."""
    at = 0
    for position, value in enumerate(written):
        try:
            at = history.index(value, at)
        except ValueError:
            return position, value, at
    return None


def shop_writes(sandbox, skus, after):
    """{sku: [(write id, quantity), ...]} the shop's webservice wrote to each SKU's stock row since write `after`."""
    sku_of_product = dict(ps.Product.objects.filter(sandbox=sandbox, reference__in=skus).values_list("id",
                                                                                                       "reference"))
    product_of_row = dict(ps.StockAvailable.objects.filter(sandbox=sandbox, id_product__in=sku_of_product,
                                                           id_product_attribute=0).values_list("id", "id_product"))
    found = defaultdict(list)
    for row_id, write_id, quantity in ps.StockWrite.objects.filter(
            sandbox=sandbox, id__gt=after, id_stock_available__in=product_of_row, cause__in=("PUT", "PATCH")
    ).order_by("id").values_list("id_stock_available", "id", "quantity"):
        found[sku_of_product[product_of_row[row_id]]].append((write_id, quantity))
    return found


def market_writes(sandbox, skus, after):
    """{sku: [(write id, available quantity), ...]} UpdateQuantity wrote to the connection's DC since `after`, and
    the DCs written that are not the connection's (there must be none)."""
    found, elsewhere = defaultdict(list), Counter()
    for sku, dc, write_id, quantity in ca.QuantityWrite.objects.filter(
            sandbox=sandbox, id__gt=after, sku__in=skus).order_by("id").values_list(
            "sku", "distribution_center_id", "id", "available_quantity"):
        if str(dc) == DC:
            found[sku].append((write_id, quantity))
        else:
            elsewhere[dc] += 1
    return found, elsewhere


def channel_shows(auditor, skus):
    """{sku: {bucket: quantity}} as the channel's own API answers (read while no faults are on), and the SKUs it
    could not answer for."""
    return client_for(auditor).read_quantities(skus)


def last_write_ids(sandbox):
    return (ps.StockWrite.objects.filter(sandbox=sandbox).aggregate(m=Max("id"))["m"] or 0,
            ca.QuantityWrite.objects.filter(sandbox=sandbox).aggregate(m=Max("id"))["m"] or 0)


def feed_progress(sandbox, tims):
    """Where TIMS's feed is, and where the portal's reading of it is."""
    state = PollState.objects.filter(connection=tims, name="inventory").values(
        "cursor", "lease_until", "last_polled_at", "last_error").first()
    return {"feed_seq": InventoryChange.objects.filter(sandbox=sandbox).aggregate(m=Max("seq"))["m"],
            "read_seq": StockLevel.objects.filter(connection=tims).aggregate(m=Max("seq"))["m"], "poll": state}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_channel_ends_with_tims_stock_and_never_goes_back_under_faults(live_server, cast, tmp_path, capsys,
                                                                              monkeypatch):
    Decider.reset()
    started = time.monotonic()
    sandbox, tims, integrations, auditors, skus, combined = make_world(live_server, cast)
    shop, market = integrations
    before = last_write_ids(sandbox)
    other_dcs = {sku: {dc: q for dc, q in shows.items() if dc != DC}
                 for sku, shows in channel_shows(auditors[1], skus)[0].items()}
    assert any(other_dcs.values()), "the marketplace's products should stock another DC too (a 3PL's)"
    timeline = {"world_at": round(time.monotonic() - started)}

    def diagnostics():
        return pprint.pformat({**chaos.progress(tmp_path, sandbox), **chaos.surviving_db_errors(
            feed_progress, sandbox, tims)}, width=120)

    for system in SYSTEMS:
        services.set_faults(sandbox, system, "chaos", **CHAOS)
    clusters = [start_cluster(tmp_path, "cluster-1", monkeypatch), start_cluster(tmp_path, "cluster-2", monkeypatch)]
    replayed = replaying_feed(monkeypatch)
    stocker = Stocker(sandbox, skus, random.Random(23))
    stocking = time.monotonic()
    try:
        stocker.start()
        pollers.poll_all()
        # Mid-run, at a moment no poll is reading the feed (if one comes within 30 s), two workers of one cluster are
        # SIGKILLed at their work (their records abandoned, the leases taken back) and the other cluster dies whole;
        # a new one comes up. All at once, because a poller killed mid-read holds the feed's lease for
        # pollers.POLL_LEASE (60 s): nothing is lost or read twice, but a minute of this test would be gone each time.
        lags, killed, killed_while_polling, last_poll = [], 0, None, time.monotonic()
        # A loaded machine moves stock slower than planned; that is not what is tested: wait up to four times as long.
        while stocker.is_alive() and time.monotonic() - stocking < STOCKING_SECONDS * 4:
            time.sleep(0.5)
            if time.monotonic() - last_poll > 5:  # the schedule, more often than once a minute
                chaos.surviving_db_errors(pollers.poll_all)
                last_poll = time.monotonic()
            if killed_while_polling is None and time.monotonic() - stocking >= KILL_AT:
                killed_while_polling = not chaos.surviving_db_errors(wait_for_a_free_feed, tims)
                killed = len(chaos.kill_workers(clusters[1], 2))
                chaos.stop(clusters.pop(0))
                clusters.append(start_cluster(tmp_path, "cluster-3", monkeypatch))
            progress = chaos.surviving_db_errors(feed_progress, sandbox, tims)
            if progress:
                lags.append((progress["feed_seq"] or 0) - (progress["read_seq"] or 0))
        assert not stocker.is_alive() and not stocker.errors, (f"{stocker.moved} of {CHANGES} moves made",
                                                               stocker.errors[:5])
        timeline.update(stocked_at=round(time.monotonic() - started), moves=stocker.moved,
                        feed_replays=len(replayed), workers_killed=killed, clusters_replaced=1,
                        killed_while_polling=killed_while_polling,
                        feed_lag={"max": max(lags), "at_the_end": lags[-1]})
        assert len(replayed) >= 2 and killed == 2

        # The faults stay on until the portal has read the whole feed, then stop and the work settles.
        deadline = time.monotonic() + 60
        while not chaos.surviving_db_errors(read_to_the_end, sandbox, tims) and time.monotonic() < deadline:
            time.sleep(1)
        for system in SYSTEMS:
            services.set_faults(sandbox, system, "none")
        assert settle(sandbox, tims, time.monotonic() + 150), diagnostics()
        timeline["settled_at"] = round(time.monotonic() - started)
        before_reconcile = last_write_ids(sandbox)
        reports = {integration.name: reconciled(integration) for integration in integrations}
        assert {report.status for report in reports.values()} == {StockReport.Status.DONE}, {
            name: report.error for name, report in reports.items()}
        timeline["drifted"] = {name: report.drifted for name, report in reports.items()}
        assert settle(sandbox, tims, time.monotonic() + 60), diagnostics()
        timeline["reconciled_at"] = round(time.monotonic() - started)

        # Every SKU shows TIMS's Available on every channel, read through the channels' own APIs.
        expected = tims_available(sandbox, skus)
        histories = tims_histories(sandbox, skus)
        assert {sku: history[-1] for sku, history in histories.items()} == expected  # TIMS's feed says the same
        shop_shows, shop_missing = channel_shows(auditors[0], skus)
        assert not shop_missing and {sku: shows[""] for sku, shows in shop_shows.items()} == expected
        market_shows, market_missing = channel_shows(auditors[1], skus)
        assert not market_missing and {sku: shows.get(DC) for sku, shows in market_shows.items()} == expected
        assert {sku: {dc: q for dc, q in shows.items() if dc != DC}
                for sku, shows in market_shows.items()} == other_dcs  # nobody's rules name the other DCs

        # Nothing was lost on the way. No dead letter: the chaos profile makes faults, not unreadable data, and a
        # record whose worker was killed once is tried again, however often it had failed before.
        moved = SyncRecord.objects.filter(flow="inventory")
        assert set(moved.values_list("status", flat=True)) <= {
            RecordStatus.SUCCEEDED, RecordStatus.SKIPPED, RecordStatus.SUPERSEDED}, diagnostics()
        # The only SKUs not published are the shop's products with combinations (their stock is their
        # combinations' sum), listed once each, not dead letters per change.
        issues = SkuIssue.objects.filter(resolved_at__isnull=True)
        assert not issues.filter(sku__in=skus).exists() and not issues.filter(integration=market).exists()
        assert set(issues.values_list("code", flat=True)) <= {"has_combinations"}
        assert set(issues.values_list("sku", flat=True)) <= combined

        # No channel was sent a value older than one it had: in each SKU's write log, the values written before
        # the reconciliation walk forward through its TIMS history. Reconciliation is the one writer allowed to
        # go anywhere (it corrects what the channel shows, whatever it shows); once the feed is read and nothing
        # moves, each of its corrections must be exactly the SKU's final value, and only for drifted SKUs.
        shop_log = shop_writes(sandbox, skus, before[0])
        market_log, market_elsewhere = market_writes(sandbox, skus, before[1])
        assert not market_elsewhere, market_elsewhere
        for integration, log, reconcile_from in ((shop, shop_log, before_reconcile[0]),
                                                 (market, market_log, before_reconcile[1])):
            steps_back, walked = {}, Counter()
            for sku, writes in log.items():
                walk = [q for write_id, q in writes if write_id <= reconcile_from]
                walked[sku] = len(walk)
                step_back = first_step_back(walk, histories[sku])
                if step_back is not None:
                    steps_back[sku] = (step_back, [q for _, q in writes], histories[sku])
            assert not steps_back, (integration.name, len(steps_back), dict(list(steps_back.items())[:3]))
            # The check had something to check: many SKUs were sent more than one value. (How many depends on how
            # far the pipeline falls behind TIMS here: values it could not send before newer ones came are skipped.)
            assert sum(n >= 2 for n in walked.values()) >= len(skus) // 5, (integration.name, Counter(walked.values()))
            timeline[f"{integration.name}_walk"] = {
                "writes": sum(walked.values()), "skus_by_writes": dict(sorted(Counter(walked.values()).items())),
                "busy_skus": [walked[sku] for sku in stocker.hot]}
            corrections = {sku: [q for write_id, q in writes if write_id > reconcile_from]
                           for sku, writes in log.items()}
            corrections = {sku: values for sku, values in corrections.items() if values}
            drifted = {row["sku"] for row in reports[integration.name].drift}
            assert set(corrections) <= drifted, (integration.name, set(corrections) - drifted)
            assert all(set(values) == {expected[sku]} for sku, values in corrections.items()), corrections
            timeline[f"{integration.name}_corrections"] = len(corrections)
        timeline["records"] = dict(Counter(moved.values_list("status", flat=True)))
        timeline["faults"] = {f"{row['system']} {row['fault']}": row["n"]
                              for row in chaos.progress(sandbox=sandbox).get("faults", [])}
    finally:
        for cluster in clusters:
            chaos.stop(cluster)
        db.close()
        timeline["wall_seconds"] = round(time.monotonic() - started)
        with capsys.disabled():
            print(f"\ninventory under faults: {timeline}")


def test_a_walk_that_goes_back_is_caught():
    """The write-log check itself: repeats and skipped values are fine, a value older than one written is not."""
    history = [5, 9, 7, 9, 3]
    assert first_step_back([], history) is None
    assert first_step_back([9, 9, 3], history) is None  # the second 9 is TIMS's second 9 (or the same one again)
    assert first_step_back([9, 7, 9], history) is None
    assert first_step_back([7, 5], history) == (1, 5, 2)  # 5 came before 7: it went back
    assert first_step_back([3, 9], history) == (1, 9, 4)
    assert first_step_back([4], history) == (0, 4, 0)  # never a TIMS value at all

