"""Contract: fulfillments over real HTTP — the default fulfillment, full and split shipments through
Orders(ID)/Ship, PATCH Fulfillments(ID), moves, cancellation by adjustment and the buyer's cancellation."""

import importlib
import json
import random
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError

from sandbox import services
from sandbox.channeladvisor import actions, provision
from sandbox.channeladvisor.models import Adjustment, Fulfillment, FulfillmentItem, Order, OrderItem
from sandbox.models import SandboxCall

SHIP = {"ShippedDateUtc": "2026-03-04T10:00:00Z", "TrackingNumber": "1Z999AA10123456784", "ShippingCarrier": "UPS",
        "ShippingClass": "Ground", "DeliveryStatus": "Complete"}
EXPAND = {"$expand": "Items($expand=FulfillmentItems),Fulfillments($expand=Items),Adjustments"}


def new_order(ca, *lines):
    """POST an order with (sku, quantity) lines; returns it read back with everything expanded."""
    items = [{"Sku": sku, "Quantity": quantity, "UnitPrice": 10} for sku, quantity in lines]
    created = ca.post("Orders", json={"SiteOrderID": f"FUL-{random.randrange(10**9)}", "Items": items})
    assert created.status_code == 201, created.text
    return read(ca, created.json()["ID"])


def read(ca, order_id):
    response = ca.get(f"Orders({order_id})", params=EXPAND)
    assert response.status_code == 200, response.text
    return response.json()


def ship(ca, order_id, items=None, **fields):
    value = {**SHIP, **fields}
    if items is not None:
        value["Items"] = items
    return ca.post(f"Orders({order_id})/Ship", json={"Value": value})


def units(fulfillment):
    return {line["Sku"]: line["Quantity"] for line in fulfillment["Items"]}


def test_every_order_is_created_with_a_default_fulfillment_holding_all_units(ca, sandbox):
    order = new_order(ca, ("A-1", 3), ("B-1", 1))
    [default] = order["Fulfillments"]
    assert default["DeliveryStatus"] == "NoChange" and default["ShippedDateUtc"] is None
    assert units(default) == {"A-1": 3, "B-1": 1}
    line = default["Items"][0]
    assert set(line) >= {"ID", "ProfileID", "FulfillmentID", "OrderID", "OrderItemID", "Sku", "Quantity"}
    assert line["FulfillmentID"] == default["ID"] and line["OrderID"] == order["ID"]
    assert [row["FulfillmentID"] for row in order["Items"][0]["FulfillmentItems"]] == [default["ID"]]
    ca.generate(orders=3)
    generated = Order.objects.filter(sandbox=sandbox).exclude(pk=order["ID"])
    assert all(o.fulfillments.filter(delivery_status="NoChange").count() == 1 for o in generated)


def test_ship_without_items_ships_the_default_fulfillment(ca):
    order = new_order(ca, ("A-1", 2), ("B-1", 1))
    default_id = order["Fulfillments"][0]["ID"]
    assert ship(ca, order["ID"], SellerFulfillmentID="TIMS-SHP-1").status_code == 204
    after = read(ca, order["ID"])
    assert after["ShippingStatus"] == "Shipped" and after["ShippingDateUtc"] == "2026-03-04T10:00:00Z"
    [shipped] = after["Fulfillments"]
    assert shipped["ID"] == default_id and shipped["DeliveryStatus"] == "Complete"
    assert (shipped["TrackingNumber"], shipped["ShippingCarrier"], shipped["ShippingClass"]) == (
        "1Z999AA10123456784", "UPS", "Ground")
    assert shipped["SellerFulfillmentID"] == "TIMS-SHP-1" and units(shipped) == {"A-1": 2, "B-1": 1}
    assert ship(ca, order["ID"]).status_code == 204  # nothing is left: nothing changes
    assert len(read(ca, order["ID"])["Fulfillments"]) == 1


