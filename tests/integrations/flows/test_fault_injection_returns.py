"""Under injected faults every marketplace adjustment and every shop credit slip is one TIMS return, and stock is
restocked exactly once.

30 shop and 30 marketplace orders are imported into one TIMS, shipped, invoiced and paid first (no faults). Then,
with the chaos profile on all three sandboxes (5xx, 429 bursts, latency, hangs, and many TIMS writes — POST /returns
among them — committed and then answered with a 500: the lost answer is this test's case), buyers and staff file
returns in the sandboxes' back offices (`sandbox act`): ChannelAdvisor buyer returns with restock (some orders
twice, two whose refund is still pending), seller refunds of a unit without restock, seller refunds with a reason no
map covers, goodwill refunds of an amount (money only), and PrestaShop credit slips of a unit (some orders twice) —
while real django-q2 clusters work them off, workers are SIGKILLed in the middle of tasks and a whole cluster is
replaced. Once faults stop and the transient dead letters are retried, counted through TIMS's own API
(`GET /returns?sales_order_id=`, stock per SKU, journal entries): each adjustment and credit slip that can reach TIMS
is exactly one TIMS return with its lines, restock flags and the channel's refund, and no other return exists; each
SKU's on-hand is what it was plus the restocked units (no restock twice, none lost); each refund posts one balanced
entry. The only records not done are those expected: pending refunds are held, an unmapped reason and a money-only
refund are dead letters with their fix. A watchdog fails the run with the phase it hung in instead of hanging CI.
"""

import faulthandler
import io
import json
import os
import pprint
import random
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection as db
from django.db.models import Count
from django.utils import timezone

from customers import services as customer_services
from customers.models import CustomerMatch, MatchStatus
from finance.rules import ensure_default_rules
from integrations.connectors.checks import client_for
from integrations.models import Integration, Link, RecordStatus, SyncRecord
from integrations.pipeline import actions, pollers, records
from sandbox import services
from sandbox.channeladvisor import models as ca_models
from sandbox.faults import Decider
from sandbox.models import SandboxCall
from sandbox.prestashop.models import Order as PsOrder
from sandbox.prestashop.models import OrderRow
from sandbox.tims import backoffice
from sandbox.tims.models import Item, SalesOrder, Shipment
from tests.integrations.flows import chaos
from tests.integrations.flows import test_fault_injection_fulfillment as fulfillment
from tests.integrations.flows.test_fault_injection import CHAOS, SYSTEMS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SHOP_ORDERS = 30
MARKETPLACE_ORDERS = 30
WORKERS = 3
FLOWS = ["orders", "shipments", "invoices", "payments", "journal", "returns"]
ZERO = Decimal("0")
# The fault tests' chaos profile with fewer plain 5xx (each costs a retry with backoff) and many more TIMS writes
# committed and then answered with a 500, so that several POST /returns lose their answer after TIMS restocked.
RETURNS_CHAOS = {**CHAOS, "error_rate": 0.06, "commit_then_fail_rate": 0.3}
WATCHDOG_SECONDS = 420  # the whole run; a hung worker or wait fails the test here instead of hanging CI
UNMAPPED_REASON = "AlternateItemProvided"  # an adjustment reason the default return reason map does not cover


