"""Under injected faults every TIMS shipment reaches its channel exactly once, and every cancellation cancels.

Shop and marketplace orders are imported into one TIMS first (no faults). Then, with the chaos profile on all three
sandboxes (5xx, 429 bursts, latency, hangs, writes committed then answered with 500), TIMS ships them — whole, or in
two parcels — and cancels some, while real django-q2 clusters work it off: TIMS's signed webhooks arrive duplicated
and late (the sandbox's chaos profile), the feed's cursor is moved back so events are read again, workers are
SIGKILLed and a whole cluster is replaced. Afterwards, counted through PrestaShop's and ChannelAdvisor's own APIs:
each TIMS tracking number is on its channel order exactly once, each shipped shop order has exactly one "Shipped"
history entry, split marketplace orders end Shipped, and cancelled orders are cancelled.
"""

import pprint
import random
import threading
import time
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from integrations.connectors.checks import client_for
from integrations.models import Connection, Integration, Link, PollState, RecordStatus, SyncRecord
from integrations.pipeline import actions, pollers, records
from portal import demo
from sandbox import services
from sandbox.faults import Decider
from sandbox.models import WebhookSubscription
from sandbox.tims import backoffice, operations
from sandbox.tims.models import Item, Location, SalesOrder, Shipment
from tests.integrations.flows import chaos
from tests.integrations.flows.test_fault_injection import CHAOS, LIMITS, SYSTEMS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SHOP_ORDERS = 40
MARKETPLACE_ORDERS = 30
WORKERS = 4


def make_world(live_server, cast):
    sandbox, _ = services.create_sandbox("chaos-ship")
    secrets = services.issue_credentials(sandbox, live_server.url)
    rng = random.Random(11)
    services.system_module("tims").generate(sandbox, orders=0, products=30, customers=0, state=None, unknown_sku=0,
                                            rng=rng)
    shop_made = services.system_module("prestashop").generate(
        sandbox, orders=SHOP_ORDERS, products=30, customers=10, state="Payment accepted", unknown_sku=0, rng=rng)
    services.system_module("channeladvisor").generate(sandbox, orders=MARKETPLACE_ORDERS, products=30, customers=0,
                                                      state="Cleared", unknown_sku=0, rng=rng)
    with transaction.atomic():
        main = Location.objects.get(sandbox=sandbox, code="MAIN")
        for item in Item.objects.filter(sandbox=sandbox):
            operations.set_on_hand(item, main, 5000)
    org, ca = cast.org_a, secrets["channeladvisor"]

    def connection(kind, name, **fields):
        return Connection.objects.create(organization=org, kind=kind, name=name, sandbox=sandbox, **LIMITS, **fields)

    def tims(name):
        return connection("tims", name, base_url=secrets["tims"]["base_url"],
                          credentials={k: secrets["tims"][k] for k in ("client_id", "client_secret")},
                          settings={"default_location": "MAIN", "default_customer_code": "C-GUEST"})

    def marketplace(name):
        return connection("channeladvisor", name, base_url=ca["base_url"],
                          credentials={k: ca[k] for k in ("application_id", "shared_secret", "refresh_token")},
                          settings={"profile_id": int(ca.get("profile_id") or 12345678)})

    def shop(name):
        return connection("prestashop", name, base_url=secrets["prestashop"]["base_url"],
                          credentials={"ws_key": secrets["prestashop"]["ws_key"]},
                          settings={"timezone": shop_made["timezone"]})

    erp = tims("TIMS")
    flows = ["orders", "shipments", "cancellations"]
    integrations = [
        Integration.objects.create(organization=org, name="Shop + TIMS", template="prestashop_tims",
                                   channel_connection=shop("Shop"), tims_connection=erp, flows=flows, state="live",
                                   options={"first_poll_days": 30}),
        Integration.objects.create(organization=org, name="Marketplaces + TIMS", template="channeladvisor_tims",
                                   channel_connection=marketplace("Marketplaces"), tims_connection=erp, flows=flows,
                                   state="live")]
    demo.subscribe_webhooks(sandbox, live_server.url, [], erp)  # TIMS's signed webhooks ring the portal's polls
    WebhookSubscription.objects.filter(sandbox=sandbox).exclude(system="tims").update(active=False)
    auditors = {"prestashop": shop("Shop (auditor)"), "channeladvisor": marketplace("CA (auditor)"),
                "tims": tims("TIMS (auditor)")}
    return sandbox, integrations, auditors


