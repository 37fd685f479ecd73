"""Returns and refunds into TIMS, end to end over real HTTP against the sandboxes, counted through TIMS's API: a
marketplace buyer's return restocks once and posts its refund; a shop's credit slip gives money back without
restocking; a pending refund waits; a reason no map covers and an order the portal never imported are dead letters
with their fix; a replay or a lost answer writes nothing twice."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from integrations.connectors import errors
from integrations.connectors.tims.client import TimsClient
from integrations.models import Link, RecordStatus, SyncRecord
from integrations.pipeline import actions, pollers, runner
from mappings.models import ValueMap
from sandbox.tims.models import InventoryLevel, Item, Location
from tests.integrations.flows.test_cash import marketplace, shop  # noqa: F401  (fixtures)
from tests.integrations.flows.test_prestashop_orders import work_off

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def with_returns(request):
    for name in ("shop", "marketplace"):
        if name in request.fixturenames:
            world = request.getfixturevalue(name)
            world.integration.flows = [*world.integration.flows, "returns"]
            world.integration.save()


def act(world, system, what, *args):
    call_command("sandbox", "act", "--slug", world.sandbox.slug, "--system", system, what, *args, stdout=open(
        "/dev/null", "w"))


def on_hand(world, sku):
    main = Location.objects.get(sandbox=world.sandbox, code="MAIN")
    item = Item.objects.get(sandbox=world.sandbox, sku=sku)
    return InventoryLevel.objects.get(item=item, location=main).on_hand


def returns_of(world, sales_order):
    return world.tims.find_returns(sales_order_id=sales_order)


def sync_returns(world):
    pollers.poll_integration(world.integration.pk)
    work_off()


def return_records(world, **filters):
    return SyncRecord.objects.filter(integration=world.integration, flow="returns", **filters)


def test_a_marketplace_return_restocks_once_and_posts_its_refund(marketplace):  # noqa: F811
    order_id, sales_order = sorted(marketplace.orders.items())[0]
    marketplace.ship(sales_order, tracking="1ZRETURN001")
    sku, quantity = marketplace.lines(sales_order)[0]
    before = on_hand(marketplace, sku)
    act(marketplace, "channeladvisor", "return", "--order", order_id, "--sku", sku, "--quantity", "1", "--refunded")
    sync_returns(marketplace)

    (made,) = returns_of(marketplace, sales_order)
    assert [(line.sku, line.quantity, line.reason, line.restock) for line in made.lines] == [
        (sku, 1, "CustomerReturn", True)]
    assert on_hand(marketplace, sku) == before + 1  # back on the shelf, once
    (entry,) = marketplace.tims.find_journal_entries(reference=made.source_id)
    assert entry.debits == entry.credits == made.refund.amount > 0
    assert [line.account for line in entry.lines if line.credit] == ["1160"]  # the marketplace paid it back

    # A replay finds the return in TIMS: nothing twice, no second restock.
    SyncRecord.objects.filter(flow__in=["returns", "journal"]).update(status=RecordStatus.RETRYING,
                                                                      next_attempt_at=None)
    sync_returns(marketplace)
    assert len(returns_of(marketplace, sales_order)) == 1 and on_hand(marketplace, sku) == before + 1
    assert len(marketplace.tims.find_journal_entries(reference=made.source_id)) == 1


def test_a_pending_refund_waits_and_goes_once_it_completes(marketplace):  # noqa: F811
    order_id, sales_order = sorted(marketplace.orders.items())[0]
    marketplace.ship(sales_order, tracking="1ZPENDING01")
    sku, _ = marketplace.lines(sales_order)[0]
    act(marketplace, "channeladvisor", "return", "--order", order_id, "--sku", sku, "--quantity", "1")
    sync_returns(marketplace)
    held = return_records(marketplace).get()
    assert held.status == RecordStatus.HELD and "waits for the channel" in held.error_message
    assert returns_of(marketplace, sales_order) == []

    # The seller receives the parcel and the marketplace refunds. The adjustment has no update date, so a poll
    # lists nothing new; the held record's own hourly look at the order finds the refund complete.
    before = on_hand(marketplace, sku)
    act(marketplace, "channeladvisor", "complete-refund", "--order", order_id)
    sync_returns(marketplace)
    assert return_records(marketplace).get().status == RecordStatus.HELD  # not due yet: nothing twice either
    an_hour_later(held)
    (made,) = returns_of(marketplace, sales_order)
    assert made.refund.amount > 0 and [(line.sku, line.quantity, line.restock) for line in made.lines] == [
        (sku, 1, True)]
    assert on_hand(marketplace, sku) == before + 1
    (entry,) = marketplace.tims.find_journal_entries(reference=made.source_id)
    assert entry.debits == made.refund.amount
    assert return_records(marketplace).get().status == RecordStatus.SUCCEEDED

    sync_returns(marketplace)  # a later poll and a replay change nothing
    an_hour_later(return_records(marketplace).get())
    assert len(returns_of(marketplace, sales_order)) == 1 and on_hand(marketplace, sku) == before + 1


def an_hour_later(record):
    """The hold's re-check comes due, as the sweeper finds it an hour on."""
    SyncRecord.objects.filter(pk=record.pk, status=RecordStatus.HELD).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1))
    runner.process(record.pk)
    work_off()


