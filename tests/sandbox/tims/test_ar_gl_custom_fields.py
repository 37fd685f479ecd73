"""Shipments, invoices, payments, returns, GL journal entries and custom fields."""

from datetime import UTC, datetime, timedelta

from sandbox.tims import backoffice

from .conftest import error_codes, order_body


def _shipped_order(tims, sku="WLD-00001", quantity=2):
    backoffice.set_stock(tims.sandbox, sku, 10)
    body = order_body(sku=sku)
    body["LineItems"][0]["Quantity"] = quantity
    order = tims.post("sales-orders", body).json()
    backoffice.ship(tims.sandbox, order["SalesOrderID"], carrier="UPS", tracking_number="1Z999")
    return order


def test_shipments_list_and_updated_since(tims):
    before = datetime.now(UTC) - timedelta(seconds=1)
    order = _shipped_order(tims)
    shipments = tims.get("shipments", updated_since=before.isoformat()).json()
    assert shipments["count"] == 1
    shipment = shipments["results"][0]
    assert shipment["SalesOrderID"] == order["SalesOrderID"] and shipment["TrackingNumber"] == "1Z999"
    assert shipment["Lines"] == [{"SKU": "WLD-00001", "Quantity": 2}] and shipment["ShippedAt"].endswith("Z")
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert tims.get("shipments", updated_since=later).json()["count"] == 0


def test_invoice_payment_and_balance(tims):
    order = _shipped_order(tims)
    invoice = tims.post("invoices", {"SalesOrderID": order["SalesOrderID"]}, key="inv-1")
    assert invoice.status_code == 201, invoice.text
    data = invoice.json()
    assert data["TotalAmount"] == data["Balance"] == order["TotalAmount"] and data["Status"] == "Open"
    twice = tims.post("invoices", {"SalesOrderID": order["SalesOrderID"]})  # nothing left: partial invoices add up
    assert twice.status_code == 422 and error_codes(twice) == {(None, "nothing_to_invoice")}
    listed = tims.get("invoices", sales_order_id=order["SalesOrderID"]).json()
    assert [i["InvoiceID"] for i in listed["results"]] == [data["InvoiceID"]]
    assert error_codes(tims.post("invoices", {"SalesOrderID": "SO999999"})) == {("SalesOrderID", "unknown_sales_order")}

    part = tims.post("payments", {"InvoiceID": data["InvoiceID"], "Amount": "6.60", "Method": "CreditCard",
                                  "Reference": "ch_1"}, key="pay-1")
    assert part.status_code == 201 and part.json()["InvoiceBalance"] == "20.00"
    too_much = tims.post("payments", {"InvoiceID": data["InvoiceID"], "Amount": "20.01", "Method": "Card"})
    assert error_codes(too_much) == {("Amount", "exceeds_balance")}
    rest = tims.post("payments", {"InvoiceID": data["InvoiceID"], "Amount": "20.00", "Method": "Card"})
    assert rest.json()["InvoiceBalance"] == "0.00"
    assert tims.get("invoices", sales_order_id=order["SalesOrderID"]).json()["results"][0]["Status"] == "Paid"
    assert tims.get(f"sales-orders/{order['SalesOrderID']}").json()["PaymentStatus"] == "Paid"
    assert error_codes(tims.post("payments", {"InvoiceID": "IN404", "Amount": "abc", "Method": "Card"})) == {
        ("InvoiceID", "unknown_invoice"), ("Amount", "invalid_decimal")}