def work_in_tims(sandbox):
    """How many records TIMS's shipments and cancellations must make, from the sandbox's own rows."""
    return (Shipment.objects.filter(sandbox=sandbox).count()
            + SalesOrder.objects.filter(sandbox=sandbox, status="Cancelled").count())


def settle(deadline, sandbox=None, poll_every=10.0):
    """Act as the schedules until every shipment and cancellation TIMS has made has its record (the feed was read
    to its end: polls run on the workers, and a poll that hits a fault reads nothing) and none is open."""
    last_poll = time.monotonic() - 1000
    while time.monotonic() < deadline:
        if time.monotonic() - last_poll > poll_every:
            chaos.surviving_db_errors(pollers.poll_all)
            last_poll = time.monotonic()

        def done():
            records.sweep()
            made = SyncRecord.objects.filter(flow__in=("shipments", "cancellations")).count()
            if (sandbox is None or made >= work_in_tims(sandbox)) and not SyncRecord.objects.filter(
                    status__in=chaos.OPEN).exists():
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


class Warehouse(threading.Thread):
    """TIMS's staff at work: each order shipped whole, or in two parcels, or cancelled, in shuffled order, and
    now and then the feed's cursor is moved back so events already read are read again."""

    def __init__(self, sandbox, orders, rng):
        super().__init__(daemon=True)
        self.sandbox, self.rng, self.plan, self.errors = sandbox, rng, [], []
        for index, code in enumerate(orders):
            self.plan.append((code, ("cancel", "whole", "split", "split", "whole")[index % 5]))
        rng.shuffle(self.plan)
        self.cursors, self.rewound = [], 0

    def run(self):
        for index, (code, what) in enumerate(self.plan):
            try:
                chaos.surviving_db_errors(self.act, code, what)
            except Exception as exc:  # noqa: BLE001 - reported by the test
                self.errors.append((code, what, repr(exc)))
            if index % 15 == 14:
                chaos.surviving_db_errors(self.rewind)
            time.sleep(0.1)

    def act(self, code, what):
        if what == "cancel":
            backoffice.cancel(self.sandbox, code)
        elif what == "whole":
            backoffice.ship(self.sandbox, code, tracking_number=f"1ZW{code}")
        else:
            order = SalesOrder.objects.get(sandbox=self.sandbox, code=code)
            lines = [(line.item.sku, line.quantity) for line in order.lines.select_related("item")]
            (sku, quantity), rest = lines[0], lines[1:]
            first = [(sku, 1)]
            second = ([(sku, quantity - 1)] if quantity > 1 else []) + rest
            backoffice.ship(self.sandbox, code, tracking_number=f"1ZA{code}", lines=first)
            if second:
                backoffice.ship(self.sandbox, code, tracking_number=f"1ZB{code}", lines=second)

    def rewind(self):
        state = PollState.objects.filter(connection__isnull=False, name="events").first()
        if state is None:
            return
        self.cursors.append(state.cursor)
        if len(self.cursors) > 1:  # back to an older cursor: those events come again
            PollState.objects.filter(pk=state.pk).update(cursor=self.cursors[-2])
            self.rewound += 1


def shop_truth(auditor, order_ids):
    """{order id: ([tracking numbers on its order_carriers], "Shipped" history entries, state name)}."""
    client = client_for(auditor)
    shipped_id = client.state_named("Shipped").id
    found = {}
    for order_id in order_ids:
        rows = [r.tracking_number for r in client.order_carriers(order_id) if r.tracking_number]
        histories = client.decode(client.request("GET", "order_histories", params={
            "display": "full", "filter[id_order]": f"[{order_id}]"}))
        shipped = sum(str(h.get("id_order_state")) == str(shipped_id) for h in histories)
        found[order_id] = (sorted(rows), shipped, client.order_state(order_id))
    return found


def marketplace_truth(auditor, order_ids):
    """{order id: ([tracking numbers of its fulfillments], ShippingStatus)}."""
    client = client_for(auditor)
    return {order_id: (sorted(f.tracking_number for f in client.fulfillments(order_id) if f.tracking_number),
                       client.get_order_raw(order_id)["ShippingStatus"]) for order_id in order_ids}


