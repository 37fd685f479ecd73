import json
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from integrations import canonical as c
from integrations.connectors import errors
from integrations.connectors.channeladvisor import batch as odata_batch
from integrations.connectors.channeladvisor.client import ChannelAdvisorClient
from integrations.models import ConnectionStatus

from .conftest import CA_SECRETS, fixture_json, fixture_text

BASE = "https://api.channeladvisor.com"


def token_endpoint(tokens=("ca-access-token-1111",)):
    issued = list(tokens)

    def callback(request):
        token = issued.pop(0) if len(issued) > 1 else issued[0]
        return 200, {}, json.dumps({"access_token": token, "token_type": "bearer", "expires_in": 3600})

    responses.add_callback(responses.POST, f"{BASE}/oauth2/token", callback=callback)


@responses.activate
def test_orders_follow_next_link_with_expand(make_connection):
    token_endpoint()
    responses.get(f"{BASE}/v1/Orders", json=fixture_json("channeladvisor/orders_page1.json"))
    responses.get(f"{BASE}/v1/Orders", json=fixture_json("channeladvisor/orders_page2.json"))
    connection = make_connection("channeladvisor")
    pages = list(ChannelAdvisorClient(connection).new_orders())
    token_call, first, second = responses.calls
    assert "grant_type=refresh_token" in token_call.request.body
    params = parse_qs(urlsplit(first.request.url).query)
    assert params["exported"] == ["false"] and params["$expand"][0].startswith("Items,Fulfillments")
    assert params["$orderby"] == ["ID"] and "$filter" not in params
    # The next page by ID, not the nextLink's $skip: exports meanwhile shrink the list that $skip counts over.
    assert parse_qs(urlsplit(second.request.url).query)["$filter"] == ["ID gt 1001"]
    assert first.request.headers["Authorization"] == "Bearer ca-access-token-1111"
    (order,), (cheap,) = pages
    assert order.total == c.Money(Decimal("109.99"), "USD")  # exact: JSON numbers parsed as Decimal
    assert cheap.total.amount == Decimal("0.1")
    assert order.shipping_address.last_name == "O'Brien" and order.customer.email == "zoë@example.com"
    assert order.discount.amount == Decimal("3.00")
    assert order.extra["custom_fields"] == {"GiftNote": "Congrats"}
    assert order.ordered_at.utcoffset().total_seconds() == 0
    connection.refresh_from_db()
    assert connection.token_cache["access_token"] == "ca-access-token-1111"  # cached (encrypted at rest)


@responses.activate
def test_expired_token_is_refreshed_once_then_retried(make_connection):
    token_endpoint(["new-token-2222"])
    connection = make_connection("channeladvisor",
                                 token_cache={"access_token": "old-token", "expires_at": time.time() + 3000})
    responses.get(f"{BASE}/v1/Orders(5)", status=401,
                  json={"Message": "Authorization has been denied for this request."})
    responses.get(f"{BASE}/v1/Orders(5)", json={"ID": 5, "Currency": "USD", "TotalPrice": 1})
    order = ChannelAdvisorClient(connection).get_order(5)
    assert order.source_id == "5"
    auth_headers = [call.request.headers.get("Authorization") for call in responses.calls]
    assert auth_headers[0] == "Bearer old-token" and auth_headers[-1] == "Bearer new-token-2222"
    assert sum("oauth2/token" in call.request.url for call in responses.calls) == 1


@responses.activate
def test_401_after_refresh_stops_and_marks_the_connection(make_connection):
    token_endpoint(["t1", "t2"])
    responses.get(f"{BASE}/v1/Orders(5)", status=401, json={"Message": "Authorization has been denied."})
    connection = make_connection("channeladvisor")
    with pytest.raises(errors.AuthError):
        ChannelAdvisorClient(connection).get_order(5)
    assert sum("Orders(5)" in call.request.url for call in responses.calls) == 2  # once, then once more: no loop
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_ATTENTION


