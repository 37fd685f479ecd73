"""Cancel before shipping, per channel, end to end over real HTTP against the sandboxes and counted through TIMS's
API: the TIMS sales order becomes Cancelled and its reservations are released, nothing is restocked (nothing left
the shelf), and no return, refund or journal entry is made for goods that never shipped and money never billed."""

import pytest

from integrations.models import RecordStatus, SyncRecord
from sandbox.channeladvisor.models import Adjustment
from sandbox.tims.models import InventoryLevel, Location
from tests.integrations.flows.test_cash import marketplace, shop  # noqa: F401  (fixtures)
from tests.integrations.flows.test_returns import (  # noqa: F401  (with_returns: a fixture)
    act,
    an_hour_later,
    return_records,
    returns_of,
    sync_returns,
    with_returns,
)

pytestmark = pytest.mark.django_db(transaction=True)


def stock(world, sales_order):
    """{SKU: (on hand, allocated)} at the main location for the order's SKUs."""
    main = Location.objects.get(sandbox=world.sandbox, code="MAIN")
    skus = [sku for sku, _ in world.lines(sales_order)]
    return {level.item.sku: (level.on_hand, level.allocated) for level in
            InventoryLevel.objects.filter(location=main, item__sku__in=skus, item__sandbox=world.sandbox)
            .select_related("item")}


def nothing_booked(world, sales_order):
    assert returns_of(world, sales_order) == []
    assert world.tims.find_invoices(sales_order_id=sales_order) == []
    assert not SyncRecord.objects.filter(integration=world.integration, flow="journal").exists()


def replay(world):
    SyncRecord.objects.filter(integration=world.integration).exclude(status=RecordStatus.DEAD).update(
        status=RecordStatus.RETRYING, next_attempt_at=None)
    sync_returns(world)


def test_a_marketplace_cancel_before_shipping_cancels_the_tims_order_and_books_nothing(marketplace):  # noqa: F811
    marketplace.integration.flows = [*marketplace.integration.flows, "cancellations"]  # TIMS's cancels go back too
    marketplace.integration.save()
    order_id, sales_order = sorted(marketplace.orders.items())[0]
    before = stock(marketplace, sales_order)
    act(marketplace, "channeladvisor", "cancel", "--order", order_id)
    sync_returns(marketplace)
    marketplace.sync()  # TIMS's cancellation event reaches the channel: cancelled there already, nothing sent
    told = SyncRecord.objects.get(integration=marketplace.integration, flow="cancellations")
    assert told.status == RecordStatus.SUCCEEDED and "already cancelled" in told.notes
    assert Adjustment.objects.filter(order_id=order_id).count() == 1  # the buyer's cancellation, no second one

    assert marketplace.tims.get_sales_order(sales_order).status == "Cancelled"
    # The order is not listed again once exported: its Cancellation adjustment is what cancels the TIMS order.
    cancellation = return_records(marketplace).get()
    assert cancellation.status == RecordStatus.SUCCEEDED and "is cancelled (nothing restocked" in cancellation.notes
    nothing_booked(marketplace, sales_order)
    after = stock(marketplace, sales_order)
    assert {sku: on_hand for sku, (on_hand, _) in after.items()} == {
        sku: on_hand for sku, (on_hand, _) in before.items()}  # nothing left the shelf, nothing comes back
    assert all(allocated == 0 for _, allocated in after.values())  # the reservation is released

    replay(marketplace)  # every record again: nothing twice, nothing new
    assert stock(marketplace, sales_order) == after
    assert marketplace.tims.get_sales_order(sales_order).status == "Cancelled"
    nothing_booked(marketplace, sales_order)


def test_a_shop_cancel_before_shipping_cancels_the_tims_order_and_books_nothing(shop):  # noqa: F811
    order_id, sales_order = sorted(shop.orders.items())[0]
    before = stock(shop, sales_order)
    shop.channel.set_order_state(order_id, "Canceled")  # the shop's staff, before anything shipped
    sync_returns(shop)

    assert shop.tims.get_sales_order(sales_order).status == "Cancelled"
    assert not return_records(shop).exists()  # a cancellation makes no credit slip
    nothing_booked(shop, sales_order)
    after = stock(shop, sales_order)
    assert {sku: on_hand for sku, (on_hand, _) in after.items()} == {
        sku: on_hand for sku, (on_hand, _) in before.items()}
    assert all(allocated == 0 for _, allocated in after.values())

    replay(shop)
    assert stock(shop, sales_order) == after and shop.tims.get_sales_order(sales_order).status == "Cancelled"
    nothing_booked(shop, sales_order)


def test_a_shop_refund_before_shipping_cancels_the_tims_order_and_its_credit_slip_is_no_return(shop):  # noqa: F811
    order_id, sales_order = sorted(shop.orders.items())[0]
    before = stock(shop, sales_order)
    act(shop, "prestashop", "refund", "--order", order_id)  # the whole order: a credit slip, state Refunded
    sync_returns(shop)
    assert shop.tims.get_sales_order(sales_order).status == "Cancelled"  # the Refunded state, before shipping
    slip = return_records(shop).get()
    if slip.status == RecordStatus.HELD:  # the slip ran before the order's cancellation reached TIMS: it waited
        assert "if the channel cancelled the order" in slip.error_message
        an_hour_later(slip)
    slip = return_records(shop).get()
    assert slip.status == RecordStatus.SKIPPED and "never shipped" in slip.notes
    nothing_booked(shop, sales_order)
    assert {sku: on_hand for sku, (on_hand, _) in stock(shop, sales_order).items()} == {
        sku: on_hand for sku, (on_hand, _) in before.items()}
