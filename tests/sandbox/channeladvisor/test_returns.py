"""Contract: the back office's buyer return, seller refund and cancellation (`sandbox act --system channeladvisor`),
and how their adjustments show over real HTTP ($expand=Adjustments, Orders(ID)/Adjustments, $filter)."""

import json
import random

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from sandbox.channeladvisor.models import Adjustment

SHIP = {"ShippedDateUtc": "2026-03-04T10:00:00Z", "TrackingNumber": "1Z999AA10123456784", "ShippingCarrier": "UPS",
        "ShippingClass": "Ground", "DeliveryStatus": "Complete"}
EXPAND = {"$expand": "Items($expand=Adjustments),Adjustments"}


def new_order(ca, *lines, shipped=True):
    items = [{"Sku": sku, "Quantity": quantity, "UnitPrice": 10, "TaxPrice": 2 * quantity}
             for sku, quantity in lines]
    created = ca.post("Orders", json={"SiteOrderID": f"RET-{random.randrange(10**9)}", "Items": items})
    assert created.status_code == 201, created.text
    order_id = created.json()["ID"]
    if shipped:
        assert ca.post(f"Orders({order_id})/Ship", json={"Value": SHIP}).status_code == 204
    return order_id


def act(sandbox, capsys, what, *args):
    call_command("sandbox", "act", what, "--slug", sandbox.slug, "--system", "channeladvisor", *map(str, args))
    return json.loads(capsys.readouterr().out)


def refused(sandbox, what, *args):
    with pytest.raises(CommandError) as caught:
        call_command("sandbox", "act", what, "--slug", sandbox.slug, "--system", "channeladvisor", *map(str, args))
    body = json.loads(str(caught.value))
    assert body["error"] == "refused"
    return body["message"]


def test_a_buyer_return_is_an_item_adjustment_with_an_rma_pending_refund(ca, sandbox, capsys):
    order_id = new_order(ca, ("A-1", 3), ("B-1", 1))
    printed = act(sandbox, capsys, "return", "--order", order_id, "--sku", "A-1", "--quantity", 2)
    [made] = printed["adjustments"]
    assert (made["Type"], made["Reason"], made["CreatedSource"]) == ("Refund", "CustomerReturnedItem", "Channel")
    assert (made["RequestStatus"], made["RestockStatus"], made["IsRestock"]) == ("Pending", "Pending", True)
    assert made["Quantity"] == 2 and made["ItemAdjustment"] == 20 and made["TaxAdjustment"] == 4
    assert made["RmaNumber"].startswith("RMA-") and made["SiteAdjustmentID"]
    assert {"GiftWrapAdjustment", "RecyclingFeeAdjustment", "ReturnShippingFee", "RestockingFee",
            "ReturnTrackingNumberOrUrl", "ReturnShippingMethod", "CreatedDateUtc"} <= set(made)
    read = ca.get(f"Orders({order_id})", params=EXPAND).json()
    [item_a] = [item for item in read["Items"] if item["Sku"] == "A-1"]
    assert [row["ID"] for row in item_a["Adjustments"]] == [made["ID"]]
    assert [row["ID"] for row in read["Adjustments"]] == [made["ID"]]
    assert read["ShippingStatus"] == "Shipped"  # a return does not change the shipment
    # the rest of the shipped units, refunded at once by the marketplace
    printed = act(sandbox, capsys, "return", "--order", order_id, "--refunded")
    assert [(row["Quantity"], row["RequestStatus"], row["RestockStatus"]) for row in printed["adjustments"]] == [
        (1, "Complete", "Restocked"), (1, "Complete", "Restocked")]
    assert "no units left to return" in refused(sandbox, "return", "--order", order_id)


def test_a_return_is_refused_beyond_what_shipped_and_for_unknown_orders_and_skus(ca, sandbox, capsys):
    unshipped = new_order(ca, ("A-1", 2), shipped=False)
    assert "no units left to return" in refused(sandbox, "return", "--order", unshipped)
    order_id = new_order(ca, ("A-1", 2))
    assert "Only 2 unit(s)" in refused(sandbox, "return", "--order", order_id, "--sku", "A-1", "--quantity", 3)
    assert "no item with SKU 'NOPE'" in refused(sandbox, "return", "--order", order_id, "--sku", "NOPE")
    assert "No order with ID" in refused(sandbox, "return", "--order", 987654321)
    assert "--order" in refused(sandbox, "return")
    assert not Adjustment.objects.filter(order_id__in=[unshipped, order_id]).exists()