def test_a_shop_credit_slip_gives_money_back_without_restocking(shop):  # noqa: F811
    order_id, sales_order = sorted(shop.orders.items())[0]
    shop.ship(sales_order, tracking="1ZSLIP00001")
    sku, _ = shop.lines(sales_order)[0]
    before = on_hand(shop, sku)
    act(shop, "prestashop", "refund", "--order", order_id, "--sku", sku, "--quantity", "1")
    sync_returns(shop)

    (made,) = returns_of(shop, sales_order)
    assert [(line.sku, line.reason, line.restock) for line in made.lines] == [(sku, "Refund", False)]
    assert on_hand(shop, sku) == before  # a credit slip says nothing of the shelf: nothing restocked
    (entry,) = shop.tims.find_journal_entries(reference=made.source_id)
    assert entry.debits == entry.credits == made.refund.amount > 0
    assert "4000" in {line.account for line in entry.lines if line.debit}  # revenue reversed


def test_a_reason_no_map_covers_is_a_dead_letter_and_goes_once_mapped(marketplace, cast):  # noqa: F811
    entries = ValueMap.objects.get(organization=cast.org_a, name="channeladvisor_return_reason").entries
    entries.filter(source="CustomerReturnedItem").delete()
    order_id, sales_order = sorted(marketplace.orders.items())[0]
    marketplace.ship(sales_order, tracking="1ZREASON001")
    sku, _ = marketplace.lines(sales_order)[0]
    act(marketplace, "channeladvisor", "return", "--order", order_id, "--sku", sku, "--quantity", "1", "--refunded")
    sync_returns(marketplace)
    dead = return_records(marketplace).get()
    assert dead.status == RecordStatus.DEAD and dead.error_class == "unmapped_value"
    assert "CustomerReturnedItem" in dead.error_message and "|restock" in dead.suggested_fix
    assert returns_of(marketplace, sales_order) == []

    entries.create(source="CustomerReturnedItem", target="CustomerReturn|no-restock")
    actions.retry(SyncRecord.objects.filter(pk=dead.pk), cast.operations)
    work_off()
    (made,) = returns_of(marketplace, sales_order)
    assert [line.restock for line in made.lines] == [False]


def test_a_lost_answer_after_tims_committed_the_return_restocks_once(shop, monkeypatch):  # noqa: F811
    order_id, sales_order = sorted(shop.orders.items())[0]
    shop.ship(sales_order, tracking="1ZLOSTRET01")
    entries = ValueMap.objects.get(organization=shop.integration.organization, name="prestashop_return_reason")
    entries.entries.filter(source="refund").update(target="Refund|restock")
    sku, _ = shop.lines(sales_order)[0]
    before = on_hand(shop, sku)
    real, lost = TimsClient.create_return, []

    def create_then_lose(self, *args, **kwargs):
        done = real(self, *args, **kwargs)
        if not lost:
            lost.append(done)
            raise errors.TransientError("The answer was lost.", system="TIMS")
        return done

    monkeypatch.setattr(TimsClient, "create_return", create_then_lose)
    act(shop, "prestashop", "refund", "--order", order_id, "--sku", sku, "--quantity", "1")
    sync_returns(shop)
    assert lost and len(returns_of(shop, sales_order)) == 1 and on_hand(shop, sku) == before + 1
    record = return_records(shop).get()
    assert record.status == RecordStatus.SUCCEEDED and record.attempts == 2 and "already in TIMS" in record.notes


