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
    assert "$skip=20" in second.request.url  # the nextLink, not a $skip we built
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


@responses.activate
def test_writes(make_connection):
    token_endpoint()
    for path in ("Orders(1001)/Ship", "Orders(1001)/Export", "Products(77)/UpdateQuantity", "Orders(1001)/Adjust"):
        responses.post(f"{BASE}/v1/{path}", status=204)
    responses.patch(f"{BASE}/v1/Products(77)", status=204)
    client = ChannelAdvisorClient(make_connection("channeladvisor"))
    from datetime import UTC, datetime
    client.ship(1001, c.Shipment(source="tims", source_id="S1", carrier="UPS", shipping_class="Ground",
                                 tracking_number="1Z999", shipped_at=datetime(2026, 3, 3, 15, 0, tzinfo=UTC)))
    client.export(1001)
    client.update_quantity(77, 12)
    client.update_prices(77, [c.Price(sku="ARG-10", price=c.Money("19.99", "USD"))])
    client.adjust(c.ReturnLine(sku="ARG-10", quantity=1, amount=c.Money("32.33", "USD")), order_id=1001)
    bodies = [json.loads(call.request.body) if call.request.body else None for call in responses.calls[1:]]
    assert bodies[0] == {"Value": {"ShippedDateUtc": "2026-03-03T15:00:00Z", "TrackingNumber": "1Z999",
                                   "ShippingCarrier": "UPS", "ShippingClass": "Ground", "DeliveryStatus": "Complete"}}
    assert bodies[1] is None
    assert bodies[2] == {"Value": {"UpdateType": "Absolute", "Updates": [{"DistributionCenterID": 0, "Quantity": 12}]}}
    assert bodies[3] == {"RetailPrice": 19.99}
    assert bodies[4] == {"Value": {"Reason": "CustomerReturnedItem", "Quantity": 1, "ItemAdjustment": 32.33}}


@responses.activate
def test_invalid_carrier_is_a_validation_error(make_connection):
    token_endpoint()
    responses.post(f"{BASE}/v1/Orders(1)/Ship", status=400, json={"Message": "Carrier and Class is invalid."})
    with pytest.raises(errors.ValidationFailed, match="Carrier and Class is invalid"):
        ChannelAdvisorClient(make_connection("channeladvisor")).ship(1, c.Shipment(source="t", source_id="1"))


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
