"""Returns (#16) over real HTTP: restocked exactly once, refunds given back against what was paid, each refusal a
clear 422 that leaves nothing behind, and the lists."""

from decimal import Decimal

from sandbox.tims import backoffice
from sandbox.tims.models import InventoryAdjustment, Return

from .conftest import error_codes, order_body

SKU = "GLV-00004"


def _shipped_order(tims, quantity=3, stock=10, paid=None):
    """An order of `quantity` × 10.00 (tax 1.60, freight 5.00, EUR), shipped in full; with `paid`, invoiced and
    paid that much."""
    backoffice.set_stock(tims.sandbox, SKU, stock)
    body = order_body(sku=SKU)
    body["LineItems"][0]["Quantity"] = quantity
    order = tims.post("sales-orders", body).json()
    backoffice.ship(tims.sandbox, order["SalesOrderID"])
    if paid is not None:
        invoice = tims.post("invoices", {"SalesOrderID": order["SalesOrderID"]}).json()
        payment = tims.post("payments", {"InvoiceID": invoice["InvoiceID"], "Amount": paid, "Method": "Card"})
        assert payment.status_code == 201, payment.text
        order["InvoiceID"] = invoice["InvoiceID"]
    return order


def _on_hand(tims):
    return tims.get(f"inventory/items/{SKU}/quantity").json()["OnHand"]


def _events(tims, kind):
    return tims.get("events", type=kind, page_size=200).json()["results"]


def test_a_restocked_return_adds_stock_exactly_once_and_a_replay_does_not_restock_again(tims):
    order = _shipped_order(tims)
    assert _on_hand(tims) == 7
    changes_before = len(tims.get("inventory/changes", page_size=200).json()["results"])
    body = {"SalesOrderID": order["SalesOrderID"], "ReturnID": "CA-RMA-1", "RefundAmount": "0.00",
            "ReturnDate": "2026-03-04", "Lines": [{"SKU": SKU, "Quantity": 2, "Reason": "Wrong size",
                                                   "Restock": True}]}
    first = tims.post("returns", body, key="return:ca:CA-RMA-1")
    assert first.status_code == 201, first.text
    data = first.json()
    assert data["ReturnID"].startswith("RT") and data["ExternalReturnID"] == "CA-RMA-1"
    assert (data["SalesOrderID"], data["ReturnDate"], data["Currency"], data["RefundAmount"], data["Credits"]) == (
        order["SalesOrderID"], "2026-03-04", "EUR", "0.00", [])
    assert data["Lines"] == [{"SKU": SKU, "Quantity": 2, "Reason": "Wrong size", "Restock": True, "Amount": None,
                              "UninvoicedQuantity": 2, "UninvoicedAmount": "0.00"}]  # not billed yet: never will be
    assert _on_hand(tims) == 9

    replay = tims.post("returns", body, key="return:ca:CA-RMA-1")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == data
    assert _on_hand(tims) == 9  # not restocked a second time
    assert Return.objects.filter(sandbox=tims.sandbox).count() == 1

    changes = tims.get("inventory/changes", page_size=200).json()["results"]
    assert len(changes) == changes_before + 1 and changes[-1]["SKU"] == SKU and changes[-1]["Available"] == 9
    adjustment = InventoryAdjustment.objects.get(sandbox=tims.sandbox, reason_code="RETURN")
    assert (adjustment.quantity, adjustment.reference) == (2, data["ReturnID"])
    created = _events(tims, "return.created")
    assert [e["Data"]["ReturnID"] for e in created] == [data["ReturnID"]]
    stock_events = _events(tims, "inventory.changed")
    assert stock_events[-1]["Seq"] < created[0]["Seq"]  # the stock move, then the business event

    reused = tims.post("returns", {**body, "Lines": [{"SKU": SKU, "Quantity": 1, "Restock": True}]},
                       key="return:ca:CA-RMA-1")
    assert reused.status_code == 409 and error_codes(reused) == {("Idempotency-Key", "idempotency_key_reused")}
    again = tims.post("returns", body)  # the same channel return, another key: refused, not restocked
    assert again.status_code == 409 and error_codes(again) == {("ReturnID", "duplicate")}
    assert _on_hand(tims) == 9


