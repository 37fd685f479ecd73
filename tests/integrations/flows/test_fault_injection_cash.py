"""Under injected faults every TIMS shipment is invoiced once, every payment applied once, every document posted once.

Shop and marketplace orders are imported into one TIMS first (no faults), with the cash flows on (invoices on each
shipment, the channel's payments applied to them, a GL journal entry for each invoice and payment). Then, with the
chaos profile on all three sandboxes (5xx, 429 bursts, latency, hangs, and — the case that matters here — writes that
TIMS commits and then answers with 500, so the invoice, payment or journal entry exists but the portal never hears of
it), TIMS ships every order, whole or in two parcels, while real django-q2 clusters work it off: TIMS's signed
webhooks arrive duplicated and late, the feed's cursor is moved back so events are read again, workers are SIGKILLed
and a whole cluster is replaced. Afterwards, counted through TIMS's own API: exactly one invoice per shipment, an
order's invoices add up to its sales order, exactly one payment per (channel transaction, invoice) and every invoice
paid off, exactly one journal entry per invoice and per payment, each balanced; no record is left dead. Then the
marketplace's settlement file posts each order's fees once (the same file again: all duplicates), and every
integration's day reconciles with no differences.
"""

import pprint
import random
import threading
import time
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from django.db import connection as db
from django.db.models import Count
from django.utils import timezone

from finance.rules import ensure_default_rules
from integrations.connectors.checks import client_for
from integrations.models import Integration, Link, RecordStatus, SyncRecord
from integrations.pipeline import actions, pollers
from jobs import work
from payouts import forms, jobs, parsing
from payouts.models import PayoutUpload
from reconciliation.compute import reconcile, zone_of
from sandbox import services
from sandbox.channeladvisor.settlement import settlement_csv
from sandbox.faults import Decider
from sandbox.models import SandboxCall
from sandbox.tims.models import Shipment
from tests.integrations.flows import chaos
from tests.integrations.flows import test_fault_injection_fulfillment as fulfillment
from tests.integrations.flows.test_fault_injection import CHAOS, SYSTEMS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SHOP_ORDERS = 60
MARKETPLACE_ORDERS = 40
WORKERS = 4
FLOWS = ["orders", "shipments", "invoices", "payments", "journal"]
CASH_FLOWS = ("invoices", "payments", "journal")
ZERO = Decimal("0")
# The fault tests' chaos profile, with fewer plain 5xx (each one costs a retry with backoff down a chain four flows
# deep) and more writes that TIMS commits and then answers with a 500: the lost answer is this test's case.
CASH_CHAOS = {**CHAOS, "error_rate": 0.06, "commit_then_fail_rate": 0.15}


def make_world(live_server, cast, monkeypatch):
    monkeypatch.setattr(fulfillment, "SHOP_ORDERS", SHOP_ORDERS)
    monkeypatch.setattr(fulfillment, "MARKETPLACE_ORDERS", MARKETPLACE_ORDERS)
    sandbox, integrations, auditors = fulfillment.make_world(live_server, cast)
    Integration.objects.filter(pk__in=[i.pk for i in integrations]).update(flows=FLOWS)
    for integration in integrations:
        integration.refresh_from_db()
        ensure_default_rules(integration)
    return sandbox, integrations, auditors


class Warehouse(fulfillment.Warehouse):
    """Every order shipped: whole, or in two parcels (two shipments, so two invoices and two payments)."""

    def __init__(self, sandbox, orders, rng):
        super().__init__(sandbox, orders, rng)
        self.plan = [(code, "whole" if what == "cancel" else what) for code, what in self.plan]


def settle(deadline, sandbox):
    """Every shipment TIMS made has its record and nothing is open (chained records are made in the commit that
    finishes their parent, so no open record means the whole chain has run)."""
    return fulfillment.settle(deadline, sandbox)


class Sampler(threading.Thread):
    """Every few seconds, how many records are open and how many have succeeded per flow (the run's curve)."""

    def __init__(self, started, every=10.0):
        super().__init__(daemon=True)
        self.started, self.every, self.curve, self.stopped = started, every, [], threading.Event()

    def run(self):
        while not self.stopped.wait(self.every):
            def sample():
                done = Counter(SyncRecord.objects.filter(status=RecordStatus.SUCCEEDED).values_list("flow",
                                                                                                   flat=True))
                return (round(time.monotonic() - self.started),
                        SyncRecord.objects.filter(status__in=chaos.OPEN).count(),
                        "/".join(str(done.get(flow, 0)) for flow in FLOWS[1:]))
            try:
                self.curve.append(chaos.surviving_db_errors(sample))
            finally:
                db.close()


def lost_answers(sandbox):
    """TIMS writes committed and then answered with a 500, by endpoint."""
    return dict(SandboxCall.objects.filter(sandbox=sandbox, system="tims", fault="commit_then_fail")
                .values_list("endpoint").annotate(n=Count("id")).order_by("endpoint"))


def read_all(tims, path):
    return chaos._retrying(lambda: [raw for page in tims.pages(path) for raw in page])