def test_returns_restock_and_validation(tims):
    order = _shipped_order(tims, sku="GLV-00004", quantity=3)
    before = tims.get("inventory/items/GLV-00004/quantity").json()["OnHand"]
    created = tims.post("returns", {"SalesOrderID": order["SalesOrderID"], "Lines": [
        {"SKU": "GLV-00004", "Quantity": 2, "Reason": "Wrong size", "Restock": True}], "RefundAmount": "0.00"},
        key="ret-1")  # nothing was paid yet, so nothing can be refunded
    assert created.status_code == 201, created.text
    assert created.json()["RefundAmount"] == "0.00" and created.json()["Status"] == "Received"
    assert tims.get("inventory/items/GLV-00004/quantity").json()["OnHand"] == before + 2
    wrong = tims.post("returns", {"SalesOrderID": order["SalesOrderID"], "Lines": [
        {"SKU": "WLD-00001", "Quantity": 1}, {"SKU": "GLV-00004", "Quantity": 9}]})
    assert error_codes(wrong) == {("Lines[0].SKU", "not_on_order"), ("Lines[1].Quantity", "exceeds_shipped")}


def test_journal_entries_must_balance(tims):
    balanced = tims.post("gl/journal-entries", {"Date": "2026-01-31", "Reference": "PS-1001", "Lines": [
        {"Account": "1100", "Debit": "26.60", "Memo": "AR"},
        {"Account": "4000", "Credit": "20.00"}, {"Account": "2200", "Credit": "6.60"}]}, key="je-1")
    assert balanced.status_code == 201, balanced.text
    entry = balanced.json()
    assert entry["EntryID"].startswith("JE") and entry["Lines"][0]["Credit"] == "0.00"
    unbalanced = tims.post("gl/journal-entries", {"Lines": [
        {"Account": "1100", "Debit": "26.60"}, {"Account": "4000", "Credit": "20.00"}]})
    assert unbalanced.status_code == 422 and error_codes(unbalanced) == {("Lines", "unbalanced")}
    both = tims.post("gl/journal-entries", {"Lines": [
        {"Account": "1100", "Debit": "1.00", "Credit": "1.00"}, {"Account": "4000", "Credit": "x"}]})
    assert error_codes(both) == {("Lines[0]", "debit_and_credit"), ("Lines[1].Credit", "invalid_decimal")}


def test_custom_fields_define_use_and_refuse_undefined(tims):
    defined = tims.post("custom-fields?entity=sales_order", {"Name": "PONumber", "DataType": "string",
                                                             "Label": "Customer PO"})
    assert defined.status_code == 201 and defined.json()["Entity"] == "sales_order"
    assert tims.post("custom-fields", {"Entity": "customer", "Name": "Loyalty", "DataType": "boolean"}) \
        .status_code == 201
    assert tims.post("custom-fields", {"Entity": "item", "Name": "HazmatClass"}).status_code == 201
    again = tims.post("custom-fields?entity=sales_order", {"Name": "PONumber"})
    assert again.status_code == 409 and error_codes(again) == {("Name", "duplicate")}
    assert error_codes(tims.post("custom-fields?entity=invoice", {"Name": "X"})) == {("Entity", "invalid_choice")}
    assert error_codes(tims.post("custom-fields?entity=item", {"Name": "1bad"})) == {("Name", "invalid_format")}
    listed = tims.get("custom-fields", entity="sales_order").json()
    assert [f["Name"] for f in listed["results"]] == ["PONumber"]

    ok = tims.post("sales-orders", order_body(CustomFields={"PONumber": "PO-77"}))
    assert ok.status_code == 201 and ok.json()["CustomFields"] == {"PONumber": "PO-77"}
    undefined = tims.post("sales-orders", order_body(CustomFields={"Colour": "red"}))
    assert undefined.status_code == 422 and error_codes(undefined) == {("CustomFields.Colour", "unknown_custom_field")}
    customer = tims.post("customers", {"Name": "Søren", "CustomFields": {"Loyalty": "gold"}})
    assert error_codes(customer) == {("CustomFields.Loyalty", "invalid_value")}
    assert tims.post("customers", {"Name": "Søren", "CustomFields": {"Loyalty": True}}).status_code == 201
    item = tims.patch("items/WLD-00001", {"CustomFields": {"Unknown": "x"}})
    assert error_codes(item) == {("CustomFields.Unknown", "unknown_custom_field")}
    assert tims.patch("items/WLD-00001", {"CustomFields": {"HazmatClass": "2.2"}}).json()["CustomFields"] == {
        "HazmatClass": "2.2"}
