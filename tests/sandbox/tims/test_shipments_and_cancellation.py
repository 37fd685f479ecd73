"""Partial shipments, cancellation and the order events (shipment.created, sales_order.status_changed,
sales_order.cancelled), the CLI and admin for them, and the shipment read endpoints."""

import io
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from sandbox import services
from sandbox.models import SandboxCall, WebhookDelivery, WebhookSubscription
from sandbox.tims import backoffice
from sandbox.tims.models import Event, SalesOrder, Shipment
from sandbox.tims.operations import ActionRefused

from .conftest import error_codes, order_body

ORDER_EVENTS = ("shipment.created", "sales_order.status_changed", "sales_order.cancelled")


def _two_line_order(tims, wld=3, arg=2, stock=5):
    backoffice.set_stock(tims.sandbox, "WLD-00001", stock)
    backoffice.set_stock(tims.sandbox, "ARG-00002", stock)
    body = order_body(LineItems=[{"SKU": "WLD-00001", "Quantity": wld, "Price": "10.00"},
                                 {"SKU": "ARG-00002", "Quantity": arg, "Price": "20.00"}])
    return tims.post("sales-orders", body).json()


def _events_after(sandbox, seq):
    return [{"Type": e.type, "Data": e.data, "Seq": e.seq}
            for e in Event.objects.filter(sandbox=sandbox, seq__gt=seq).order_by("seq")]


def _last_seq(sandbox):
    last = Event.objects.filter(sandbox=sandbox).order_by("-seq").first()
    return last.seq if last else 0


def _stock(tims, sku):
    level = tims.get(f"inventory/items/{sku}/quantity").json()
    return level["OnHand"], level["Allocated"], level["Available"]


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def subscriber(tims):
    """A subscription to the order events with a receiver that answers 200, so deliveries leave cleanly."""
    receiver = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    subscription = WebhookSubscription.objects.create(
        sandbox=tims.sandbox, system="tims", events=list(ORDER_EVENTS),
        url=f"http://127.0.0.1:{receiver.server_port}/hook", signing={"secret": "s"})
    yield subscription
    receiver.shutdown()
    receiver.server_close()


def test_partial_shipment_then_the_rest(tims, subscriber):
    order = _two_line_order(tims)
    code, start = order["SalesOrderID"], _last_seq(tims.sandbox)

    first = backoffice.ship(tims.sandbox, code, carrier="FedEx", tracking_number="FX1", shipping_class="2Day",
                            lines=[("WLD-00001", 1)])
    assert first["order"]["OrderStatus"] == "PartiallyShipped"
    assert first["shipment"]["Lines"] == [{"SKU": "WLD-00001", "Quantity": 1}]
    assert first["shipment"]["ExternalOrderID"] == order["ExternalOrderID"]
    assert (first["shipment"]["Carrier"], first["shipment"]["ShippingClass"]) == ("FedEx", "2Day")
    assert [line["ShippedQuantity"] for line in first["order"]["LineItems"]] == [1, 0]
    assert _stock(tims, "WLD-00001") == (4, 0, 4)

    rest = backoffice.ship(tims.sandbox, code)  # None: everything still to ship that stock allows
    assert rest["order"]["OrderStatus"] == "Fulfilled"
    assert rest["shipment"]["Lines"] == [{"SKU": "WLD-00001", "Quantity": 2}, {"SKU": "ARG-00002", "Quantity": 2}]
    assert _stock(tims, "WLD-00001") == (2, 0, 2) and _stock(tims, "ARG-00002") == (3, 0, 3)

    events = [e for e in _events_after(tims.sandbox, start) if e["Type"] != "inventory.changed"]
    assert [e["Type"] for e in events] == ["shipment.created", "sales_order.status_changed"] * 2
    assert events[0]["Data"] == first["shipment"] and events[2]["Data"] == rest["shipment"]
    expected_shape = {"ShipmentID", "SalesOrderID", "ExternalOrderID", "Carrier", "ShippingClass", "TrackingNumber",
                      "ShippedAt", "Lines", "UpdatedAt"}
    assert set(events[0]["Data"]) == expected_shape
    base = {"SalesOrderID": code, "ExternalOrderID": order["ExternalOrderID"]}
    assert events[1]["Data"] == base | {"OrderStatus": "PartiallyShipped", "PreviousStatus": "Open",
                                        "Version": first["order"]["Version"]}
    assert events[3]["Data"] == base | {"OrderStatus": "Fulfilled", "PreviousStatus": "PartiallyShipped",
                                        "Version": rest["order"]["Version"]}
    stock_events = [e for e in _events_after(tims.sandbox, start) if e["Type"] == "inventory.changed"]
    assert [(e["Data"]["SKU"], e["Data"]["Available"]) for e in stock_events] == [
        ("WLD-00001", 4), ("WLD-00001", 2), ("ARG-00002", 3)]

    # Each event also queued a signed webhook whose body is the event's feed entry.
    deliveries = list(WebhookDelivery.objects.filter(subscription=subscriber).order_by("id"))
    assert [d.event for d in deliveries] == [e["Type"] for e in events]
    assert [(json.loads(d.body)["Seq"], json.loads(d.body)["Data"]) for d in deliveries] == [
        (e["Seq"], e["Data"]) for e in events]


