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
from mappings.templates import sample_order

from .conftest import mapped_sales_order

# XML 1.0 cannot carry most control characters (and normalises line ends); everything else must survive.
xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
field_names = st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True)
prices = st.decimals(min_value=Decimal("-99999.99"), max_value=Decimal("99999.99"), places=2)


@given(st.dictionaries(field_names.filter(lambda n: n != "associations"), xml_text, min_size=1, max_size=6))
def test_prestashop_xml_round_trip(fields):
    (record,) = psxml.records(psxml.parse(psxml.document("order_carrier", fields)))
    assert record == fields


skus = st.from_regex(r"[A-Z0-9][A-Z0-9-]{0,20}", fullmatch=True)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(skus, st.integers(1, 999), prices.filter(lambda p: p >= 0)), min_size=1, max_size=5),
       xml_text.filter(str.strip))
def test_tims_sales_order_round_trip(lines, name):
    """The order mapping's body (the only builder) read back by the TIMS parser gives the same lines and total."""
    order = c.Order.from_dict(sample_order("prestashop"))
    order.number = name.strip()[:40]
    order.total = c.Money(sum((p * q for _, q, p in lines), Decimal(0)), "EUR")
    order.lines = [c.OrderLine(sku=sku, quantity=q, unit_price=c.Money(p, "EUR"), tax=c.Money("0.00", "EUR"))
                   for sku, q, p in lines]
    body = json.loads(json.dumps(mapped_sales_order(order, "C1")))  # over the wire and back
    back = tims.sales_order({**body, "SalesOrderID": "SO-1"}, "EUR")
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
