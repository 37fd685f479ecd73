"""Sales orders: creation, each 422 code with its field path, lookups, PATCH with If-Match and 412."""

import threading

import requests

from sandbox.tims import backoffice

from .conftest import error_codes, order_body


def test_create_and_read_back(tims):
    created = tims.post("sales-orders", order_body(CustomerID="C000001", CostCenter="CC-7", ProjectCode="P-1"))
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["SalesOrderID"].startswith("SO") and order["OrderStatus"] == "Open" and order["Version"] == 1
    assert order["TotalAmount"] == "26.60"  # 2 × 10.00 + 1.60 tax + 5.00 shipping
    assert order["Location"] == "MAIN" and order["CustomerID"] == "C000001"
    assert created.headers["ETag"] == '"1"'
    same = tims.get(f"sales-orders/{order['SalesOrderID']}").json()
    assert same == order
    found = tims.get("sales-orders", external_order_id=order["ExternalOrderID"]).json()
    assert found["count"] == 1 and found["results"][0]["SalesOrderID"] == order["SalesOrderID"]
    assert tims.get("sales-orders", external_order_id="nothing-like-it").json()["count"] == 0


def test_guest_orders_use_the_guest_customer_code(tims):
    assert tims.post("sales-orders", order_body(customer="C-GUEST")).status_code == 201


def test_unit_prices_keep_four_places_and_amounts_two(tims):
    body = order_body(LineItems=[{"SKU": "WLD-00001", "Quantity": 3, "Price": "1.2345", "TaxAmount": "0.3000"},
                                 {"SKU": "ARG-00002", "Quantity": 1, "Price": "75.5000"}])
    order = tims.post("sales-orders", body)
    assert order.status_code == 201, order.text
    lines = order.json()["LineItems"]
    assert [line["Price"] for line in lines] == ["1.2345", "75.50"] and lines[0]["TaxAmount"] == "0.30"
    assert order.json()["TotalAmount"] == "84.50"  # 3.70 (3 × 1.2345, rounded) + 0.30 + 75.50 + 5.00 shipping
    too_fine = order_body(LineItems=[{"SKU": "WLD-00001", "Quantity": 1, "Price": "1.23456"}], ShippingAmount="1.005")
    assert error_codes(tims.post("sales-orders", too_fine)) == {("LineItems[0].Price", "invalid_decimal"),
                                                                ("ShippingAmount", "invalid_decimal")}


def test_a_sent_total_is_kept_and_a_missing_one_computed(tims):
    assert tims.post("sales-orders", order_body(TotalAmount="31.10")).json()["TotalAmount"] == "31.10"
    assert tims.post("sales-orders", order_body()).json()["TotalAmount"] == "26.60"


def test_unknown_sku_names_the_line_path(tims):
    body = order_body()
    body["LineItems"] = [
        {"SKU": "WLD-00001", "Quantity": 1, "Price": "1.00"},
        {"SKU": "ARG-00002", "Quantity": 1, "Price": "1.00"},
        {"SKU": "ZZZ-UNKNOWN-0001", "Quantity": 1, "Price": "1.00"},
    ]
    response = tims.post("sales-orders", body)
    assert response.status_code == 422
    assert error_codes(response) == {("LineItems[2].SKU", "unknown_sku")}
    assert all(set(e) == {"field", "code", "message"} and e["message"] for e in response.json()["errors"])


def test_each_validation_code_with_its_field_path(tims):
    cases = [
        (order_body(customer="C999999"), ("CustomerID", "unknown_customer")),
        ({k: v for k, v in order_body().items() if k != "CustomerID"}, ("CustomerID", "required")),
        (order_body(LineItems=[]), ("LineItems", "required")),
        (order_body(LineItems=[{"SKU": "WLD-00001", "Price": "1.00"}]), ("LineItems[0].Quantity", "required")),
        (order_body(ExternalOrderID="X" * 51), ("ExternalOrderID", "max_length")),
        (order_body(ShippingAddress={"Line1": "L" * 101, "City": "Berlin", "Country": "DE"}),
         ("ShippingAddress.Line1", "max_length")),
        (order_body(ShippingAddress={"Line1": "x", "City": "C" * 61, "Country": "DE"}),
         ("ShippingAddress.City", "max_length")),
        (order_body(LineItems=[{"SKU": "WLD-00001", "Quantity": 1, "Price": "12.5x"}]),
         ("LineItems[0].Price", "invalid_decimal")),
        (order_body(LineItems=[{"SKU": "WLD-00001", "Quantity": 1, "Price": 12.5}]),
         ("LineItems[0].Price", "invalid_decimal")),
        (order_body(LineItems=[{"SKU": "WLD-00001", "Quantity": 1, "Price": "1.00", "TaxAmount": "0.123"}]),
         ("LineItems[0].TaxAmount", "invalid_decimal")),
        (order_body(LineItems=[{"SKU": "WLD-00001", "Quantity": "two", "Price": "1.00"}]),
         ("LineItems[0].Quantity", "invalid_integer")),
        (order_body(TotalAmount="1,00"), ("TotalAmount", "invalid_decimal")),
        (order_body(Location="NOWHERE"), ("Location", "unknown_location")),
        (order_body(OrderStatus="Fulfilled"), ("OrderStatus", "invalid_choice")),
    ]
    for body, expected in cases:
        response = tims.post("sales-orders", body)
        assert response.status_code == 422, (expected, response.text)
        assert expected in error_codes(response), (expected, response.json())


