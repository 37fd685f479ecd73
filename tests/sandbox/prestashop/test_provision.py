"""Keys, reference data, generated data and reset (no HTTP needed, so no live server)."""

import random
from collections import Counter

import pytest

from sandbox import fakedata
from sandbox.models import Sandbox, SandboxCredential
from sandbox.prestashop import provision
from sandbox.prestashop.models import (
    Currency,
    Customer,
    Order,
    OrderPayment,
    OrderRow,
    OrderState,
    Product,
    StockAvailable,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox():
    sandbox = Sandbox.objects.create(slug="ps-provision")
    provision.seed(sandbox)
    return sandbox


def test_credentials_are_32_chars_and_stored_hashed(sandbox):
    issued = provision.issue_credentials(sandbox, "http://x/sandbox/ps-provision/prestashop")
    assert issued["base_url"] == "http://x/sandbox/ps-provision/prestashop" and len(issued["ws_key"]) == 32
    stored = SandboxCredential.objects.get(sandbox=sandbox, system="prestashop", kind="ws_key")
    assert stored.secret_hash != issued["ws_key"] and issued["ws_key"] not in stored.secret_hash


def test_seed_has_two_languages_and_the_named_states(sandbox):
    names = {state.name["en"] for state in OrderState.objects.filter(sandbox=sandbox)}
    assert {"Awaiting bank wire payment", "Payment accepted", "Processing in progress", "Shipped", "Delivered",
            "Canceled", "Refunded", "Payment error"} <= names
    ordered = [s.name["en"] for s in OrderState.objects.filter(sandbox=sandbox).order_by("id")]
    assert ordered[0] != "Awaiting check payment" and ordered[1] != "Payment accepted"
    assert Currency.objects.filter(sandbox=sandbox).count() >= 3


def test_generate_makes_realistic_orders(sandbox):
    summary = provision.generate(sandbox, orders=20, products=10, customers=6, state=None, unknown_sku=3,
                                 rng=random.Random(1))
    assert len(summary["orders"]) == 20 and len(summary["products"]) == 10
    skus = [p.reference for p in Product.objects.filter(sandbox=sandbox)]
    assert skus == [item["sku"] for item in fakedata.catalog(10)]
    assert StockAvailable.objects.filter(sandbox=sandbox, id_product_attribute=0).count() == 10
    rows_per_order = Counter(OrderRow.objects.filter(sandbox=sandbox).values_list("order_id", flat=True))
    assert set(rows_per_order.values()) <= {1, 2, 3, 4, 5} and max(rows_per_order.values()) > 1
    unknown = OrderRow.objects.filter(sandbox=sandbox, product_reference__startswith="ZZZ-UNKNOWN-")
    assert unknown.values("order_id").distinct().count() == 3
    guests = Customer.objects.filter(sandbox=sandbox, is_guest=True)
    assert guests.exists() and Order.objects.filter(sandbox=sandbox, id_customer__in=guests).exists()
    per_customer = Counter(Order.objects.filter(sandbox=sandbox).values_list("id_customer", flat=True))
    assert max(per_customer.values()) > 1  # repeat customers
    assert Order.objects.filter(sandbox=sandbox).values("id_currency").distinct().count() > 1
    assert Order.objects.filter(sandbox=sandbox, total_discounts__gt=0).exists()
    assert Order.objects.filter(sandbox=sandbox, total_shipping__gt=0).exists()
    paid_states = OrderState.objects.filter(sandbox=sandbox, paid=True).values_list("id", flat=True)
    paid = Order.objects.filter(sandbox=sandbox, current_state__in=paid_states)
    assert paid.exists()
    assert set(OrderPayment.objects.filter(sandbox=sandbox).values_list("order_reference", flat=True)) == set(
        paid.values_list("reference", flat=True))
    for customer in Customer.objects.filter(sandbox=sandbox):
        assert customer.passwd.startswith("$2y$10$") and len(customer.secure_key) == 32
    assert any(not c.firstname.isascii() or not c.lastname.isascii() for c in Customer.objects.filter(sandbox=sandbox))


def test_generate_in_a_named_state_creates_it_when_missing(sandbox):
    summary = provision.generate(sandbox, orders=2, products=0, customers=0, state="Awaiting pickup",
                                 unknown_sku=0, rng=random.Random(2))
    assert {order["state"] for order in summary["orders"]} == {"Awaiting pickup"}
    assert OrderState.objects.filter(sandbox=sandbox, name__en="Awaiting pickup").count() == 1


def test_reset_removes_business_data(sandbox):
    provision.generate(sandbox, orders=3, products=3, customers=2, state=None, unknown_sku=0,
                       rng=random.Random(3))
    provision.reset(sandbox)
    assert not Order.objects.filter(sandbox=sandbox).exists() and not Product.objects.filter(sandbox=sandbox).exists()
    provision.seed(sandbox)
    assert OrderState.objects.filter(sandbox=sandbox).count() == len(provision.ORDER_STATES)


def test_configure_refuses_an_unknown_timezone(sandbox):
    with pytest.raises(ValueError, match="timezone"):
        provision.configure(sandbox, timezone="Mars/Olympus")
    assert provision.configure(sandbox, timezone="Asia/Tokyo").timezone == "Asia/Tokyo"