def test_shipping_takes_the_orders_reservation_first(tims):
    order = _two_line_order(tims, wld=3, stock=3)
    backoffice.allocate(tims.sandbox, order["SalesOrderID"])
    assert _stock(tims, "WLD-00001") == (3, 3, 0)  # nothing free, but all of it reserved for this order
    shipped = backoffice.ship(tims.sandbox, order["SalesOrderID"], lines=[("WLD-00001", 2)])
    assert shipped["order"]["OrderStatus"] == "PartiallyShipped"
    assert _stock(tims, "WLD-00001") == (1, 1, 0)
    assert shipped["order"]["LineItems"][0]["AllocatedQuantity"] == 1


def test_the_same_sku_on_two_lines_ships_line_by_line(tims):
    backoffice.set_stock(tims.sandbox, "WLD-00001", 10)
    body = order_body(LineItems=[{"SKU": "WLD-00001", "Quantity": 2, "Price": "10.00"},
                                 {"SKU": "WLD-00001", "Quantity": 3, "Price": "9.00"}])
    code = tims.post("sales-orders", body).json()["SalesOrderID"]
    shipped = backoffice.ship(tims.sandbox, code, lines=[("WLD-00001", 1), ("WLD-00001", 2)])
    assert shipped["shipment"]["Lines"] == [{"SKU": "WLD-00001", "Quantity": 3}]
    assert [line["ShippedQuantity"] for line in shipped["order"]["LineItems"]] == [2, 1]
    with pytest.raises(ActionRefused) as refused:
        backoffice.ship(tims.sandbox, code, lines=[("WLD-00001", 3)])
    assert (refused.value.code, refused.value.field) == ("exceeds_unshipped", "Lines[0].Quantity")
    assert backoffice.ship(tims.sandbox, code, lines=[("WLD-00001", 2)])["order"]["OrderStatus"] == "Fulfilled"


def _refusal(sandbox, code, **options):
    with pytest.raises(ActionRefused) as refused:
        backoffice.ship(sandbox, code, **options)
    return refused.value.code, refused.value.field, refused.value.status