def test_all_problems_are_reported_together(tims):
    body = order_body(customer="C999999", ExternalOrderID="E" * 60)
    body["LineItems"].append({"SKU": "NOPE-1", "Quantity": 1, "Price": "bad"})
    codes = error_codes(tims.post("sales-orders", body))
    assert {("CustomerID", "unknown_customer"), ("ExternalOrderID", "max_length"),
            ("LineItems[1].SKU", "unknown_sku"), ("LineItems[1].Price", "invalid_decimal")} <= codes


def test_unicode_and_longest_allowed_values_are_kept(tims):
    body = order_body(ExternalOrderID="É" * 50, ShippingAddress={
        "Name": "李 王" * 20, "Line1": "Ulica Długa " + "ł" * 88, "City": "Gdańsk", "Country": "PL"})
    created = tims.post("sales-orders", body)
    assert created.status_code == 201, created.text
    assert created.json()["ShippingAddress"]["City"] == "Gdańsk"
    assert created.json()["ExternalOrderID"] == "É" * 50


def test_patch_with_if_match_and_stale_version_412(tims):
    order = tims.post("sales-orders", order_body()).json()
    path = f"sales-orders/{order['SalesOrderID']}"
    held = tims.patch(path, {"OrderStatus": "OnHold"}, if_match=order["Version"])
    assert held.status_code == 200 and held.json()["OrderStatus"] == "OnHold" and held.json()["Version"] == 2
    stale = tims.patch(path, {"OrderStatus": "Open"}, if_match=order["Version"])
    assert stale.status_code == 412 and error_codes(stale) == {("If-Match", "version_mismatch")}
    quoted = tims.patch(path, {"OrderStatus": "Open"}, if_match='"2"')
    assert quoted.status_code == 200 and quoted.json()["Version"] == 3
    no_if_match = tims.patch(path, {"ShippingMethod": "FedEx 2Day"})
    assert no_if_match.status_code == 200 and no_if_match.json()["Version"] == 4
    assert tims.patch(path, {"OrderStatus": "Open"}, if_match="abc").status_code == 400
    assert tims.patch("sales-orders/SO999999", {"OrderStatus": "Open"}).status_code == 404


def test_status_rules_on_patch(tims):
    order = tims.post("sales-orders", order_body()).json()
    path = f"sales-orders/{order['SalesOrderID']}"
    bad = tims.patch(path, {"OrderStatus": "Shipping"})
    assert bad.status_code == 422 and error_codes(bad) == {("OrderStatus", "invalid_choice")}
    by_tims_only = tims.patch(path, {"OrderStatus": "Fulfilled"})
    assert error_codes(by_tims_only) == {("OrderStatus", "invalid_transition")}
    assert error_codes(tims.patch(path, {"LineItems": []})) == {("LineItems", "read_only")}
    backoffice.set_stock(tims.sandbox, "WLD-00001", 10)
    backoffice.ship(tims.sandbox, order["SalesOrderID"])
    shipped = tims.get(path).json()
    assert shipped["OrderStatus"] == "Fulfilled"
    cancel = tims.patch(path, {"OrderStatus": "Cancelled"})
    assert cancel.status_code == 422 and error_codes(cancel) == {("OrderStatus", "not_cancellable")}
    assert "return" in cancel.json()["errors"][0]["message"]
    assert tims.patch(path, {"OrderStatus": "Closed"}, if_match=shipped["Version"]).json()["OrderStatus"] == "Closed"


def test_cancelling_releases_allocated_stock(tims):
    backoffice.set_stock(tims.sandbox, "ARG-00002", 5)
    order = tims.post("sales-orders", order_body(sku="ARG-00002")).json()
    backoffice.allocate(tims.sandbox, order["SalesOrderID"])
    assert tims.get("inventory/items/ARG-00002/quantity").json()["Available"] == 3
    tims.patch(f"sales-orders/{order['SalesOrderID']}", {"OrderStatus": "Cancelled"})
    level = tims.get("inventory/items/ARG-00002/quantity").json()
    assert level["Allocated"] == 0 and level["Available"] == 5


def test_simultaneous_patches_with_the_same_version_one_wins(tims):
    order = tims.post("sales-orders", order_body()).json()
    url = tims.url(f"sales-orders/{order['SalesOrderID']}")
    barrier = threading.Barrier(4)
    statuses = []

    def patch(method):
        barrier.wait()
        statuses.append(requests.patch(url, json={"ShippingMethod": method}, timeout=20,
                                       headers={**tims.headers(), "If-Match": str(order["Version"])}).status_code)

    threads = [threading.Thread(target=patch, args=(f"Carrier {n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 412, 412, 412]
    assert tims.get(f"sales-orders/{order['SalesOrderID']}").json()["Version"] == 2
