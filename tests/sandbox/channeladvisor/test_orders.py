"""Contract: /v1/Orders over real HTTP — paging, OData options, exported flag, Ship, Adjust, Fulfillments, errors."""

from datetime import UTC, datetime, timedelta

import pytest

from sandbox.channeladvisor.models import Order, OrderItem


def collect(ca, first_url, **params):
    """Follow @odata.nextLink to the end; returns (pages, rows)."""
    pages, rows = [], []
    response = ca.get(first_url, params=params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body)
        rows += body["value"]
        if "@odata.nextLink" not in body:
            return pages, rows
        response = ca.get(body["@odata.nextLink"])


def test_orders_page_at_20_and_next_link_runs_to_the_end(ca):
    ca.generate(orders=45)
    pages, rows = collect(ca, "Orders")
    assert [len(page["value"]) for page in pages] == [20, 20, 5]
    assert len({row["ID"] for row in rows}) == 45
    assert pages[0]["@odata.context"].endswith("/v1/$metadata#Orders")
    assert "$skip=20" in pages[0]["@odata.nextLink"]


def test_top_and_skip_and_count(ca):
    ca.generate(orders=30)
    body = ca.get("Orders", params={"$top": "5", "$skip": "3", "$count": "true", "$orderby": "ID"}).json()
    assert body["@odata.count"] == 30
    assert len(body["value"]) == 5
    assert "@odata.nextLink" not in body
    all_ids = [row["ID"] for row in collect(ca, "Orders", **{"$orderby": "ID"})[1]]
    assert [row["ID"] for row in body["value"]] == all_ids[3:8]
    # $top above the page size still pages at 20, and the link keeps the rest of $top
    first = ca.get("Orders", params={"$top": "25"}).json()
    assert len(first["value"]) == 20 and "$top=5" in first["@odata.nextLink"]
    assert len(ca.get(first["@odata.nextLink"]).json()["value"]) == 5


def test_order_shape_fields_and_enums(ca):
    ca.generate(orders=3)
    order = ca.get("Orders", params={"$expand": "Items,Fulfillments,Adjustments,CustomFields"}).json()["value"][0]
    for name in ("ID", "ProfileID", "SiteID", "SiteName", "SiteOrderID", "SellerOrderID", "Currency",
                 "ImportDateUtc", "CreatedDateUtc", "CheckoutDateUtc", "PaymentDateUtc", "TotalPrice",
                 "TotalTaxPrice", "TotalShippingPrice", "PromotionAmount", "CheckoutStatus", "PaymentStatus",
                 "ShippingStatus", "BuyerEmailAddress", "ShippingFirstName", "ShippingCountry", "BillingCity"):
        assert name in order
    assert order["ProfileID"] == 12345678
    assert order["ShippingStatus"] == "Unshipped"
    assert order["CreatedDateUtc"].endswith("Z")
    assert 1 <= len(order["Items"]) <= 5
    item = order["Items"][0]
    for name in ("ID", "OrderID", "ProductID", "SiteOrderItemID", "Sku", "Title", "Quantity", "UnitPrice",
                 "TaxPrice", "ShippingPrice", "ShippingTaxPrice"):
        assert name in item
    assert order["Adjustments"] == []
    [default] = order["Fulfillments"]  # ChannelAdvisor creates every order with one, holding every unit
    assert default["DeliveryStatus"] == "NoChange" and default["TrackingNumber"] is None


def test_filter_by_status_dates_and_strings(ca, sandbox):
    ca.generate(orders=12, seed=3)
    Order.objects.filter(sandbox=sandbox).update(payment_status="Cleared", shipping_status="Unshipped")
    target = Order.objects.filter(sandbox=sandbox).order_by("id")[0]
    target.buyer_email_address = "o'brien@example.com"
    target.seller_order_id = "SO-1"
    target.shipping_status = "PendingShipment"
    target.created_date_utc = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    target.save()

    def ids(expression):
        response = ca.get("Orders", params={"$filter": expression})
        assert response.status_code == 200, response.text
        return [row["ID"] for row in response.json()["value"]]

    assert ids("BuyerEmailAddress eq 'o''brien@example.com'") == [target.id]
    assert ids("ShippingStatus eq 'PendingShipment'") == [target.id]
    assert target.id not in ids("ShippingStatus ne 'PendingShipment'")
    assert ids("CreatedDateUtc ge 2026-03-02T00:00:00Z and CreatedDateUtc lt 2026-03-03T00:00:00Z") == [target.id]
    assert ids(f"(ID eq {target.id} or SellerOrderID eq 'nope') and PaymentStatus eq 'Cleared'") == [target.id]
    assert ids(f"ProfileID eq 12345678 and SiteOrderID eq '{target.site_order_id}'") == [target.id]
    assert ids("year(CreatedDateUtc) eq 2026 and month(CreatedDateUtc) eq 3") == [target.id]
    sku = OrderItem.objects.filter(order=target).first().sku
    assert target.id in ids(f"Items/Sku eq '{sku}'")
    paid = Order.objects.filter(sandbox=sandbox, payment_date_utc__isnull=False).count()
    assert len(ids("PaymentDateUtc ne null")) == paid and len(ids("PaymentDateUtc eq null")) == 12 - paid