def test_split_shipment_partially_shipped_then_shipped(ca):
    order = new_order(ca, ("A-1", 3), ("B-1", 1))
    default_id = order["Fulfillments"][0]["ID"]
    item_a, item_b = (row["ID"] for row in order["Items"])
    assert ship(ca, order["ID"], [{"OrderItemID": item_a, "Quantity": 1}], TrackingNumber="T-1").status_code == 204
    middle = read(ca, order["ID"])
    assert middle["ShippingStatus"] == "PartiallyShipped" and middle["ShippingDateUtc"]
    first, rest = middle["Fulfillments"]
    assert (first["ID"], first["DeliveryStatus"], first["TrackingNumber"]) == (default_id, "Complete", "T-1")
    assert units(first) == {"A-1": 1}
    assert rest["DeliveryStatus"] == "NoChange" and units(rest) == {"A-1": 2, "B-1": 1}
    assert sorted(row["Quantity"] for row in middle["Items"][0]["FulfillmentItems"]) == [1, 2]
    second = ship(ca, order["ID"], [{"OrderItemID": item_a, "Quantity": 2}, {"Sku": "b-1", "Quantity": 1}],
                  TrackingNumber="T-2", ShippingCarrier="fedex", ShippingClass="ground")
    assert second.status_code == 204, second.text
    final = read(ca, order["ID"])
    assert final["ShippingStatus"] == "Shipped"
    assert [(f["ID"], f["TrackingNumber"], f["DeliveryStatus"]) for f in final["Fulfillments"]] == [
        (default_id, "T-1", "Complete"), (rest["ID"], "T-2", "Complete")]
    assert final["Fulfillments"][1]["ShippingCarrier"] == "FedEx"  # the account's spelling
    assert item_b in {line["OrderItemID"] for line in final["Fulfillments"][1]["Items"]}


@pytest.mark.parametrize("items,fields,message", [
    ("too_many", {}, "Only 2 unit(s)"),
    ("foreign", {}, "is not on order"),
    ([], {}, "at least one"),
    ([{"Quantity": 1}], {}, "needs an OrderItemID"),
    ("zero", {}, "Items[0].Quantity must be at least 1."),
    ([{"Sku": "NOPE", "Quantity": 1}], {}, "No item with Sku 'NOPE'"),
    (None, {"ShippingCarrier": "UPS", "ShippingClass": "Teleport"}, "Carrier and Class is invalid."),
    (None, {"TrackingNumber": "1Z" + "9" * 49}, "'TrackingNumber' is longer than 50 characters."),
    (None, {"DeliveryStatus": "NoChange"}, "does not ship anything"),
])
def test_ship_refusals_are_400_and_change_nothing(ca, items, fields, message):
    order = new_order(ca, ("A-1", 2))
    other = new_order(ca, ("Z-9", 1))
    item_id = order["Items"][0]["ID"]
    items = {"too_many": [{"OrderItemID": item_id, "Quantity": 3}],
             "foreign": [{"OrderItemID": other["Items"][0]["ID"], "Quantity": 1}],
             "zero": [{"OrderItemID": item_id, "Quantity": 0}]}.get(items, items) if isinstance(items, str) else items
    response = ship(ca, order["ID"], items, **fields)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]
    after = read(ca, order["ID"])
    assert after["ShippingStatus"] == "Unshipped" and after["Fulfillments"] == order["Fulfillments"]


def test_a_split_that_asks_for_more_than_is_left_is_refused(ca):
    order = new_order(ca, ("A-1", 2))
    item_id = order["Items"][0]["ID"]
    assert ship(ca, order["ID"], [{"OrderItemID": item_id, "Quantity": 1}]).status_code == 204
    response = ship(ca, order["ID"], [{"OrderItemID": item_id, "Quantity": 1}, {"OrderItemID": item_id,
                                                                                 "Quantity": 1}])
    assert response.status_code == 400 and "Only 1 unit(s)" in response.json()["error"]["message"]