def test_each_shipment_refusal_changes_nothing(tims):
    order = _two_line_order(tims, wld=3, arg=2, stock=5)
    code = order["SalesOrderID"]
    backoffice.set_stock(tims.sandbox, "ARG-00002", 1)
    start = _last_seq(tims.sandbox)
    cases = [
        ({"lines": []}, ("required", "Lines", 422)),
        ({"lines": [("WLD-00001", 0)]}, ("min_value", "Lines[0].Quantity", 422)),
        ({"lines": [("WLD-00001", 1), ("ARG-00002", -1)]}, ("min_value", "Lines[1].Quantity", 422)),
        ({"lines": [("WLD-00001", "2")]}, ("invalid_integer", "Lines[0].Quantity", 422)),
        ({"lines": ["WLD-00001"]}, ("invalid_type", "Lines[0]", 422)),
        ({"lines": [(["WLD-00001"], 1)]}, ("invalid_type", "Lines[0].SKU", 422)),
        ({"lines": [("TIG-00003", 1)]}, ("not_on_order", "Lines[0].SKU", 422)),
        ({"lines": [("WLD-00001", 4)]}, ("exceeds_unshipped", "Lines[0].Quantity", 422)),
        ({"lines": [("WLD-00001", 2), ("WLD-00001", 2)]}, ("exceeds_unshipped", "Lines[1].Quantity", 422)),
        ({"lines": [("ARG-00002", 2)]}, ("insufficient_stock", "Lines[0].Quantity", 422)),
        ({"tracking_number": "T" * 61}, ("max_length", "TrackingNumber", 422)),
        ({"carrier": "C" * 41}, ("max_length", "Carrier", 422)),
        ({"carrier": " "}, ("required", "Carrier", 422)),
        ({"tracking_number": "1Z\x00"}, ("invalid_characters", "TrackingNumber", 422)),
    ]
    for options, expected in cases:
        assert _refusal(tims.sandbox, code, **options) == expected, options
    assert not Shipment.objects.filter(order__code=code, sandbox=tims.sandbox).exists()
    assert _events_after(tims.sandbox, start) == []
    assert _stock(tims, "WLD-00001") == (5, 0, 5)
    assert tims.get(f"sales-orders/{code}").json()["Version"] == order["Version"]

    longest = backoffice.ship(tims.sandbox, code, tracking_number="T" * 60, lines=[("ARG-00002", 1)])
    assert longest["shipment"]["TrackingNumber"] == "T" * 60


def test_orders_on_hold_cancelled_or_closed_do_not_ship(tims):
    backoffice.set_stock(tims.sandbox, "WLD-00001", 10)
    held = tims.post("sales-orders", order_body(OrderStatus="OnHold")).json()["SalesOrderID"]
    assert _refusal(tims.sandbox, held) == ("invalid_status", "OrderStatus", 409)
    cancelled = tims.post("sales-orders", order_body()).json()["SalesOrderID"]
    backoffice.cancel(tims.sandbox, cancelled)
    assert _refusal(tims.sandbox, cancelled, lines=[("WLD-00001", 1)]) == ("invalid_status", "OrderStatus", 409)
    closed = tims.post("sales-orders", order_body()).json()["SalesOrderID"]
    backoffice.ship(tims.sandbox, closed)
    assert tims.patch(f"sales-orders/{closed}", {"OrderStatus": "Closed"}).status_code == 200
    assert _refusal(tims.sandbox, closed) == ("invalid_status", "OrderStatus", 409)
    fulfilled = tims.post("sales-orders", order_body()).json()["SalesOrderID"]
    backoffice.ship(tims.sandbox, fulfilled)
    with pytest.raises(ActionRefused, match="nothing left to ship"):
        backoffice.ship(tims.sandbox, fulfilled)


def test_an_order_invoiced_before_shipping_stays_invoiced(tims):
    order = _two_line_order(tims)
    code = order["SalesOrderID"]
    start = _last_seq(tims.sandbox)
    backoffice.invoice(tims.sandbox, code)
    shipped = backoffice.ship(tims.sandbox, code, lines=[("ARG-00002", 2)])
    assert shipped["order"]["OrderStatus"] == "Invoiced"
    moves = [e["Data"] for e in _events_after(tims.sandbox, start) if e["Type"] == "sales_order.status_changed"]
    assert [(m["PreviousStatus"], m["OrderStatus"]) for m in moves] == [("Open", "Invoiced")]  # shipping: no move


def test_cancel_before_shipping_releases_stock_and_emits_events(tims, subscriber):
    order = _two_line_order(tims, wld=3, arg=2, stock=5)
    code = order["SalesOrderID"]
    allocated = backoffice.allocate(tims.sandbox, code)
    assert allocated["order"]["OrderStatus"] == "Allocated" and _stock(tims, "WLD-00001") == (5, 3, 2)
    start = _last_seq(tims.sandbox)

    result = backoffice.cancel(tims.sandbox, code)
    assert result["order"]["OrderStatus"] == "Cancelled"
    assert _stock(tims, "WLD-00001") == (5, 0, 5) and _stock(tims, "ARG-00002") == (5, 0, 5)
    events = _events_after(tims.sandbox, start)
    assert [e["Type"] for e in events] == ["inventory.changed", "inventory.changed", "sales_order.cancelled",
                                           "sales_order.status_changed"]
    base = {"SalesOrderID": code, "ExternalOrderID": order["ExternalOrderID"], "OrderStatus": "Cancelled",
            "PreviousStatus": "Allocated", "Version": result["order"]["Version"]}
    assert events[2]["Data"] == base | {"CancelledAt": result["order"]["UpdatedAt"]}
    assert events[3]["Data"] == base
    queued = [d.event for d in WebhookDelivery.objects.filter(subscription=subscriber).order_by("id")]
    assert queued[-2:] == ["sales_order.cancelled", "sales_order.status_changed"]
    with pytest.raises(ActionRefused) as again:
        backoffice.cancel(tims.sandbox, code)
    assert again.value.code == "already_cancelled"


