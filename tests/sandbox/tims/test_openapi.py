"""The served OpenAPI document: valid 3.0 structure, every profile path, says it is an assumed profile."""

import json
import re

import pytest
import requests

PROFILE_PATHS = [
    "/oauth/token", "/api/v1/customers", "/api/v1/customers/{CustomerID}", "/api/v1/items", "/api/v1/items/{SKU}",
    "/api/v1/inventory/items/{SKU}/quantity", "/api/v1/inventory/changes", "/api/v1/inventory/adjustments",
    "/api/v1/sales-orders", "/api/v1/sales-orders/{SalesOrderID}", "/api/v1/shipments",
    "/api/v1/shipments/{ShipmentID}", "/api/v1/invoices",
    "/api/v1/payments", "/api/v1/returns", "/api/v1/gl/accounts", "/api/v1/gl/journal-entries",
    "/api/v1/custom-fields", "/api/v1/events",
]


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_openapi_document_is_valid_and_complete(tims):
    response = requests.get(f"{tims.base}/api/v1/openapi.json")  # public: no token needed
    assert response.status_code == 200
    document = json.loads(response.text)
    assert re.match(r"^3\.0\.\d+$", document["openapi"])
    assert "assumed profile" in document["info"]["description"] and document["info"]["title"]
    assert document["servers"][0]["url"] == tims.base
    assert set(PROFILE_PATHS) <= set(document["paths"])
    methods = {"get", "post", "put", "patch", "delete"}
    for path, item in document["paths"].items():
        for name in re.findall(r"{(\w+)}", path):
            for method in set(item) & methods:
                assert any(p.get("name") == name and p.get("in") == "path" for p in item[method]["parameters"]), \
                    (path, method)
        for method, operation in item.items():
            assert method in methods and operation["responses"], (path, method)
            assert all(re.match(r"^[1-5]\d\d$", status) for status in operation["responses"])
    components = document["components"]
    for ref in set(_refs(document)):
        section, name = ref.removeprefix("#/components/").split("/")
        assert name in components[section], ref
    flows = components["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flows["tokenUrl"].endswith("/oauth/token")
    order_input = components["schemas"]["SalesOrderInput"]["properties"]
    assert order_input["ExternalOrderID"]["maxLength"] == 50
    assert "Idempotency-Key" in json.dumps(document["paths"]["/api/v1/sales-orders"]["post"])
    schemas = components["schemas"]
    assert {"sales_order.status_changed", "sales_order.cancelled", "shipment.created"} <= set(
        schemas["Event"]["properties"]["Type"]["enum"])
    assert "ExternalOrderID" in schemas["Shipment"]["properties"]
    assert set(schemas["SalesOrderCancelled"]["required"]) == {
        "SalesOrderID", "ExternalOrderID", "OrderStatus", "PreviousStatus", "Version", "CancelledAt"}
    assert "404" in document["paths"]["/api/v1/shipments/{ShipmentID}"]["get"]["responses"]
    # The cash side (#15): partial invoices, payment and GL lists, the chart of accounts.
    assert {"ShipmentID", "Lines", "Currency"} <= set(schemas["InvoiceInput"]["properties"])
    assert {"ShipmentID", "Currency", "ShippingAmount"} <= set(schemas["Invoice"]["properties"])
    assert "LineTotal" in schemas["InvoiceLine"]["properties"] and "Currency" in schemas["PaymentInput"]["properties"]
    assert {"SalesOrderID", "Currency"} <= set(schemas["Payment"]["properties"])
    assert {"Memo", "TotalDebit", "TotalCredit"} <= set(schemas["JournalEntry"]["properties"])
    assert set(schemas["GlAccount"]["properties"]) == {"Account", "Name", "Type", "Active"}

    def names(path):
        return {p.get("name") for p in document["paths"][path]["get"]["parameters"]}

    assert {"sales_order_id", "shipment_id", "date_from", "date_to"} <= names("/api/v1/invoices")
    assert {"invoice_id", "reference", "date_from", "date_to"} <= names("/api/v1/payments")
    assert {"reference", "date_from", "date_to"} <= names("/api/v1/gl/journal-entries")
    assert {"order_date_from", "order_date_to"} <= names("/api/v1/sales-orders")


def test_openapi_passes_a_full_validator_when_one_is_installed(tims):
    validator = pytest.importorskip("openapi_spec_validator")  # not a project dependency (yet)
    validator.validate(requests.get(f"{tims.base}/api/v1/openapi.json").json())