class Watchdog:
    """SIGALRM after `seconds`: the main thread fails with the phase it was in. Should even that not get through
    (the main thread stuck in C), a thread dumps every thread's stack, kills the clusters and exits the process."""

    def __init__(self, seconds, clusters, log_dir):
        self.seconds, self.clusters, self.phase, self.started = seconds, clusters, "starting", time.monotonic()
        self.log_dir = log_dir
        self.fired = ""
        self.previous = None
        self.last_resort = threading.Timer(seconds + 90, self.give_up)
        self.last_resort.daemon = True

    def __enter__(self):
        self.previous = signal.signal(signal.SIGALRM, self.alarm)
        self.previous_term = signal.signal(signal.SIGTERM, self.terminated)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        self.last_resort.start()
        return self

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)
        signal.signal(signal.SIGTERM, self.previous_term)
        self.last_resort.cancel()

    def at(self, phase):
        self.phase = phase

    def alarm(self, signum, frame):
        self.fired = self.phase
        pytest.fail(f"Watchdog: the run did not end within {self.seconds} s; it hung in the phase “{self.phase}” "
                    f"after {round(time.monotonic() - self.started)} s; the clusters' logs are in {self.log_dir}.",
                    pytrace=False)

    def terminated(self, signum, frame):
        self.fired = f"{self.phase} (SIGTERM)"
        pytest.fail(f"Terminated (SIGTERM) in the phase “{self.phase}”; the clusters are stopped.", pytrace=False)

    def give_up(self):
        sys.stderr.write(f"\nWatchdog: the test is stuck in “{self.phase}” and did not answer SIGALRM; every "
                         "thread's stack follows, then the clusters are killed and the process exits.\n")
        faulthandler.dump_traceback(all_threads=True)
        for cluster in list(self.clusters):
            chaos.stop(cluster)
        os._exit(3)


# x86_64 system calls a worker sits in while it waits on a socket in the middle of a task (HTTP to a sandbox, a
# query): connect, sendto, recvfrom, poll, select, epoll_wait, pselect6, ppoll; and read, when its fd is a socket.
SOCKET_WAITS = {42, 44, 45, 7, 23, 232, 270, 271}


def busy_on_a_socket(pid):
    """Whether the worker's main thread is blocked on a socket, i.e. inside a task. An idle django-q worker waits
    in task_queue.get(): one of them blocked in read() on the queue's pipe *holding the queue's lock*, the others
    waiting for that lock; SIGKILL the holder and the lock is never released, so every worker of that cluster
    waits forever (the cluster is wedged: alive, and doing nothing). Only workers busy with a task are killed."""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
        number = int(fields[0])
    except (OSError, ValueError, IndexError):
        return False
    if number in SOCKET_WAITS:
        return True
    if number == 0:  # read(): of a socket (a response) is busy; of a pipe is the queue's get()
        try:
            return os.readlink(f"/proc/{pid}/fd/{int(fields[1], 16)}").startswith("socket:")
        except (OSError, ValueError, IndexError):
            return False
    return False


def worker_pids(cluster, log_dir, name):
    """The cluster's worker processes (not its pusher, monitor or sentinel), as its log names them when they start:
    "Process-… ready for work at PID"."""
    log = Path(log_dir) / f"{name}.log"
    started = {int(line.rsplit(" ", 1)[1]) for line in log.read_text(errors="replace").splitlines()
               if " ready for work at " in line and line.rsplit(" ", 1)[1].isdigit()}
    return [pid for pid in chaos.worker_pids(cluster) if pid in started]


