"""Fixtures for the mapping tests; people come from the shared `cast` (tests/conftest.py)."""

import copy

import pytest

from tests.factories import make_integration

ORDER = {
    "source_system": "prestashop", "source_id": "17", "reference": "XKBKNABJK",
    "created_at": "2026-03-02 10:15:00", "currency": "eur", "status": "Payment accepted", "payment_status": "paid",
    "total": "64.10", "tax_total": "4.10", "shipping_total": "7.00", "discount_total": "0.00",
    "customer": {"email": " Zoe.Muller@Example.com ", "first_name": "Zoë", "last_name": "Müller", "company": "",
                 "phone": "+49 30 1234567", "source_id": "2"},
    "shipping_address": {"first_name": "Zoë", "last_name": "Müller", "company": "", "line1": "Hauptstraße 1",
                         "line2": "", "city": "Berlin", "state": "", "postcode": "10115", "country": "Germany",
                         "phone": ""},
    "billing_address": {"first_name": "Zoë", "last_name": "Müller", "company": "", "line1": "Hauptstraße 1",
                        "line2": "Hinterhaus", "city": "Berlin", "state": "", "postcode": "10115", "country": "DE",
                        "phone": ""},
    "lines": [
        {"sku": "ARG-00002", "name": "Argon refill", "quantity": "2", "unit_price": "20.50", "tax_amount": "3.90",
         "discount_amount": "0", "source_id": "1"},
        {"sku": "GLV-00004", "name": "Gloves", "quantity": "1.000", "unit_price": "12.1", "tax_amount": "0.2",
         "discount_amount": "0.00", "source_id": "2"},
    ],
    "carrier": "UPS Ground",
    "extra": {"gift_message": "Happy birthday!", "tax_rate": "19.000", "po_number": "PO-778"},
}


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
