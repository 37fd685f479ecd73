"""Stream items: an order the source serves but we cannot read names the field, and the rest of the page goes on."""

import pytest

from integrations.connectors import streams
from integrations.connectors.errors import ValidationFailed
from integrations.connectors.prestashop import parsers


def test_the_field_whose_value_could_not_be_read_is_named():
    raw = {"id": "7", "id_lang": "1", "total_paid_tax_incl": "12,50 EUR", "date_upd": "2026-03-01 10:00:00"}
    item = streams.unreadable_or(lambda r: parsers.amount(r["total_paid_tax_incl"]), raw, "7", raw["date_upd"])
    assert isinstance(item, streams.Unreadable)
    assert item.field == "total_paid_tax_incl" and item.source_id == "7" and item.raw == raw


def test_a_missing_field_is_named_too():
    item = streams.unreadable_or(lambda r: r["total_paid"], {"id": "8"}, "8", "")
    assert item.field == "total_paid"


def test_a_readable_item_passes_and_an_unreadable_one_is_a_permanent_error_on_its_own():
    assert streams.readable_or_refused("order", "PrestaShop") == "order"
    item = streams.Unreadable("9", "", {"total": "x"}, "“x” is not a number.", "total")
    try:
        streams.readable_or_refused(item, "PrestaShop")
    except ValidationFailed as exc:
        assert "field total" in str(exc) and exc.field_errors
    else:
        raise AssertionError("an unreadable record must be refused")


def test_a_stock_change_is_an_item_by_sku_versioned_by_seq():
    item = streams.stock_change({"SKU": "ARG-00012", "Location": "MAIN", "Available": "7", "Seq": 41,
                                 "ChangedAt": "2026-12-02T05:00:00Z"})
    assert (item.source_id, item.version, item.payload["Available"], item.payload["Seq"]) == ("ARG-00012", "41", 7, 41)
    assert streams.stock_change({"SKU": "A", "Location": "MAIN", "Available": -3, "Seq": 2}).payload["Available"] == -3


@pytest.mark.parametrize("raw, field, words", [
    ({"SKU": "A", "Location": "MAIN", "Available": "12.5", "Seq": 3}, "Available", "not a whole number"),
    ({"SKU": "A", "Location": "MAIN", "Available": True, "Seq": 3}, "Available", "not a whole number"),
    ({"SKU": "A", "Location": "MAIN", "Available": 1, "Seq": "3"}, "Seq", "not a feed position"),
    ({"SKU": "", "Location": "MAIN", "Available": 1, "Seq": 3}, "", "empty or longer"),
    ({"SKU": "ß" * 101, "Location": "MAIN", "Available": 1, "Seq": 3}, "", "longer than 100"),
])
def test_a_stock_change_we_cannot_read_is_unreadable_naming_the_problem(raw, field, words):
    item = streams.stock_change(raw)
    assert isinstance(item, streams.Unreadable) and words in item.message
    assert item.field == field or not field
    assert len(item.source_id) <= 100


def test_an_item_updated_event_is_a_versioned_item_by_sku():
    item = streams.tims_event({"Type": "item.updated", "Seq": 9, "Data": {"SKU": "GLV-1", "Active": False}})
    assert (item.source_id, item.version, item.event) == ("GLV-1", "9", "item.updated")
    assert isinstance(streams.tims_event({"Type": "item.updated", "Seq": 9, "Data": {}}), streams.Unreadable)