def test_patch_fulfillment_updates_tracking_and_needs_delivery_status(ca):
    order = new_order(ca, ("A-1", 1), ("B-1", 1))
    assert ship(ca, order["ID"], [{"OrderItemID": order["Items"][0]["ID"], "Quantity": 1}]).status_code == 204
    shipped, still_open = read(ca, order["ID"])["Fulfillments"]
    fix = ca.patch(f"Fulfillments({shipped['ID']})", json={"DeliveryStatus": "NoChange", "TrackingNumber": "NEW-1",
                                                          "ShippingCarrier": "USPS", "ShippingClass": "Priority"})
    assert fix.status_code == 204, fix.text
    row = ca.get(f"Fulfillments({shipped['ID']})").json()
    assert (row["TrackingNumber"], row["ShippingCarrier"], row["DeliveryStatus"]) == ("NEW-1", "USPS", "Complete")
    assert read(ca, order["ID"])["ShippingStatus"] == "PartiallyShipped"
    for bad in ({"DeliveryStatus": "NoChange", "ShippingCarrier": "UPS"},  # a carrier needs its class
                {"DeliveryStatus": "NoChange", "TrackingNumber": "X" * 51},
                {"DeliveryStatus": "NoChange", "Colour": "red"},
                {"DeliveryStatus": "Sideways"},
                {"DeliveryStatus": "Canceled"}):
        response = ca.patch(f"Fulfillments({shipped['ID']})", json=bad)
        assert response.status_code == 400 and response.json()["error"]["message"], bad
    # DeliveryStatus left out marks the fulfillment shipped, as ChannelAdvisor documents
    put = ca.call("PUT", f"Fulfillments({still_open['ID']})", json={"TrackingNumber": "LAST-1",
                                                                    "ShippingCarrier": "UPS",
                                                                    "ShippingClass": "Next Day Air"})
    assert put.status_code == 204, put.text
    final = read(ca, order["ID"])
    assert final["ShippingStatus"] == "Shipped"
    assert final["Fulfillments"][1]["DeliveryStatus"] == "Complete" and final["Fulfillments"][1]["ShippedDateUtc"]
    assert ca.patch("Fulfillments(987654321)", json={"DeliveryStatus": "NoChange"}).status_code == 404


def test_new_fulfillment_then_move_an_item_into_it_and_ship_it(ca):
    order = new_order(ca, ("A-1", 3))
    default = order["Fulfillments"][0]
    with_items = ca.post("Fulfillments", json={"OrderID": order["ID"], "Items": [{"OrderItemID": 1, "Quantity": 1}]})
    assert with_items.status_code == 400 and "Move" in with_items.json()["error"]["message"]
    created = ca.post("Fulfillments", json={"OrderID": order["ID"], "ProfileID": 12345678})
    assert created.status_code == 201, created.text
    box = created.json()
    assert box["DeliveryStatus"] == "NoChange" and box["OrderID"] == order["ID"]
    line = default["Items"][0]
    assert ca.post(f"FulfillmentItems({line['ID']})/Move",
                   json={"DestinationFulfillmentID": box["ID"], "Quantity": 5}).status_code == 400
    moved = ca.post(f"FulfillmentItems({line['ID']})/Move", json={"DestinationFulfillmentID": box["ID"],
                                                                   "Quantity": 1})
    assert moved.status_code == 204, moved.text
    assert ca.patch(f"Fulfillments({box['ID']})", json={"DeliveryStatus": "Complete", "TrackingNumber": "BOX-1",
                                                        "ShippingCarrier": "DHL", "ShippingClass": "Express"}
                    ).status_code == 204
    after = read(ca, order["ID"])
    assert after["ShippingStatus"] == "PartiallyShipped"
    assert {f["ID"]: units(f) for f in after["Fulfillments"]} == {default["ID"]: {"A-1": 2}, box["ID"]: {"A-1": 1}}
    assert ca.post(f"Fulfillments({box['ID']})/Move",
                   json={"DestinationFulfillmentID": default["ID"]}).status_code == 400  # shipped units stay
    assert ca.post(f"Fulfillments({default['ID']})/Move", json={"DestinationFulfillmentID": box["ID"]}
                   ).status_code == 204  # into a shipped fulfillment: shipped with it
    assert read(ca, order["ID"])["ShippingStatus"] == "Shipped"


