"""Prices from TIMS to both channels, end to end over real HTTP against the sandboxes and read back through the
channels' own APIs: a changed price arrives once; the rule's markup and rounding apply; a price that looks wrong
waits for a person who approves or rejects it (audited); a promotion starts and ends on its own; a rule that cannot
make a price is a dead letter that says what to fix."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from integrations.connectors.checks import client_for
from integrations.flows import prices as price_flow
from integrations.models import AuditEntry, RecordStatus, SyncRecord
from pricing.models import HoldStatus, PriceHold, PriceRule, Promotion
from sandbox.models import SandboxCall
from sandbox.tims import backoffice
from sandbox.tims.models import Item
from tests.integrations.flows.test_inventory import world  # noqa: F401  (fixture)
from tests.integrations.flows.test_prestashop_orders import work_off

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def with_prices(request):
    if "world" in request.fixturenames:
        world = request.getfixturevalue("world")
        for integration in (world.shop, world.market):
            integration.flows = ["prices"]
            integration.save()


def set_price(w, sku, price):
    backoffice.update_item(w.sandbox, sku, unit_price=price)
    w.sync()


def over_cost(w, sku, times=2):
    """A price this many times the item's TIMS cost (a price under cost would wait for a person)."""
    cost = Item.objects.get(sandbox=w.sandbox, sku=sku).cost or Decimal("1")
    return (cost * times).quantize(Decimal("0.01"))


def shop_price(w, sku):
    shop = client_for(w.shop.channel_connection)
    product = next(page for page in shop.pages("products", filters={"reference": f"[{sku}]"}))[0]
    return Decimal(str(product["price"])).quantize(Decimal("0.01"))


def market_price(w, sku):
    market = client_for(w.market.channel_connection)
    row = next(market.pages("Products", {"$filter": f"Sku eq '{sku}'", "$select": "Sku,RetailPrice"}))[0]
    return Decimal(str(row["RetailPrice"])).quantize(Decimal("0.01"))


def price_writes(w):
    return SandboxCall.objects.filter(sandbox=w.sandbox, method__in=("PATCH", "PUT"), status__lt=300).filter(
        endpoint__icontains="product").count()


def records_of(integration, sku, **filters):
    return SyncRecord.objects.filter(integration=integration, flow="prices", source_id=sku, **filters)


def test_a_changed_price_reaches_both_channels_once(world):  # noqa: F811
    sku = world.skus[0]
    price = over_cost(world, sku)
    set_price(world, sku, price)
    assert shop_price(world, sku) == price and market_price(world, sku) == price
    writes = price_writes(world)
    SyncRecord.objects.filter(flow="prices").update(status=RecordStatus.RETRYING, next_attempt_at=None)
    work_off()  # replayed: the channels have that price already
    assert price_writes(world) == writes
    assert f"is {price} in the channel already" in records_of(world.market, sku).latest("pk").notes


def test_the_rule_marks_up_and_rounds_for_one_channel_only(world):  # noqa: F811
    sku = world.skus[1]
    PriceRule.objects.create(integration=world.market, adjust="markup", percent=Decimal("20"), rounding="0.99",
                             hold_change_over=Decimal("100"))
    price = over_cost(world, sku).quantize(Decimal("1")) + Decimal("0.45")  # e.g. 382.45
    set_price(world, sku, price)
    marked_up = (price * Decimal("1.2")).quantize(Decimal("1"), rounding="ROUND_CEILING") - Decimal("0.01")
    assert market_price(world, sku) == marked_up and shop_price(world, sku) == price
    record = records_of(world.market, sku).latest("pk")
    assert "markup 20 %" in record.notes and str(marked_up) in record.notes


