"""Stream items: an order the source serves but we cannot read names the field, and the rest of the page goes on."""

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