def test_cancel_through_the_api_is_the_same_cancel(tims):
    backoffice.set_stock(tims.sandbox, "ARG-00002", 5)
    order = tims.post("sales-orders", order_body(sku="ARG-00002")).json()
    path = f"sales-orders/{order['SalesOrderID']}"
    backoffice.allocate(tims.sandbox, order["SalesOrderID"])
    start = _last_seq(tims.sandbox)
    answer = tims.patch(path, {"OrderStatus": "Cancelled", "ShippingMethod": "none"}, key="cancel-1")
    assert answer.status_code == 200, answer.text
    cancelled = answer.json()
    assert cancelled["OrderStatus"] == "Cancelled" and cancelled["ShippingMethod"] == "none"
    assert cancelled["Version"] == order["Version"] + 2  # allocate, then one PATCH: one Version each
    events = [e for e in _events_after(tims.sandbox, start) if e["Type"] != "inventory.changed"]
    assert [(e["Type"], e["Data"]["Version"]) for e in events] == [
        ("sales_order.cancelled", cancelled["Version"]), ("sales_order.status_changed", cancelled["Version"])]
    assert events[0]["Data"]["CancelledAt"] == cancelled["UpdatedAt"]
    assert _stock(tims, "ARG-00002") == (5, 0, 5)
    replay = tims.patch(path, {"OrderStatus": "Cancelled", "ShippingMethod": "none"}, key="cancel-1")
    assert replay.json() == cancelled and replay.headers["Idempotent-Replayed"] == "true"
    twice = tims.patch(path, {"OrderStatus": "Cancelled"})
    assert twice.status_code == 422 and error_codes(twice) == {("OrderStatus", "already_cancelled")}
    assert len(_events_after(tims.sandbox, start)) == len(events) + 1  # the release's one inventory.changed


def test_a_cancel_whose_answer_is_lost_has_committed(tims):
    order = tims.post("sales-orders", order_body()).json()
    path = f"sales-orders/{order['SalesOrderID']}"
    services.set_faults(tims.sandbox, "tims", commit_then_fail_rate=1.0)
    lost = tims.patch(path, {"OrderStatus": "Cancelled"}, key="lost-cancel")
    services.set_faults(tims.sandbox, "tims", "none")
    assert lost.status_code == 500 and error_codes(lost) == {(None, "server_error")}
    assert SalesOrder.objects.get(sandbox=tims.sandbox, code=order["SalesOrderID"]).status == "Cancelled"
    replay = tims.patch(path, {"OrderStatus": "Cancelled"}, key="lost-cancel")
    assert replay.status_code == 200 and replay.json()["OrderStatus"] == "Cancelled"
    cancellations = Event.objects.filter(sandbox=tims.sandbox, type="sales_order.cancelled")
    assert cancellations.count() == 1


def test_cancel_after_shipping_is_refused(tims):
    order = _two_line_order(tims)
    code = order["SalesOrderID"]
    backoffice.ship(tims.sandbox, code, lines=[("WLD-00001", 1)])
    with pytest.raises(ActionRefused) as refused:
        backoffice.cancel(tims.sandbox, code)
    assert (refused.value.code, refused.value.field) == ("not_cancellable", "OrderStatus")
    assert "PartiallyShipped" in refused.value.message and "return" in refused.value.message
    answer = tims.patch(f"sales-orders/{code}", {"OrderStatus": "Cancelled"})
    assert answer.status_code == 422 and error_codes(answer) == {("OrderStatus", "not_cancellable")}
    assert tims.get(f"sales-orders/{code}").json()["OrderStatus"] == "PartiallyShipped"

    invoiced = tims.post("sales-orders", order_body()).json()["SalesOrderID"]
    backoffice.invoice(tims.sandbox, invoiced)  # billed, nothing shipped yet: still too late to cancel
    with pytest.raises(ActionRefused, match="Invoiced"):
        backoffice.cancel(tims.sandbox, invoiced)


