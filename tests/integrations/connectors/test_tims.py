import json
from decimal import Decimal

import pytest
import responses

from integrations import canonical as c
from integrations.connectors import errors
from integrations.connectors.tims.client import TimsClient

from .conftest import TIMS_SECRETS, fixture_json, mapped_sales_order

BASE = "https://tims.example.com"
API = f"{BASE}/api/v1"


@pytest.fixture
def tims(make_connection):
    responses.post(f"{BASE}/oauth/token", json=fixture_json("tims/token.json"))
    return TimsClient(make_connection("tims"))


@responses.activate
def test_client_credentials_and_paging(tims):
    responses.get(f"{API}/customers", json=fixture_json("tims/customers_page1.json"))
    responses.get(f"{API}/customers", json=fixture_json("tims/customers_page2.json"))
    pages = list(tims.pages("customers"))
    assert [len(p) for p in pages] == [1, 1]
    token_call = responses.calls[0].request
    assert "grant_type=client_credentials" in token_call.body and "client_id=tims-client" in token_call.body
    assert "page=2" in responses.calls[2].request.url
    assert responses.calls[1].request.headers["Authorization"] == "Bearer tims-access-token-2222"
    from integrations.connectors.tims import parsers
    parsed = parsers.customer(pages[0][0])
    assert parsed.source_id == "C000123" and parsed.version == "3" and parsed.extra["CustomFields"] == {
        "Territory": "South"}


def _order(**changes):
    from mappings.templates import sample_order

    order = c.Order.from_dict(sample_order("prestashop"))
    order.lines = [c.OrderLine(sku="HELM-S", quantity=1, unit_price=c.Money("16.51", "EUR"),
                               tax=c.Money("3.30", "EUR"))]
    order.total = c.Money("61.80", "EUR")
    for name, value in changes.items():
        setattr(order, name, value)
    return order


@responses.activate
def test_sales_order_is_looked_up_then_created_with_the_mapped_body_and_key(tims):
    responses.get(f"{API}/sales-orders", json={"results": [], "next": None, "count": 0})
    responses.post(f"{API}/sales-orders", status=201, json=fixture_json("tims/sales_order.json"))
    body = mapped_sales_order(_order())
    created = tims.create_sales_order(body, key="sales-order:7:prestashop:1042:abc")
    lookup, post = responses.calls[1].request, responses.calls[2].request
    assert "external_order_id=XKBKNABJK" in lookup.url
    assert post.headers["Idempotency-Key"] == "sales-order:7:prestashop:1042:abc"
    sent = json.loads(post.body)
    assert sent == json.loads(json.dumps(body))  # exactly what the mapping made, nothing rebuilt here
    assert sent["LineItems"][0] == {"SKU": "HELM-S", "Quantity": 1, "Price": "16.51", "TaxAmount": "3.30"}
    assert sent["TotalAmount"] == "61.80" and sent["Location"] == "MAIN"
    assert created.source_id == "SO-000981" and created.total.amount == Decimal("61.80")
    assert created.extra["CustomFields"] == {"Channel": "Shop"}


def test_the_mapping_is_the_only_builder_of_a_sales_order_body():
    from integrations.connectors.tims import parsers

    assert not hasattr(parsers, "sales_order_body")


@responses.activate
def test_existing_sales_order_is_not_created_again(tims):
    responses.get(f"{API}/sales-orders", json={"results": [fixture_json("tims/sales_order.json")], "next": None})
    assert tims.create_sales_order(mapped_sales_order(_order()), key="k").source_id == "SO-000981"
    assert not [call for call in responses.calls if call.request.method == "POST" and "sales-orders" in
                call.request.url]


@responses.activate
def test_field_errors_become_sentences(tims):
    responses.post(f"{API}/sales-orders", status=422, json=fixture_json("tims/error_422.json"))
    with pytest.raises(errors.ValidationFailed) as info:
        tims.write("POST", "sales-orders", {}, key="k")
    assert info.value.field_errors == ["LineItems[2].SKU: SKU ARG-99 does not exist (unknown_sku).",
                                       "CustomerID: No customer C999999 (unknown_customer)."]


@responses.activate
def test_field_errors_are_data_with_path_code_and_line_index(tims):
    responses.post(f"{API}/sales-orders", status=422, json=fixture_json("tims/error_422.json"))
    with pytest.raises(errors.ValidationFailed) as info:
        tims.write("POST", "sales-orders", {}, key="k")
    exc = info.value
    assert exc.fields == [
        errors.FieldError("LineItems[2].SKU", "unknown_sku", "SKU ARG-99 does not exist"),
        errors.FieldError("CustomerID", "unknown_customer", "No customer C999999."),
    ]
    (sku,) = exc.fields_with_code(errors.UNKNOWN_SKU)
    assert (sku.index, sku.name) == (2, "SKU")
    assert exc.has_code("unknown_customer") and not exc.has_code(errors.UNKNOWN_CUSTOM_FIELD)
    assert [str(f) for f in exc.fields] == exc.field_errors  # the sentences are the data, read aloud
    assert exc.fields_with_code("unknown_sku", "unknown_customer") == exc.fields


