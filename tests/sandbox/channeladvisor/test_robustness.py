"""Bad input never gives a 500: every route, with each of its methods, fed malformed bodies and keys. Runs through
Django's test client, which raises any unhandled exception instead of hiding it in a 500 page."""

import base64
import json
import random

import pytest

from sandbox import services
from sandbox.channeladvisor import provision
from sandbox.channeladvisor.models import Order, Product

BODIES = [b"", b"{", b"null", b"[]", b"123", b'"text"', b'{"Value": null}', b'{"Value": []}', b'{"Value": "x"}',
          b'{"Value": {"Updates": [null, 1]}}', b'{"Value": {"UpdateType": "Absolute", "Updates": [{}]}}',
          b'{"Items": [null]}', b'{"Items": [{"Sku": null}]}', b'{"OrderID": "1", "Items": "x"}',
          b'{"Sku": "\\u0000"}', b'{"Reason": ["x"]}', b'{"Quantity": 1e999}', b"\xff\xfe\x00", b"[" * 3000,
          json.dumps({"Value": {"ShippingCarrier": "UPS", "ShippingClass": "Ground",
                                "ShippedDateUtc": "0001-01-01T00:00:00+14:00"}}).encode(),
          json.dumps({"Reason": "GeneralAdjustment", "ItemAdjustment": 99999999999999999}).encode(),
          json.dumps({"Sku": "S", "Weight": "1e20", "Attributes": [{"Name": None}]}).encode(),
          json.dumps({"Items": [{"Sku": "A", "Quantity": 100000, "UnitPrice": 99999999999}]}).encode(),
          b'{"Value": {"ShippingCarrier": "UPS", "ShippingClass": "Ground", "Items": [{"OrderItemID": 1e30}]}}',
          b'{"Value": {"ShippingCarrier": "UPS", "ShippingClass": "Ground", "Items": [{"Sku": 5, "Quantity": -1}]}}',
          b'{"DestinationFulfillmentID": "x", "Quantity": 0}', b'{"DeliveryStatus": 7, "ShippedDateUtc": []}',
          b'{"OrderID": 1, "ProfileID": -4}']


@pytest.mark.django_db
def test_no_route_answers_500_to_garbage(client):
    sandbox, _ = services.create_sandbox("ca-robust")
    credentials = services.issue_credentials(sandbox, "")["channeladvisor"]
    provision.generate(sandbox, orders=2, products=2, customers=0, state=None, unknown_sku=0,
                       rng=random.Random(1))
    order = Order.objects.filter(sandbox=sandbox).first()
    item = order.items.first()
    fulfillment = order.fulfillments.first()
    line = fulfillment.items.first()
    product = Product.objects.filter(sandbox=sandbox).first()
    basic = base64.b64encode(f"{credentials['application_id']}:{credentials['shared_secret']}".encode()).decode()
    token = client.post(f"{credentials['base_url']}/oauth2/token", HTTP_AUTHORIZATION=f"Basic {basic}",
                        data={"grant_type": "refresh_token", "refresh_token": credentials["refresh_token"]}).json()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token['access_token']}"}
    base = f"{credentials['base_url']}/v1/"
    routes = {
        "Orders": ["GET", "POST"], f"Orders({order.id})": ["GET"], f"Orders({order.id})/Items": ["GET"],
        f"Orders({order.id})/Ship": ["POST"], f"Orders({order.id})/Adjust": ["POST"],
        f"Orders({order.id})/Export": ["POST", "DELETE"], f"OrderItems({item.id})/Adjust": ["POST"],
        "Fulfillments": ["GET", "POST"], f"Fulfillments({fulfillment.id})": ["GET", "PATCH", "PUT"],
        f"Fulfillments({fulfillment.id})/Move": ["POST"], f"FulfillmentItems({line.id})/Move": ["POST"],
        "Products": ["GET", "POST"],
        f"Products({product.id})": ["GET", "PATCH", "PUT"], f"Products({product.id})/UpdateQuantity": ["POST"],
        "$batch": ["POST"], "Orders(-1)": ["GET"], "Orders(1e5)": ["GET"], "Products(99999999999999999999)": ["GET"],
    }
    for path, methods in routes.items():
        for method in methods:
            for body in BODIES if method != "GET" else [b""]:
                response = client.generic(method, base + path, data=body, content_type="application/json", **headers)
                assert response.status_code < 500, (method, path, body[:40], response.content[:200])
    assert client.put(base + "Orders", data=b"{", content_type="application/json", **headers).status_code == 405
    for query in ["$filter=ID eq 1 and", "$top=x", "$skip=-5", "$orderby=,", "$expand=Items(", "$select=,",
                  "$count=maybe", "$filter=" + "(" * 500, "exported=2"]:
        response = client.get(base + "Orders?" + query, **headers)
        assert response.status_code == 400, (query, response.content[:200])
    token_garbage = client.post(f"{credentials['base_url']}/oauth2/token", data=b"\xff" * 10,
                                content_type="application/x-www-form-urlencoded",
                                HTTP_AUTHORIZATION="Basic %%%")
    assert token_garbage.status_code == 400


@pytest.mark.django_db
def test_admin_pages_open(admin_client):
    sandbox, _ = services.create_sandbox("ca-admin")
    provision.generate(sandbox, orders=2, products=2, customers=0, state="Shipped", unknown_sku=0,
                       rng=random.Random(2))
    for model in ("config", "application", "order", "product", "fulfillment", "adjustment", "orderexport",
                  "carrierclass", "ratecounter", "inflightslot"):
        assert admin_client.get(f"/admin/sandbox_channeladvisor/{model}/").status_code == 200, model
    order = Order.objects.filter(sandbox=sandbox).first()
    assert admin_client.get(f"/admin/sandbox_channeladvisor/order/{order.id}/change/").status_code == 200