@responses.activate
def test_refused_refresh_token_says_what_to_do(make_connection):
    responses.post(f"{BASE}/oauth2/token", status=400, json={"error": "invalid_grant"})
    connection = make_connection("channeladvisor")
    with pytest.raises(errors.AuthError, match="refresh token"):
        ChannelAdvisorClient(connection).get_order(5)
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_ATTENTION
    assert CA_SECRETS["refresh_token"] not in connection.last_check_message


ORDER_1001 = {"ID": 1001, "ShippingStatus": "Unshipped",
              "Items": [{"ID": 11, "Sku": "ARG-10", "Quantity": 2}, {"ID": 12, "Sku": "ARG-20", "Quantity": 1}],
              "Fulfillments": [{"ID": 501, "OrderID": 1001, "DeliveryStatus": "NoChange", "TrackingNumber": None,
                                "Items": [{"ID": 9001, "OrderItemID": 11, "Sku": "ARG-10", "Quantity": 2},
                                          {"ID": 9002, "OrderItemID": 12, "Sku": "ARG-20", "Quantity": 1}]}]}


def shipment(*lines, tracking="1Z999", source_id="S1"):
    from datetime import UTC, datetime

    return c.Shipment(source="tims", source_id=source_id, tracking_number=tracking,
                      shipped_at=datetime(2026, 3, 3, 15, 0, tzinfo=UTC),
                      lines=[c.ShipmentLine(sku=sku, quantity=quantity) for sku, quantity in lines])


@responses.activate
def test_writes(make_connection):
    token_endpoint()
    responses.get(f"{BASE}/v1/Orders(1001)", json=ORDER_1001)
    for path in ("Orders(1001)/Ship", "Orders(1001)/Export", "Products(77)/UpdateQuantity", "Orders(1001)/Adjust"):
        responses.post(f"{BASE}/v1/{path}", status=204)
    responses.patch(f"{BASE}/v1/Products(77)", status=204)
    client = ChannelAdvisorClient(make_connection("channeladvisor"))
    done = client.ship(1001, shipment(("ARG-10", 2), ("arg-20", 1)), carrier="UPS", shipping_class="Ground")
    client.export(1001)
    client.update_quantity(77, 12)
    client.update_prices(77, [c.Price(sku="ARG-10", price=c.Money("19.99", "USD"))])
    client.adjust(c.ReturnLine(sku="ARG-10", quantity=1, amount=c.Money("32.33", "USD")), order_id=1001)
    read = parse_qs(urlsplit(responses.calls[1].request.url).query)
    assert read["$expand"] == ["Items,Fulfillments($expand=Items)"]
    bodies = [json.loads(call.request.body) if call.request.body else None for call in responses.calls[2:]]
    assert bodies[0] == {"Value": {"ShippedDateUtc": "2026-03-03T15:00:00Z", "TrackingNumber": "1Z999",
                                   "ShippingCarrier": "UPS", "ShippingClass": "Ground", "DeliveryStatus": "Complete",
                                   "SellerFulfillmentID": "S1"}}  # everything left, nothing shipped: no Items
    assert (done.source_id, done.state, done.already) == ("501", "Shipped", False)
    assert [(line.sku, line.quantity, line.source_id) for line in done.lines] == [("ARG-10", 2, "11"),
                                                                                  ("ARG-20", 1, "12")]
    assert bodies[1] is None
    assert bodies[2] == {"Value": {"UpdateType": "Absolute", "Updates": [{"DistributionCenterID": 0, "Quantity": 12}]}}
    assert bodies[3] == {"RetailPrice": 19.99}
    assert bodies[4] == {"Reason": "CustomerReturnedItem", "Quantity": 1, "ItemAdjustment": 32.33}