def test_a_return_for_an_order_the_portal_never_imported_says_so(shop):  # noqa: F811
    order_id, _ = sorted(shop.orders.items())[-1]
    Link.objects.filter(integration=shop.integration, entity_type="order", source_id=order_id).delete()
    shop.integration.flows = ["returns"]  # as for an order placed before the integration went live
    shop.integration.save()
    act(shop, "prestashop", "refund", "--order", order_id)
    sync_returns(shop)
    dead = return_records(shop).get()
    assert dead.status == RecordStatus.DEAD and "never put into TIMS" in dead.error_message
    assert "Import the order first" in dead.suggested_fix


def test_a_refund_of_goods_tims_never_shipped_says_what_to_do(shop):  # noqa: F811
    from tests.integrations.flows.test_fulfillment import split

    order_id, sales_order = shop.multi_line_order()
    first, _ = split(shop.lines(sales_order))
    shop.ship(sales_order, first, tracking="1ZPARTIAL01")
    act(shop, "prestashop", "refund", "--order", order_id)  # the whole order, most of it never shipped
    sync_returns(shop)
    dead = return_records(shop).get()
    assert dead.status == RecordStatus.DEAD and "exceeds_shipped" in dead.error_message
    assert "goods TIMS never shipped" in dead.suggested_fix
    assert returns_of(shop, sales_order) == []  # nothing half-done: no stock, no money moved


def test_a_return_before_the_invoice_makes_the_invoice_bill_less_and_posts_no_refund(marketplace):  # noqa: F811
    from tests.integrations.flows.test_fulfillment import split

    marketplace.integration.options = {**marketplace.integration.options, "invoice_on": "fully_shipped"}
    marketplace.integration.save()
    order_id, sales_order = marketplace.multi_line_order()
    first, rest = split(marketplace.lines(sales_order))
    (sku, _), = first
    marketplace.ship(sales_order, first, tracking="1ZBEFORE001")
    assert marketplace.tims.find_invoices(sales_order_id=sales_order) == []  # not fully shipped: not billed yet
    before = on_hand(marketplace, sku)
    act(marketplace, "channeladvisor", "return", "--order", order_id, "--sku", sku, "--quantity", "1", "--refunded")
    sync_returns(marketplace)

    (made,) = returns_of(marketplace, sales_order)
    assert made.refund.amount > 0 and made.extra["Credits"] == []  # no money was billed, none goes back in TIMS
    assert made.extra["UninvoicedAmount"] == f"{made.refund.amount:.2f}"
    assert on_hand(marketplace, sku) == before + 1  # the goods are back on the shelf all the same
    assert marketplace.tims.find_journal_entries(reference=made.source_id) == []  # no revenue was booked to reverse
    assert "takes off the order's bill" in return_records(marketplace).get().notes

    marketplace.ship(sales_order, rest, tracking="1ZBEFORE002")
    order = marketplace.tims.get_sales_order(sales_order)
    (invoice,) = marketplace.tims.find_invoices(sales_order_id=sales_order)
    assert invoice.total.amount == order.total.amount - made.refund.amount  # the returned unit is not billed
    billed = sum(line.quantity for line in invoice.lines if line.sku == sku)
    ordered = sum(quantity for line_sku, quantity in marketplace.lines(sales_order) if line_sku == sku)
    assert billed == ordered - 1
    assert invoice.balance.amount == 0 and order.status == "Invoiced"  # paid from what the buyer paid
    assert len(marketplace.tims.find_journal_entries(reference=invoice.source_id)) == 1
    assert marketplace.tims.find_journal_entries(reference=made.source_id) == []
    assert not SyncRecord.objects.filter(integration=marketplace.integration, status=RecordStatus.DEAD).exists()


def test_what_tims_gave_back_leaves_out_goods_never_billed_goods_and_tax_first():
    from integrations import canonical as c
    from integrations.flows.returns import given_back

    def made(refund, unbilled):
        return c.Return(source="tims", source_id="RT1", refund=c.Money(c.decimal(refund), "USD"),
                        extra={"UninvoicedAmount": unbilled})

    parts = {"goods": "20.00", "tax": "2.00", "shipping": "5.00"}
    assert given_back(made("27.00", "0.00"), parts) == (c.decimal("27.00"), parts)
    assert given_back(made("27.00", "11.00"), parts) == (
        c.decimal("16.00"), {"goods": "10.00", "tax": "1.00", "shipping": "5.00"})  # one of two units, its tax
    assert given_back(made("27.00", "27.00"), parts) == (
        c.decimal("0.00"), {"goods": "0.00", "tax": "0.00", "shipping": "0.00"})
