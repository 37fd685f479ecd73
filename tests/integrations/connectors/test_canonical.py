import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations import canonical as c

money_amounts = st.decimals(allow_nan=False, allow_infinity=False, places=None, min_value=Decimal("-1e12"),
                            max_value=Decimal("1e12"))
texts = st.text(max_size=40)  # any unicode, emoji and combining marks included
aware_datetimes = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1),
                               timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                          timezone(timedelta(hours=-8))]))
currencies = st.sampled_from(["EUR", "USD", "JPY", "KWD"])


@st.composite
def money(draw, currency=None):
    return c.Money(draw(money_amounts), currency or draw(currencies))


@st.composite
def addresses(draw):
    return c.Address(first_name=draw(texts), last_name=draw(texts), line1=draw(texts), city=draw(texts),
                     country=draw(st.sampled_from(["FR", "US", "DE"])), extra={"note": draw(texts)})


@st.composite
def orders(draw):
    currency = draw(currencies)
    lines = draw(st.lists(st.builds(c.OrderLine, sku=texts, quantity=st.integers(-5, 10_000),
                                    unit_price=money(currency), name=texts,
                                    tax=st.none() | money(currency)), max_size=4))
    return c.Order(
        source=draw(st.sampled_from(["prestashop", "channeladvisor", "tims"])), source_id=draw(texts),
        currency=currency, total=draw(money(currency)), number=draw(texts),
        ordered_at=draw(st.none() | aware_datetimes),
        customer=draw(st.none() | st.builds(c.Customer, source=st.just("prestashop"), source_id=texts, email=texts,
                                            billing_address=st.none() | addresses())),
        shipping_address=draw(st.none() | addresses()), lines=lines,
        extra=draw(st.dictionaries(texts, st.none() | st.integers() | texts | st.lists(texts, max_size=2),
                                   max_size=3)),
    )


@settings(max_examples=60)
@given(orders())
def test_order_round_trips_through_json(order):
    data = json.loads(json.dumps(order.to_dict()))
    again = c.Order.from_dict(data)
    assert again == order
    assert again.to_dict() == order.to_dict()


@given(money_amounts)
def test_decimal_amounts_keep_every_digit(amount):
    data = c.Money(amount, "EUR").to_dict()
    assert isinstance(data["amount"], str)
    back = c.Money.from_dict(json.loads(json.dumps(data))).amount
    assert back == amount and str(back) == str(amount)


@given(aware_datetimes)
def test_datetimes_keep_their_offset(moment):
    shipment = c.Shipment(source="tims", source_id="S1", shipped_at=moment)
    back = c.Shipment.from_dict(json.loads(json.dumps(shipment.to_dict())))
    assert back.shipped_at == moment and back.shipped_at.utcoffset() == moment.utcoffset()


@pytest.mark.parametrize("value", ["0.1", "1E+3", "-0.00", "123456789012345678901234567890.123456789"])
def test_decimal_edge_cases(value):
    assert str(c.Money.from_dict({"amount": value, "currency": "USD"}).amount) == str(Decimal(value))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "abc", 0.1])
def test_inexact_or_not_numbers_are_refused(value):
    with pytest.raises(c.CanonicalError):
        c.Money(value, "USD")


def test_naive_datetimes_are_refused():
    with pytest.raises(c.CanonicalError, match="no time zone"):
        c.Shipment(source="tims", source_id="1", shipped_at=datetime(2026, 1, 1))
    with pytest.raises(c.CanonicalError):
        c.Shipment.from_dict({"source": "tims", "source_id": "1", "shipped_at": "2026-01-01T00:00:00"})


def test_unknown_fields_are_refused_when_asked_so_typos_in_new_code_show():
    with pytest.raises(c.CanonicalError, match="no field"):
        c.Price.from_dict({"sku": "A", "price": {"amount": "1", "currency": "EUR"}, "prise": 1}, strict=True)
    with pytest.raises(c.CanonicalError, match="no field"):  # nested records too
        c.Order.from_dict({"source": "x", "source_id": "1", "currency": "EUR",
                           "total": {"amount": "1", "currency": "EUR", "cents": 100}}, strict=True)


def test_every_model_has_a_dict_form():
    for cls in (c.Invoice, c.Payment, c.Return, c.StockLevel, c.Product, c.Price):
        assert hasattr(cls, "to_dict") and hasattr(cls, "from_dict")