def test_a_return_without_restock_leaves_stock_alone(tims):
    order = _shipped_order(tims)
    response = tims.post("returns", {"SalesOrderID": order["SalesOrderID"], "RefundAmount": "0", "Lines": [
        {"SKU": SKU, "Quantity": 1, "Reason": "Damaged", "Restock": False}]})
    assert response.status_code == 201, response.text
    assert _on_hand(tims) == 7
    assert not InventoryAdjustment.objects.filter(sandbox=tims.sandbox, reason_code="RETURN").exists()
    assert response.json()["Lines"][0]["Restock"] is False


def test_each_refusal_is_a_422_naming_the_field_and_leaves_nothing_behind(tims):
    order = _shipped_order(tims, quantity=3, paid="36.60")  # 3 × 10.00 + 1.60 tax + 5.00 freight, paid in full
    code = order["SalesOrderID"]
    done = tims.post("returns", {"SalesOrderID": code, "RefundAmount": "10.00",
                                 "Lines": [{"SKU": SKU, "Quantity": 1, "Restock": True}]})
    assert done.status_code == 201, done.text
    unpaid = _shipped_order(tims)
    assert tims.post("invoices", {"SalesOrderID": unpaid["SalesOrderID"]}).status_code == 201  # billed, not paid
    stock, events = _on_hand(tims), len(_events(tims, "inventory.changed"))

    def refused(body):
        response = tims.post("returns", body)
        assert response.status_code == 422, response.text
        return error_codes(response)

    line = {"SKU": SKU, "Quantity": 1, "Restock": True}
    assert refused({"SalesOrderID": "SO999999", "Lines": [line]}) == {("SalesOrderID", "unknown_sales_order")}
    assert refused({"SalesOrderID": code, "RefundAmount": "0", "Lines": [
        {"SKU": "WLD-00001", "Quantity": 1}, {"SKU": SKU, "Quantity": 3, "Restock": True}]}) == {
        ("Lines[0].SKU", "not_on_order"), ("Lines[1].Quantity", "exceeds_shipped")}  # 3 shipped, 1 back already
    assert refused({"SalesOrderID": code, "RefundAmount": "0", "Lines": [line, line, line]}) == {
        ("Lines[2].Quantity", "exceeds_shipped")}  # repeats of a SKU count together
    assert refused({"SalesOrderID": code, "RefundAmount": "26.61", "Lines": [line]}) == {
        ("RefundAmount", "exceeds_paid")}  # 36.60 paid, 10.00 already refunded
    assert refused({"SalesOrderID": code, "RefundAmount": "-1.00", "Lines": [{**line, "Amount": "-2"}]}) == {
        ("RefundAmount", "negative"), ("Lines[0].Amount", "negative")}
    assert refused({"SalesOrderID": code, "RefundAmount": "1.005", "Lines": [{**line, "Amount": "1.001"}]}) == {
        ("RefundAmount", "invalid_decimal"), ("Lines[0].Amount", "invalid_decimal")}
    assert refused({"SalesOrderID": code, "RefundAmount": "1.00", "Currency": "USD", "Lines": [line]}) == {
        ("Currency", "currency_mismatch")}
    assert refused({"SalesOrderID": code, "Lines": []}) == {("Lines", "required")}
    assert refused({"SalesOrderID": code, "Lines": [{"SKU": SKU, "Quantity": 0}]}) == {
        ("Lines[0].Quantity", "min_value")}
    # Without RefundAmount the goods are valued at the order's price: 10.00, but nothing of the bill was paid.
    assert refused({"SalesOrderID": unpaid["SalesOrderID"], "Lines": [line]}) == {("RefundAmount", "exceeds_paid")}

    assert _on_hand(tims) == stock and len(_events(tims, "inventory.changed")) == events
    assert Return.objects.filter(sandbox=tims.sandbox).count() == 1
    assert tims.get("invoices", sales_order_id=code).json()["results"][0]["RefundedAmount"] == "10.00"