def test_every_shipment_reaches_its_channel_once_under_faults(live_server, cast, tmp_path, capsys):
    Decider.reset()
    started = time.monotonic()
    sandbox, integrations, auditors = make_world(live_server, cast)
    clusters = [chaos.start_cluster(tmp_path, "cluster-1", workers=WORKERS),
                chaos.start_cluster(tmp_path, "cluster-2", workers=WORKERS)]
    timeline = {}

    def diagnostics():
        return pprint.pformat(chaos.progress(tmp_path, sandbox), width=120)

    try:
        for integration in integrations:  # the orders first, without faults
            pollers.poll_integration(integration.pk)
        assert settle(time.monotonic() + 180), diagnostics()
        owners = {target: (integration, source) for integration in integrations for source, target in
                  Link.objects.filter(integration=integration, entity_type="order").values_list("source_id",
                                                                                               "target_id")}
        assert len(owners) == SHOP_ORDERS + MARKETPLACE_ORDERS, diagnostics()
        timeline["imported_at"] = round(time.monotonic() - started)

        for system in SYSTEMS:
            services.set_faults(sandbox, system, "chaos", **CHAOS)
        warehouse = Warehouse(sandbox, sorted(owners), random.Random(5))
        warehouse.start()
        time.sleep(6)
        timeline["workers_killed"] = sum(len(chaos.kill_workers(cluster, 2)) for cluster in clusters)
        time.sleep(4)
        chaos.stop(clusters.pop(0))  # a whole cluster dies; another comes up
        clusters.append(chaos.start_cluster(tmp_path, "cluster-3", workers=WORKERS))
        warehouse.join(timeout=180)
        assert not warehouse.is_alive() and not warehouse.errors, warehouse.errors[:5]
        timeline["cursor_rewound"] = warehouse.rewound
        assert settle(time.monotonic() + 360, sandbox), diagnostics()
        timeline["settled_at"] = round(time.monotonic() - started)

        for system in SYSTEMS:
            services.set_faults(sandbox, system, "none")
        late = SyncRecord.objects.filter(flow__in=("shipments", "cancellations"), status=RecordStatus.DEAD)
        timeline["dead_under_faults"] = dict(Counter(r.error_message[:70] for r in late))
        actions.retry(late, cast.operations, "faults are over")
        pollers.poll_all()
        assert settle(time.monotonic() + 120, sandbox), diagnostics()

        # TIMS's own account of what happened, read from its API.
        tims = client_for(auditors["tims"])
        shipments = defaultdict(list)
        for page in tims.shipments(updated_since=timezone.now() - timedelta(days=1)):
            for shipment in page:
                shipments[shipment.order_id].append(shipment.tracking_number)
        cancelled = {code for code, what in warehouse.plan if what == "cancel"}
        assert set(shipments) == set(owners) - cancelled

        records_of = SyncRecord.objects.filter(flow__in=("shipments", "cancellations"))
        assert set(records_of.values_list("status", flat=True)) == {RecordStatus.SUCCEEDED}, diagnostics()
        per_shipment = Counter(records_of.filter(flow="shipments").values_list("source_id", flat=True))
        assert len(per_shipment) == sum(len(v) for v in shipments.values()) and set(per_shipment.values()) == {1}

        shop, marketplace = integrations
        shop_orders = {so: source for so, (integration, source) in owners.items() if integration == shop}
        market_orders = {so: source for so, (integration, source) in owners.items() if integration == marketplace}
        truth = shop_truth(auditors["prestashop"], shop_orders.values())
        for so, order_id in shop_orders.items():
            rows, shipped_entries, state = truth[order_id]
            if so in cancelled:
                assert (rows, state) == ([], "Canceled"), (so, truth[order_id])
            else:
                assert rows == sorted(shipments[so]) and shipped_entries == 1 and state == "Shipped", (
                    so, truth[order_id], shipments[so])
        truth = marketplace_truth(auditors["channeladvisor"], market_orders.values())
        for so, order_id in market_orders.items():
            tracking, status = truth[order_id]
            if so in cancelled:
                assert (tracking, status) == ([], "Canceled"), (so, truth[order_id])
            else:
                assert tracking == sorted(shipments[so]) and status == "Shipped", (so, truth[order_id],
                                                                                   shipments[so])
        timeline["shipments"] = sum(per_shipment.values())
        timeline["cancelled"] = len(cancelled)
    finally:
        for cluster in clusters:
            chaos.stop(cluster)
        db.close()
        timeline["wall_seconds"] = round(time.monotonic() - started)
        with capsys.disabled():
            print(f"\nfulfillment under faults: {timeline}")
