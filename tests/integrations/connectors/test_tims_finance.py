"""The TIMS client's cash side (#15): invoices, payments, the chart of accounts, journal entries and a day's
orders — parsed and sent with `responses`, then against the sandbox over real HTTP."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import responses

from integrations import canonical as c
from integrations.connectors import errors
from integrations.connectors.tims import client as tims_client
from integrations.connectors.tims.client import TimsClient

from .conftest import fixture_json

BASE = "https://tims.example.com"
API = f"{BASE}/api/v1"

INVOICE = {
    "InvoiceID": "IN000004", "SalesOrderID": "SO000981", "ShipmentID": "SH000007", "CustomerID": "C000123",
    "InvoiceDate": "2026-03-02", "Currency": "EUR", "ShippingAmount": "5.00", "TotalAmount": "15.47",
    "Balance": "15.47", "Status": "Open",
    "Lines": [{"LineNumber": 1, "SKU": "WLD-00001", "Quantity": 1, "Price": "10.0033", "ExtendedPrice": "10.00",
               "TaxAmount": "0.80", "DiscountAmount": "0.33", "LineTotal": "10.47"},
              {"LineNumber": None, "SKU": "FREIGHT", "Quantity": 1, "Price": "5.00", "ExtendedPrice": "5.00",
               "TaxAmount": "0.00", "DiscountAmount": "0.00", "LineTotal": "5.00"}]}
PAYMENT = {"PaymentID": "PM000002", "InvoiceID": "IN000004", "SalesOrderID": "SO000981", "Amount": "15.47",
           "Currency": "EUR", "Method": "Card", "Reference": "ch_1", "ReceivedAt": "2026-03-02T23:30:00Z",
           "InvoiceBalance": "0.00"}
ENTRY = {"EntryID": "JE000003", "Date": "2026-03-02", "Reference": "IN000004", "Memo": "Invoice IN000004",
         "Lines": [{"Account": "1100", "Debit": "15.47", "Credit": "0.00", "Memo": "AR"},
                   {"Account": "4000", "Debit": "0.00", "Credit": "15.47", "Memo": ""}],
         "TotalDebit": "15.47", "TotalCredit": "15.47", "CreatedAt": "2026-03-02T23:31:00Z"}


def page(*results, next_url=None):
    return {"results": list(results), "next": next_url, "count": len(results)}


@pytest.fixture(autouse=True)
def _fresh_chart():
    tims_client._gl_accounts.clear()
    yield
    tims_client._gl_accounts.clear()


@pytest.fixture
def tims(make_connection):
    responses.post(f"{BASE}/oauth/token", json=fixture_json("tims/token.json"))
    return TimsClient(make_connection("tims"))


@responses.activate
def test_invoice_is_parsed_with_shipment_freight_and_line_amounts(tims):
    responses.post(f"{API}/invoices", status=201, json=INVOICE)
    invoice = tims.create_invoice("SO000981", shipment_id="SH000007", lines=[("WLD-00001", 1)], currency="EUR",
                                  invoice_date=date(2026, 3, 2), key="invoice:7:SH000007")
    post = responses.calls[-1].request
    assert post.headers["Idempotency-Key"] == "invoice:7:SH000007"
    assert json.loads(post.body) == {"SalesOrderID": "SO000981", "ShipmentID": "SH000007", "Currency": "EUR",
                                     "Lines": [{"SKU": "WLD-00001", "Quantity": 1}], "InvoiceDate": "2026-03-02"}
    assert (invoice.source, invoice.source_id, invoice.order_id, invoice.shipment_id, invoice.customer_id) == (
        "tims", "IN000004", "SO000981", "SH000007", "C000123")
    assert invoice.total == c.Money("15.47", "EUR") and invoice.balance == c.Money("15.47", "EUR")
    assert invoice.shipping == c.Money("5.00", "EUR") and invoice.status == "Open"
    assert invoice.invoice_date == datetime(2026, 3, 2, tzinfo=UTC)
    (line,) = invoice.lines  # FREIGHT is the shipping, not a line
    assert (line.sku, line.quantity, line.unit_price, line.tax, line.discount) == (
        "WLD-00001", 1, c.Money("10.0033", "EUR"), c.Money("0.80", "EUR"), c.Money("0.33", "EUR"))
    assert line.extra == {"LineNumber": 1, "ExtendedPrice": "10.00", "LineTotal": "10.47"}
    assert c.Invoice.from_dict(invoice.to_dict()) == invoice


@responses.activate
def test_an_order_invoice_sends_only_the_order_and_currency_falls_back_to_the_connection(tims):
    bare = {k: v for k, v in INVOICE.items() if k not in ("Currency", "ShippingAmount", "ShipmentID")}
    responses.post(f"{API}/invoices", status=201, json=bare)
    invoice = tims.create_invoice("SO000981", key="invoice:7:order:SO000981")
    assert json.loads(responses.calls[-1].request.body) == {"SalesOrderID": "SO000981"}
    assert invoice.total.currency == "USD" and invoice.shipment_id == ""
    assert invoice.shipping == c.Money("5.00", "USD")  # from the FREIGHT line


@responses.activate
def test_find_invoices_filters_and_follows_pages(tims):
    second = {**INVOICE, "InvoiceID": "IN000005", "ShippingAmount": "0.00", "Lines": INVOICE["Lines"][:1]}
    responses.get(f"{API}/invoices", json=page(INVOICE, next_url=f"{API}/invoices?page=2&page_size=200"))
    responses.get(f"{API}/invoices", json=page(second))
    found = tims.find_invoices(sales_order_id="SO000981", date_from=date(2026, 3, 1),
                               date_to=datetime(2026, 3, 2, 23, 0, tzinfo=UTC))
    assert [i.source_id for i in found] == ["IN000004", "IN000005"]
    assert found[1].shipping == c.Money("0.00", "EUR")
    first = responses.calls[1].request.url
    assert "sales_order_id=SO000981" in first and "date_from=2026-03-01" in first and "date_to=2026-03-02" in first
    assert "shipment_id" not in first and "page=2" in responses.calls[2].request.url
    responses.get(f"{API}/invoices", json=page())
    assert tims.invoices_for("SO1") == [] and "sales_order_id=SO1" in responses.calls[-1].request.url


@responses.activate
def test_payment_is_sent_with_currency_and_parsed_back(tims):
    responses.post(f"{API}/payments", status=201, json=PAYMENT)
    made = tims.create_payment(c.Payment(source="prestashop", source_id="77", amount=c.Money("15.47", "EUR"),
                                         invoice_id="IN000004", method="Card", reference="ch_1",
                                         received_at=datetime(2026, 3, 2, 23, 30, tzinfo=UTC)), key="payment:7:ch_1")
    post = responses.calls[-1].request
    assert post.headers["Idempotency-Key"] == "payment:7:ch_1"
    assert json.loads(post.body) == {"InvoiceID": "IN000004", "Amount": "15.47", "Currency": "EUR",
                                     "Method": "Card", "Reference": "ch_1", "ReceivedAt": "2026-03-02T23:30:00Z"}
    assert (made.source, made.source_id, made.invoice_id, made.order_id, made.method, made.reference) == (
        "tims", "PM000002", "IN000004", "SO000981", "Card", "ch_1")
    assert made.amount == c.Money("15.47", "EUR") and made.received_at == datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert made.extra == {"InvoiceBalance": "0.00"}


@responses.activate
def test_an_amount_in_fractions_of_a_cent_is_not_rounded_by_the_connector(tims):
    responses.post(f"{API}/payments", status=422, json={"errors": [
        {"field": "Amount", "code": "invalid_decimal", "message": "Amount must have at most 2 decimal places."}]})
    with pytest.raises(errors.ValidationFailed) as info:
        tims.create_payment(c.Payment(source="x", source_id="1", amount=c.Money("10.005", "EUR"),
                                      invoice_id="IN1", method="Card"), key="k")
    assert json.loads(responses.calls[-1].request.body)["Amount"] == "10.005"
    assert info.value.has_code("invalid_decimal")


@responses.activate
def test_find_payments_by_reference_and_day(tims):
    responses.get(f"{API}/payments", json=page(PAYMENT))
    (found,) = tims.find_payments(reference="ch_1", date_from=date(2026, 3, 2), date_to=date(2026, 3, 2))
    assert found.source_id == "PM000002" and found.amount.currency == "EUR"
    url = responses.calls[-1].request.url
    assert "reference=ch_1" in url and "date_from=2026-03-02" in url and "invoice_id" not in url


@responses.activate
def test_chart_of_accounts_is_cached_per_connection_and_forgotten(tims, make_connection):
    responses.get(f"{API}/gl/accounts", json=page(
        {"Account": "1100", "Name": "Accounts receivable", "Type": "Asset", "Active": True},
        {"Account": "6900", "Name": "Rounding differences", "Type": "Expense", "Active": False}))
    chart = tims.gl_accounts()
    assert chart == {"1100": {"name": "Accounts receivable", "type": "Asset", "active": True},
                     "6900": {"name": "Rounding differences", "type": "Expense", "active": False}}
    assert tims.gl_accounts() == chart
    reads = [call for call in responses.calls if "gl/accounts" in call.request.url]
    assert len(reads) == 1
    other = TimsClient(make_connection("tims", name="second tims"))
    other.gl_accounts()  # another connection reads its own chart
    tims.forget_gl_accounts()
    tims.gl_accounts()
    assert len([call for call in responses.calls if "gl/accounts" in call.request.url]) == 3


def _entry():
    return c.JournalEntry(reference="IN000004", entry_date=date(2026, 3, 2), memo="Invoice IN000004", lines=[
        c.JournalLine(account="1100", debit=Decimal("15.47"), memo="AR"),
        c.JournalLine(account="4000", credit=Decimal("15.470"))])


@responses.activate
def test_journal_entry_is_posted_with_two_decimal_strings_and_parsed_back(tims):
    responses.post(f"{API}/gl/journal-entries", status=201, json=ENTRY)
    posted = tims.post_journal_entry(_entry(), key="journal:7:invoice:IN000004")
    post = responses.calls[-1].request
    assert post.headers["Idempotency-Key"] == "journal:7:invoice:IN000004"
    assert json.loads(post.body) == {"Date": "2026-03-02", "Reference": "IN000004", "Memo": "Invoice IN000004",
                                     "Lines": [{"Account": "1100", "Debit": "15.47", "Credit": "0.00", "Memo": "AR"},
                                               {"Account": "4000", "Debit": "0.00", "Credit": "15.47", "Memo": ""}]}
    assert (posted.source_id, posted.reference, posted.entry_date, posted.memo) == (
        "JE000003", "IN000004", date(2026, 3, 2), "Invoice IN000004")
    assert [(line.account, line.debit, line.credit) for line in posted.lines] == [
        ("1100", Decimal("15.47"), Decimal("0.00")), ("4000", Decimal("0.00"), Decimal("15.47"))]
    assert posted.extra["TotalDebit"] == "15.47"


@responses.activate
def test_unknown_account_forgets_the_cached_chart(tims):
    responses.get(f"{API}/gl/accounts", json=page({"Account": "1100", "Name": "AR", "Type": "Asset",
                                                   "Active": True}))
    responses.post(f"{API}/gl/journal-entries", status=422, json={"errors": [
        {"field": "Lines[1].Account", "code": "unknown_account", "message": "Account “4000” is not in the chart."}]})
    tims.gl_accounts()
    with pytest.raises(errors.ValidationFailed) as info:
        tims.post_journal_entry(_entry(), key="k")
    assert info.value.fields_with_code("unknown_account")[0].path == "Lines[1].Account"
    assert tims_client._gl_accounts.get(tims.connection.pk) is None


@responses.activate
def test_find_journal_entries_and_a_days_sales_orders(tims):
    responses.get(f"{API}/gl/journal-entries", json=page(ENTRY))
    (found,) = tims.find_journal_entries(reference="IN000004")
    assert found.source_id == "JE000003" and "reference=IN000004" in responses.calls[-1].request.url
    responses.get(f"{API}/sales-orders", json=page(fixture_json("tims/sales_order.json")))
    orders = tims.sales_orders_between(date(2026, 3, 2), date(2026, 3, 2))
    assert [o.source_id for o in orders] == ["SO-000981"]
    url = responses.calls[-1].request.url
    assert "order_date_from=2026-03-02" in url and "order_date_to=2026-03-02" in url


@pytest.mark.django_db(transaction=True)
def test_cash_side_against_the_sandbox(org, live_server):
    """Ship in two parts, invoice each shipment, pay, post the entry and read everything back over HTTP."""
    from integrations.models import Connection
    from sandbox import services
    from sandbox.tims import backoffice
    from sandbox.tims.models import Item

    sandbox, _ = services.create_sandbox("live-tims-cash")
    secrets = services.issue_credentials(sandbox, live_server.url)["tims"]
    Item.objects.create(sandbox=sandbox, sku="ARG-10", description="Argon", unit_price="10.00")
    backoffice.set_stock(sandbox, "ARG-10", 5)
    connection = Connection.objects.create(
        organization=org, kind="tims", name="tims sandbox", base_url=secrets["base_url"], sandbox=sandbox,
        credentials={"client_id": secrets["client_id"], "client_secret": secrets["client_secret"]},
        settings={"default_location": "MAIN", "currency": "USD"})
    client = TimsClient(connection)
    order = client.write("POST", "sales-orders", {
        "ExternalOrderID": "PS-88", "CustomerID": "C-GUEST", "Currency": "EUR", "ShippingAmount": "4.95",
        "OrderDate": "2026-03-02T10:00:00Z",
        "LineItems": [{"SKU": "ARG-10", "Quantity": 3, "Price": "10.00", "TaxAmount": "1.00"}]}, key="so-88")
    code = order["SalesOrderID"]
    first = backoffice.ship(sandbox, code, lines=[("ARG-10", 1)])["shipment"]["ShipmentID"]
    second = backoffice.ship(sandbox, code)["shipment"]["ShipmentID"]

    one = client.create_invoice(code, shipment_id=first, currency="EUR", key="invoice:live:1")
    again = client.create_invoice(code, shipment_id=first, currency="EUR", key="invoice:live:1")
    assert again == one  # replayed, not billed twice
    two = client.create_invoice(code, shipment_id=second, key="invoice:live:2")
    assert (one.shipment_id, one.shipping, one.total) == (first, c.Money("4.95", "EUR"), c.Money("15.28", "EUR"))
    assert (two.shipment_id, two.shipping, two.total) == (second, c.Money("0.00", "EUR"), c.Money("20.67", "EUR"))
    assert [(line.sku, line.quantity, line.tax) for line in two.lines] == [("ARG-10", 2, c.Money("0.67", "EUR"))]
    assert one.total.amount + two.total.amount == Decimal(order["TotalAmount"])
    with pytest.raises(errors.ValidationFailed) as info:
        client.create_invoice(code, lines=[("ARG-10", 1)], key="invoice:live:3")
    assert info.value.has_code("exceeds_ordered")
    assert [i.source_id for i in client.find_invoices(sales_order_id=code)] == [one.source_id, two.source_id]
    assert [i.source_id for i in client.find_invoices(shipment_id=second)] == [two.source_id]

    paid = client.create_payment(c.Payment(source="prestashop", source_id="9", amount=c.Money("15.28", "EUR"),
                                           invoice_id=one.source_id, method="Card", reference="ch_live"),
                                 key="payment:live:1")
    assert (paid.order_id, paid.invoice_id, paid.amount) == (code, one.source_id, c.Money("15.28", "EUR"))
    assert client.find_payments(reference="ch_live") == [paid]
    assert client.find_invoices(sales_order_id=code)[0].balance == c.Money("0.00", "EUR")

    chart = client.gl_accounts()
    assert {"1000", "1100", "1160", "2210", "4000", "4100", "6100", "6900"} <= set(chart)
    assert chart["4100"] == {"name": "Shipping income", "type": "Revenue", "active": True}
    entry = c.JournalEntry(reference=one.source_id, entry_date=date(2026, 3, 2), memo="Invoice", lines=[
        c.JournalLine(account="1100", debit=Decimal("15.28")), c.JournalLine(account="4000", credit=Decimal("10.00")),
        c.JournalLine(account="2210", credit=Decimal("0.33")), c.JournalLine(account="4100", credit=Decimal("4.95"))])
    posted = client.post_journal_entry(entry, key="journal:live:1")
    assert posted.source_id.startswith("JE") and posted.debits == posted.credits == Decimal("15.28")
    assert client.find_journal_entries(reference=one.source_id) == [posted]
    with pytest.raises(errors.ValidationFailed) as info:
        client.post_journal_entry(c.JournalEntry(reference="x", lines=[
            c.JournalLine(account="9999", debit=Decimal("1")), c.JournalLine(account="1000", credit=Decimal("1"))]),
            key="journal:live:2")
    assert info.value.has_code("unknown_account")

    day = client.sales_orders_between(date(2026, 3, 2), date(2026, 3, 2))
    assert [o.source_id for o in day] == [code]
    assert day[0].currency == day[0].total.currency == "EUR"  # the order's own, not the connection's USD
    assert client.sales_orders_between(date(2026, 3, 3), date(2026, 3, 4)) == []
