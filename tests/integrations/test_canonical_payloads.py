"""Payloads stored under an older (or newer) canonical model still load, and nothing in them is lost."""

import copy
import json
from decimal import Decimal

import pytest

from integrations import canonical as c

# An Order as an older model stored it in SyncRecord.source_payload: `placed_at` (since renamed `ordered_at`
# in this test's model), `customer_note` (a field since removed), `channel` (never known to this model),
# a line with `weight` and a customer with `newsletter` (removed fields, nested).
OLD_ORDER = {
    "source": "prestashop", "source_id": "17", "currency": "EUR", "number": "XKBKNABJK",
    "total": {"amount": "64.10", "currency": "EUR"},
    "status": "Payment accepted", "customer_note": "Leave at the door", "channel": {"id": 1, "name": "Web"},
    "ordered_at": "2026-03-02T10:15:00+01:00",
    "customer": {"source": "prestashop", "source_id": "2", "email": "zoe@example.com", "newsletter": True},
    "lines": [{"sku": "ARG-00002", "quantity": 2, "unit_price": {"amount": "20.50", "currency": "EUR"},
               "weight": "1.250"}],
    "extra": {"gift_message": "Happy birthday!"},
}


def test_an_old_shaped_order_loads_and_round_trips_exactly():
    order = c.Order.from_dict(copy.deepcopy(OLD_ORDER))
    assert order.number == "XKBKNABJK" and order.lines[0].unit_price.amount == Decimal("20.50")
    assert order.unknown_fields == {"customer_note": "Leave at the door", "channel": {"id": 1, "name": "Web"}}
    assert order.lines[0].unknown_fields == {"weight": "1.250"}
    assert order.customer.unknown_fields == {"newsletter": True}
    again = order.to_dict()
    for key, value in OLD_ORDER.items():
        if key not in ("lines", "customer"):
            assert again[key] == value, key
    assert again["lines"][0]["weight"] == "1.250" and again["customer"]["newsletter"] is True
    assert c.Order.from_dict(json.loads(json.dumps(again))).to_dict() == again  # stable over the wire


def test_a_new_model_reads_a_payload_without_its_new_fields():
    payload = copy.deepcopy(OLD_ORDER)
    del payload["status"], payload["extra"]
    order = c.Order.from_dict(payload)
    assert order.status == "" and order.extra == {}


def test_a_renamed_field_is_read_under_its_new_name(monkeypatch):
    monkeypatch.setattr(c.Order, "RENAMED", {"placed_at": "ordered_at", "grand_total": "total"})
    payload = copy.deepcopy(OLD_ORDER)
    payload["placed_at"] = payload.pop("ordered_at")
    payload["grand_total"] = payload.pop("total")
    order = c.Order.from_dict(payload)
    assert order.ordered_at.isoformat() == "2026-03-02T10:15:00+01:00" and order.total.amount == Decimal("64.10")
    assert "placed_at" not in order.unknown_fields and "placed_at" not in order.to_dict()


def test_a_payload_missing_a_required_field_says_which():
    payload = copy.deepcopy(OLD_ORDER)
    del payload["total"]
    with pytest.raises(c.CanonicalError, match="Order needs total"):
        c.Order.from_dict(payload)


def test_models_built_in_code_have_no_unknown_fields():
    money = c.Money("1.00", "EUR")
    assert money.unknown_fields == {} and money.to_dict() == {"amount": "1.00", "currency": "EUR"}