def test_a_refund_is_given_back_against_what_was_paid_and_moves_payment_status(tims):
    order = _shipped_order(tims, quantity=3, paid="36.60")
    code = order["SalesOrderID"]
    assert tims.get(f"sales-orders/{code}").json()["PaymentStatus"] == "Paid"
    version = tims.get(f"sales-orders/{code}").json()["Version"]

    part = tims.post("returns", {"SalesOrderID": code, "Currency": "eur", "Lines": [
        {"SKU": SKU, "Quantity": 1, "Reason": "Wrong size", "Restock": True, "Amount": "10.53"}]})
    assert part.status_code == 201, part.text
    data = part.json()
    assert data["RefundAmount"] == "10.53"  # absent: the lines' Amounts
    assert data["Credits"] == [{"InvoiceID": order["InvoiceID"], "Amount": "10.53"}]
    invoice = tims.get("invoices", sales_order_id=code).json()["results"][0]
    assert (invoice["Balance"], invoice["RefundedAmount"], invoice["Status"]) == ("0.00", "10.53", "Paid")
    sales_order = tims.get(f"sales-orders/{code}").json()
    assert sales_order["PaymentStatus"] == "PartiallyPaid" and sales_order["Version"] == version + 1

    rest = tims.post("returns", {"SalesOrderID": code, "RefundAmount": "26.07", "Lines": [
        {"SKU": SKU, "Quantity": 2, "Restock": False}]})
    assert rest.status_code == 201, rest.text
    assert tims.get(f"sales-orders/{code}").json()["PaymentStatus"] == "Refunded"
    invoice = tims.get("invoices", sales_order_id=code).json()["results"][0]
    assert invoice["RefundedAmount"] == "36.60" and invoice["TotalAmount"] == "36.60"
    more = tims.post("returns", {"SalesOrderID": code, "RefundAmount": "0.01", "Lines": [
        {"SKU": SKU, "Quantity": 1}]})
    assert error_codes(more) == {("Lines[0].Quantity", "exceeds_shipped"), ("RefundAmount", "exceeds_paid")}
    payments = tims.get("payments", invoice_id=order["InvoiceID"]).json()["results"]
    assert [p["Amount"] for p in payments] == ["36.60"]  # payments stay as received; the refund is on the invoice


def test_returns_are_listed_filtered_and_read_one_by_one(tims):
    first, second = _shipped_order(tims), _shipped_order(tims)
    made = []
    for order, external in ((first, "RMA-A"), (first, "RMA-B"), (second, "RMA-C")):
        response = tims.post("returns", {"SalesOrderID": order["SalesOrderID"], "ExternalReturnID": external,
                                         "RefundAmount": "0.00", "Lines": [{"SKU": SKU, "Quantity": 1}]})
        assert response.status_code == 201, response.text
        made.append(response.json())

    listed = tims.get("returns").json()
    assert listed["count"] == 3 and [r["ReturnID"] for r in listed["results"]] == [r["ReturnID"] for r in made]
    by_order = tims.get("returns", sales_order_id=first["SalesOrderID"]).json()
    assert [r["ExternalReturnID"] for r in by_order["results"]] == ["RMA-A", "RMA-B"]
    by_external = tims.get("returns", external_return_id="RMA-C").json()
    assert [r["SalesOrderID"] for r in by_external["results"]] == [second["SalesOrderID"]]
    both = tims.get("returns", sales_order_id=first["SalesOrderID"], external_return_id="RMA-C").json()
    assert both["count"] == 0
    paged = tims.get("returns", page_size=2).json()
    assert len(paged["results"]) == 2 and paged["next"]
    assert tims.get(paged["next"]).json()["results"][0]["ExternalReturnID"] == "RMA-C"

    one = tims.get(f"returns/{made[1]['ReturnID']}")
    assert one.status_code == 200 and one.json() == made[1]
    missing = tims.get("returns/RT999999")
    assert missing.status_code == 404 and error_codes(missing) == {(None, "not_found")}
    assert sum(Decimal(r["RefundAmount"]) for r in listed["results"]) == 0