@pytest.mark.parametrize("expression", [
    "ShippingStatus eq 'Lost'", "Nope eq 1", "ID eq", "ID eq 'x'", "CreatedDateUtc ge '2026-01-01'",
    "(ID eq 1", "ID eq 1)", "ID eq 99999999999999999999999", "SiteOrderID eq 'a\x00b'",
])
def test_malformed_filters_are_400_in_odata_shape(ca, expression):
    response = ca.get("Orders", params={"$filter": expression})
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]) == {"code", "message"}


def test_select_and_orderby(ca):
    ca.generate(orders=8)
    body = ca.get("Orders", params={"$select": "ID,SiteOrderID,TotalPrice", "$orderby": "TotalPrice desc"}).json()
    assert all(set(row) == {"ID", "SiteOrderID", "TotalPrice"} for row in body["value"])
    prices = [row["TotalPrice"] for row in body["value"]]
    assert prices == sorted(prices, reverse=True)
    assert body["@odata.context"].endswith("#Orders(ID,SiteOrderID,TotalPrice)")
    with_items = ca.get("Orders", params={"$select": "ID", "$expand": "Items"}).json()["value"][0]
    assert set(with_items) == {"ID", "Items"}
    assert ca.get("Orders", params={"$select": "NotAField"}).status_code == 400
    assert ca.get("Orders", params={"$orderby": "ID sideways"}).status_code == 400
    assert ca.get("Orders", params={"$top": "-1"}).status_code == 400
    assert ca.get("Orders", params={"$expand": "Nope"}).status_code == 400


def test_nested_expand_and_cap_of_20_in_lists(ca, sandbox):
    ca.generate(orders=1)
    order = Order.objects.get(sandbox=sandbox)
    for number in range(25):
        OrderItem.objects.create(order=order, sku=f"EXTRA-{number}", quantity=1)
    listed = ca.get("Orders", params={"$expand": "Items($expand=FulfillmentItems,Promotions)"}).json()["value"][0]
    assert len(listed["Items"]) == 20
    [placed] = listed["Items"][0]["FulfillmentItems"]  # in the default fulfillment
    assert placed["OrderItemID"] == listed["Items"][0]["ID"] and placed["Quantity"] == listed["Items"][0]["Quantity"]
    single = ca.get(f"Orders({order.id})", params={"$expand": "Items"}).json()
    assert len(single["Items"]) == order.items.count()
    assert single["@odata.context"].endswith("#Orders/$entity")


def test_order_lines_by_order_and_by_id(ca, sandbox):
    ca.generate(orders=1)
    order = Order.objects.get(sandbox=sandbox)
    lines = ca.get(f"Orders({order.id})/Items").json()["value"]
    assert [line["ID"] for line in lines] == list(order.items.order_by("id").values_list("id", flat=True))
    line = ca.get(f"OrderItems({lines[0]['ID']})", params={"$select": "ID,Sku"}).json()
    assert (line["ID"], line["Sku"]) == (lines[0]["ID"], lines[0]["Sku"])
    assert ca.get("OrderItems(987654321)").status_code == 404


def test_get_by_id_404_and_bad_key(ca):
    assert ca.get("Orders(999999999)").status_code == 404
    assert ca.get("Orders(abc)").status_code == 400
    assert ca.get("NoSuchThing").status_code == 404


