"""Contract: a webhook with the full order for each new paid order; provisioning: credentials, reset, generate."""

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from sandbox import core, services
from sandbox.channeladvisor import provision
from sandbox.channeladvisor.models import CarrierClass, Order, Product
from sandbox.models import SandboxCredential, WebhookDelivery, WebhookSubscription


@pytest.fixture
def receiver():
    """A local HTTP endpoint that records what is POSTed to it."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/ca", received
    server.shutdown()
    server.server_close()


def wait_for(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_new_paid_order_is_posted_to_the_subscriber(ca, sandbox, receiver):
    url, received = receiver
    WebhookSubscription.objects.create(sandbox=sandbox, system="channeladvisor", url=url, signing={"secret": "s3"})
    created = ca.post("Orders", json={"SiteOrderID": "PAID-1", "PaymentStatus": "Cleared",
                                      "Items": [{"Sku": "ARG-00002", "Quantity": 1, "UnitPrice": 30}]})
    assert created.status_code == 201
    ca.post("Orders", json={"SiteOrderID": "UNPAID-1", "PaymentStatus": "NotYetSubmitted",
                            "Items": [{"Sku": "ARG-00002", "Quantity": 1, "UnitPrice": 30}]})
    assert wait_for(lambda: received)
    headers, payload = received[0]
    assert payload["SiteOrderID"] == "PAID-1" and payload["PaymentStatus"] == "Cleared"
    assert payload["Items"][0]["Sku"] == "ARG-00002" and "Fulfillments" in payload
    raw = json.dumps(payload, sort_keys=True).encode()
    assert headers[core.SIGNATURE_HEADER] == core.sign("s3", headers[core.TIMESTAMP_HEADER], raw)
    time.sleep(0.3)
    assert [p["SiteOrderID"] for _, p in received] == ["PAID-1"]  # the unpaid order sent nothing


def test_generate_queues_a_webhook_per_cleared_order(ca, sandbox):
    WebhookSubscription.objects.create(sandbox=sandbox, system="channeladvisor", url="http://127.0.0.1:9/none",
                                       signing={"secret": "x"})
    summary = ca.generate(orders=10)
    cleared = [row["ID"] for row in summary["orders"] if row["PaymentStatus"] == "Cleared"]
    bodies = [json.loads(d.body) for d in WebhookDelivery.objects.filter(subscription__sandbox=sandbox)]
    assert sorted(body["ID"] for body in bodies) == sorted(cleared)
    assert all(body["Items"] for body in bodies)


def test_issue_credentials_stores_only_hashes(ca, sandbox):
    stored = SandboxCredential.objects.filter(sandbox=sandbox, system="channeladvisor")
    hashes = set(stored.values_list("secret_hash", flat=True))
    assert ca.credentials["shared_secret"] not in hashes and ca.credentials["refresh_token"] not in hashes
    assert stored.filter(identifier=ca.credentials["application_id"]).count() == 2


def test_reset_removes_business_data_and_keeps_credentials(ca, sandbox):
    ca.generate(orders=3, products=3)
    token = ca.access_token
    services.reset_sandbox(sandbox, ["channeladvisor"])
    assert not Order.objects.filter(sandbox=sandbox).exists()
    assert not Product.objects.filter(sandbox=sandbox).exists()
    assert CarrierClass.objects.filter(sandbox=sandbox, carrier="DHL", shipping_class="Express").exists()
    assert ca.get("Orders", token=token).json()["value"] == []
    assert ca.token_response().status_code == 200


def test_generate_refuses_an_unknown_state(sandbox):
    with pytest.raises(ValueError, match="ShippingStatus"):
        provision.generate(sandbox, orders=1, products=0, customers=0, state="Lost", unknown_sku=0,
                           rng=random.Random(1))


def test_injected_faults_use_the_odata_envelope(ca, sandbox):
    token = ca.access_token
    services.set_faults(sandbox, "channeladvisor", error_rate=1.0)
    response = ca.get("Orders", token=token)
    assert response.status_code in (500, 502, 503)
    assert set(response.json()["error"]) == {"code", "message"}