@responses.activate
def test_a_split_shipment_names_its_items(make_connection):
    token_endpoint()
    responses.get(f"{BASE}/v1/Orders(1001)", json=ORDER_1001)
    responses.post(f"{BASE}/v1/Orders(1001)/Ship", status=204)
    done = ChannelAdvisorClient(make_connection("channeladvisor")).ship(
        1001, shipment(("ARG-10", 1)), carrier="FedEx", shipping_class="Ground")
    body = json.loads(responses.calls[-1].request.body)["Value"]
    assert body["Items"] == [{"OrderItemID": 11, "Quantity": 1}]
    assert (body["ShippingCarrier"], body["ShippingClass"]) == ("FedEx", "Ground")
    assert (done.source_id, done.state, done.carrier) == ("501", "PartiallyShipped", "FedEx")


@responses.activate
def test_invalid_carrier_is_a_validation_error(make_connection):
    token_endpoint()
    responses.get(f"{BASE}/v1/Orders(1001)", json=ORDER_1001)
    responses.post(f"{BASE}/v1/Orders(1001)/Ship", status=400,
                   json={"error": {"code": "", "message": "Carrier and Class is invalid."}})
    with pytest.raises(errors.ValidationFailed, match="carrier/class") as info:
        ChannelAdvisorClient(make_connection("channeladvisor")).ship(
            1001, shipment(("ARG-10", 2)), carrier="Pigeon", shipping_class="Wing")
    [field] = info.value.fields
    assert (field.path, field.code, field.message) == ("ShippingCarrier", "invalid_carrier",
                                                       "Carrier and Class is invalid.")


@responses.activate
def test_sku_lookup_quotes_the_literal(make_connection):
    token_endpoint()
    responses.get(f"{BASE}/v1/Products", json={"value": [{"ID": 77, "Sku": "O'NEIL-1"}]})
    assert ChannelAdvisorClient(make_connection("channeladvisor")).product_id("O'NEIL-1") == 77
    assert parse_qs(urlsplit(responses.calls[-1].request.url).query)["$filter"] == ["Sku eq 'O''NEIL-1'"]


def test_batch_body_and_parse():
    parts = [odata_batch.BatchPart("POST", f"{BASE}/v1/Products({i})/UpdateQuantity", {"Value": {}})
             for i in (1, 2, 3)]
    content_type, body = odata_batch.build(parts)
    assert content_type.startswith("multipart/mixed; boundary=batch_")
    assert body.count(b"Content-Type: application/http") == 3
    assert b"POST https://api.channeladvisor.com/v1/Products(2)/UpdateQuantity HTTP/1.1" in body
    results = odata_batch.parse("multipart/mixed; boundary=batchresponse_1",
                                fixture_text("channeladvisor/batch_response.txt").encode(), parts)
    assert [r.status for r in results] == [204, 406, 400]
    assert [r.retryable for r in results] == [False, True, False]
    with pytest.raises(ValueError):
        odata_batch.build(parts * 34)


@responses.activate
def test_batch_retries_only_the_failed_parts(make_connection):
    token_endpoint()
    sent = []

    def callback(request):
        body = request.body.decode()
        lines = [line for line in body.split("\r\n") if line.startswith("POST ")]
        sent.append(len(lines))
        statuses = ["406" if len(sent) == 1 and i == 1 else "204" for i in range(len(lines))]
        parts = "".join(f"--cs\r\nContent-Type: application/http\r\nContent-ID: {i + 1}\r\n\r\n"
                        f"HTTP/1.1 {status} X\r\n\r\n\r\n" for i, status in enumerate(statuses))
        return 200, {"Content-Type": "multipart/mixed; boundary=b"}, (
            f"--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n{parts}--cs--\r\n--b--\r\n")

    responses.add_callback(responses.POST, f"{BASE}/v1/$batch", callback=callback)
    client = ChannelAdvisorClient(make_connection("channeladvisor"))
    parts = [client.quantity_part(i, 5) for i in range(1, 151)]
    results = client.batch(parts)
    assert sent == [100, 50, 1]  # two batches of ≤100, then only the one part that failed
    assert all(r.ok for r in results) and len(results) == 150
    with pytest.raises(ValueError, match="Export"):
        client.batch([odata_batch.BatchPart("POST", client.url("Orders(1)/Export"))])


# --- against the sandbox over real HTTP (pytest-django's live_server) ---

