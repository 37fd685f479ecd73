"""TIMS shipments and cancellations back to PrestaShop and ChannelAdvisor, end to end over real HTTP against the
sandboxes, counted through the channels' own APIs: full, partial and second shipments, cancellations, replays after
a lost answer, orders the portal did not make, carriers nobody mapped, and the bad input a shipment can carry."""

import random

import pytest
from django.db import transaction

from integrations.connectors import errors
from integrations.connectors.channeladvisor.client import ChannelAdvisorClient
from integrations.connectors.checks import client_for
from integrations.connectors.prestashop.client import PrestaShopClient
from integrations.models import Link, RecordStatus, SyncRecord
from integrations.pipeline import actions, pollers, records
from integrations.pipeline.timeline import timeline
from mappings import services as mapping_services
from sandbox import services
from sandbox.tims import backoffice, operations
from sandbox.tims.models import Item, Location, SalesOrder
from tests.integrations.flows.test_channeladvisor_orders import connect_marketplace
from tests.integrations.flows.test_prestashop_orders import connect_shop, work_off

pytestmark = pytest.mark.django_db(transaction=True)
FLOWS = ["orders", "shipments", "cancellations"]


def new_sandbox(live_server, name, channel, orders, seed, **generate):
    sandbox, _ = services.create_sandbox(name)
    secrets = services.issue_credentials(sandbox, live_server.url)
    rng = random.Random(seed)
    services.system_module("tims").generate(sandbox, orders=0, products=30, customers=0, state=None,
                                            unknown_sku=0, rng=rng)
    made = services.system_module(channel).generate(sandbox, orders=orders, products=30, unknown_sku=0, rng=rng,
                                                    **generate)
    with transaction.atomic():  # stock enough to ship everything
        main = Location.objects.get(sandbox=sandbox, code="MAIN")
        for item in Item.objects.filter(sandbox=sandbox):
            operations.set_on_hand(item, main, 1000)
    return sandbox, secrets, made


@pytest.fixture
def shop(live_server, cast, monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)  # the test drives the workers itself
    sandbox, secrets, made = new_sandbox(live_server, "ship-ps", "prestashop", 4, 5, customers=3,
                                         state="Payment accepted")
    return import_orders(connect_shop(cast, sandbox, secrets, made["timezone"], flows=FLOWS), sandbox)