def test_a_return_before_the_invoice_takes_the_goods_off_the_bill_and_gives_no_money_back(tims):
    order = _shipped_order(tims, quantity=3)  # 3 × 10.00 + 1.60 tax + 5.00 freight = 36.60, shipped, not invoiced
    code = order["SalesOrderID"]
    response = tims.post("returns", {"SalesOrderID": code, "ExternalReturnID": "CA-9", "Lines": [
        {"SKU": SKU, "Quantity": 1, "Reason": "Wrong size", "Restock": True}]})
    assert response.status_code == 201, response.text
    data = response.json()
    # The refund (the goods at the order's price, 10.00) was never billed: nothing goes back, the bill is smaller.
    assert (data["RefundAmount"], data["UninvoicedAmount"], data["Credits"]) == ("10.00", "10.00", [])
    assert (data["Lines"][0]["UninvoicedQuantity"], data["Lines"][0]["UninvoicedAmount"]) == (1, "10.00")
    assert _on_hand(tims) == 8  # the goods are back on the shelf all the same

    invoice = tims.post("invoices", {"SalesOrderID": code}).json()
    [line, freight] = invoice["Lines"]
    assert (line["Quantity"], line["ExtendedPrice"], line["TaxAmount"]) == (2, "20.00", "1.07")
    assert freight["SKU"] == "FREIGHT" and invoice["TotalAmount"] == "26.07"  # 36.60 less the unit (10.00 + 0.53)
    assert tims.get(f"sales-orders/{code}").json()["OrderStatus"] == "Invoiced"  # nothing is left to bill
    assert tims.post("payments", {"InvoiceID": invoice["InvoiceID"], "Amount": "26.07", "Method": "Card"}
                     ).status_code == 201
    assert tims.get(f"sales-orders/{code}").json()["PaymentStatus"] == "Paid"
    again = tims.post("invoices", {"SalesOrderID": code})
    assert again.status_code == 422 and "came back before it was invoiced" in again.text

    # A later return is of goods that were billed and paid: it gives money back against the invoice.
    later = tims.post("returns", {"SalesOrderID": code, "Lines": [{"SKU": SKU, "Quantity": 1, "Restock": True}]})
    assert later.status_code == 201, later.text
    assert (later.json()["UninvoicedAmount"], later.json()["Credits"]) == (
        "0.00", [{"InvoiceID": invoice["InvoiceID"], "Amount": "10.00"}])


def test_a_return_of_a_shipment_not_yet_invoiced_leaves_that_shipment_nothing_to_bill(tims):
    backoffice.set_stock(tims.sandbox, SKU, 10)
    body = order_body(sku=SKU)
    body["LineItems"][0]["Quantity"] = 3
    code = tims.post("sales-orders", body).json()["SalesOrderID"]
    first = backoffice.ship(tims.sandbox, code, lines=[(SKU, 2)])["shipment"]
    billed = tims.post("invoices", {"SalesOrderID": code, "ShipmentID": first["ShipmentID"]}).json()
    assert tims.post("payments", {"InvoiceID": billed["InvoiceID"], "Amount": billed["TotalAmount"],
                                  "Method": "Card"}).status_code == 201
    second = backoffice.ship(tims.sandbox, code, lines=[(SKU, 1)])["shipment"]
    # Two come back: the unit of the second shipment (not billed) and one billed and paid.
    made = tims.post("returns", {"SalesOrderID": code, "RefundAmount": "21.06", "Lines": [
        {"SKU": SKU, "Quantity": 2, "Restock": True, "Amount": "21.06"}]}).json()
    assert made["Lines"][0]["UninvoicedQuantity"] == 1 and made["UninvoicedAmount"] == "10.53"
    assert made["Credits"] == [{"InvoiceID": billed["InvoiceID"], "Amount": "10.53"}]
    refused = tims.post("invoices", {"SalesOrderID": code, "ShipmentID": second["ShipmentID"]})
    assert refused.status_code == 422 and "nothing_to_invoice" in refused.text
    assert tims.get(f"sales-orders/{code}").json()["OrderStatus"] == "Invoiced"