def test_a_seller_refund_without_return_restocks_nothing(ca, sandbox, capsys):
    order_id = new_order(ca, ("A-1", 2), ("B-1", 1))
    printed = act(sandbox, capsys, "refund", "--order", order_id, "--sku", "b-1")  # SKUs ignore case
    [made] = printed["adjustments"]
    assert (made["Reason"], made["CreatedSource"], made["RequestStatus"], made["RestockStatus"]) == (
        "GeneralAdjustment", "UserInterface", "Complete", "NotRestocked")
    assert made["IsRestock"] is False and made["RmaNumber"] is None
    assert (made["Quantity"], made["ItemAdjustment"], made["TaxAdjustment"]) == (1, 10, 2)
    assert "Only 0 unit(s)" in refused(sandbox, "refund", "--order", order_id, "--sku", "B-1")
    printed = act(sandbox, capsys, "refund", "--order", order_id, "--sku", "A-1", "--quantity", 1,
                  "--amount", "4.50", "--reason", "ItemNotAsDescribed")
    [partial] = printed["adjustments"]
    assert (partial["Reason"], partial["ItemAdjustment"], partial["TaxAdjustment"]) == ("ItemNotAsDescribed",
                                                                                         4.5, 0)
    # an order-level refund of what is left
    printed = act(sandbox, capsys, "refund", "--order", order_id)
    [whole] = printed["adjustments"]
    assert whole["OrderItemID"] is None and whole["ItemAdjustment"] == pytest.approx(30 - 10 - 4.5)
    assert "already refunded" in refused(sandbox, "refund", "--order", order_id, "--amount", "1")


def test_cancel_reuses_the_marketplace_cancellation(ca, sandbox, capsys):
    order_id = new_order(ca, ("A-1", 1), shipped=False)
    printed = act(sandbox, capsys, "cancel", "--order", order_id)
    assert printed["order"]["ShippingStatus"] == "Canceled"
    assert [(row["Type"], row["Reason"], row["CreatedSource"]) for row in printed["adjustments"]] == [
        ("Cancellation", "BuyerCancelled", "Channel")]
    assert "already canceled" in refused(sandbox, "cancel", "--order", order_id)
    assert "canceled" in refused(sandbox, "refund", "--order", order_id)
    with pytest.raises(CommandError, match="unknown_action"):
        call_command("sandbox", "act", "explode", "--slug", sandbox.slug, "--system", "channeladvisor")


def test_adjustments_can_be_filtered_and_listed_per_order(ca, sandbox, capsys):
    returned, untouched = new_order(ca, ("A-1", 1)), new_order(ca, ("A-1", 1))
    made = act(sandbox, capsys, "return", "--order", returned)["adjustments"][0]
    since = made["CreatedDateUtc"][:19] + "Z"
    listed = ca.get("Orders", params={"exported": "false", "$filter": f"Adjustments/any(a: a/CreatedDateUtc ge "
                                      f"{since})", "$expand": "Adjustments"})
    assert listed.status_code == 200, listed.text
    assert [row["ID"] for row in listed.json()["value"]] == [returned]
    none = ca.get("Orders", params={"$filter": "Adjustments/any(a: a/Reason eq 'BuyerCancelled')"})
    assert none.json()["value"] == []
    per_order = ca.get(f"Orders({returned})/Adjustments", params={"$filter": "RequestStatus eq 'Pending'"})
    assert [row["RmaNumber"] for row in per_order.json()["value"]] == [made["RmaNumber"]]
    assert ca.get(f"Orders({untouched})/Adjustments").json()["value"] == []


def test_a_pending_refund_completes_or_fails_later_in_the_back_office(ca, sandbox, capsys):
    order_id = new_order(ca, ("A-1", 2), ("B-1", 1))
    assert "no pending refund" in refused(sandbox, "complete-refund", "--order", order_id)
    [a_return] = act(sandbox, capsys, "return", "--order", order_id, "--sku", "A-1", "--quantity", 2)["adjustments"]
    [b_return] = act(sandbox, capsys, "return", "--order", order_id, "--sku", "B-1")["adjustments"]
    [done] = act(sandbox, capsys, "complete-refund", "--order", order_id, "--adjustment", a_return["ID"])[
        "adjustments"]
    assert (done["ID"], done["RequestStatus"], done["RestockStatus"]) == (a_return["ID"], "Complete", "Restocked")
    assert done["CreatedDateUtc"] == a_return["CreatedDateUtc"]  # the adjustment has no other date
    assert "is Complete, not Pending" in refused(sandbox, "complete-refund", "--order", order_id, "--adjustment",
                                                 a_return["ID"])
    assert "has no adjustment" in refused(sandbox, "fail-refund", "--order", order_id, "--adjustment", 987654321)
    [failed] = act(sandbox, capsys, "fail-refund", "--order", order_id)["adjustments"]  # every pending one
    assert (failed["ID"], failed["RequestStatus"], failed["RestockStatus"]) == (b_return["ID"], "Failed", "Pending")
    read = ca.get(f"Orders({order_id})/Adjustments", params={"$filter": "RequestStatus eq 'Complete'"}).json()
    assert [row["ID"] for row in read["value"]] == [a_return["ID"]]