def test_whole_order_cancellation_by_adjustment(ca):
    order = new_order(ca, ("A-1", 2), ("B-1", 1))
    cancel = {"Reason": "ItemNotAvailable", "SellerAdjustmentID": "TIMS-CXL-1"}
    assert ca.post(f"Orders({order['ID']})/Adjust", json=cancel).status_code == 204
    after = read(ca, order["ID"])
    assert after["ShippingStatus"] == "Canceled"
    [row] = after["Adjustments"]  # one order-level adjustment for the whole order
    assert (row["Type"], row["Reason"], row["Quantity"], row["SellerAdjustmentID"], row["OrderItemID"]) == (
        "Cancellation", "ItemNotAvailable", 3, "TIMS-CXL-1", None)
    assert row["ItemAdjustment"] == 30 and row["CreatedSource"] == "Api"
    [canceled] = after["Fulfillments"]
    assert canceled["DeliveryStatus"] == "Canceled" and units(canceled) == {"A-1": 2, "B-1": 1}
    # the same SellerAdjustmentID again is a retry: 204 and nothing new
    assert ca.post(f"Orders({order['ID']})/Adjust", json={"Value": cancel}).status_code == 204
    assert len(read(ca, order["ID"])["Adjustments"]) == 1
    again = ca.post(f"Orders({order['ID']})/Adjust", json={"Reason": "BuyerCancelled", "SellerAdjustmentID": "X"})
    assert again.status_code == 400 and "already canceled" in again.json()["error"]["message"]
    refused = ship(ca, order["ID"])
    assert refused.status_code == 400 and "canceled" in refused.json()["error"]["message"]


def test_cancellation_is_refused_once_anything_shipped(ca):
    order = new_order(ca, ("A-1", 2))
    assert ship(ca, order["ID"], [{"OrderItemID": order["Items"][0]["ID"], "Quantity": 1}]).status_code == 204
    response = ca.post(f"Orders({order['ID']})/Adjust", json={"Reason": "BuyerCancelled", "SellerAdjustmentID": "C"})
    assert response.status_code == 400 and "shipped" in response.json()["error"]["message"]
    after = read(ca, order["ID"])
    assert after["ShippingStatus"] == "PartiallyShipped" and after["Adjustments"] == []


def test_item_cancellation_of_the_rest_leaves_the_order_shipped(ca):
    order = new_order(ca, ("A-1", 2))
    item_id = order["Items"][0]["ID"]
    assert ship(ca, order["ID"], [{"OrderItemID": item_id, "Quantity": 1}]).status_code == 204
    assert ca.post(f"OrderItems({item_id})/Adjust", json={"Reason": "ItemNotAvailable", "Quantity": 2}
                   ).status_code == 400  # one unit has shipped
    assert ca.post(f"OrderItems({item_id})/Adjust", json={"Reason": "ItemNotAvailable", "Quantity": 1}
                   ).status_code == 204
    after = read(ca, order["ID"])
    assert after["ShippingStatus"] == "Shipped"
    assert [f["DeliveryStatus"] for f in after["Fulfillments"] if f["Items"]] == ["Complete"]


def test_buyer_cancellation_from_the_back_office_command(ca, sandbox, capsys):
    order = new_order(ca, ("A-1", 1))
    call_command("ca_backoffice", "cancel", "--slug", sandbox.slug, "--order", str(order["ID"]))
    printed = json.loads(capsys.readouterr().out)
    assert printed["ShippingStatus"] == "Canceled"
    assert [(row["Reason"], row["CreatedSource"]) for row in printed["Adjustments"]] == [("BuyerCancelled",
                                                                                          "Channel")]
    assert read(ca, order["ID"])["ShippingStatus"] == "Canceled"
    shipped = new_order(ca, ("A-1", 1))
    assert ship(ca, shipped["ID"]).status_code == 204
    with pytest.raises(CommandError, match="shipped items"):
        call_command("ca_backoffice", "cancel", "--slug", sandbox.slug, "--order", str(shipped["ID"]))
    with pytest.raises(CommandError, match="No order"):
        call_command("ca_backoffice", "cancel", "--slug", sandbox.slug, "--order", "987654321")


def test_generated_states_sit_in_the_right_fulfillments(ca, sandbox):
    for state, seed in (("Shipped", 1), ("PartiallyShipped", 2), ("Canceled", 3)):
        summary = ca.generate(orders=3, state=state, seed=seed)
        assert {row["ShippingStatus"] for row in summary["orders"]} == {state}
    partial = Order.objects.filter(sandbox=sandbox, shipping_status="PartiallyShipped").first()
    statuses = sorted(partial.fulfillments.values_list("delivery_status", flat=True))
    assert statuses == ["Complete", "NoChange"]
    canceled = Order.objects.filter(sandbox=sandbox, shipping_status="Canceled").first()
    assert Adjustment.objects.filter(order=canceled, type="Cancellation").exists()