def test_a_price_that_looks_wrong_waits_for_a_person(world, admin_client):  # noqa: F811
    approved, rejected = world.skus[2], world.skus[3]
    before = {sku: over_cost(world, sku, 3) for sku in (approved, rejected)}
    for sku in (approved, rejected):
        set_price(world, sku, before[sku])
    for sku in (approved, rejected):  # a slip of the finger: a hundredth of the price
        backoffice.update_item(world.sandbox, sku, unit_price=(before[sku] / 100).quantize(Decimal("0.01")))
    world.sync()
    assert market_price(world, approved) == before[approved] and shop_price(world, rejected) == before[rejected]
    holds = {hold.sku: hold for hold in PriceHold.objects.filter(integration=world.market, status=HoldStatus.OPEN)}
    assert set(holds) == {approved, rejected}
    hold = holds[approved]
    assert hold.old_price == before[approved] and hold.new_price == (before[approved] / 100).quantize(Decimal("0.01"))
    assert any("moves 99 %" in reason for reason in hold.reasons) and any("below" in r for r in hold.reasons)
    record = records_of(world.market, approved).latest("pk")
    assert record.status == RecordStatus.HELD and "was not sent" in record.error_message

    page = admin_client.get(f"/admin/pricing/pricehold/{hold.pk}/change/")
    assert page.status_code == 200 and "Approve: send this price" in page.content.decode()
    assert admin_client.post(f"/admin/pricing/pricehold/{hold.pk}/change/", {"_approve": "1"}).status_code == 302
    assert admin_client.post(f"/admin/pricing/pricehold/{holds[rejected].pk}/change/",
                             {"_reject": "1"}).status_code == 302
    work_off()
    assert market_price(world, approved) == hold.new_price, "approved: sent"
    assert market_price(world, rejected) == before[rejected], "rejected: the channel keeps its price"
    assert records_of(world.market, rejected).latest("pk").status == RecordStatus.DISCARDED
    assert AuditEntry.objects.filter(action="price_hold.approve").count() == 1
    assert AuditEntry.objects.filter(action="price_hold.reject").count() == 1


def test_a_promotion_starts_and_ends_on_its_own(world):  # noqa: F811
    sku = world.skus[4]
    price = over_cost(world, sku, 3)
    set_price(world, sku, price)
    now = timezone.now()
    sale = Promotion.objects.create(integration=world.shop, name="Winter sale", skus=sku, kind="percent",
                                    value=Decimal("10"), starts_at=now - timedelta(minutes=1),
                                    ends_at=now + timedelta(hours=1))
    assert price_flow.promotions_due() == 1
    work_off()
    assert shop_price(world, sku) == (price * Decimal("0.9")).quantize(Decimal("0.01")), "a promotion is meant"
    assert market_price(world, sku) == price, "the marketplace has no such promotion"
    Promotion.objects.filter(pk=sale.pk).update(ends_at=now)
    assert price_flow.promotions_due() == 1 and price_flow.promotions_due() == 0
    work_off()
    assert shop_price(world, sku) == price


def test_a_rule_that_cannot_make_a_price_is_a_dead_letter_with_the_fix(world):  # noqa: F811
    sku = world.skus[5]
    PriceRule.objects.create(integration=world.shop, adjust="margin", percent=Decimal("100"))
    price = over_cost(world, sku)
    set_price(world, sku, price)
    record = records_of(world.shop, sku).latest("pk")
    assert record.status == RecordStatus.DEAD and "divides by zero" in record.error_message
    assert "margin under 100 %" in record.suggested_fix
    assert market_price(world, sku) == price, "one channel's bad rule does not stop the other"


def test_unknown_price_fields_are_refused_when_the_integration_is_saved(world):  # noqa: F811
    from django.core.exceptions import ValidationError

    world.market.options = {**world.market.options, "price_fields": ["retail", "sale"]}
    with pytest.raises(ValidationError, match="price_fields is a list of ChannelAdvisor prices"):
        world.market.full_clean()
    world.market.options["price_fields"] = ["retail", "buy_it_now"]
    world.market.full_clean()