def test_every_shipment_is_invoiced_paid_and_posted_once_under_faults(live_server, cast, tmp_path, capsys,
                                                                      monkeypatch):
    Decider.reset()
    monkeypatch.setattr(work, "_enqueue", lambda job_id: None)  # the payout jobs run here; their records do not
    started = time.monotonic()
    sandbox, integrations, auditors = make_world(live_server, cast, monkeypatch)
    clusters = [chaos.start_cluster(tmp_path, "cluster-1", workers=WORKERS),
                chaos.start_cluster(tmp_path, "cluster-2", workers=WORKERS)]
    timeline = {}
    sampler = Sampler(started)
    sampler.start()

    def diagnostics():
        return pprint.pformat(chaos.progress(tmp_path, sandbox), width=120)

    try:
        for integration in integrations:  # the orders first, without faults
            pollers.poll_integration(integration.pk)
        assert settle(time.monotonic() + 180, sandbox), diagnostics()
        owners = {target: (integration, source) for integration in integrations for source, target in
                  Link.objects.filter(integration=integration, entity_type="order").values_list("source_id",
                                                                                               "target_id")}
        assert len(owners) == SHOP_ORDERS + MARKETPLACE_ORDERS, diagnostics()
        timeline["imported_at"] = round(time.monotonic() - started)

        for system in SYSTEMS:
            services.set_faults(sandbox, system, "chaos", **CASH_CHAOS)
        warehouse = Warehouse(sandbox, sorted(owners), random.Random(5))
        warehouse.start()
        time.sleep(6)
        timeline["workers_killed"] = sum(len(chaos.kill_workers(cluster, 2)) for cluster in clusters)
        time.sleep(4)
        chaos.stop(clusters.pop(0))  # a whole cluster dies; another comes up
        clusters.append(chaos.start_cluster(tmp_path, "cluster-3", workers=WORKERS))
        time.sleep(6)
        timeline["workers_killed"] += sum(len(chaos.kill_workers(cluster, 1)) for cluster in clusters)
        warehouse.join(timeout=180)
        assert not warehouse.is_alive() and not warehouse.errors, warehouse.errors[:5]
        timeline["cursor_rewound"] = warehouse.rewound
        assert settle(time.monotonic() + 360, sandbox), diagnostics()
        timeline["settled_at"] = round(time.monotonic() - started)
        timeline["lost_answers"] = lost_answers(sandbox)

        for system in SYSTEMS:
            services.set_faults(sandbox, system, "none")
        late = SyncRecord.objects.filter(status=RecordStatus.DEAD)
        timeline["dead_under_faults"] = dict(Counter(f"{r.flow}: {r.error_message[:70]}" for r in late))
        actions.retry(late, cast.operations, "faults are over")
        pollers.poll_all()
        assert settle(time.monotonic() + 120, sandbox), diagnostics()
        timeline["worked_off_at"] = round(time.monotonic() - started)

        # Nothing is left dead, in any flow: every dead letter under faults was a transient one, retried.
        dead = SyncRecord.objects.filter(status=RecordStatus.DEAD)
        assert not dead.exists(), list(dead.values_list("flow", "source_id", "error_message"))
        statuses = Counter(SyncRecord.objects.filter(flow__in=CASH_FLOWS).values_list("flow", "status"))
        assert {status for _, status in statuses} == {RecordStatus.SUCCEEDED}, statuses

        # TIMS's own account, read from its API.
        tims = client_for(auditors["tims"])
        shipments = defaultdict(set)  # sales order → its shipment ids
        for shipment in Shipment.objects.filter(sandbox=sandbox).select_related("order"):
            shipments[shipment.order.code].add(shipment.code)
        assert set(shipments) == set(owners)
        invoices = read_all(tims, "invoices")
        payments = read_all(tims, "payments")
        entries = read_all(tims, "gl/journal-entries")

        # Exactly one invoice per shipment, and an order's invoices add up to its sales order.
        per_shipment = Counter(raw["ShipmentID"] for raw in invoices)
        duplicated = {k: n for k, n in per_shipment.items() if n != 1}
        assert not duplicated, duplicated
        assert set(per_shipment) == set().union(*shipments.values())
        invoices_of = defaultdict(list)
        for raw in invoices:
            invoices_of[raw["SalesOrderID"]].append(raw)
        assert set(invoices_of) == set(owners)
        for so, raws in invoices_of.items():
            assert {raw["ShipmentID"] for raw in raws} == shipments[so], so
            order = chaos._retrying(lambda so=so: tims.get_sales_order(so))
            billed = sum((Decimal(str(raw["TotalAmount"])) for raw in raws), ZERO)
            assert billed == order.total.amount, (so, billed, order.total.amount, raws)

        # Exactly one payment per (channel transaction, invoice); every invoice paid off.
        by_invoice = {raw["InvoiceID"]: raw for raw in invoices}
        per_pair = Counter((raw["Reference"], raw["InvoiceID"]) for raw in payments)
        duplicated = {k: n for k, n in per_pair.items() if n != 1}
        assert not duplicated, duplicated
        paid = defaultdict(lambda: ZERO)
        for raw in payments:
            assert raw["InvoiceID"] in by_invoice, raw
            paid[raw["InvoiceID"]] += Decimal(str(raw["Amount"]))
        for invoice_id, raw in by_invoice.items():
            assert paid[invoice_id] == Decimal(str(raw["TotalAmount"])), (invoice_id, paid[invoice_id], raw)
            assert Decimal(str(raw["Balance"])) == ZERO, raw
        paid_per_order = defaultdict(lambda: ZERO)
        for raw in payments:
            paid_per_order[by_invoice[raw["InvoiceID"]]["SalesOrderID"]] += Decimal(str(raw["Amount"]))
        for so, raws in invoices_of.items():
            assert paid_per_order[so] == sum((Decimal(str(r["TotalAmount"])) for r in raws), ZERO), so
        # The same, through the connector's filtered look-ups for a sample of orders.
        for so in sorted(owners)[:10]:
            found = chaos._retrying(lambda so=so: tims.find_invoices(sales_order_id=so))
            assert sorted(i.source_id for i in found) == sorted(r["InvoiceID"] for r in invoices_of[so])
            for invoice in found:
                applied = chaos._retrying(lambda i=invoice: tims.find_payments(invoice_id=i.source_id))
                assert sum((p.amount.amount for p in applied), ZERO) == invoice.total.amount, invoice

        # Exactly one journal entry per invoice and per payment, each balanced.
        per_reference = Counter(raw["Reference"] for raw in entries)
        duplicated = {k: n for k, n in per_reference.items() if n != 1}
        assert not duplicated, duplicated
        documents = set(by_invoice) | {raw["PaymentID"] for raw in payments}
        assert set(per_reference) == documents, (set(per_reference) ^ documents)
        for raw in entries:
            debits = sum((Decimal(str(line.get("Debit") or 0)) for line in raw["Lines"]), ZERO)
            credits = sum((Decimal(str(line.get("Credit") or 0)) for line in raw["Lines"]), ZERO)
            assert debits == credits and debits > 0, raw
        for reference in sorted(documents)[:5]:
            found = chaos._retrying(lambda r=reference: tims.find_journal_entries(reference=r))
            assert len(found) == 1 and found[0].debits == found[0].credits, found

        # The portal's records say the same: one succeeded record per shipment, invoice document and payment.
        done = SyncRecord.objects.filter(status=RecordStatus.SUCCEEDED)
        assert Counter(done.filter(flow="invoices").values_list("target_id", flat=True)) == Counter(
            {invoice_id: 1 for invoice_id in by_invoice})
        assert Counter(done.filter(flow="journal").values_list("source_id", flat=True)) == Counter(
            {f"invoice:{i}": 1 for i in by_invoice} | {f"payment:{raw['PaymentID']}": 1 for raw in payments})
        # The marketplace's settlement: each line's fees posted once, the same file again all duplicates; then
        # every integration's day reconciles with no differences.
        marketplace = next(i for i in integrations if i.channel_connection.kind == "channeladvisor")
        text = parsing.read_text(settlement_csv(sandbox).encode())
        mapping = forms.initial_mapping(parsing.headers(text, ","), None, ",")
        uploads = [PayoutUpload.objects.create(integration=marketplace, file_name=f"settlement-{n}.csv",
                                               content=text, mapping=mapping) for n in (1, 2)]
        for upload in uploads:
            assert work.run(jobs.start(upload, cast.operations).pk) == "done"
        assert settle(time.monotonic() + 120, sandbox), diagnostics()
        first, again = (PayoutUpload.objects.get(pk=u.pk) for u in uploads)
        assert first.posted == first.lines == MARKETPLACE_ORDERS and again.duplicates == MARKETPLACE_ORDERS
        payouts = [raw for raw in read_all(tims, "gl/journal-entries") if raw["Reference"].startswith("PAYOUT-")]
        assert Counter(raw["Reference"] for raw in payouts) == Counter(
            {f"PAYOUT-{first.pk}-{line}": 1 for line in range(2, MARKETPLACE_ORDERS + 2)})
        for integration in integrations:
            report = reconcile(integration, timezone.localdate(timezone=zone_of(integration)))
            assert report.differences == [] and report.in_progress == [], [d.sentence for d in report.differences]
        timeline.update(orders=len(owners), shipments=len(per_shipment), split_orders=sum(
            len(v) > 1 for v in shipments.values()), invoices=len(invoices), payments=len(payments),
            journal_entries=len(entries), records=dict(Counter(SyncRecord.objects.values_list("flow", flat=True))))
    finally:
        for cluster in clusters:
            chaos.stop(cluster)
        sampler.stopped.set()
        db.close()
        timeline["curve (s, open, shipments/invoices/payments/journal done)"] = sampler.curve
        timeline["wall_seconds"] = round(time.monotonic() - started)
        with capsys.disabled():
            print(f"\ncash under faults: {timeline}")
