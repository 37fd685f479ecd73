"""Inventory quantity, adjustments, the change feed with cursors, the events feed and signed webhooks."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from sandbox import core
from sandbox.models import WebhookSubscription
from sandbox.tims import backoffice

from .conftest import error_codes, order_body


def test_quantity_shape_and_adjustments(tims):
    backoffice.set_stock(tims.sandbox, "HLM-00005", 20)
    level = tims.get("inventory/items/HLM-00005/quantity").json()
    assert level["SKU"] == "HLM-00005" and level["Location"] == "MAIN"
    assert (level["OnHand"], level["Allocated"], level["Available"]) == (20, 0, 20)
    assert level["UpdatedAt"].endswith("Z")
    assert tims.get("inventory/items/NOPE-9/quantity").status_code == 404
    assert tims.get("inventory/items/HLM-00005/quantity", location="NOWHERE").status_code == 404

    adjusted = tims.post("inventory/adjustments", {"SKU": "HLM-00005", "Location": "MAIN", "Quantity": -3,
                                                   "ReasonCode": "DAMAGE", "Reference": "count 7"}, key="adj-1")
    assert adjusted.status_code == 201 and adjusted.json()["OnHand"] == 17
    again = tims.post("inventory/adjustments", {"SKU": "HLM-00005", "Location": "MAIN", "Quantity": -3,
                                                "ReasonCode": "DAMAGE", "Reference": "count 7"}, key="adj-1")
    assert again.json() == adjusted.json()
    assert tims.get("inventory/items/HLM-00005/quantity").json()["OnHand"] == 17
    assert error_codes(tims.post("inventory/adjustments", {"SKU": "NOPE-1", "Quantity": 1, "ReasonCode": "X"})) \
        == {("SKU", "unknown_sku")}
    too_many = tims.post("inventory/adjustments", {"SKU": "HLM-00005", "Quantity": -100, "ReasonCode": "COUNT"})
    assert too_many.status_code == 422 and error_codes(too_many) == {("Quantity", "insufficient_stock")}
    assert error_codes(tims.post("inventory/adjustments", {"SKU": "HLM-00005", "Quantity": 0, "ReasonCode": "X"})) \
        == {("Quantity", "min_value")}


def test_change_feed_with_cursors(tims):
    for quantity, sku in enumerate(["WLD-00001", "ARG-00002", "TIG-00003", "GLV-00004", "HLM-00005"]):
        backoffice.set_stock(tims.sandbox, sku, quantity)
    first = tims.get("inventory/changes", page_size=2).json()
    assert set(first) == {"results", "cursor"} and len(first["results"]) == 2
    assert set(first["results"][0]) == {"SKU", "Location", "Available", "ChangedAt", "Seq"}
    everything = []
    cursor = None
    while True:
        page = tims.get("inventory/changes", **({"cursor": cursor} if cursor else {}), page_size=3).json()
        if not page["results"]:
            break
        everything += page["results"]
        cursor = page["cursor"]
    seqs = [row["Seq"] for row in everything]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # Nothing new: same cursor, no rows. A change: exactly that change after the cursor.
    assert tims.get("inventory/changes", cursor=cursor).json() == {"results": [], "cursor": cursor}
    backoffice.set_stock(tims.sandbox, "WLD-00001", 42)
    news = tims.get("inventory/changes", cursor=cursor).json()
    assert [(r["SKU"], r["Available"]) for r in news["results"]] == [("WLD-00001", 42)]
    assert news["cursor"] != cursor
    bad = tims.get("inventory/changes", cursor="garbage!")
    assert bad.status_code == 400 and error_codes(bad) == {("cursor", "invalid_cursor")}


def test_events_feed_covers_the_four_event_types(tims):
    start = tims.get("events", page_size=200).json()["cursor"]
    while True:  # skip to the end of the history made by the fixture
        page = tims.get("events", cursor=start, page_size=200).json()
        if not page["results"]:
            break
        start = page["cursor"]
    backoffice.set_stock(tims.sandbox, "WLD-00001", 10)
    order = tims.post("sales-orders", order_body()).json()
    backoffice.ship(tims.sandbox, order["SalesOrderID"], carrier="DHL", tracking_number="JD0001")
    backoffice.invoice(tims.sandbox, order["SalesOrderID"])
    backoffice.update_item(tims.sandbox, "ARG-00002", unit_price="33.00")
    events = tims.get("events", cursor=start).json()["results"]
    types = [e["Type"] for e in events]
    assert {"inventory.changed", "shipment.created", "invoice.created", "item.updated"} <= set(types)
    shipment = next(e for e in events if e["Type"] == "shipment.created")["Data"]
    assert shipment["TrackingNumber"] == "JD0001" and shipment["Carrier"] == "DHL"
    only_invoices = tims.get("events", cursor=start, type="invoice.created").json()["results"]
    assert [e["Type"] for e in only_invoices] == ["invoice.created"]


class _Receiver(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_signed_webhooks_reach_a_subscriber(tims):
    receiver = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    _Receiver.received.clear()
    WebhookSubscription.objects.create(sandbox=tims.sandbox, system="tims", events=["item.updated"],
                                       url=f"http://127.0.0.1:{receiver.server_port}/hook",
                                       signing={"secret": "hook-secret"})
    backoffice.update_item(tims.sandbox, "REG-00006", unit_price="55.00")
    deadline = time.monotonic() + 5
    while not _Receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)
    receiver.shutdown()
    assert len(_Receiver.received) == 1
    headers, body = _Receiver.received[0]
    # HMAC-SHA256 over "<timestamp>.<raw body>", recomputed here by hand.
    timestamp = headers[core.TIMESTAMP_HEADER]
    expected = hmac.new(b"hook-secret", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers[core.SIGNATURE_HEADER] == expected
    payload = json.loads(body)
    assert payload["Type"] == "item.updated" and payload["Data"]["SKU"] == "REG-00006"