@pytest.fixture
def ca_sandbox(org, live_server):
    """(client, sandbox, make_order): a connection to a fresh ChannelAdvisor sandbox; make_order(*(sku, qty))."""
    from integrations.models import Connection
    from sandbox import services
    from sandbox.channeladvisor import actions, auth

    sandbox, _ = services.create_sandbox(f"ca-ship-{org.pk}")
    secrets = services.issue_credentials(sandbox, live_server.url)["channeladvisor"]
    names = {name for name, _ in Connection(kind="channeladvisor").kind_spec.secrets}
    connection = Connection.objects.create(
        organization=org, kind="channeladvisor", name="ca sandbox", base_url=secrets["base_url"], sandbox=sandbox,
        credentials={k: v for k, v in secrets.items() if k in names}, settings={"profile_id": secrets["profile_id"]})
    config = auth.config_for(sandbox)

    def make_order(*lines):
        items = [{"Sku": sku, "Quantity": quantity, "UnitPrice": 5} for sku, quantity in lines]
        return actions.create_order(sandbox, config, {"Items": items, "PaymentStatus": "Submitted"}).id

    return ChannelAdvisorClient(connection), sandbox, make_order


def v1_calls(sandbox, **filters):
    from sandbox.models import SandboxCall

    return SandboxCall.objects.filter(sandbox=sandbox, system="channeladvisor", endpoint__startswith="v1/", **filters)


def counted(sandbox, action):
    """(result, v1 calls the action made) — the token call is not one."""
    before = v1_calls(sandbox).count()
    result = action()
    return result, v1_calls(sandbox).count() - before


@pytest.mark.django_db(transaction=True)
def test_ship_replay_after_a_lost_answer_returns_the_fulfillment(ca_sandbox):
    from sandbox import services
    from sandbox.channeladvisor.models import Fulfillment

    client, sandbox, make_order = ca_sandbox
    order_id = make_order(("WLD-1", 2), ("WLD-2", 1))
    default_id = client.fulfillments(order_id)[0].source_id  # (and the token, before the fault: it is a POST)
    services.set_faults(sandbox, "channeladvisor", commit_then_fail_rate=1.0)
    with pytest.raises(errors.TransientError):  # the write committed, the answer was lost
        client.ship(order_id, shipment(("WLD-1", 2), ("WLD-2", 1), tracking="1ZLOST"), carrier="UPS",
                    shipping_class="Ground")
    services.set_faults(sandbox, "channeladvisor", "none")
    again, calls = counted(sandbox, lambda: client.ship(order_id, shipment(("WLD-1", 2), ("WLD-2", 1),
                                                                           tracking="1ZLOST"),
                                                         carrier="UPS", shipping_class="Ground"))
    assert again.already and again.source_id == default_id and again.state == "Shipped" and calls == 1
    assert {(line.sku, line.quantity) for line in again.lines} == {("WLD-1", 2), ("WLD-2", 1)}
    assert Fulfillment.objects.filter(order_id=order_id, tracking_number="1ZLOST").count() == 1
    assert Fulfillment.objects.filter(order_id=order_id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_split_shipment_then_the_rest_in_two_calls_each(ca_sandbox):
    client, sandbox, make_order = ca_sandbox
    order_id = make_order(("WLD-1", 3), ("WLD-2", 1))
    first, calls = counted(sandbox, lambda: client.ship(order_id, shipment(("WLD-1", 1), tracking="T-1",
                                                                           source_id="SHP-1"),
                                                        carrier="FedEx", shipping_class="Ground"))
    assert calls == 2 and (first.state, first.already) == ("PartiallyShipped", False)
    second, calls = counted(sandbox, lambda: client.ship(order_id, shipment(("WLD-1", 2), ("WLD-2", 1),
                                                                            tracking="T-2", source_id="SHP-2"),
                                                         carrier="UPS", shipping_class="Next Day Air"))
    assert calls == 2 and second.state == "Shipped" and second.source_id != first.source_id
    listed = {f.source_id: f for f in client.fulfillments(order_id)}
    assert set(listed) == {first.source_id, second.source_id}
    assert listed[first.source_id].tracking_number == "T-1" and listed[first.source_id].state == "Shipped"
    assert listed[second.source_id].extra["SellerFulfillmentID"] == "SHP-2"
    assert [(line.sku, line.quantity) for line in listed[first.source_id].lines] == [("WLD-1", 1)]
    # a replay without a tracking number is still found, by SellerFulfillmentID
    replay = client.ship(order_id, shipment(("WLD-1", 1), tracking="", source_id="SHP-1"))
    assert replay.already and replay.source_id == first.source_id


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lines,tracking,path,code", [
    ([("NOPE-1", 1)], "T", "Lines[0].SKU", "unknown_sku"),
    ([("WLD-1", 1), ("WLD-1", 2)], "T", "Lines[1].Quantity", "quantity_exceeds"),
    ([], "T", "Lines", "required"),
    ([("WLD-1", 1)], "1Z" + "9" * 49, "TrackingNumber", "max_length"),
])
def test_refusals_before_any_write(ca_sandbox, lines, tracking, path, code):
    client, sandbox, make_order = ca_sandbox
    order_id = make_order(("WLD-1", 2))
    with pytest.raises(errors.ValidationFailed) as info:
        client.ship(order_id, shipment(*lines, tracking=tracking), carrier="UPS", shipping_class="Ground")
    assert [(f.path, f.code) for f in info.value.fields] == [(path, code)]
    assert not info.value.retryable and info.value.fields[0].message
    assert not v1_calls(sandbox, method="POST").exists()