def test_field_error_is_a_frozen_value():
    error = errors.FieldError("CustomFields.GiftNote", "unknown_custom_field", "No custom field “GiftNote”.")
    assert (error.index, error.name) == (None, "GiftNote")
    assert str(error) == "CustomFields.GiftNote: No custom field “GiftNote” (unknown_custom_field)."
    with pytest.raises(AttributeError):
        error.code = "x"
    assert str(errors.FieldError(message="Bad.")) == "Bad."


@responses.activate
def test_custom_field_names_are_cached_and_forgotten_when_tims_says_one_is_unknown(tims):
    responses.get(f"{API}/custom-fields", json={"results": [{"Name": "GiftNote"}], "next": None})
    responses.post(f"{API}/sales-orders", status=422, json={"errors": [
        {"field": "CustomFields.GiftNote", "code": "unknown_custom_field", "message": "No custom field GiftNote"}]})
    assert tims.custom_field_names("sales_order") == {"GiftNote"}
    assert tims.custom_field_names("sales_order") == {"GiftNote"}
    reads = [call for call in responses.calls if "custom-fields" in call.request.url]
    assert len(reads) == 1  # the second answer came from the cache
    with pytest.raises(errors.ValidationFailed) as info:
        tims.write("POST", "sales-orders", {"CustomFields": {"GiftNote": "x"}}, key="k")
    assert [f.name for f in info.value.fields_with_code(errors.UNKNOWN_CUSTOM_FIELD)] == ["GiftNote"]
    tims.custom_field_names("sales_order")
    assert len([call for call in responses.calls if "custom-fields" in call.request.url]) == 2  # asked again


@responses.activate
def test_forget_and_create_custom_fields_drop_the_cache(tims):
    responses.get(f"{API}/custom-fields", json={"results": [], "next": None})
    responses.post(f"{API}/custom-fields", status=201, json={"Name": "Territory"})
    tims.custom_field_names("customer")
    tims.forget_custom_fields()
    tims.custom_field_names("customer")
    tims.create_custom_field("customer", "Territory")
    tims.custom_field_names("customer")
    assert len([call for call in responses.calls if call.request.method == "GET"
                and "custom-fields" in call.request.url]) == 3


@responses.activate
def test_stale_version_is_a_conflict(tims):
    responses.patch(f"{API}/customers/C000123", status=412, json={"errors": [{"code": "stale", "message": "Stale"}]})
    with pytest.raises(errors.Conflict):
        tims.update_customer("C000123", {"Phone": "1"}, version="2")
    assert responses.calls[-1].request.headers["If-Match"] == "2"


@responses.activate
def test_429_retry_after_and_5xx(tims):
    responses.get(f"{API}/items/A", status=429, headers={"Retry-After": "3"})
    responses.get(f"{API}/items/B", status=502)
    with pytest.raises(errors.RateLimited) as info:
        tims.get_item("A")
    assert info.value.retry_after == 3
    # The 429 paused the connection for every worker; lift the pause to see the next fault.
    from integrations.connectors.models import RateState
    RateState.objects.filter(pk=tims.connection.pk).update(paused_until=None)
    with pytest.raises(errors.TransientError):
        tims.get_item("B")


@responses.activate
def test_quantity_and_change_feed(tims):
    responses.get(f"{API}/inventory/items/ARG-10/quantity",
                  json={"SKU": "ARG-10", "Location": "MAIN", "OnHand": 10, "Allocated": 3, "Available": 7,
                        "UpdatedAt": "2026-03-01T12:00:00Z"})
    responses.get(f"{API}/inventory/changes", json={"results": [
        {"SKU": "ARG-10", "Location": "MAIN", "Available": 6, "ChangedAt": "2026-03-01T12:05:00Z", "Seq": 41}],
        "cursor": "c42"})
    level = tims.quantity("ARG-10")
    assert (level.available, level.on_hand, level.allocated) == (7, 10, 3)
    changes, cursor = tims.inventory_changes("c41")
    assert cursor == "c42" and changes[0].available == 6 and changes[0].extra == {"Seq": 41}


@responses.activate
def test_unbalanced_journal_entry_is_refused_before_sending(tims):
    entry = c.JournalEntry(reference="IN000001", lines=[c.JournalLine(account="1100", debit=Decimal("10.00")),
                                                        c.JournalLine(account="4000", credit=Decimal("9.99"))])
    with pytest.raises(errors.ValidationFailed, match="balance"):
        tims.post_journal_entry(entry, key="journal:1")
    assert not [call for call in responses.calls if "journal-entries" in call.request.url]


@responses.activate
def test_secret_never_in_recorded_calls(tims):
    from integrations.connectors import http
    responses.get(f"{API}/items/A", json={"SKU": "A", "UnitPrice": "1.00"})
    with http.recording() as recorder:
        tims.get_item("A")
    text = repr(recorder.calls)
    assert TIMS_SECRETS["client_secret"] not in text and "tims-access-token-2222" not in text