@pytest.fixture
def marketplace(live_server, cast, monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    sandbox, secrets, _ = new_sandbox(live_server, "ship-ca", "channeladvisor", 6, 8, customers=0, state=None)
    integration, _ = connect_marketplace(cast, sandbox, secrets)
    integration.flows = FLOWS
    integration.save()
    return import_orders(integration, sandbox)


class World:
    def __init__(self, integration, sandbox):
        self.integration, self.sandbox = integration, sandbox
        self.channel = client_for(integration.channel_connection)
        self.orders = dict(Link.objects.filter(integration=integration, entity_type="order")
                           .values_list("source_id", "target_id"))  # channel order id → TIMS sales order

    def lines(self, sales_order):
        order = SalesOrder.objects.get(sandbox=self.sandbox, code=sales_order)
        return [(line.item.sku, line.quantity) for line in order.lines.select_related("item").order_by("line_number")]

    def ship(self, sales_order, lines=None, tracking="", carrier="UPS", shipping_class="Ground"):
        shipped = backoffice.ship(self.sandbox, sales_order, carrier=carrier, shipping_class=shipping_class,
                                  tracking_number=tracking, lines=lines)["shipment"]
        self.sync()
        return shipped

    def sync(self):
        pollers.poll_connection(self.integration.tims_connection_id)
        work_off()

    def shipment_records(self, **filters):
        return SyncRecord.objects.filter(integration=self.integration, flow="shipments", **filters)

    def multi_line_order(self, besides=()):
        return next((channel_id, so) for channel_id, so in sorted(self.orders.items()) if channel_id not in besides
                    and (len(self.lines(so)) > 1 or self.lines(so)[0][1] > 1))


def import_orders(integration, sandbox):
    pollers.poll_integration(integration.pk)
    work_off()
    world = World(integration, sandbox)
    assert len(world.orders) >= 3, "the orders reach TIMS first"
    return world


def split(lines):
    """The first unit of the first line, and everything else."""
    (sku, quantity), rest = lines[0], lines[1:]
    first = [(sku, 1)]
    return first, ([(sku, quantity - 1)] if quantity > 1 else []) + rest


def prestashop_histories(world, order_id):
    return world.channel.decode(world.channel.request("GET", "order_histories", params={
        "display": "full", "filter[id_order]": f"[{order_id}]"}))


# --- PrestaShop --------------------------------------------------------------------------------------------------

def test_prestashop_partial_then_second_shipment_one_row_each_and_one_shipped_history(shop):
    order_id, sales_order = shop.multi_line_order()
    first, rest = split(shop.lines(sales_order))
    histories = len(prestashop_histories(shop, order_id))

    shop.ship(sales_order, first, tracking="1ZFIRST0001")
    rows = shop.channel.order_carriers(order_id)
    assert [r.tracking_number for r in rows] == ["1ZFIRST0001"]  # on the row the order was placed with
    assert shop.channel.order_state(order_id) == "Shipped"
    assert len(prestashop_histories(shop, order_id)) == histories + 1

    shop.ship(sales_order, rest, tracking="1ZSECOND002")
    assert sorted(r.tracking_number for r in shop.channel.order_carriers(order_id)) == ["1ZFIRST0001", "1ZSECOND002"]
    assert len(prestashop_histories(shop, order_id)) == histories + 1  # shipped once
    done = shop.shipment_records(status=RecordStatus.SUCCEEDED)
    assert done.count() == 2 and all(r.target_id for r in done)
    assert {r.business_key for r in done} == {f"{shop.integration.pk}:order:{order_id}"}

    # Replays change nothing: the links answer, and without them the shop's own rows do.
    Link.objects.filter(integration=shop.integration, entity_type="shipment").delete()
    SyncRecord.objects.filter(flow="shipments").update(status=RecordStatus.RETRYING, next_attempt_at=None,
                                                       target_id="")
    work_off()
    assert len(shop.channel.order_carriers(order_id)) == 2
    assert len(prestashop_histories(shop, order_id)) == histories + 1
    assert shop.shipment_records(status=RecordStatus.SUCCEEDED).count() == 2

    # The portal's own writes moved the order's date_upd: the next poll of the shop makes no work from them.
    before = SyncRecord.objects.filter(integration=shop.integration, flow="orders").count()
    pollers.poll_integration(shop.integration.pk)
    assert SyncRecord.objects.filter(integration=shop.integration, flow="orders").count() == before

    # The order's page tells its story across systems.
    order_record = SyncRecord.objects.filter(integration=shop.integration, flow="orders", source_id=order_id).first()
    story = [step.what for step in timeline(order_record)]
    assert story[0].startswith("Order") and story[1].startswith(f"Sales order {sales_order}"), [
        (s.at, s.what) for s in timeline(order_record)]
    assert sum("Tracking 1Z" in what for what in story) == 2 and sum("Shipment SH" in what for what in story) == 2


def test_a_lost_answer_after_the_shop_committed_makes_no_second_row(shop, monkeypatch):
    order_id, sales_order = sorted(shop.orders.items())[0]
    real = PrestaShopClient.ship
    lost = []

    def ship(self, *args, **kwargs):
        done = real(self, *args, **kwargs)
        if not lost:
            lost.append(done)
            raise errors.TransientError("The answer was lost.", system="PrestaShop")
        return done

    monkeypatch.setattr(PrestaShopClient, "ship", ship)
    shop.ship(sales_order, tracking="1ZLOST00001")
    assert lost and [r.tracking_number for r in shop.channel.order_carriers(order_id)] == ["1ZLOST00001"]
    record = shop.shipment_records().get()
    assert record.status == RecordStatus.SUCCEEDED and record.attempts == 2 and "already there" in record.notes


def test_tims_cancelling_before_shipping_cancels_the_shop_order_once(shop):
    order_id, sales_order = sorted(shop.orders.items())[0]
    backoffice.cancel(shop.sandbox, sales_order)
    shop.sync()
    assert shop.channel.order_state(order_id) == "Canceled"
    record = SyncRecord.objects.get(integration=shop.integration, flow="cancellations")
    assert record.status == RecordStatus.SUCCEEDED and record.source_id == sales_order
    before = SyncRecord.objects.filter(integration=shop.integration, flow="orders").count()
    pollers.poll_integration(shop.integration.pk)  # our own cancellation read back: no work
    assert SyncRecord.objects.filter(integration=shop.integration, flow="orders").count() == before


def test_a_shop_cancellation_of_an_order_tims_shipped_is_a_dead_letter_for_a_person(shop):
    order_id, sales_order = sorted(shop.orders.items())[0]
    shop.ship(sales_order, tracking="1ZSHIPPED01")
    shop.channel.set_order_state(order_id, "Canceled")  # the shop's staff, after the parcel left
    pollers.poll_integration(shop.integration.pk)
    work_off()
    dead = SyncRecord.objects.get(integration=shop.integration, flow="orders", status=RecordStatus.DEAD)
    assert "cancelled in the channel, but TIMS order" in dead.error_message and "A person decides" in \
        dead.suggested_fix
    assert client_for(shop.integration.tims_connection).get_sales_order(sales_order).status == "Fulfilled"


def test_a_shipment_of_an_order_the_portal_did_not_make_is_skipped_with_the_reason(shop):
    tims = client_for(shop.integration.tims_connection)
    sku = shop.lines(next(iter(shop.orders.values())))[0][0]
    made = tims.write("POST", "sales-orders", {"ExternalOrderID": "PHONE-1", "CustomerID": "C-GUEST",
                                               "Location": "MAIN", "LineItems": [{"SKU": sku, "Quantity": 1,
                                                                                  "Price": "5.00"}]}, key="phone-1")
    shop.ship(made["SalesOrderID"])
    record = shop.shipment_records().get()
    assert record.status == RecordStatus.SKIPPED and "was not created by this integration" in record.notes


def test_an_unmapped_carrier_is_a_dead_letter_naming_the_map_then_retried(shop, cast):
    order_id, sales_order = sorted(shop.orders.items())[0]
    shop.ship(sales_order, tracking="1ZACME00001", carrier="Acme Freight", shipping_class="Overnight")
    dead = shop.shipment_records().get()
    assert dead.status == RecordStatus.DEAD and dead.error_class == "unmapped_value"
    assert dead.error_details["value_map"]["name"] == "tims_carrier_to_prestashop"
    assert dead.error_details["value_map"]["value"] == "Acme Freight|Overnight"
    value_map = mapping_services.value_maps_for(shop.integration.organization_id, ["tims_carrier_to_prestashop"])[
        "tims_carrier_to_prestashop"]
    mapping_services.set_entry(value_map, "Acme Freight|Overnight", "DHL Express")
    actions.retry(SyncRecord.objects.filter(pk=dead.pk), cast.operations, "mapped Acme")
    work_off()
    assert [(r.tracking_number, r.carrier) for r in shop.channel.order_carriers(order_id)] == [
        ("1ZACME00001", "DHL Express")]


@pytest.mark.parametrize("change, field", [
    (lambda data: {**data, "TrackingNumber": "1Z" + "9" * 70}, "tracking"),
    (lambda data: {**data, "Lines": [{**data["Lines"][0], "Quantity": 999}]}, "Quantity"),
    (lambda data: {**data, "Lines": []}, "Lines"),
])
def test_bad_shipments_are_dead_letters_that_name_the_field_and_write_nothing(shop, cast, change, field):
    order_id, sales_order = sorted(shop.orders.items())[0]
    shop.ship(sales_order, tracking="1ZGOOD00001")
    record = shop.shipment_records().get()
    assert record.status == RecordStatus.SUCCEEDED
    # The same shipment, edited by a person into something the shop must refuse, sent as a new record.
    edited = dict(record.source_payload)
    edited["Data"] = change({**edited["Data"], "TrackingNumber": "1ZEDITED001"})
    edited["Data"]["ShipmentID"] = "SH-EDITED"
    bad, _ = records.receive(shop.integration, flow="shipments", entity_type="shipment", source_id="SH-EDITED",
                             payload=edited, business_key=record.business_key)
    work_off()
    bad.refresh_from_db()
    assert bad.status == RecordStatus.DEAD and field.lower() in (bad.error_message + str(bad.error_details)).lower()
    assert bad.suggested_fix and "retry" in bad.suggested_fix
    assert [r.tracking_number for r in shop.channel.order_carriers(order_id)] == ["1ZGOOD00001"]


def test_a_shipment_for_an_order_cancelled_in_the_shop_is_a_dead_letter_not_a_half_written_order(shop):
    order_id, sales_order = sorted(shop.orders.items())[0]
    shop.channel.set_order_state(order_id, "Canceled")  # cancelled in the shop; TIMS ships before it hears
    backoffice.ship(shop.sandbox, sales_order, tracking_number="1ZLATE00001")
    shop.sync()
    dead = shop.shipment_records().get()
    assert dead.status == RecordStatus.DEAD and "cancel" in dead.error_message.lower()
    assert [r.tracking_number for r in shop.channel.order_carriers(order_id)] == [""]
    assert shop.channel.order_state(order_id) == "Canceled"


# --- ChannelAdvisor ----------------------------------------------------------------------------------------------

def shipping_status(world, order_id):
    return world.channel.get_order_raw(order_id)["ShippingStatus"]


def test_channeladvisor_full_shipment_ships_the_order_and_a_split_one_ends_shipped(marketplace):
    orders = sorted(marketplace.orders.items())
    whole_id, whole_so = orders[0]
    marketplace.ship(whole_so, tracking="1ZWHOLE0001")
    assert shipping_status(marketplace, whole_id) == "Shipped"
    assert [f.tracking_number for f in marketplace.channel.fulfillments(whole_id) if f.tracking_number] == [
        "1ZWHOLE0001"]

    split_id, split_so = marketplace.multi_line_order(besides=[whole_id])
    first, rest = split(marketplace.lines(split_so))
    marketplace.ship(split_so, first, tracking="1ZSPLIT0001")
    assert shipping_status(marketplace, split_id) == "PartiallyShipped"
    marketplace.ship(split_so, rest, tracking="1ZSPLIT0002")
    assert shipping_status(marketplace, split_id) == "Shipped"
    tracked = sorted(f.tracking_number for f in marketplace.channel.fulfillments(split_id) if f.tracking_number)
    assert tracked == ["1ZSPLIT0001", "1ZSPLIT0002"]

    Link.objects.filter(integration=marketplace.integration, entity_type="shipment").delete()
    SyncRecord.objects.filter(flow="shipments").update(status=RecordStatus.RETRYING, next_attempt_at=None)
    work_off()  # a replay without links finds the fulfillments by tracking number
    assert sorted(f.tracking_number for f in marketplace.channel.fulfillments(split_id) if f.tracking_number) == \
        tracked
    assert marketplace.shipment_records(status=RecordStatus.SUCCEEDED).count() == 3


def test_a_pair_the_account_does_not_have_is_a_dead_letter_naming_the_map(marketplace, cast):
    order_id, sales_order = sorted(marketplace.orders.items())[0]
    value_map = mapping_services.value_maps_for(marketplace.integration.organization_id,
                                                ["tims_carrier_to_channeladvisor"])["tims_carrier_to_channeladvisor"]
    if value_map.organization_id is None:
        value_map = mapping_services.copy_value_map(value_map, marketplace.integration.organization)
    mapping_services.set_entry(value_map, "UPS|Ground", "UPS|Teleport")
    marketplace.ship(sales_order, tracking="1ZPAIR00001")
    dead = marketplace.shipment_records().get()
    assert dead.status == RecordStatus.DEAD and "“UPS” / “Teleport”" in dead.error_message
    assert dead.error_details["value_map"]["name"] == "tims_carrier_to_channeladvisor"
    assert "UPS|Ground" in dead.suggested_fix
    mapping_services.set_entry(value_map, "UPS|Ground", "UPS|Ground")
    actions.retry(SyncRecord.objects.filter(pk=dead.pk), cast.operations, "fixed the pair")
    work_off()
    assert shipping_status(marketplace, order_id) == "Shipped"


def test_a_lost_ship_answer_on_channeladvisor_ships_once(marketplace, monkeypatch):
    order_id, sales_order = sorted(marketplace.orders.items())[0]
    real = ChannelAdvisorClient.ship
    lost = []

    def ship(self, *args, **kwargs):
        done = real(self, *args, **kwargs)
        if not lost:
            lost.append(done)
            raise errors.TransientError("The answer was lost.", system="ChannelAdvisor")
        return done

    monkeypatch.setattr(ChannelAdvisorClient, "ship", ship)
    marketplace.ship(sales_order, tracking="1ZLOSTCA001")
    assert [f.tracking_number for f in marketplace.channel.fulfillments(order_id) if f.tracking_number] == [
        "1ZLOSTCA001"]
    assert marketplace.shipment_records().get().status == RecordStatus.SUCCEEDED


def test_tims_cancelling_cancels_the_marketplace_order(marketplace):
    order_id, sales_order = sorted(marketplace.orders.items())[0]
    backoffice.cancel(marketplace.sandbox, sales_order)
    marketplace.sync()
    assert shipping_status(marketplace, order_id) == "Canceled"
    SyncRecord.objects.filter(flow="cancellations").update(status=RecordStatus.RETRYING, next_attempt_at=None)
    work_off()  # again: already cancelled, nothing adjusted twice
    adjustments = marketplace.channel.get_order_raw(order_id).get("Adjustments") or []
    assert len([a for a in adjustments if "tims-cancel" in str(a.get("SellerAdjustmentID"))]) <= 1


def test_a_refund_after_shipping_is_not_a_cancellation_and_before_shipping_it_is(shop):
    (shipped_id, shipped_so), (waiting_id, waiting_so) = sorted(shop.orders.items())[:2]
    shop.ship(shipped_so, tracking="1ZREFUND001")
    for order_id in (shipped_id, waiting_id):
        shop.channel.set_order_state(order_id, "Refunded")
    pollers.poll_integration(shop.integration.pk)
    work_off()

    tims = client_for(shop.integration.tims_connection)
    assert tims.get_sales_order(shipped_so).status == "Fulfilled"  # the goods left: a return, not a cancellation
    assert tims.get_sales_order(waiting_so).status == "Cancelled"  # nothing left: the refund cancels it
    refunded = SyncRecord.objects.filter(integration=shop.integration, flow="orders", source_id=shipped_id).latest("pk")
    assert refunded.status == RecordStatus.SUCCEEDED and "not a cancellation" in refunded.notes


def test_a_cancellation_after_shipping_is_held_for_a_person(shop):
    order_id, sales_order = sorted(shop.orders.items())[0]
    shop.ship(sales_order, tracking="1ZCANCEL001")
    shop.channel.set_order_state(order_id, "Canceled")
    pollers.poll_integration(shop.integration.pk)
    work_off()
    held = SyncRecord.objects.filter(integration=shop.integration, flow="orders", source_id=order_id).latest("pk")
    assert held.status == RecordStatus.DEAD and held.error_class == "business_hold"
    assert client_for(shop.integration.tims_connection).get_sales_order(sales_order).status == "Fulfilled"