def kill_busy_workers(cluster, log_dir, name, count, within=10.0):
    """SIGKILL up to `count` of the cluster's workers while each is in the middle of a task (see
    busy_on_a_socket); waits up to `within` seconds for busy ones. The sentinel starts new workers."""
    killed, deadline = [], time.monotonic() + within
    while len(killed) < count and time.monotonic() < deadline:
        for pid in worker_pids(cluster, log_dir, name):
            if len(killed) < count and pid not in killed and busy_on_a_socket(pid) and busy_on_a_socket(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
        time.sleep(0.05)
    return killed


def make_world(live_server, cast, monkeypatch):
    monkeypatch.setattr(fulfillment, "SHOP_ORDERS", SHOP_ORDERS)
    monkeypatch.setattr(fulfillment, "MARKETPLACE_ORDERS", MARKETPLACE_ORDERS)
    sandbox, integrations, auditors = fulfillment.make_world(live_server, cast)
    Integration.objects.filter(pk__in=[i.pk for i in integrations]).update(flows=FLOWS)
    for integration in integrations:
        integration.refresh_from_db()
        ensure_default_rules(integration)
    return sandbox, integrations, auditors


def return_records():
    return SyncRecord.objects.filter(flow="returns")


def settle(deadline, sandbox, returns=0, poll_every=8.0):
    """Act as the schedules until every TIMS shipment and every filed return has its record and nothing is open
    (chained records are made in the commit that finishes their parent, so no open record means every chain ran)."""
    last_poll = time.monotonic() - 1000
    while time.monotonic() < deadline:
        if time.monotonic() - last_poll > poll_every:
            chaos.surviving_db_errors(pollers.poll_all)
            last_poll = time.monotonic()

        def done():
            records.sweep()
            shipments = SyncRecord.objects.filter(flow="shipments").count()
            made = return_records().values("integration", "source_id").distinct().count()
            if (shipments >= Shipment.objects.filter(sandbox=sandbox).count() and made >= returns
                    and not SyncRecord.objects.filter(status__in=chaos.OPEN).exists()):
                return True
            if not SyncRecord.objects.filter(status__in=(RecordStatus.PENDING, RecordStatus.RUNNING)).exists():
                for record_id in SyncRecord.objects.filter(status=RecordStatus.RETRYING).values_list("pk", flat=True):
                    SyncRecord.objects.filter(pk=record_id).update(next_attempt_at=timezone.now())
                    records.dispatch(record_id)
            return False

        if chaos.surviving_db_errors(done):
            return True
        time.sleep(2)
    return False


class Expected:
    """What one act filed: the channel's return id, and what TIMS must end with for it."""

    def __init__(self, kind, channel, order_id, sales_order, return_id, lines, fate):
        self.kind, self.channel, self.order_id, self.sales_order = kind, channel, order_id, sales_order
        self.return_id, self.lines, self.fate = str(return_id), lines, fate  # lines: [(sku, quantity, restock)]

    def __repr__(self):
        return f"<{self.kind} {self.channel} order {self.order_id} return {self.return_id} → {self.fate}>"


def plan_returns(sandbox, shop, marketplace, rng):
    """Which act each order gets. Marketplace: buyer returns of one unit, refunded at once (restock), some twice
    on one order; a few still pending (held); seller refunds of one unit (no restock); two with a reason no map
    covers and two goodwill refunds of an amount, money only (dead letters with their fix). Shop: credit slips of
    one unit, some orders twice. Units are only taken back from orders without promotions or discounts: the
    sandboxes' back offices refund a unit at its list price, which on a discounted order can be more than the
    buyer paid (TIMS refuses that, rightly: exceeds_paid)."""
    plan = []
    ca_orders = {str(order.id): order for order in ca_models.Order.objects.filter(sandbox=sandbox)}
    special = iter(["pending", "unmapped", "goodwill", "pending", "unmapped", "goodwill"])
    for index, order_id in enumerate(sorted(marketplace, key=int)):
        order = ca_orders[order_id]
        items = [item for item in order.items.order_by("id") if not item.promotions]
        if order.promotion_amount or not items or index % 5 == 4:
            what = next(special, None)
            if what is not None:
                plan.append(("channeladvisor", order_id, what, (items or list(order.items.all()))[0].sku))
            continue
        sku, units = items[0].sku, sum(item.quantity for item in items if item.sku == items[0].sku)
        what = ("return", "return", "refund")[index % 3]
        plan.append(("channeladvisor", order_id, what, sku))
        if what == "return" and units > 1:
            plan.append(("channeladvisor", order_id, "return", sku))  # a second unit back: two returns, one order
    ps_orders = {str(order.id): order for order in PsOrder.objects.filter(sandbox=sandbox)}
    for index, order_id in enumerate(sorted(shop, key=int)):
        rows = list(OrderRow.objects.filter(sandbox=sandbox, order_id=int(order_id)).order_by("id"))
        units = [row.product_reference for row in rows for _ in range(row.product_quantity)]
        if ps_orders[order_id].total_discounts or (len(units) == 1 and not ps_orders[order_id].total_shipping_tax_incl):
            continue  # (a slip of everything but free shipping can be a cent more than TIMS's total: rounding)
        plan.append(("prestashop", order_id, "slip", units[0]))
        if len(units) > 2 and index % 2 == 0:
            plan.append(("prestashop", order_id, "slip", units[1]))  # a second credit slip on one order
    acts_of = defaultdict(list)  # shuffled, but each order's acts stay in their order
    for act in plan:
        acts_of[act[:2]].append(act)
    rng.shuffle(plan)
    return [acts_of[channel, order_id].pop(0) for channel, order_id, _, _ in plan]


class ReturnsDesk(threading.Thread):
    """Buyers and staff at work in the channels' back offices (`sandbox act`), while the portal runs under faults;
    what each act filed becomes an Expected."""

    def __init__(self, sandbox, plan, sales_orders, pause=0.25):
        super().__init__(daemon=True)
        self.sandbox, self.plan, self.sales_orders, self.pause = sandbox, plan, sales_orders, pause
        self.expected, self.errors = [], []

    def run(self):
        try:
            for channel, order_id, what, sku in self.plan:
                try:
                    self.act(channel, order_id, what, sku)
                except Exception as exc:  # noqa: BLE001 - reported by the test
                    self.errors.append((channel, order_id, what, repr(exc)))
                time.sleep(self.pause)
        finally:
            db.close()

    def call(self, system, what, *args):
        out = io.StringIO()
        call_command("sandbox", "act", "--slug", self.sandbox.slug, "--system", system, what, *args, stdout=out)
        return json.loads(out.getvalue())

    def act(self, channel, order_id, what, sku):
        so = self.sales_orders[(channel, order_id)]
        if channel == "prestashop":
            slip = self.call("prestashop", "refund", "--order", order_id, "--sku", sku, "--quantity", "1")["order_slip"]
            rows = dict(OrderRow.objects.filter(sandbox=self.sandbox, order_id=int(order_id))
                        .values_list("id", "product_reference"))
            lines = [(rows[int(d["id_order_detail"])], int(d["product_quantity"]), False)
                     for d in slip["order_slip_details"]]
            self.expected.append(Expected(what, channel, order_id, so, slip["id"], lines, "tims"))
            return
        if what in ("return", "pending"):
            args = ["return", "--order", order_id, "--sku", sku, "--quantity", "1"]
            args += ["--refunded"] if what == "return" else []
        elif what == "refund":
            args = ["refund", "--order", order_id, "--sku", sku, "--quantity", "1"]
        elif what == "goodwill":
            args = ["refund", "--order", order_id, "--amount", "5.00"]
        else:
            args = ["refund", "--order", order_id, "--sku", sku, "--quantity", "1", "--reason", UNMAPPED_REASON]
        made = self.call("channeladvisor", *args)
        skus = {str(item["ID"]): item["Sku"] for item in made["order"]["Items"]}
        fate = {"pending": "held", "unmapped": "dead", "goodwill": "dead"}.get(what, "tims")
        for adjustment in made["adjustments"]:
            item = str(adjustment.get("OrderItemID") or "")
            lines = [(skus[item], int(adjustment["Quantity"]), what == "return")] if item and item != "None" else []
            self.expected.append(Expected(what, channel, order_id, so, adjustment["ID"], lines, fate))


def books(tims, sales_order):
    """What TIMS's API shows of one sales order's money and returns (for a failure's message)."""
    order = chaos._retrying(lambda: tims.get_json(f"sales-orders/{sales_order}"))
    invoices = chaos._retrying(lambda: [row for page in tims.pages("invoices", {"sales_order_id": sales_order})
                                        for row in page])
    returns = chaos._retrying(lambda: [row for page in tims.pages("returns", {"sales_order_id": sales_order})
                                       for row in page])
    return {"order": {k: order.get(k) for k in ("TotalAmount", "TaxAmount", "ShippingAmount", "Status",
                                                "PaymentStatus", "Lines")},
            "invoices": [{k: row.get(k) for k in ("InvoiceID", "TotalAmount", "Balance", "RefundedAmount")}
                         for row in invoices], "returns": returns}


def plan_of(plan, expected):
    return [act for act in plan if act[:2] == (expected.channel, expected.order_id)]


def lost_answers(sandbox):
    """TIMS writes committed and then answered with a 500, by endpoint."""
    return dict(SandboxCall.objects.filter(sandbox=sandbox, system="tims", fault="commit_then_fail")
                .values_list("endpoint").annotate(n=Count("id")).order_by("endpoint"))


def injected(sandbox):
    return dict(SandboxCall.objects.filter(sandbox=sandbox).exclude(fault="").values_list("fault").annotate(
        n=Count("id")).order_by("fault"))


def on_hand(tims, skus):
    """SKU → on-hand at the default location, read from TIMS's API."""
    return {sku: chaos._retrying(lambda sku=sku: tims.quantity(sku)).on_hand for sku in skus}


def test_every_return_is_in_tims_once_and_restocks_once_under_faults(live_server, cast, tmp_path, capsys,
                                                                     monkeypatch):
    Decider.reset()
    started = time.monotonic()
    timeline = {}
    clusters = []
    desk = None

    def diagnostics():
        return pprint.pformat(chaos.progress(tmp_path, sandbox), width=120)

    with Watchdog(WATCHDOG_SECONDS, clusters, tmp_path) as watchdog:
        try:
            watchdog.at("making the world")
            sandbox, integrations, auditors = make_world(live_server, cast, monkeypatch)
            names = {}
            for name in ("cluster-1", "cluster-2"):
                clusters.append(chaos.start_cluster(tmp_path, name, workers=WORKERS))
                names[clusters[-1].pid] = name

            # The orders first, without faults: imported, shipped, invoiced, paid.
            watchdog.at("importing the orders")
            for integration in integrations:
                pollers.poll_integration(integration.pk)
            assert settle(time.monotonic() + 120, sandbox), diagnostics()
            timeline["likely_duplicates_decided"] = 0
            for _ in range(3):  # a buyer like an existing TIMS customer waits for a person: staff make a new one
                waiting = list(CustomerMatch.objects.filter(status=MatchStatus.OPEN))
                for match in waiting:
                    customer_services.decide(match, cast.operations)
                timeline["likely_duplicates_decided"] += len(waiting)
                if waiting:
                    assert settle(time.monotonic() + 60, sandbox), diagnostics()
            owners = {(integration.channel_connection.kind, source): target for integration in integrations
                      for source, target in Link.objects.filter(integration=integration, entity_type="order")
                      .values_list("source_id", "target_id")}
            assert len(owners) == SHOP_ORDERS + MARKETPLACE_ORDERS, diagnostics()
            timeline["imported_at"] = round(time.monotonic() - started)
            watchdog.at("shipping, invoicing and paying the orders")
            for so in sorted(owners.values()):
                backoffice.ship(sandbox, so, tracking_number=f"1ZR{so}")
            assert settle(time.monotonic() + 150, sandbox), diagnostics()
            unpaid = SalesOrder.objects.filter(sandbox=sandbox).exclude(payment_status="Paid")
            assert not unpaid.exists(), list(unpaid.values_list("code", "status", "payment_status"))
            assert not SyncRecord.objects.exclude(status=RecordStatus.SUCCEEDED).exists(), diagnostics()
            timeline["paid_at"] = round(time.monotonic() - started)
            tims = client_for(auditors["tims"])
            skus = sorted(Item.objects.filter(sandbox=sandbox).values_list("sku", flat=True))
            before = on_hand(tims, skus)

            # Returns under chaos, with workers killed and a cluster replaced.
            watchdog.at("filing returns under faults")
            for system in SYSTEMS:
                services.set_faults(sandbox, system, "chaos", **RETURNS_CHAOS)
            plan = plan_returns(sandbox, {o for c, o in owners if c == "prestashop"},
                                {o for c, o in owners if c == "channeladvisor"}, random.Random(16))
            desk = ReturnsDesk(sandbox, plan, owners)
            desk.start()
            time.sleep(8)  # the first returns are polled and running
            timeline["workers_killed"] = sum(len(kill_busy_workers(cluster, tmp_path, names[cluster.pid], 2))
                                             for cluster in clusters)
            time.sleep(3)
            chaos.stop(clusters.pop(0))  # a whole cluster dies; another comes up
            clusters.append(chaos.start_cluster(tmp_path, "cluster-3", workers=WORKERS))
            names[clusters[-1].pid] = "cluster-3"
            time.sleep(5)
            timeline["workers_killed"] += sum(len(kill_busy_workers(cluster, tmp_path, names[cluster.pid], 1))
                                              for cluster in clusters)
            desk.join(timeout=120)
            assert not desk.is_alive(), "the returns desk did not finish its acts within 120 s"
            assert not desk.errors, desk.errors[:5]
            expected = desk.expected
            timeline["acts"] = len(plan)
            timeline["returns_filed"] = dict(Counter(f"{e.channel} {e.kind}" for e in expected))
            watchdog.at("settling under faults")
            assert settle(time.monotonic() + 150, sandbox, returns=len(expected)), diagnostics()
            timeline["settled_at"] = round(time.monotonic() - started)
            timeline["faults_injected"] = injected(sandbox)
            timeline["lost_answers"] = lost_answers(sandbox)

            # Faults over: the dead letters of transient errors are retried and go through.
            watchdog.at("working off after the faults")
            for system in SYSTEMS:
                services.set_faults(sandbox, system, "none")
            late = SyncRecord.objects.filter(status=RecordStatus.DEAD)
            timeline["dead_under_faults"] = dict(Counter(f"{r.flow}: {r.error_message[:70]}" for r in late))
            actions.retry(late, cast.operations, "faults are over")
            pollers.poll_all()
            assert settle(time.monotonic() + 90, sandbox, returns=len(expected)), diagnostics()
            timeline["worked_off_at"] = round(time.monotonic() - started)

            watchdog.at("counting through TIMS's API")
            # The portal's records: one per filed return; done, except those expected to wait or to stop.
            by_id = {(e.channel, e.return_id): e for e in expected}
            assert len(by_id) == len(expected)
            kinds = {integration.pk: integration.channel_connection.kind for integration in integrations}
            per_return = defaultdict(list)
            for record in return_records():
                per_return[(kinds[record.integration_id], record.source_id)].append(record)
            assert set(per_return) == set(by_id), set(per_return) ^ set(by_id)
            fates = {"tims": RecordStatus.SUCCEEDED, "held": RecordStatus.HELD, "dead": RecordStatus.DEAD}
            why = {"unmapped": (UNMAPPED_REASON, "|restock"), "goodwill": ("money only", "Book the refund in TIMS"),
                   "pending": ("waits for the channel", "Nothing to do")}
            wrong = []
            for key, found in per_return.items():
                e = by_id[key]
                message, fix = why.get(e.kind, ("", ""))
                if len(found) != 1 or found[0].status != fates[e.fate] or message not in found[0].error_message or (
                        fix not in found[0].suggested_fix):
                    wrong.append((e, [(r.pk, r.status, r.attempts, r.error_message, r.suggested_fix) for r in found],
                                  books(tims, e.sales_order), plan_of(plan, e)))
            assert not wrong, pprint.pformat(wrong, width=120)
            dead = SyncRecord.objects.filter(status=RecordStatus.DEAD).exclude(flow="returns")
            assert not dead.exists(), list(dead.values_list("flow", "source_id", "error_message"))
            assert not SyncRecord.objects.filter(status__in=chaos.OPEN).exists(), diagnostics()

            # TIMS: each adjustment and credit slip exactly one return, with its lines and the channel's refund.
            channels = {kind: client_for(auditors[kind]) for kind in ("prestashop", "channeladvisor")}
            made_by_so = {so: chaos._retrying(lambda so=so: tims.find_returns(sales_order_id=so))
                          for so in sorted(set(owners.values()))}
            in_tims = Counter()
            made_of = {}
            for so, found in made_by_so.items():
                for made in found:
                    external = str(made.extra.get("ExternalReturnID") or "")
                    owner = next((e for e in expected if e.sales_order == so and e.return_id == external), None)
                    assert owner is not None, ("a TIMS return no channel filed", so, made.to_dict())
                    in_tims[(owner.channel, external)] += 1
                    made_of[(owner.channel, external)] = made
            twice = {key: n for key, n in in_tims.items() if n != 1}
            assert not twice, twice
            wanted = {key for key, e in by_id.items() if e.fate == "tims"}
            assert set(in_tims) == wanted, (wanted - set(in_tims), set(in_tims) - wanted)
            channel_returns = {}
            for (channel, order_id) in sorted({(e.channel, e.order_id) for e in expected}):
                for ret in chaos._retrying(lambda c=channel, o=order_id: channels[c].returns_of_order(o)):
                    channel_returns[(channel, ret.source_id)] = ret
            for key, made in made_of.items():
                e = by_id[key]
                assert sorted((line.sku, line.quantity, line.restock) for line in made.lines) == sorted(e.lines), (
                    e, made.to_dict())
                assert made.refund.amount == channel_returns[key].refund.amount > 0, (e, made.to_dict())

            # Stock: what it was, plus each restocked unit once.
            restocked = Counter()
            for e in expected:
                if e.fate == "tims":
                    for sku, quantity, restock in e.lines:
                        restocked[sku] += quantity if restock else 0
            after = on_hand(tims, skus)
            drift = {sku: (before[sku], restocked[sku], after[sku]) for sku in skus
                     if after[sku] != before[sku] + restocked[sku]}
            assert not drift, f"(before, restocked, after) per SKU: {drift}"

            # Each refund posted once, balanced.
            entries = Counter()
            for raw in chaos._retrying(lambda: [row for page in tims.pages("gl/journal-entries") for row in page]):
                if raw["Reference"] in {made.source_id for made in made_of.values()}:
                    entries[raw["Reference"]] += 1
                    debits = sum((Decimal(str(line.get("Debit") or 0)) for line in raw["Lines"]), ZERO)
                    credits = sum((Decimal(str(line.get("Credit") or 0)) for line in raw["Lines"]), ZERO)
                    assert debits == credits > 0, raw
            assert entries == Counter({made.source_id: 1 for made in made_of.values()}), entries

            # The answers lost after TIMS committed a return made no second one (counted above): each was answered
            # by TIMS replaying its Idempotency-Key to the connector's quick retry, or found by the look-up of the
            # record's next attempt ("already in TIMS").
            lost = sum(n for endpoint, n in lost_answers(sandbox).items() if "returns" in endpoint)
            found_again = return_records().filter(status=RecordStatus.SUCCEEDED, notes__contains="already in TIMS")
            assert lost > 0, ("no POST /returns lost its answer: the run proved nothing about it",
                              lost_answers(sandbox))
            timeline.update(orders=len(owners), returns=len(expected), in_tims=sum(in_tims.values()),
                            restocked_units=sum(restocked.values()), lost_return_answers=lost,
                            found_again=found_again.count(), max_attempts=max(
                                r.attempts for r in return_records()))
        finally:
            watchdog.at("stopping the clusters")
            for cluster in clusters:
                chaos.stop(cluster)
            db.close()
            timeline["wall_seconds"] = round(time.monotonic() - started)
            if watchdog.fired:
                timeline["watchdog_fired_in"] = watchdog.fired
            with capsys.disabled():
                print(f"\nreturns under faults: {timeline}")