def test_exported_false_and_export_belong_to_the_application(ca, other_app):
    ca.generate(orders=3)
    ids = [row["ID"] for row in ca.get("Orders", params={"exported": "false"}).json()["value"]]
    assert len(ids) == 3
    assert ca.post(f"Orders({ids[0]})/Export").status_code == 204
    assert ca.post(f"Orders({ids[0]})/Export").status_code == 204  # marking twice is harmless
    assert [row["ID"] for row in ca.get("Orders").json()["value"]] == ids[1:]  # exported defaults to false
    assert [row["ID"] for row in ca.get("Orders", params={"exported": "true"}).json()["value"]] == [ids[0]]
    # another application still sees every order as not exported
    assert len(other_app.get("Orders", params={"exported": "false"}).json()["value"]) == 3
    # a GET by id ignores the flag
    assert ca.get(f"Orders({ids[0]})").status_code == 200
    assert ca.delete(f"Orders({ids[0]})/Export").status_code == 204
    assert len(ca.get("Orders", params={"exported": "false"}).json()["value"]) == 3
    assert ca.post("Orders(999999999)/Export").status_code == 404
    assert ca.get("Orders", params={"exported": "maybe"}).status_code == 400


SHIP = {"Value": {"ShippedDateUtc": "2026-03-04T10:00:00Z", "TrackingNumber": "1Z999AA10123456784",
                  "ShippingCarrier": "UPS", "ShippingClass": "Ground", "DeliveryStatus": "Complete"}}


def test_ship_marks_shipped_and_creates_a_fulfillment(ca, sandbox):
    ca.generate(orders=1)
    order = Order.objects.get(sandbox=sandbox)
    assert ca.post(f"Orders({order.id})/Ship", json=SHIP).status_code == 204
    body = ca.get(f"Orders({order.id})", params={"$expand": "Fulfillments($expand=Items),Items"}).json()
    assert body["ShippingStatus"] == "Shipped"
    assert body["ShippingDateUtc"] == "2026-03-04T10:00:00Z"
    [fulfillment] = body["Fulfillments"]
    assert fulfillment["TrackingNumber"] == "1Z999AA10123456784"
    assert (fulfillment["ShippingCarrier"], fulfillment["ShippingClass"]) == ("UPS", "Ground")
    assert sum(line["Quantity"] for line in fulfillment["Items"]) == sum(i["Quantity"] for i in body["Items"])
    listed = ca.get("Fulfillments", params={"$filter": f"OrderID eq {order.id}"}).json()["value"]
    assert [row["ID"] for row in listed] == [fulfillment["ID"]]
    assert ca.get(f"Fulfillments({fulfillment['ID']})").json()["TrackingNumber"] == "1Z999AA10123456784"
    assert ca.get(f"Orders({order.id})/Fulfillments").json()["value"][0]["ID"] == fulfillment["ID"]


