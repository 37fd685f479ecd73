"""Fixtures for the mapping tests; people come from the shared `cast` (tests/conftest.py)."""

import copy
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from integrations import canonical as c
from tests.factories import make_integration

PARIS = ZoneInfo("Europe/Paris")


def canonical_order(**changes):
    """A PrestaShop order exactly as the connector hands it to the pipeline: built with the canonical dataclasses."""
    def eur(amount):
        return c.Money(amount, "EUR")

    shipping = c.Address(first_name="Zoë", last_name="Müller", line1="Hauptstraße 1", city="Berlin",
                         postal_code="10115", country="Germany", source_id="5")
    billing = c.Address(first_name="Zoë", last_name="Müller", line1="Hauptstraße 1", line2="Hinterhaus",
                        city="Berlin", postal_code="10115", country="DE", source_id="6")
    values = {
        "source": "prestashop", "source_id": "17", "number": "XKBKNABJK", "currency": "eur",
        "status": "Payment accepted", "total": eur("64.10"),
        "ordered_at": datetime(2026, 3, 2, 10, 15, tzinfo=PARIS),
        "updated_at": datetime(2026, 3, 2, 10, 20, tzinfo=PARIS),
        "customer": c.Customer(source="prestashop", source_id="2", email=" Zoe.Muller@Example.com ",
                               first_name="Zoë", last_name="Müller", phone="+49 30 1234567",
                               shipping_addresses=[shipping]),
        "shipping_address": shipping, "billing_address": billing,
        "lines": [
            c.OrderLine(sku="ARG-00002", name="Argon refill", quantity=2, unit_price=eur("20.50"), tax=eur("3.90"),
                        discount=eur("0"), source_id="1"),
            c.OrderLine(sku="GLV-00004", name="Gloves", quantity=1, unit_price=eur("12.1"), tax=eur("0.2"),
                        discount=eur("0.00"), source_id="2"),
        ],
        "subtotal": eur("53.10"), "shipping": eur("6.90"), "tax": eur("4.10"), "discount": eur("0.00"),
        "shipping_method": "UPS Ground", "payment_method": "Bank wire",
        "extra": {"gift_message": "Happy birthday!", "tax_rate": "19.000", "po_number": "PO-778"},
    }
    values.update(changes)
    return c.Order(**values)


ORDER = canonical_order().to_dict()


@pytest.fixture
def order():
    return copy.deepcopy(ORDER)


@pytest.fixture
def integration_a(cast):
    return make_integration(cast.org_a)


@pytest.fixture
def order_set(integration_a):
    return integration_a.mapping_sets.get(template_key="order_to_tims")


@pytest.fixture
def customer_lookup():
    return {"tims_customer_by_email": lambda email: "C000123"}