def test_status_changed_only_when_the_status_moves(tims):
    backoffice.set_stock(tims.sandbox, "WLD-00001", 10)
    order = tims.post("sales-orders", order_body()).json()
    code, path = order["SalesOrderID"], f"sales-orders/{order['SalesOrderID']}"
    start = _last_seq(tims.sandbox)
    tims.patch(path, {"ShippingMethod": "DHL"})
    tims.patch(path, {"OrderStatus": "Open"})
    held = tims.patch(path, {"OrderStatus": "OnHold"}).json()
    tims.patch(path, {"OrderStatus": "Open"})
    backoffice.allocate(tims.sandbox, code)
    backoffice.allocate(tims.sandbox, code)  # already Allocated: reserves nothing, moves nothing
    moves = [e["Data"] for e in _events_after(tims.sandbox, start) if e["Type"] == "sales_order.status_changed"]
    assert [(m["PreviousStatus"], m["OrderStatus"]) for m in moves] == [
        ("Open", "OnHold"), ("OnHold", "Open"), ("Open", "Allocated")]
    assert moves[0]["Version"] == held["Version"]


def test_status_events_are_in_the_feed_and_filterable(tims):
    order = tims.post("sales-orders", order_body()).json()
    tims.patch(f"sales-orders/{order['SalesOrderID']}", {"OrderStatus": "Cancelled"})
    feed = tims.get("events", type="sales_order.cancelled,sales_order.status_changed").json()["results"]
    assert [e["Type"] for e in feed] == ["sales_order.cancelled", "sales_order.status_changed"]
    assert set(feed[0]) == {"Seq", "Type", "CreatedAt", "Data"} and feed[0]["CreatedAt"].endswith("Z")


# --- the command line and the admin ---

def _cli(*args):
    out = io.StringIO()
    call_command("tims_backoffice", *args, stdout=out)
    return json.loads(out.getvalue())


def test_cli_ships_lines_and_cancels(tims):
    order = _two_line_order(tims)
    code, slug = order["SalesOrderID"], tims.sandbox.slug
    partial = _cli("ship", "--slug", slug, "--order", code, "--lines", "WLD-00001:2, ARG-00002:1",
                   "--carrier", "DHL", "--class", "Express", "--tracking", "JD01")
    assert partial["shipment"]["Lines"] == [{"SKU": "WLD-00001", "Quantity": 2}, {"SKU": "ARG-00002", "Quantity": 1}]
    assert (partial["shipment"]["ShippingClass"], partial["order"]["OrderStatus"]) == ("Express", "PartiallyShipped")
    old_name = _cli("ship", "--slug", slug, "--order", code, "--lines", "ARG-00002:1", "--shipping-class", "Air")
    assert old_name["shipment"]["ShippingClass"] == "Air"
    with pytest.raises(CommandError, match="not_cancellable"):
        _cli("cancel", "--slug", slug, "--order", code)

    other = tims.post("sales-orders", order_body()).json()["SalesOrderID"]
    assert _cli("cancel", "--slug", slug, "--order", other)["order"]["OrderStatus"] == "Cancelled"
    with pytest.raises(CommandError, match="SO999999"):
        _cli("cancel", "--slug", slug, "--order", "SO999999")


@pytest.mark.parametrize("lines", ["WLD-00001", "WLD-00001:two", ":2", "", "WLD-00001:1,,ARG-00002:1",
                                   "WLD-00001:1.5"])
def test_cli_lines_that_do_not_parse_are_plain_errors(tims, lines):
    order = _two_line_order(tims)
    with pytest.raises(CommandError) as error:
        _cli("ship", "--slug", tims.sandbox.slug, "--order", order["SalesOrderID"], "--lines", lines)
    problem = json.loads(str(error.value))
    assert problem["error"] == "invalid_lines" and "SKU:QUANTITY" in problem["message"]


