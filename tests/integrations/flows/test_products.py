"""TIMS items as ChannelAdvisor products, end to end over real HTTP and read back through ChannelAdvisor's API: a new
item is created once (a lost answer makes no second product), a change sends only what changed, a deactivated item
is blocked, text the channel cannot take is a dead letter that says what to fix and makes no half product, and an
integration that only updates never creates."""

from decimal import Decimal

import pytest
from django.db import transaction

from integrations.connectors import errors
from integrations.connectors.channeladvisor.client import ChannelAdvisorClient
from integrations.connectors.checks import client_for
from integrations.models import RecordStatus, SyncRecord
from sandbox.channeladvisor import models as ca
from sandbox.models import SandboxCall
from sandbox.tims import backoffice, operations
from sandbox.tims.models import Item
from tests.integrations.flows.test_inventory import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def with_products(request):
    if "world" in request.fixturenames:
        w = request.getfixturevalue("world")
        w.market.flows = ["products"]
        w.market.save()


def new_item(w, sku, description="Argon cylinder 20 L, refill", **custom):
    with transaction.atomic():
        item = Item.objects.create(sandbox=w.sandbox, sku=sku, description=description, unit_price=Decimal("89.00"),
                                   cost=Decimal("41.50"), weight=Decimal("31.5"), custom_fields=custom)
        operations.item_changed(item)
    w.sync()
    return item


def in_channel(w, sku):
    market = client_for(w.market.channel_connection)
    rows = next(market.pages("Products", {"$filter": f"Sku eq '{sku}'", "$expand": "Attributes"}), [])
    return rows[0] if rows else None


def record_of(w, sku):
    return SyncRecord.objects.filter(integration=w.market, flow="products", source_id=sku).latest("pk")


def product_writes(w):
    return SandboxCall.objects.filter(sandbox=w.sandbox, system="channeladvisor", method__in=("POST", "PATCH"),
                                      endpoint__icontains="Products").count()


def test_a_new_item_becomes_a_product_and_a_change_sends_only_what_changed(world):  # noqa: F811
    new_item(world, "ARG-NEW-1", Brand="Linde", MPN="L-20", Grade="4.6")
    product = in_channel(world, "ARG-NEW-1")
    assert product["Title"] == "Argon cylinder 20 L, refill" and product["Brand"] == "Linde"
    assert Decimal(str(product["Weight"])) == Decimal("31.5") and product["MPN"] == "L-20"
    assert {a["Name"]: a["Value"] for a in product["Attributes"]} == {"Grade": "4.6"}
    assert record_of(world, "ARG-NEW-1").target_id == str(product["ID"])

    before = product_writes(world)
    backoffice.update_item(world.sandbox, "ARG-NEW-1", description="Argon cylinder 20 L")
    world.sync()
    assert in_channel(world, "ARG-NEW-1")["Title"] == "Argon cylinder 20 L"
    assert product_writes(world) == before + 1 and "updated: Title" in record_of(world, "ARG-NEW-1").notes
    backoffice.update_item(world.sandbox, "ARG-NEW-1", unit_price="95.00")  # a price is the prices flow's
    world.sync()
    assert product_writes(world) == before + 1
    assert record_of(world, "ARG-NEW-1").status == RecordStatus.SKIPPED

    backoffice.update_item(world.sandbox, "ARG-NEW-1", active=False)
    world.sync()
    blocked = in_channel(world, "ARG-NEW-1")
    assert blocked["IsBlocked"] is True and blocked["BlockComment"] == "Inactive in TIMS"
    assert ca.Product.objects.filter(sandbox=world.sandbox, sku="ARG-NEW-1").count() == 1


def test_a_lost_answer_after_the_product_was_made_makes_no_second_one(world, monkeypatch):  # noqa: F811
    real = ChannelAdvisorClient.create_product
    lost = []

    def create_then_lose(self, fields):
        made = real(self, fields)
        if not lost:
            lost.append(made)
            raise errors.TransientError("The answer was lost.", system="ChannelAdvisor")
        return made

    monkeypatch.setattr(ChannelAdvisorClient, "create_product", create_then_lose)
    monkeypatch.setattr("integrations.connectors.channeladvisor.client._product_ids.get", lambda key: None)
    new_item(world, "ARG-LOST-1")
    assert lost and ca.Product.objects.filter(sandbox=world.sandbox, sku="ARG-LOST-1").count() == 1
    record = record_of(world, "ARG-LOST-1")
    assert record.status == RecordStatus.SUCCEEDED and record.attempts == 2 and record.target_id == str(lost[0])


@pytest.mark.parametrize("description, words, fix", [
    ("Argon " + "x" * 130, "a ChannelAdvisor title holds 120", "Shorten the item's Description"),
    ("Argon\x07 cylinder", "control character (code 7) at position 6", "Remove it"),
    ("<b>Argon</b> cylinder", "HTML", "Remove the markup"),
])
def test_text_the_channel_cannot_take_is_a_dead_letter_and_no_half_product(world, description, words,  # noqa: F811
                                                                            fix):
    new_item(world, "ARG-BAD-1", description=description)
    record = record_of(world, "ARG-BAD-1")
    assert record.status == RecordStatus.DEAD and words in record.error_message and fix in record.suggested_fix
    assert in_channel(world, "ARG-BAD-1") is None


def test_an_integration_that_only_updates_never_creates(world):  # noqa: F811
    world.market.options = {**world.market.options, "products": "update_only"}
    world.market.save()
    new_item(world, "ARG-NONE-1")
    assert in_channel(world, "ARG-NONE-1") is None
    assert "only updates products" in record_of(world, "ARG-NONE-1").notes
