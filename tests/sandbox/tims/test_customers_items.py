"""Customers (codes, lookups by e-mail, PATCH with If-Match) and items (filters, PATCH, item.updated)."""

from datetime import UTC, datetime, timedelta

from sandbox.tims import backoffice

from .conftest import error_codes


def test_customer_create_lookup_and_patch(tims):
    body = {"Name": "Łukasz Nowak", "Email": "Lukasz.Nowak@example.com", "Phone": "+48 58 123",
            "BillingAddress": {"Line1": "Ulica Długa 1", "City": "Gdańsk", "PostalCode": "80-001", "Country": "PL"},
            "ShippingAddresses": [{"Line1": "Hauptstraße 5", "City": "Berlin", "Country": "DE"}],
            "TaxExempt": False, "PriceLevel": "RETAIL"}
    created = tims.post("customers", body, key="cust-1")
    assert created.status_code == 201, created.text
    customer = created.json()
    assert customer["CustomerID"].startswith("C") and customer["CustomerID"][1:].isdigit()
    assert len(customer["CustomerID"]) == 7 and customer["Name"] == "Łukasz Nowak"
    found = tims.get("customers", email="lukasz.nowak@example.com").json()
    assert [c["CustomerID"] for c in found["results"]] == [customer["CustomerID"]]
    assert tims.get(f"customers/{customer['CustomerID']}").json()["Email"] == body["Email"]

    path = f"customers/{customer['CustomerID']}"
    changed = tims.patch(path, {"Phone": "+48 1"}, if_match=customer["Version"])
    assert changed.status_code == 200 and changed.json()["Version"] == 2 and changed.json()["Name"] == body["Name"]
    stale = tims.patch(path, {"Phone": "+48 2"}, if_match=customer["Version"])
    assert stale.status_code == 412
    assert tims.get("customers/C999999").status_code == 404


def test_customer_validation(tims):
    cases = [({}, ("Name", "required")), ({"Name": "N" * 101}, ("Name", "max_length")),
             ({"Name": "x", "Email": "not-an-email"}, ("Email", "invalid_email")),
             ({"Name": "x", "BillingAddress": {"City": "Paris", "Country": "FR"}},
              ("BillingAddress.Line1", "required")),
             ({"Name": "x", "ShippingAddresses": [{"Line1": "a", "City": "b", "Country": "FRA"}]},
              ("ShippingAddresses[0].Country", "max_length")),
             ({"Name": "x", "TaxExempt": "yes"}, ("TaxExempt", "invalid_type"))]
    for body, expected in cases:
        response = tims.post("customers", body)
        assert response.status_code == 422 and expected in error_codes(response), (expected, response.text)
    chosen = tims.post("customers", {"CustomerID": "C000003", "Name": "Chosen code"})
    assert chosen.status_code == 201 and chosen.json()["CustomerID"] == "C000003"
    assert tims.post("customers", {"Name": "Next"}).json()["CustomerID"] == "C000004"  # skips the taken code
    assert error_codes(tims.post("customers", {"CustomerID": "c 1", "Name": "x"})) == {("CustomerID", "invalid_format")}
    duplicate = tims.post("customers", {"CustomerID": "C-GUEST", "Name": "Again"})
    assert duplicate.status_code == 409 and error_codes(duplicate) == {("CustomerID", "duplicate")}


def test_items_filters_and_single_item(tims):
    one = tims.get("items", sku="TIG-00003").json()
    assert one["count"] == 1 and one["results"][0]["SKU"] == "TIG-00003"
    item = tims.get("items/TIG-00003").json()
    assert set(item) >= {"SKU", "Description", "UnitPrice", "Cost", "UnitOfMeasure", "Weight", "Active",
                         "CustomFields", "UpdatedAt"}
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    assert tims.get("items", updated_since=future).json()["count"] == 0
    marker = datetime.now(UTC)
    backoffice.update_item(tims.sandbox, "TIG-00003", unit_price="19.99")
    recent = tims.get("items", updated_since=marker.isoformat()).json()
    assert [i["SKU"] for i in recent["results"]] == ["TIG-00003"] and recent["results"][0]["UnitPrice"] == "19.99"


def test_item_patch_with_version(tims):
    item = tims.get("items/GLV-00004").json()
    changed = tims.patch("items/GLV-00004", {"UnitPrice": "7.25"}, if_match=item["Version"])
    assert changed.status_code == 200 and changed.json()["UnitPrice"] == "7.25"
    assert tims.patch("items/GLV-00004", {"UnitPrice": "7.30"}, if_match=item["Version"]).status_code == 412
    assert error_codes(tims.patch("items/GLV-00004", {"UnitPrice": "cheap"})) == {("UnitPrice", "invalid_decimal")}