def test_commit_then_fail_ships_and_answers_500(ca, sandbox):
    order = new_order(ca, ("A-1", 1))
    services.set_faults(sandbox, "channeladvisor", commit_then_fail_rate=1.0)
    response = ship(ca, order["ID"])
    services.set_faults(sandbox, "channeladvisor", "none")
    assert response.status_code == 500 and "error" in response.json()
    assert read(ca, order["ID"])["ShippingStatus"] == "Shipped"  # the write committed; only the answer was lost
    calls = SandboxCall.objects.filter(sandbox=sandbox, endpoint="v1/Orders(key)/Ship")
    assert list(calls.values_list("status", "fault")) == [(500, "commit_then_fail")]


def test_new_endpoints_are_counted(ca, sandbox):
    order = new_order(ca, ("A-1", 2))
    fulfillment_id = order["Fulfillments"][0]["ID"]
    ca.patch(f"Fulfillments({fulfillment_id})", json={"DeliveryStatus": "NoChange", "TrackingNumber": "T"})
    ca.post(f"Fulfillments({fulfillment_id})/Move", json={"DestinationFulfillmentID": fulfillment_id})
    counted = set(SandboxCall.objects.filter(sandbox=sandbox).values_list("method", "endpoint", "status"))
    assert {("PATCH", "v1/Fulfillments(key)", 204), ("POST", "v1/Fulfillments(key)/Move", 400)} <= counted


@pytest.mark.django_db
def test_admin_action_cancels_as_the_buyer(admin_client):
    sandbox, _ = services.create_sandbox("ca-admin-cancel")
    provision.generate(sandbox, orders=2, products=2, customers=0, state=None, unknown_sku=0, rng=random.Random(4))
    first, second = Order.objects.filter(sandbox=sandbox).order_by("id")
    actions.ship_order(second, {"Value": SHIP})
    response = admin_client.post("/admin/sandbox_channeladvisor/order/",
                                 {"action": "buyer_cancels", "_selected_action": [first.pk, second.pk]}, follow=True)
    assert response.status_code == 200
    assert Order.objects.get(pk=first.pk).shipping_status == "Canceled"
    assert Order.objects.get(pk=second.pk).shipping_status == "Shipped"
    assert b"shipped items" in response.content


@pytest.mark.django_db
def test_migration_gives_older_orders_their_open_fulfillment():
    sandbox, _ = services.create_sandbox("ca-migrate")
    provision.generate(sandbox, orders=1, products=1, customers=0, state=None, unknown_sku=0, rng=random.Random(2))
    order = Order.objects.get(sandbox=sandbox)
    order.fulfillments.all().delete()  # as before the migration: only shipped fulfillments existed
    item = OrderItem.objects.create(order=order, sku="OLD-1", quantity=3)
    shipped = Fulfillment.objects.create(order=order, delivery_status="Complete", shipping_carrier="UPS")
    FulfillmentItem.objects.create(fulfillment=shipped, order_item=item, quantity=1)
    migration = importlib.import_module("sandbox.channeladvisor.migrations.0002_default_fulfillments")
    migration.add_open_fulfillments(apps, None)
    [opened] = order.fulfillments.filter(delivery_status="NoChange")
    placed = dict(opened.items.values_list("order_item__sku", "quantity"))
    assert placed["OLD-1"] == 2 and len(placed) == order.items.count()


def test_the_settlement_report_pays_out_what_shipped_net_of_the_fee(ca, sandbox, capsys):
    shipped, waiting = new_order(ca, ("A-1", 2)), new_order(ca, ("A-1", 1))
    assert ship(ca, shipped["ID"]).status_code == 204
    call_command("ca_backoffice", "settlement", "--slug", sandbox.slug, "--fee-percent", "10")
    header, *rows = capsys.readouterr().out.splitlines()
    assert header == "settlement-id,posted-date,order-id,marketplace,currency,amount,fee"
    (row,) = [line.split(",") for line in rows]  # the unshipped order is not paid out yet
    order = Order.objects.get(sandbox=sandbox, pk=shipped["ID"])
    assert row[2] == order.site_order_id != Order.objects.get(pk=waiting["ID"]).site_order_id
    assert (row[4], row[5], row[6]) == (order.currency, f"{order.total_price:.2f}",
                                        f"{(order.total_price / 10).quantize(Decimal('0.01')):.2f}")