@pytest.mark.parametrize("carrier,shipping_class", [("UPS", "Teleport"), ("Pigeon", "Ground"), ("", "")])
def test_ship_with_unknown_carrier_class_is_400(ca, sandbox, carrier, shipping_class):
    ca.generate(orders=1)
    order = Order.objects.get(sandbox=sandbox)
    body = {"Value": {**SHIP["Value"], "ShippingCarrier": carrier, "ShippingClass": shipping_class}}
    response = ca.post(f"Orders({order.id})/Ship", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Carrier and Class is invalid."
    assert Order.objects.get(pk=order.pk).shipping_status == "Unshipped"


def test_ship_bad_bodies_are_400_never_500(ca, sandbox):
    ca.generate(orders=1)
    order = Order.objects.get(sandbox=sandbox)
    url = f"Orders({order.id})/Ship"
    for data in [b"{not json", b"", b"[1,2]", b"\xff\xfe", b"[" * 5000]:
        response = ca.post(url, data=data, headers={"Content-Type": "application/json",
                                                    "Authorization": f"Bearer {ca.access_token}"})
        assert response.status_code == 400, (data[:10], response.text)
        assert "message" in response.json()["error"]
    bad_date = {"Value": {**SHIP["Value"], "ShippedDateUtc": "yesterday"}}
    assert ca.post(url, json=bad_date).status_code == 400
    assert ca.post("Orders(424242424242)/Ship", json=SHIP).status_code == 404


def test_item_adjust_refund_shows_on_expand(ca, sandbox):
    ca.generate(orders=1)
    order = Order.objects.get(sandbox=sandbox)
    item = order.items.first()
    refund = {"Reason": "CustomerReturnedItem", "SellerAdjustmentID": "RMA-1", "Quantity": 1,
              "ItemAdjustment": 10.5, "TaxAdjustment": 2, "ShippingAdjustment": 0}
    assert ca.post(f"OrderItems({item.id})/Adjust", json={"Value": refund}).status_code == 204
    assert ca.post(f"OrderItems({item.id})/Adjust", json={"Value": refund}).status_code == 204  # same id: once
    body = ca.get(f"Orders({order.id})", params={"$expand": "Adjustments,Items($expand=Adjustments)"}).json()
    [adjustment] = body["Adjustments"]
    assert adjustment["OrderItemID"] == item.id
    assert adjustment["Reason"] == "CustomerReturnedItem"
    assert adjustment["ItemAdjustment"] == 10.5 and adjustment["Quantity"] == 1
    assert adjustment["RequestStatus"] and adjustment["RestockStatus"] == "Restocked"
    assert body["Items"][0]["Adjustments"][0]["ID"] == adjustment["ID"]
    assert ca.post(f"OrderItems({item.id})/Adjust", json={"Reason": "Because"}).status_code == 400
    assert ca.post(f"OrderItems({item.id})/Adjust", json={"Reason": "GeneralAdjustment"}).status_code == 400
    assert ca.post("OrderItems(99999999)/Adjust", json={"Value": refund}).status_code == 404
    assert ca.post(f"OrderItems({item.id})/Adjust", json={"Reason": "GeneralAdjustment",
                                                        "ItemAdjustment": "ten"}).status_code == 400


def test_order_adjust_cancel_and_order_level_refund(ca, sandbox):
    ca.generate(orders=2)
    first, second = Order.objects.filter(sandbox=sandbox).order_by("id")
    assert ca.post(f"Orders({first.id})/Adjust", json={"Reason": "BuyerCancelled",
                                                       "SellerAdjustmentID": "C-1"}).status_code == 204
    body = ca.get(f"Orders({first.id})", params={"$expand": "Adjustments"}).json()
    assert body["ShippingStatus"] == "Canceled"
    assert {row["Type"] for row in body["Adjustments"]} == {"Cancellation"}
    assert ca.post(f"Orders({first.id})/Ship", json=SHIP).status_code == 400
    refund = {"Value": {"Reason": "GeneralAdjustment", "SellerAdjustmentID": "R-1", "ShippingAdjustment": 4.95}}
    assert ca.post(f"Orders({second.id})/Adjust", json=refund).status_code == 204
    [row] = ca.get(f"Orders({second.id})/Adjustments").json()["value"]
    assert row["OrderItemID"] is None and row["ShippingAdjustment"] == 4.95 and row["Type"] == "Refund"


def test_generated_orders_vary(ca, sandbox):
    summary = ca.generate(orders=40, products=10, unknown_sku=2)
    orders = Order.objects.filter(sandbox=sandbox)
    assert orders.count() == 40
    assert len({o.currency for o in orders}) >= 2
    assert set(orders.values_list("payment_status", flat=True)) >= {"Cleared"}
    assert orders.filter(payment_status="Cleared").count() > 20
    emails = list(orders.values_list("buyer_email_address", flat=True))
    assert len(set(emails)) < len(emails)  # repeat buyers
    assert len(summary["unknown_sku_orders"]) == 2
    assert OrderItem.objects.filter(order_id__in=summary["unknown_sku_orders"], sku__startswith="ZZZ-").count() == 2
    shipped = ca.generate(orders=2, state="Shipped", seed=9)
    assert {row["ShippingStatus"] for row in shipped["orders"]} == {"Shipped"}
    failed = ca.generate(orders=2, state="Failed", seed=10)
    assert {row["PaymentStatus"] for row in failed["orders"]} == {"Failed"}


def test_create_order_with_recent_date_filter(ca):
    since = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = ca.post("Orders", json={"SiteOrderID": "WEB-1", "BuyerEmailAddress": "zoë@example.com",
                                      "Items": [{"Sku": "WLD-00001", "Quantity": 2, "UnitPrice": 9.5}]})
    assert created.status_code == 201, created.text
    assert created.json()["TotalPrice"] == 19.0
    found = ca.get("Orders", params={"$filter": f"CreatedDateUtc ge {since}"}).json()["value"]
    assert [row["SiteOrderID"] for row in found] == ["WEB-1"]
    assert ca.post("Orders", json={"Items": []}).status_code == 400
    assert ca.post("Orders", json={"Items": [{"Sku": "x" * 80}]}).status_code == 400