SHIPMENT = {"ShipmentID": "SH000007", "SalesOrderID": "SO000981", "ExternalOrderID": "XKBKNABJK",
            "Carrier": "UPS", "ShippingClass": "Ground", "TrackingNumber": "1Z999AA10123456784",
            "ShippedAt": "2026-03-02T09:15:00Z", "Lines": [{"SKU": "HELM-S", "Quantity": 1}],
            "UpdatedAt": "2026-03-02T09:15:01Z"}


@responses.activate
def test_get_shipment_reads_one_and_keeps_the_external_order_id(tims):
    responses.get(f"{API}/shipments/SH000007", json=SHIPMENT)
    shipment = tims.get_shipment("SH000007")
    assert (shipment.source, shipment.source_id, shipment.order_id) == ("tims", "SH000007", "SO000981")
    assert (shipment.carrier, shipment.shipping_class, shipment.tracking_number) == (
        "UPS", "Ground", "1Z999AA10123456784")
    assert shipment.shipped_at.isoformat() == "2026-03-02T09:15:00+00:00"
    assert [(line.sku, line.quantity) for line in shipment.lines] == [("HELM-S", 1)]
    assert shipment.extra == {"ExternalOrderID": "XKBKNABJK", "UpdatedAt": "2026-03-02T09:15:01Z"}
    assert c.Shipment.from_dict(shipment.to_dict()) == shipment


@responses.activate
def test_get_shipment_escapes_the_id_and_a_missing_one_is_not_found(tims):
    responses.get(f"{API}/shipments/SH%2F1", status=404, json={"errors": [
        {"field": None, "code": "not_found", "message": "No shipment “SH/1”."}]})
    with pytest.raises(errors.NotFound):
        tims.get_shipment("SH/1")
    assert responses.calls[-1].request.url == f"{API}/shipments/SH%2F1"


@responses.activate
def test_shipments_for_an_order_follow_the_pages(tims):
    second = {**SHIPMENT, "ShipmentID": "SH000009", "Lines": [{"SKU": "ARG-10", "Quantity": 2}]}
    responses.get(f"{API}/shipments", json={"results": [SHIPMENT], "count": 2,
                                            "next": f"{API}/shipments?page=2&page_size=200&sales_order_id=SO000981"})
    responses.get(f"{API}/shipments", json={"results": [second], "count": 2, "next": None})
    shipments = tims.shipments_for("SO000981")
    assert [s.source_id for s in shipments] == ["SH000007", "SH000009"]
    assert all(s.extra["ExternalOrderID"] == "XKBKNABJK" for s in shipments)
    first_call = responses.calls[1].request.url
    assert "sales_order_id=SO000981" in first_call and "page_size=200" in first_call
    assert "page=2" in responses.calls[2].request.url


@pytest.mark.django_db(transaction=True)
def test_shipment_reads_against_the_sandbox(org, live_server):
    """The client against the TIMS sandbox over HTTP: a partial shipment and the rest, read back both ways."""
    from integrations.models import Connection
    from sandbox import services
    from sandbox.tims import backoffice
    from sandbox.tims.models import Customer, Item

    sandbox, _ = services.create_sandbox("live-tims-shipments")
    secrets = services.issue_credentials(sandbox, live_server.url)["tims"]
    Item.objects.create(sandbox=sandbox, sku="ARG-10", description="Argon", unit_price="10.00")
    backoffice.set_stock(sandbox, "ARG-10", 5)
    connection = Connection.objects.create(
        organization=org, kind="tims", name="tims sandbox", base_url=secrets["base_url"], sandbox=sandbox,
        credentials={"client_id": secrets["client_id"], "client_secret": secrets["client_secret"]},
        settings={"default_location": "MAIN"})
    client = TimsClient(connection)
    customer = Customer.objects.get(sandbox=sandbox, code="C-GUEST").code
    order = client.write("POST", "sales-orders", {"ExternalOrderID": "PS-77", "CustomerID": customer, "LineItems": [
        {"SKU": "ARG-10", "Quantity": 3, "Price": "10.00"}]}, key="so-77")
    first = backoffice.ship(sandbox, order["SalesOrderID"], tracking_number="1ZA", lines=[("ARG-10", 1)])
    backoffice.ship(sandbox, order["SalesOrderID"], tracking_number="1ZB")

    shipments = client.shipments_for(order["SalesOrderID"])
    assert [(s.tracking_number, [(line.sku, line.quantity) for line in s.lines]) for s in shipments] == [
        ("1ZA", [("ARG-10", 1)]), ("1ZB", [("ARG-10", 2)])]
    assert all(s.order_id == order["SalesOrderID"] and s.extra["ExternalOrderID"] == "PS-77" for s in shipments)
    one = client.get_shipment(first["shipment"]["ShipmentID"])
    assert one == shipments[0]
    with pytest.raises(errors.NotFound):
        client.get_shipment("SH999999")
    assert client.get_sales_order(order["SalesOrderID"]).status == "Fulfilled"
