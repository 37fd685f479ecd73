"""Hostile input against the TIMS and ChannelAdvisor sandboxes: never a 500, always the system's own error envelope.
Django's test client raises an unhandled exception instead of answering 500, so a bug fails loudly here."""

import base64
import random

import pytest

from sandbox import fakedata, services
from sandbox.channeladvisor import provision as ca_provision
from sandbox.channeladvisor.models import Order as CAOrder
from sandbox.tims.models import Item, SalesOrder

pytestmark = pytest.mark.django_db
LONE_SURROGATE = '"\\ud800"'  # the six characters of a JSON escape, as they travel in a raw body


@pytest.fixture
def tims(client):
    sandbox, _ = services.create_sandbox("hostile-tims")
    Item.objects.bulk_create([Item(sandbox=sandbox, sku=p["sku"], description=p["name"], unit_price=p["price"],
                                   cost=p["cost"], weight=p["weight"]) for p in fakedata.catalog(2)])
    credentials = services.issue_credentials(sandbox, "")["tims"]
    token = client.post(f"{credentials['base_url']}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"]}).json()["access_token"]
    client.base = f"{credentials['base_url']}/api/v1/"
    client.auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    client.sandbox = sandbox
    return client


def order_json(order_date='"2026-03-02T10:00:00Z"', sku='"WLD-00001"', discount='"0.00"'):
    return (f'{{"CustomerID": "C-GUEST", "OrderDate": {order_date}, "ExternalOrderID": "PS-1",'
            f' "LineItems": [{{"SKU": {sku}, "Quantity": 2, "Price": "10.00", "DiscountAmount": {discount}}}]}}')


def post(tims, path, raw):
    return tims.post(tims.base + path, data=raw.encode(), content_type="application/json", **tims.auth)


def errors(response):
    return {(error["field"], error["code"]) for error in response.json()["errors"]}


@pytest.mark.parametrize("moment", ["2026-02-30T10:00:00Z", "2026-02-01T25:00:00Z", "0001-01-01T00:00:00+01:00"])
def test_tims_impossible_order_dates_are_validation_errors(tims, moment):
    response = post(tims, "sales-orders", order_json(order_date=f'"{moment}"'))
    assert response.status_code == 422, response.content
    assert errors(response) == {("OrderDate", "invalid_datetime")}
    assert tims.get(tims.base + "shipments", {"updated_since": "2026-02-30T10:00:00Z"},
                    **tims.auth).status_code == 400


@pytest.mark.parametrize("value", ["²", "١", "1_0", " 2", "-1", "1.0"])
def test_tims_paging_takes_ascii_digits_only(tims, value):
    for path in ("items", "sales-orders", "events"):
        response = tims.get(tims.base + path, {"page": value, "page_size": value}, **tims.auth)
        assert response.status_code == 400, (path, value, response.content)
        assert response.json()["errors"][0]["code"] in ("invalid_integer", "min_value")


def test_tims_if_match_takes_ascii_digits_only(tims):
    created = post(tims, "sales-orders", order_json())
    assert created.status_code == 201, created.content
    code = created.json()["SalesOrderID"]
    response = tims.patch(tims.base + f"sales-orders/{code}", data=b'{"OrderStatus": "OnHold"}',
                          content_type="application/json", HTTP_IF_MATCH="²", **tims.auth)
    assert response.status_code == 400 and errors(response) == {("If-Match", "invalid_header")}


def test_tims_refuses_a_discount_above_the_line_amount(tims):
    response = post(tims, "sales-orders", order_json(discount='"20.01"'))
    assert response.status_code == 422, response.content
    assert errors(response) == {("LineItems[0].DiscountAmount", "max_value")}
    assert not SalesOrder.objects.filter(sandbox=tims.sandbox).exists()
    assert post(tims, "sales-orders", order_json(discount='"20.00"')).json()["TotalAmount"] == "0.00"


@pytest.mark.parametrize("raw", [order_json(sku=LONE_SURROGATE),
                                 order_json().replace('"PS-1"', '"PS-\\udfff-1"'),
                                 order_json().replace('"CustomerID"', '"\\ud83dCustomerID"')])
def test_tims_refuses_lone_surrogates_with_a_400(tims, raw):
    response = post(tims, "sales-orders", raw)
    assert response.status_code == 400, response.content
    assert errors(response) == {(None, "invalid_json")}
    assert post(tims, "customers", f'{{"Name": {LONE_SURROGATE}}}').status_code == 400


def test_channeladvisor_refuses_lone_surrogates_and_odd_numbers_with_a_400(client):
    sandbox, _ = services.create_sandbox("hostile-ca")
    credentials = services.issue_credentials(sandbox, "")["channeladvisor"]
    ca_provision.generate(sandbox, orders=1, products=1, customers=0, state=None, unknown_sku=0,
                          rng=random.Random(1))
    order = CAOrder.objects.get(sandbox=sandbox)
    token = client.post(f"{credentials['base_url']}/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": credentials["refresh_token"]},
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(
            f"{credentials['application_id']}:{credentials['shared_secret']}".encode()).decode()).json()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token['access_token']}"}
    base = f"{credentials['base_url']}/v1/"
    body = ('{"Value": {"ShippingCarrier": "UPS", "ShippingClass": "Ground", "TrackingNumber": '
            + LONE_SURROGATE + "}}")
    response = client.post(base + f"Orders({order.id})/Ship", data=body.encode(), content_type="application/json",
                           **auth)
    assert response.status_code == 400, response.content
    assert "surrogate" in response.json()["error"]["message"]
    order.refresh_from_db()
    assert order.shipping_status == "Unshipped"
    for query in ("$top=1_0", "$skip=²", "$top=%EF%BC%95", "$top=%205"):
        assert client.get(base + "Orders?" + query, **auth).status_code == 400, query
    for key in ("1_0", "%EF%BC%91", "%20" + str(order.id)):
        assert client.get(base + f"Orders({key})", **auth).status_code == 400, key
