"""Property checks of the parsers: what a connector writes, it reads back the same (unicode and decimals included)."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from integrations import canonical as c
from integrations.connectors.http import _json_default
from integrations.connectors.prestashop import parsers as ps
from integrations.connectors.prestashop import xml as psxml
from integrations.connectors.tims import parsers as tims

# XML 1.0 cannot carry most control characters (and normalises line ends); everything else must survive.
xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
field_names = st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True)
prices = st.decimals(min_value=Decimal("-99999.99"), max_value=Decimal("99999.99"), places=2)


@given(st.dictionaries(field_names.filter(lambda n: n != "associations"), xml_text, min_size=1, max_size=6))
def test_prestashop_xml_round_trip(fields):
    (record,) = psxml.records(psxml.parse(psxml.document("order_carrier", fields)))
    assert record == fields


@given(st.lists(st.tuples(xml_text, st.integers(1, 999), prices), min_size=1, max_size=5), xml_text)
def test_tims_sales_order_round_trip(lines, name):
    order = c.Order(source="prestashop", source_id="9", number=name or "N", currency="USD",
                    total=c.Money(sum((p * q for _, q, p in lines), Decimal(0)), "USD"),
                    lines=[c.OrderLine(sku=sku, quantity=q, unit_price=c.Money(p, "USD"), tax=c.Money("0.00", "USD"))
                           for sku, q, p in lines])
    body = json.loads(json.dumps(tims.sales_order_body(order, "C1")))  # over the wire and back
    back = tims.sales_order({**body, "SalesOrderID": "SO-1"})
    assert [(line.sku, line.quantity, line.unit_price.amount) for line in back.lines] == [
        (line.sku, line.quantity, line.unit_price.amount) for line in order.lines]
    assert back.total.amount == order.total.amount
    assert all("E" not in line["Price"] for line in body["LineItems"])  # plain decimals, never exponents


@given(st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=4))
def test_channeladvisor_json_numbers_keep_their_value(amount):
    sent = json.dumps({"RetailPrice": amount}, default=_json_default)
    assert json.loads(sent, parse_float=Decimal)["RetailPrice"] == amount


@given(st.text(max_size=12, alphabet="0123456789.-"))
def test_prestashop_amounts_are_decimal_or_refused(value):
    try:
        parsed = ps.amount(value)
    except c.CanonicalError:
        return
    assert isinstance(parsed, Decimal) and parsed.is_finite()


@settings(max_examples=200)
@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)))
def test_shop_local_time_round_trip(moment):
    back = ps.shop_datetime(ps.to_shop_time(moment, "Europe/Paris"), "Europe/Paris")
    # Shop-local time is ambiguous for one hour a year (clocks go back): the poller's overlap window covers it.
    assert back == moment or abs(back - moment) == timedelta(hours=1)
