"""Unit tests of the OData module: $filter → AST → Q, $orderby, $select, $expand; malformed input is always
ODataError (a 400), never another exception (a 500)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.channeladvisor import odata
from sandbox.channeladvisor.models import Order, OrderItem
from sandbox.channeladvisor.odata import BoolOp, Compare, Not, ODataError, parse_filter
from sandbox.channeladvisor.resources import ORDER_EXPAND, ORDER_RESOURCE
from sandbox.services import create_sandbox


def test_strings_with_doubled_quotes():
    node = parse_filter("BuyerEmailAddress eq 'o''brien@example.com'")
    assert isinstance(node, Compare) and node.literal.value == "o'brien@example.com"


def test_and_binds_tighter_than_or_and_parentheses_override():
    node = parse_filter("ID eq 1 or ID eq 2 and ID eq 3")
    assert node.op == "or" and isinstance(node.right, BoolOp) and node.right.op == "and"
    grouped = parse_filter("(ID eq 1 or ID eq 2) and ID eq 3")
    assert grouped.op == "and" and grouped.left.op == "or"
    assert isinstance(parse_filter("not (ID eq 1)"), Not)


def test_literals():
    assert parse_filter("CreatedDateUtc ge 2026-03-02T00:00:00Z").literal.value == datetime(2026, 3, 2, tzinfo=UTC)
    assert parse_filter("CreatedDateUtc ge 2026-03-02T01:00:00+01:00").literal.value == datetime(2026, 3, 2,
                                                                                                  tzinfo=UTC)
    assert parse_filter("TotalPrice gt 10.5").literal.value == Decimal("10.5")
    assert parse_filter("PaymentDateUtc eq null").literal.kind == "null"


def test_to_q_for_enums_dates_and_collections():
    assert odata.filter_q("ShippingStatus eq 'unshipped'", ORDER_RESOURCE) == Q(shipping_status__exact="Unshipped")
    assert odata.filter_q("ID ne 5", ORDER_RESOURCE) == ~Q(id__exact=5)
    assert odata.filter_q("year(CreatedDateUtc) eq 2026", ORDER_RESOURCE) == Q(created_date_utc__year__exact=2026)
    assert odata.filter_q("Items/Sku eq 'A'", ORDER_RESOURCE).children[0][0] == "pk__in"


@pytest.mark.parametrize("text", [
    "", "ID", "ID eq", "eq 1", "ID eq 1 and", "(ID eq 1", "ID eq 1)", "ID eq 'unterminated", "ID === 1",
    "Nope eq 1", "ID eq 'x'", "ShippingStatus eq 'Teleported'", "ShippingStatus eq 1", "CreatedDateUtc eq 5",
    "CreatedDateUtc gt '2026-01-01'", "CreatedDateUtc eq 2026-13-45T00:00:00Z", "ID eq 1.5", "ID gt null",
    "ID eq 99999999999999999999", "TotalPrice gt 1e400", "year(SiteOrderID) eq 1", "year(CreatedDateUtc) eq 'x'",
    "year(CreatedDateUtc) eq 0", "month(CreatedDateUtc) gt 13",
    "contains(ID, '1')", "contains(SiteOrderID, 1)", "SiteOrderID eq 'a\x00'", "(" * 100 + "ID eq 1" + ")" * 100,
    "ID eq 1 " + "and ID eq 1 " * 2000,
])
def test_malformed_filters_raise_odata_error(text):
    with pytest.raises(ODataError):
        odata.filter_q(text, ORDER_RESOURCE)


def test_orderby_select_expand():
    assert odata.parse_orderby("CreatedDateUtc desc, SiteOrderID", ORDER_RESOURCE) == [
        "-created_date_utc", "site_order_id", "id"]
    assert odata.parse_select("ID, siteorderid", ORDER_RESOURCE) == ["ID", "SiteOrderID"]
    assert odata.parse_expand("Items($expand=FulfillmentItems;$select=Sku),Fulfillments", ORDER_EXPAND) == {
        "Items": {"FulfillmentItems": {}}, "Fulfillments": {}}
    for bad in ["Items(", "Items)", "Nope", "Items($expand=Nope)", ""]:
        with pytest.raises(ODataError):
            odata.parse_expand(bad, ORDER_EXPAND)
    for bad in ["ID up", "Nope", "Items/Sku", ""]:
        with pytest.raises(ODataError):
            odata.parse_orderby(bad, ORDER_RESOURCE)
    with pytest.raises(ODataError):
        odata.parse_select("ID,Nope", ORDER_RESOURCE)
    for bad in ["-1", "x", "1e3", str(2**40)]:
        with pytest.raises(ODataError):
            odata.parse_count(bad, "$top")


@given(st.text(max_size=200))
@settings(max_examples=400, deadline=None)
def test_any_text_is_a_filter_or_an_odata_error(text):
    try:
        odata.filter_q(text, ORDER_RESOURCE)
    except ODataError:
        pass


# Near-valid filters: built from the real vocabulary so the fuzzer reaches deep into the parser and the database.
NAMES = st.sampled_from(["ID", "ProfileID", "SiteOrderID", "SellerOrderID", "CreatedDateUtc", "PaymentDateUtc",
                         "ShippingStatus", "PaymentStatus", "CheckoutStatus", "BuyerEmailAddress", "Items/Sku",
                         "TotalPrice", "year(CreatedDateUtc)", "month(ImportDateUtc)", "Bogus"])
LITERALS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.text(max_size=12).map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.sampled_from(["'Unshipped'", "'Cleared'", "null", "true", "2026-03-02T00:00:00Z", "0001-01-01T00:00:00+14:00",
                     "9999-12-31T23:59:59-14:00", "2026-02-30", "'Shipped'"]),
)
COMPARISONS = st.builds(lambda name, op, value: f"{name} {op} {value}", NAMES,
                        st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le", "EQ", "has"]), LITERALS)
ITEM_COMPARISONS = st.builds(lambda name, op, value: f"{name} {op} {value}",
                             st.sampled_from(["i/Sku", "i/Quantity", "i/UnitPrice", "Sku", "i/Bogus"]),
                             st.sampled_from(["eq", "ne", "gt", "le"]), LITERALS)
LAMBDAS = st.builds(lambda quantifier, body: f"Items/{quantifier}(i: {body})", st.sampled_from(["any", "all"]),
                    ITEM_COMPARISONS)
FILTERS = st.recursive(st.one_of(COMPARISONS, LAMBDAS), lambda inner: st.one_of(
    st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(["and", "or", "And"]), inner),
    st.builds(lambda a: f"({a})", inner), st.builds(lambda a: f"not {a}", inner)), max_leaves=6)


@pytest.mark.django_db
@given(FILTERS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_generated_filters_run_on_the_database_or_are_400(text):
    sandbox, _ = create_sandbox("odata-fuzz")
    try:
        q = odata.filter_q(text, ORDER_RESOURCE)
    except ODataError:
        return
    Order.objects.filter(sandbox=sandbox).filter(q).count()


@pytest.mark.django_db
def test_filter_selects_the_right_rows():
    sandbox, _ = create_sandbox("odata-rows")
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    common = {"sandbox": sandbox, "profile_id": 1, "import_date_utc": now, "created_date_utc": now}
    first = Order.objects.create(site_order_id="A-1", shipping_status="Unshipped", **common)
    second = Order.objects.create(site_order_id="B'2", shipping_status="Shipped", **common)
    OrderItem.objects.create(order=second, sku="SKU-9")

    def ids(text):
        return sorted(Order.objects.filter(sandbox=sandbox).filter(odata.filter_q(text, ORDER_RESOURCE))
                      .values_list("id", flat=True))

    assert ids("SiteOrderID eq 'B''2'") == [second.id]
    assert ids("ShippingStatus eq 'Unshipped' or Items/Sku eq 'SKU-9'") == [first.id, second.id]
    assert ids("not (ShippingStatus eq 'Unshipped')") == [second.id]
    assert ids("startswith(SiteOrderID, 'A-')") == [first.id]
    assert ids("CreatedDateUtc lt 2026-03-02T12:00:00Z") == []
    assert ids("Items/any(i: i/Sku eq 'SKU-9' and i/Quantity ge 1)") == [second.id]
    assert ids("Items/all(i: i/Sku eq 'SKU-9')") == [first.id, second.id]  # vacuously true without items
    assert ids("not Items/any(x: startswith(x/Sku, 'SKU'))") == [first.id]


@pytest.mark.parametrize("text", ["Items/any(i: Sku eq 'A')", "Items/any(i i/Sku eq 'A')", "Items/any(i: i/Nope eq 1)",
                                  "Widgets/any(w: w/ID eq 1)", "Items/any(i: Items/any(j: j/Sku eq 'A'))",
                                  "Items/any(i: i/Sku eq 'A'"])
def test_malformed_lambdas(text):
    with pytest.raises(ODataError):
        odata.filter_q(text, ORDER_RESOURCE)
