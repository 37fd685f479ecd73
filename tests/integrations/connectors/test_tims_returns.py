"""The TIMS client's returns (#16): the body sent, the answer parsed, the look-up before creating, and the same
against the sandbox over real HTTP (restocked once, refunds only of what was paid)."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import responses

from integrations import canonical as c
from integrations.connectors import errors
from integrations.connectors.tims.client import TimsClient

from .conftest import fixture_json

BASE = "https://tims.example.com"
API = f"{BASE}/api/v1"

RETURN = {
    "ReturnID": "RT000003", "ExternalReturnID": "CA-77", "SalesOrderID": "SO000981", "ExternalOrderID": "PS-1001",
    "ReturnDate": "2026-03-04", "Currency": "EUR", "RefundAmount": "10.53", "Status": "Received",
    "Lines": [{"SKU": "WLD-00001", "Quantity": 1, "Reason": "Wrong size", "Restock": True, "Amount": "10.53"},
              {"SKU": "ARG-00002", "Quantity": 2, "Reason": "", "Restock": False, "Amount": None}],
    "Credits": [{"InvoiceID": "IN000004", "Amount": "10.53"}], "CreatedAt": "2026-03-04T09:00:00Z"}


def page(*results, next_url=None):
    return {"results": list(results), "next": next_url, "count": len(results)}


@pytest.fixture
def tims(make_connection):
    responses.post(f"{BASE}/oauth/token", json=fixture_json("tims/token.json"))
    return TimsClient(make_connection("tims"))


def channel_return(**overrides):
    values = dict(source="channeladvisor", source_id="CA-77", order_id="SO000981",
                  lines=[c.ReturnLine(sku="WLD-00001", quantity=1, reason="Wrong size", restock=True,
                                      amount=c.Money("10.53", "EUR")),
                         c.ReturnLine(sku="ARG-00002", quantity=2)],
                  refund=c.Money("10.53", "EUR"), created_at=datetime(2026, 3, 4, 9, tzinfo=UTC))
    return c.Return(**{**values, **overrides})


@responses.activate
def test_create_return_looks_up_the_channels_id_then_posts_once_and_parses_the_answer(tims):
    responses.get(f"{API}/returns", json=page())
    responses.post(f"{API}/returns", status=201, json=RETURN)
    made = tims.create_return(channel_return(), key="return:7:CA-77")

    lookup, post = responses.calls[-2].request, responses.calls[-1].request
    assert "external_return_id=CA-77" in lookup.url and "sales_order_id=SO000981" in lookup.url
    assert post.headers["Idempotency-Key"] == "return:7:CA-77"
    assert json.loads(post.body) == {
        "SalesOrderID": "SO000981", "ExternalReturnID": "CA-77", "RefundAmount": "10.53", "Currency": "EUR",
        "ReturnDate": "2026-03-04",
        "Lines": [{"SKU": "WLD-00001", "Quantity": 1, "Reason": "Wrong size", "Restock": True, "Amount": "10.53"},
                  {"SKU": "ARG-00002", "Quantity": 2, "Reason": "", "Restock": False}]}
    assert (made.source, made.source_id, made.order_id, made.status) == ("tims", "RT000003", "SO000981", "Received")
    assert made.refund == c.Money("10.53", "EUR") and made.created_at == datetime(2026, 3, 4, 9, tzinfo=UTC)
    assert [(line.sku, line.quantity, line.restock, line.amount) for line in made.lines] == [
        ("WLD-00001", 1, True, c.Money("10.53", "EUR")), ("ARG-00002", 2, False, None)]
    assert made.extra["ExternalReturnID"] == "CA-77" and made.extra["Credits"] == RETURN["Credits"]


@responses.activate
def test_a_return_already_in_tims_is_not_posted_again(tims):
    responses.get(f"{API}/returns", json=page(RETURN))
    found = tims.create_return(channel_return(), key="return:7:CA-77")
    assert found.source_id == "RT000003"
    assert not [call for call in responses.calls if call.request.method == "POST" and "returns" in call.request.url]


@responses.activate
def test_a_duplicate_made_by_a_lost_answer_is_read_back(tims):
    responses.get(f"{API}/returns", json=page())
    responses.post(f"{API}/returns", status=409, json={"errors": [
        {"field": "ExternalReturnID", "code": "duplicate", "message": "Order SO000981 already has return CA-77."}]})
    responses.get(f"{API}/returns", json=page(RETURN))
    assert tims.create_return(channel_return(), key="return:other-key").source_id == "RT000003"


@responses.activate
def test_the_old_call_without_a_key_still_works_and_keys_on_the_channels_id(tims):
    responses.get(f"{API}/returns", json=page())
    responses.post(f"{API}/returns", status=201, json=RETURN)
    tims.create_return(channel_return(refund=None, created_at=None))
    post = responses.calls[-1].request
    assert post.headers["Idempotency-Key"] == "return:channeladvisor:CA-77"
    assert "RefundAmount" not in json.loads(post.body) and "ReturnDate" not in json.loads(post.body)


@responses.activate
def test_refusals_are_permanent_and_name_the_field(tims):
    responses.get(f"{API}/returns", json=page())
    responses.post(f"{API}/returns", status=422, json={"errors": [
        {"field": "Lines[0].Quantity", "code": "exceeds_shipped", "message": "Only 1 shipped."},
        {"field": "RefundAmount", "code": "exceeds_paid", "message": "Refund 10.53 is more than paid."}]})
    with pytest.raises(errors.ValidationFailed) as info:
        tims.create_return(channel_return(), key="k")
    assert info.value.has_code("exceeds_shipped") and info.value.has_code("exceeds_paid")
    assert [f.path for f in info.value.fields] == ["Lines[0].Quantity", "RefundAmount"]


@responses.activate
def test_find_returns_follows_pages_and_get_return_reads_one(tims):
    responses.get(f"{API}/returns", json=page(RETURN, next_url=f"{API}/returns?page=2"))
    responses.get(f"{API}/returns", json=page({**RETURN, "ReturnID": "RT000004", "RefundAmount": "0.00"}))
    found = tims.find_returns(sales_order_id="SO000981")
    assert [r.source_id for r in found] == ["RT000003", "RT000004"]
    assert found[1].refund == c.Money("0.00", "EUR")
    assert "sales_order_id=SO000981" in responses.calls[1].request.url
    responses.get(f"{API}/returns/RT000003", json=RETURN)
    assert tims.get_return("RT000003").lines[0].reason == "Wrong size"
    responses.get(f"{API}/returns/RT404", status=404, json={"errors": [
        {"field": None, "code": "not_found", "message": "No return “RT404”."}]})
    with pytest.raises(errors.NotFound):
        tims.get_return("RT404")


@pytest.mark.django_db(transaction=True)
def test_returns_against_the_sandbox(org, live_server):
    """Ship, invoice and pay an order, then return part of it twice over HTTP: restocked once, refunded only
    what was paid, listed back."""
    from integrations.models import Connection
    from sandbox import services
    from sandbox.tims import backoffice
    from sandbox.tims.models import Item

    sandbox, _ = services.create_sandbox("live-tims-returns")
    secrets = services.issue_credentials(sandbox, live_server.url)["tims"]
    Item.objects.create(sandbox=sandbox, sku="ARG-10", description="Argon", unit_price="10.00")
    backoffice.set_stock(sandbox, "ARG-10", 5)
    connection = Connection.objects.create(
        organization=org, kind="tims", name="tims sandbox", base_url=secrets["base_url"], sandbox=sandbox,
        credentials={"client_id": secrets["client_id"], "client_secret": secrets["client_secret"]},
        settings={"default_location": "MAIN", "currency": "USD"})
    client = TimsClient(connection)
    order = client.write("POST", "sales-orders", {
        "ExternalOrderID": "PS-89", "CustomerID": "C-GUEST", "Currency": "EUR",
        "LineItems": [{"SKU": "ARG-10", "Quantity": 3, "Price": "10.00"}]}, key="so-89")
    code = order["SalesOrderID"]
    backoffice.ship(sandbox, code)
    invoice = client.create_invoice(code, key="invoice:live:r1")
    client.create_payment(c.Payment(source="prestashop", source_id="1", amount=c.Money("30.00", "EUR"),
                                    invoice_id=invoice.source_id, method="Card"), key="payment:live:r1")
    assert client.quantity("ARG-10").on_hand == 2

    ret = c.Return(source="channeladvisor", source_id="CA-1", order_id=code, refund=c.Money("10.00", "EUR"),
                   lines=[c.ReturnLine(sku="ARG-10", quantity=1, reason="Damaged", restock=True)])
    made = client.create_return(ret, key="return:live:CA-1")
    assert made.source_id.startswith("RT") and made.extra["ExternalReturnID"] == "CA-1"
    assert made.refund == c.Money("10.00", "EUR") and made.extra["Credits"] == [
        {"InvoiceID": invoice.source_id, "Amount": "10.00"}]
    again = client.create_return(ret, key="return:live:CA-1")  # found by the channel's id: nothing new
    assert again == made and client.quantity("ARG-10").on_hand == 3  # restocked exactly once
    assert client.get_return(made.source_id) == made
    assert client.get_sales_order(code).payment_status == "PartiallyPaid"

    with pytest.raises(errors.ValidationFailed) as info:
        client.create_return(c.Return(source="channeladvisor", source_id="CA-2", order_id=code,
                                      refund=c.Money("20.01", "EUR"),
                                      lines=[c.ReturnLine(sku="ARG-10", quantity=3)]), key="return:live:CA-2")
    assert info.value.has_code("exceeds_paid") and info.value.has_code("exceeds_shipped")
    rest = client.create_return(c.Return(source="channeladvisor", source_id="CA-3", order_id=code,
                                         refund=c.Money("20.00", "EUR"),
                                         lines=[c.ReturnLine(sku="ARG-10", quantity=2)]), key="return:live:CA-3")
    assert client.quantity("ARG-10").on_hand == 3  # not restocked
    assert client.get_sales_order(code).payment_status == "Refunded"
    assert [r.source_id for r in client.find_returns(sales_order_id=code)] == [made.source_id, rest.source_id]
    assert [r.source_id for r in client.find_returns(external_return_id="CA-3")] == [rest.source_id]
    assert sum((r.refund.amount for r in client.find_returns(sales_order_id=code)), Decimal("0")) == Decimal("30")