def test_cli_refusal_is_one_line_and_exit_status_1(tims):
    """Run as staff would: a refusal prints a message on stderr and exits 1, without a traceback."""
    order = _two_line_order(tims)
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"
    command = [sys.executable, "manage.py", "tims_backoffice", "ship", "--slug", tims.sandbox.slug,
               "--order", order["SalesOrderID"]]
    env = {**os.environ, "DATABASE_URL": url}
    for extra in (["--lines", "WLD-00001:x"], ["--lines", "WLD-00001:0"]):
        done = subprocess.run(command + extra, capture_output=True, text=True, timeout=120, env=env,
                              cwd=settings.BASE_DIR)
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""
        assert ("invalid_lines" if "x" in extra[1] else "min_value") in done.stderr


def test_admin_cancel_action(tims):
    backoffice.set_stock(tims.sandbox, "HLM-00005", 8)
    open_order = tims.post("sales-orders", order_body(sku="HLM-00005")).json()["SalesOrderID"]
    shipped_order = tims.post("sales-orders", order_body(sku="HLM-00005")).json()["SalesOrderID"]
    backoffice.ship(tims.sandbox, shipped_order)
    rows = SalesOrder.objects.filter(sandbox=tims.sandbox, code__in=[open_order, shipped_order])
    user = get_user_model().objects.create_superuser(f"admin-{tims.sandbox.slug}", "a@example.com", "pw")
    try:
        browser = Client()
        browser.force_login(user)
        answer = browser.post("/admin/sandbox_tims/salesorder/",
                              {"action": "cancel", "_selected_action": [row.pk for row in rows]}, follow=True)
        assert answer.status_code == 200
        texts = [str(message) for message in answer.context["messages"]]
        assert any("can no longer be cancelled" in text for text in texts)
        assert any("Cancelled: 1 done." in text for text in texts)
    finally:
        user.delete()
    statuses = dict(rows.values_list("code", "status"))
    assert statuses == {open_order: "Cancelled", shipped_order: "Fulfilled"}


# --- the shipment read endpoints ---

def test_read_one_shipment_and_an_orders_shipments(tims):
    order = _two_line_order(tims)
    code = order["SalesOrderID"]
    first = backoffice.ship(tims.sandbox, code, lines=[("WLD-00001", 1)])["shipment"]
    second = backoffice.ship(tims.sandbox, code, lines=[("ARG-00002", 1)])["shipment"]
    other = tims.post("sales-orders", order_body()).json()["SalesOrderID"]
    backoffice.ship(tims.sandbox, other)

    one = tims.get(f"shipments/{first['ShipmentID']}")
    assert one.status_code == 200 and one.json() == first
    assert one.json()["ExternalOrderID"] == order["ExternalOrderID"]
    missing = tims.get("shipments/SH999999")
    assert missing.status_code == 404
    assert error_codes(missing) == {(None, "not_found")} and "SH999999" in missing.json()["errors"][0]["message"]

    page = tims.get("shipments", sales_order_id=code, page_size=1).json()
    assert page["count"] == 2 and page["results"] == [first] and "page=2" in page["next"]
    rest = tims.get(page["next"]).json()
    assert rest["results"] == [second] and rest["next"] is None
    assert tims.get("shipments", sales_order_id="SO999999").json() == {"results": [], "next": None, "count": 0}
    assert tims.get("shipments", sales_order_id=code, page_size=201).status_code == 400


def test_shipment_reads_are_counted_and_take_faults(tims):
    order = tims.post("sales-orders", order_body()).json()
    backoffice.set_stock(tims.sandbox, "WLD-00001", 5)
    shipment = backoffice.ship(tims.sandbox, order["SalesOrderID"])["shipment"]
    assert tims.token
    services.set_faults(tims.sandbox, "tims", "down")
    down = tims.get(f"shipments/{shipment['ShipmentID']}")
    assert down.status_code == 503 and error_codes(down) == {(None, "server_error")}
    services.set_faults(tims.sandbox, "tims", "none")
    assert tims.get(f"shipments/{shipment['ShipmentID']}").status_code == 200
    calls = SandboxCall.objects.filter(sandbox=tims.sandbox, system="tims", endpoint="api/v1/shipments/<str:code>")
    assert sorted(calls.values_list("status", flat=True)) == [200, 503]
    unauthorized = tims.http.get(tims.url(f"shipments/{shipment['ShipmentID']}"))
    assert unauthorized.status_code == 401
