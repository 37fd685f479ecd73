"""The cash side (#15): partial invoices, payments, the chart of accounts, journal entries and the lists the
reconciliation reads, over real HTTP."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sandbox.tims import backoffice
from sandbox.tims.models import GlAccount, Invoice

from .conftest import error_codes, order_body

CHART = {"1000", "1100", "1150", "1151", "1152", "1160", "2200", "2210", "4000", "4010", "4100", "4200", "6100",
         "6900"}


def _order(tims, lines, shipping="5.00", **overrides):
    """An order with awkward amounts (three units, cents that do not divide by three)."""
    for line in lines:
        backoffice.set_stock(tims.sandbox, line["SKU"], 50)
    body = order_body(LineItems=lines, ShippingAmount=shipping, **overrides)
    response = tims.post("sales-orders", body)
    assert response.status_code == 201, response.text
    return response.json()


THREE_WAY = [{"SKU": "WLD-00001", "Quantity": 3, "Price": "10.0033", "TaxAmount": "2.41", "DiscountAmount": "1.00"},
             {"SKU": "ARG-00002", "Quantity": 2, "Price": "7.25", "TaxAmount": "1.17"}]


def _total(invoices, key):
    return sum((Decimal(line[key]) for invoice in invoices for line in invoice["Lines"] if line["SKU"] != "FREIGHT"),
               Decimal("0"))


def test_partial_invoices_add_up_exactly_to_the_order_and_bill_freight_once(tims):
    order = _order(tims, THREE_WAY)
    code = order["SalesOrderID"]
    parts = [[{"SKU": "WLD-00001", "Quantity": 1}], [{"SKU": "WLD-00001", "Quantity": 1},
                                                    {"SKU": "ARG-00002", "Quantity": 1}],
             None]
    invoices = []
    for index, lines in enumerate(parts):
        body = {"SalesOrderID": code} | ({"Lines": lines} if lines else {})
        response = tims.post("invoices", body, key=f"part-{index}")
        assert response.status_code == 201, response.text
        invoices.append(response.json())
        status = tims.get(f"sales-orders/{code}").json()["OrderStatus"]
        assert status == ("Invoiced" if lines is None else "Open")  # Invoiced only once every unit is billed

    first = invoices[0]
    assert first["ShipmentID"] is None and first["Currency"] == "EUR" and first["ShippingAmount"] == "5.00"
    wld = first["Lines"][0]
    # 1/3 of 30.01 (3 × 10.0033, rounded), of 2.41 tax and of 1.00 discount, each rounded half-up.
    assert (wld["Quantity"], wld["Price"], wld["ExtendedPrice"], wld["TaxAmount"], wld["DiscountAmount"],
            wld["LineTotal"]) == (1, "10.0033", "10.00", "0.80", "0.33", "10.47")
    assert first["Lines"][1] == {"LineNumber": None, "SKU": "FREIGHT", "Quantity": 1, "Price": "5.00",
                                 "ExtendedPrice": "5.00", "TaxAmount": "0.00", "DiscountAmount": "0.00",
                                 "LineTotal": "5.00"}
    assert first["TotalAmount"] == "15.47" == first["Balance"] and first["Status"] == "Open"
    assert all(i["ShippingAmount"] == "0.00" and "FREIGHT" not in {line["SKU"] for line in i["Lines"]}
               for i in invoices[1:])  # freight once, on the first invoice
    last = {line["SKU"]: line for line in invoices[2]["Lines"]}
    assert last["WLD-00001"]["Quantity"] == 1 and last["ARG-00002"]["Quantity"] == 1
    assert last["WLD-00001"]["TaxAmount"] == "0.81" and last["WLD-00001"]["DiscountAmount"] == "0.34"  # remainder

    assert _total(invoices, "ExtendedPrice") == Decimal("30.01") + Decimal("14.50")
    assert _total(invoices, "TaxAmount") == Decimal("3.58")
    assert _total(invoices, "DiscountAmount") == Decimal("1.00")
    assert sum(Decimal(i["TotalAmount"]) for i in invoices) == Decimal(order["TotalAmount"])
    for invoice in invoices:
        assert Decimal(invoice["TotalAmount"]) == sum(Decimal(line["LineTotal"]) for line in invoice["Lines"])

    nothing = tims.post("invoices", {"SalesOrderID": code})
    assert nothing.status_code == 422 and error_codes(nothing) == {(None, "nothing_to_invoice")}
    types = [e["Type"] for e in tims.get("events", type="invoice.created").json()["results"]]
    assert types == ["invoice.created"] * 3


def test_the_invoice_that_completes_an_order_adjusts_to_the_total_the_channel_sent(tims):
    lines = [{"SKU": "WLD-00001", "Quantity": 2, "Price": "10.00", "TaxAmount": "4.00"}]
    order = _order(tims, lines, shipping="3.00", TotalAmount="26.97")  # the channel's own rounding and fees
    code = order["SalesOrderID"]
    first = tims.post("invoices", {"SalesOrderID": code, "Lines": [{"SKU": "WLD-00001", "Quantity": 1}]}, key="a")
    assert "ADJUSTMENT" not in {line["SKU"] for line in first.json()["Lines"]}  # only the last part adjusts
    last = tims.post("invoices", {"SalesOrderID": code}, key="b").json()
    adjustment = [line for line in last["Lines"] if line["SKU"] == "ADJUSTMENT"]
    assert [(a["LineNumber"], a["LineTotal"], a["TaxAmount"]) for a in adjustment] == [(None, "-0.03", "0.00")]
    assert Decimal(first.json()["TotalAmount"]) + Decimal(last["TotalAmount"]) == Decimal("26.97")
    assert Decimal(last["TotalAmount"]) == sum(Decimal(line["LineTotal"]) for line in last["Lines"])


def test_invoice_of_a_shipment_and_what_it_may_bill(tims):
    order = _order(tims, THREE_WAY, shipping="0.00")
    code = order["SalesOrderID"]
    first = backoffice.ship(tims.sandbox, code, lines=[("WLD-00001", 2)])["shipment"]
    second = backoffice.ship(tims.sandbox, code)["shipment"]  # the rest: 1 WLD, 2 ARG

    too_many = tims.post("invoices", {"SalesOrderID": code, "ShipmentID": first["ShipmentID"],
                                      "Lines": [{"SKU": "WLD-00001", "Quantity": 4}]})
    assert too_many.status_code == 422
    assert error_codes(too_many) == {("Lines[0].Quantity", "exceeds_shipped"), ("Lines[0].Quantity", "exceeds_ordered")}
    not_in_it = tims.post("invoices", {"SalesOrderID": code, "ShipmentID": first["ShipmentID"],
                                       "Lines": [{"SKU": "ARG-00002", "Quantity": 1}, {"SKU": "NOPE", "Quantity": 1}]})
    assert error_codes(not_in_it) == {("Lines[0].Quantity", "exceeds_shipped"), ("Lines[1].SKU", "not_on_order")}

    one = tims.post("invoices", {"SalesOrderID": code, "ShipmentID": first["ShipmentID"],
                                 "Lines": [{"SKU": "WLD-00001", "Quantity": 1}], "InvoiceDate": "2026-03-01"})
    assert one.status_code == 201, one.text
    assert one.json()["ShipmentID"] == first["ShipmentID"] and one.json()["InvoiceDate"] == "2026-03-01"
    again = tims.post("invoices", {"SalesOrderID": code, "ShipmentID": first["ShipmentID"],
                                   "Lines": [{"SKU": "WLD-00001", "Quantity": 2}]})
    assert error_codes(again) == {("Lines[0].Quantity", "exceeds_shipped")}  # 2 shipped, 1 already billed
    rest_of_first = tims.post("invoices", {"SalesOrderID": code, "ShipmentID": first["ShipmentID"]}).json()
    assert [(line["SKU"], line["Quantity"]) for line in rest_of_first["Lines"]] == [("WLD-00001", 1)]
    nothing = tims.post("invoices", {"SalesOrderID": code, "ShipmentID": first["ShipmentID"]})
    assert error_codes(nothing) == {(None, "nothing_to_invoice")}

    whole_second = tims.post("invoices", {"SalesOrderID": code, "ShipmentID": second["ShipmentID"]}).json()
    assert sorted((line["SKU"], line["Quantity"]) for line in whole_second["Lines"]) == [
        ("ARG-00002", 2), ("WLD-00001", 1)]
    assert tims.get(f"sales-orders/{code}").json()["OrderStatus"] == "Invoiced"
    listed = tims.get("invoices", sales_order_id=code, shipment_id=first["ShipmentID"]).json()
    assert [i["InvoiceID"] for i in listed["results"]] == [one.json()["InvoiceID"], rest_of_first["InvoiceID"]]


def test_invoice_refusals(tims):
    order = _order(tims, THREE_WAY)
    code = order["SalesOrderID"]
    other = _order(tims, THREE_WAY)
    shipped_elsewhere = backoffice.ship(tims.sandbox, other["SalesOrderID"])["shipment"]["ShipmentID"]

    assert error_codes(tims.post("invoices", {"SalesOrderID": code, "Currency": "USD"})) == {
        ("Currency", "currency_mismatch")}
    assert tims.post("invoices", {"SalesOrderID": code, "Currency": "eur", "Lines": [
        {"SKU": "ARG-00002", "Quantity": 1}]}).status_code == 201
    assert error_codes(tims.post("invoices", {"SalesOrderID": code, "ShipmentID": shipped_elsewhere})) == {
        ("ShipmentID", "unknown_shipment")}
    assert error_codes(tims.post("invoices", {"SalesOrderID": code, "ShipmentID": "SH999999"})) == {
        ("ShipmentID", "unknown_shipment")}
    assert error_codes(tims.post("invoices", {"SalesOrderID": code, "Lines": [
        {"SKU": "WLD-00001", "Quantity": 2}, {"SKU": "WLD-00001", "Quantity": 2}]})) == {
        ("Lines[1].Quantity", "exceeds_ordered")}  # counted together: 4 of 3
    assert error_codes(tims.post("invoices", {"SalesOrderID": code, "Lines": [
        {"SKU": "ARG-00002", "Quantity": 2}]})) == {("Lines[0].Quantity", "exceeds_ordered")}  # 1 already billed
    assert error_codes(tims.post("invoices", {"SalesOrderID": code, "Lines": [
        {"SKU": "WLD-00001", "Quantity": 0}, {"Quantity": 1}, "x"]})) == {
        ("Lines[0].Quantity", "min_value"), ("Lines[1].SKU", "required"), ("Lines[2]", "invalid_type")}
    assert error_codes(tims.post("invoices", {"SalesOrderID": code, "Lines": []})) == {("Lines", "required")}

    held = _order(tims, THREE_WAY, OrderStatus="OnHold")
    refused = tims.post("invoices", {"SalesOrderID": held["SalesOrderID"]})
    assert refused.status_code == 422 and error_codes(refused) == {("SalesOrderID", "invalid_status")}
    # A partly billed order can no longer be cancelled.
    cancel = tims.patch(f"sales-orders/{code}", {"OrderStatus": "Cancelled"})
    assert error_codes(cancel) == {("OrderStatus", "not_cancellable")}
    assert Invoice.objects.filter(sandbox=tims.sandbox, order__code=code).count() == 1  # refusals left nothing


def test_payments_reduce_the_balance_and_are_listed(tims):
    order = _order(tims, THREE_WAY)
    code = order["SalesOrderID"]
    first = tims.post("invoices", {"SalesOrderID": code, "Lines": [{"SKU": "WLD-00001", "Quantity": 3}]}).json()
    assert first["TotalAmount"] == "36.42"  # 30.01 − 1.00 + 2.41 + 5.00 freight

    three_places = tims.post("payments", {"InvoiceID": first["InvoiceID"], "Amount": "10.005", "Method": "Card"})
    assert three_places.status_code == 422 and error_codes(three_places) == {("Amount", "invalid_decimal")}
    wrong_currency = tims.post("payments", {"InvoiceID": first["InvoiceID"], "Amount": "10.00", "Method": "Card",
                                            "Currency": "GBP"})
    assert error_codes(wrong_currency) == {("Currency", "currency_mismatch")}
    too_much = tims.post("payments", {"InvoiceID": first["InvoiceID"], "Amount": "36.43", "Method": "Card"})
    assert error_codes(too_much) == {("Amount", "exceeds_balance")}

    paid = tims.post("payments", {"InvoiceID": first["InvoiceID"], "Amount": "30.00", "Method": "Card",
                                  "Reference": "ch_1", "Currency": "EUR", "ReceivedAt": "2026-03-02T23:30:00Z"},
                     key="pay-ch_1")
    assert paid.status_code == 201, paid.text
    payment = paid.json()
    assert payment == {"PaymentID": payment["PaymentID"], "InvoiceID": first["InvoiceID"], "SalesOrderID": code,
                       "Amount": "30.00", "Currency": "EUR", "Method": "Card", "Reference": "ch_1",
                       "ReceivedAt": "2026-03-02T23:30:00Z", "InvoiceBalance": "6.42"}
    replay = tims.post("payments", {"InvoiceID": first["InvoiceID"], "Amount": "30.00", "Method": "Card",
                                    "Reference": "ch_1", "Currency": "EUR", "ReceivedAt": "2026-03-02T23:30:00Z"},
                       key="pay-ch_1")
    assert replay.json() == payment and replay.headers["Idempotent-Replayed"] == "true"
    invoice = tims.get("invoices", sales_order_id=code).json()["results"][0]
    assert (invoice["Balance"], invoice["Status"]) == ("6.42", "PartiallyPaid")

    tims.post("payments", {"InvoiceID": first["InvoiceID"], "Amount": "6.42", "Method": "PayPal",
                           "Reference": "pp_2", "ReceivedAt": "2026-03-03T00:10:00Z"})
    assert tims.get("invoices", sales_order_id=code).json()["results"][0]["Status"] == "Paid"
    # Every invoice of it paid, but the order is not fully invoiced yet: PartiallyPaid, then Paid.
    assert tims.get(f"sales-orders/{code}").json()["PaymentStatus"] == "PartiallyPaid"
    rest = tims.post("invoices", {"SalesOrderID": code}).json()
    tims.post("payments", {"InvoiceID": rest["InvoiceID"], "Amount": rest["TotalAmount"], "Method": "Card"})
    assert tims.get(f"sales-orders/{code}").json()["PaymentStatus"] == "Paid"

    by_invoice = tims.get("payments", invoice_id=first["InvoiceID"]).json()
    assert [p["Reference"] for p in by_invoice["results"]] == ["ch_1", "pp_2"] and by_invoice["count"] == 2
    assert [p["PaymentID"] for p in tims.get("payments", reference="ch_1").json()["results"]] == [
        payment["PaymentID"]]
    on_day = tims.get("payments", date_from="2026-03-02", date_to="2026-03-02").json()["results"]
    assert [p["Reference"] for p in on_day] == ["ch_1"]  # 23:30 UTC is still the 2nd; 00:10 is the 3rd
    paged = tims.get("payments", page_size=1).json()
    assert paged["count"] == 3 and len(paged["results"]) == 1 and paged["next"]
    assert tims.get("payments", date_from="March").status_code == 400


def test_invoice_lists_filter_by_date_and_replay_a_key(tims):
    order = _order(tims, THREE_WAY)
    code = order["SalesOrderID"]
    body = {"SalesOrderID": code, "InvoiceDate": "2026-02-28", "Lines": [{"SKU": "ARG-00002", "Quantity": 1}]}
    first = tims.post("invoices", body, key="inv-feb")
    replay = tims.post("invoices", body, key="inv-feb")
    assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
    assert tims.post("invoices", {**body, "InvoiceDate": "2026-03-01"}, key="inv-feb").status_code == 409
    tims.post("invoices", {"SalesOrderID": code, "InvoiceDate": "2026-03-01"})
    assert tims.get("invoices", sales_order_id=code).json()["count"] == 2
    assert [i["InvoiceDate"] for i in tims.get("invoices", date_from="2026-02-28", date_to="2026-02-28")
            .json()["results"]] == ["2026-02-28"]
    assert tims.get("invoices", date_from="2026-03-01").json()["count"] == 1
    assert tims.get("invoices", date_to="2026-13-01").status_code == 400


def test_chart_of_accounts_is_provisioned_and_listed(tims):
    accounts = tims.get("gl/accounts", page_size=200).json()
    assert {a["Account"] for a in accounts["results"]} == CHART and accounts["count"] == 14
    assert {"Account": "4000", "Name": "Sales — web shop", "Type": "Revenue", "Active": True} in accounts["results"]
    types = {a["Account"]: a["Type"] for a in accounts["results"]}
    assert types["1100"] == "Asset" and types["2210"] == "Liability" and types["6100"] == "Expense"
    # A sandbox made before the chart existed gets it on first use.
    GlAccount.objects.filter(sandbox=tims.sandbox).delete()
    assert tims.get("gl/accounts").json()["count"] == 14


def _entry(reference="PS-1001", day="2026-03-02", **overrides):
    body = {"Date": day, "Reference": reference, "Memo": "Order PS-1001", "Lines": [
        {"Account": "1100", "Debit": "26.60", "Memo": "AR"},
        {"Account": "4000", "Credit": "20.00"}, {"Account": "2210", "Credit": "6.60"}]}
    body.update(overrides)
    return body


def test_journal_entries_check_accounts_amounts_and_balance(tims):
    created = tims.post("gl/journal-entries", _entry(), key="je-PS-1001")
    assert created.status_code == 201, created.text
    entry = created.json()
    assert (entry["Date"], entry["Reference"], entry["Memo"], entry["TotalDebit"], entry["TotalCredit"]) == (
        "2026-03-02", "PS-1001", "Order PS-1001", "26.60", "26.60")
    assert entry["Lines"][1] == {"Account": "4000", "Debit": "0.00", "Credit": "20.00", "Memo": ""}
    replay = tims.post("gl/journal-entries", _entry(), key="je-PS-1001")
    assert replay.json() == entry and replay.headers["Idempotent-Replayed"] == "true"

    unbalanced = tims.post("gl/journal-entries", _entry(Lines=[
        {"Account": "1100", "Debit": "26.60"}, {"Account": "4000", "Credit": "20.00"}]))
    assert unbalanced.status_code == 422 and error_codes(unbalanced) == {("Lines", "unbalanced")}
    message = unbalanced.json()["errors"][0]["message"]
    assert "26.60" in message and "20.00" in message

    GlAccount.objects.filter(sandbox=tims.sandbox, account="6900").update(active=False)
    wrong = tims.post("gl/journal-entries", _entry(Lines=[
        {"Account": "9999", "Debit": "1.00"}, {"Account": "6900", "Credit": "1.00"},
        {"Account": "1000", "Debit": "-1.00"}, {"Account": "4100", "Credit": "0.005"}],
        Memo="x" * 201))
    assert error_codes(wrong) == {("Lines[0].Account", "unknown_account"), ("Lines[1].Account", "unknown_account"),
                                  ("Lines[2].Debit", "negative"), ("Lines[3].Credit", "invalid_decimal"),
                                  ("Memo", "max_length")}
    assert "inactive" in next(e["message"] for e in wrong.json()["errors"] if e["field"] == "Lines[1].Account")


def test_journal_entries_are_listed_by_reference_and_date(tims):
    for reference, day in (("PS-1", "2026-03-01"), ("PS-2", "2026-03-02"), ("PS-1", "2026-03-03")):
        assert tims.post("gl/journal-entries", _entry(reference, day)).status_code == 201
    by_reference = tims.get("gl/journal-entries", reference="PS-1").json()
    assert [e["Date"] for e in by_reference["results"]] == ["2026-03-01", "2026-03-03"]
    window = tims.get("gl/journal-entries", date_from="2026-03-02", date_to="2026-03-03").json()
    assert [e["Reference"] for e in window["results"]] == ["PS-2", "PS-1"]
    assert tims.get("gl/journal-entries", page_size=2).json()["next"]


def test_sales_orders_by_order_date(tims):
    today = datetime.now(UTC)
    old = _order(tims, THREE_WAY, OrderDate="2026-03-01T23:59:59Z")
    new = _order(tims, THREE_WAY, OrderDate="2026-03-02T00:00:00+00:00")
    _order(tims, THREE_WAY, OrderDate="2026-03-02T23:00:00-02:00")  # 01:00 UTC on the 3rd
    day = tims.get("sales-orders", order_date_from="2026-03-02", order_date_to="2026-03-02").json()
    assert [o["SalesOrderID"] for o in day["results"]] == [new["SalesOrderID"]]
    assert tims.get("sales-orders", order_date_to="2026-03-01").json()["results"][0]["SalesOrderID"] == \
        old["SalesOrderID"]
    assert tims.get("sales-orders", order_date_from=(today + timedelta(days=1)).date().isoformat()).json()[
        "count"] == 0
    assert tims.get("sales-orders", order_date_from="yesterday").status_code == 400


def test_faults_apply_to_the_cash_endpoints(tims):
    from sandbox import services

    assert tims.token  # before the sandbox goes down
    services.set_faults(tims.sandbox, "tims", "down")
    try:
        for path in ("gl/accounts", "gl/journal-entries", "payments", "invoices"):
            answer = tims.get(path)
            assert answer.status_code == 503 and answer.json()["errors"][0]["code"] == "server_error", path
        posted = tims.post("gl/journal-entries", _entry(), key="je-down")
        assert posted.status_code == 503
    finally:
        services.set_faults(tims.sandbox, "tims", "none")
    assert tims.post("gl/journal-entries", _entry(), key="je-down").status_code == 201  # nothing was kept