@pytest.mark.django_db(transaction=True)
def test_unknown_carrier_and_canceled_order(ca_sandbox):
    client, sandbox, make_order = ca_sandbox
    order_id = make_order(("WLD-1", 1))
    with pytest.raises(errors.ValidationFailed) as info:
        client.ship(order_id, shipment(("WLD-1", 1)), carrier="UPS", shipping_class="Teleport")
    assert [(f.path, f.code) for f in info.value.fields] == [("ShippingCarrier", "invalid_carrier")]
    assert client.fulfillments(order_id)[0].extra["DeliveryStatus"] == "NoChange"
    assert client.cancel(order_id, reference="TIMS-CXL-1") == "cancelled"
    with pytest.raises(errors.ValidationFailed) as info:
        client.ship(order_id, shipment(("WLD-1", 1)), carrier="UPS", shipping_class="Ground")
    assert info.value.has_code("order_cancelled")


@pytest.mark.django_db(transaction=True)
def test_cancel_once_then_already_and_never_after_shipping(ca_sandbox):
    from sandbox import services
    from sandbox.channeladvisor.models import Adjustment

    client, sandbox, make_order = ca_sandbox
    order_id = make_order(("WLD-1", 2), ("WLD-2", 1))
    client.token()  # before the fault: the token request is a POST too
    services.set_faults(sandbox, "channeladvisor", commit_then_fail_rate=1.0)
    with pytest.raises(errors.TransientError):
        client.cancel(order_id, reference="TIMS-CXL-7")
    services.set_faults(sandbox, "channeladvisor", "none")
    result, calls = counted(sandbox, lambda: client.cancel(order_id, reference="TIMS-CXL-7"))
    assert (result, calls) == ("already", 1)
    assert list(Adjustment.objects.filter(order_id=order_id).values_list("seller_adjustment_id", flat=True)) == [
        "TIMS-CXL-7"]
    shipped_id = make_order(("WLD-1", 1))
    client.ship(shipped_id, shipment(("WLD-1", 1)), carrier="USPS", shipping_class="Priority")
    with pytest.raises(errors.ValidationFailed) as info:
        counted(sandbox, lambda: client.cancel(shipped_id, reference="TIMS-CXL-8"))
    assert info.value.has_code("already_shipped")
    fresh_id = make_order(("WLD-3", 1))
    assert counted(sandbox, lambda: client.cancel(fresh_id, reference="TIMS-CXL-9")) == ("cancelled", 2)
