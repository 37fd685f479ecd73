"""The sandbox plumbing: faults replay from a seed, calls are counted, secrets are hashed, webhooks are signed."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.management import call_command
from django.http import JsonResponse
from django.test import RequestFactory

from sandbox import core, services
from sandbox.faults import Decider
from sandbox.models import SandboxCall, SandboxCredential, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox():
    Decider.reset()
    return services.create_sandbox("core-test")[0]


@core.endpoint("tims", "api/v1/ping")
def ping(request, sandbox):
    return JsonResponse({"ok": True}, status=201 if request.method == "POST" else 200)


def statuses(n, method="get"):
    factory = RequestFactory()
    return [ping(getattr(factory, method)("/x"), slug="core-test").status_code for _ in range(n)]


def test_every_call_is_counted_with_its_pattern(sandbox):
    statuses(3)
    stats = core.stats(sandbox)
    assert stats["total"] == 3
    assert stats["systems"]["tims"]["calls"][0] | {"avg_ms": 0} == {
        "method": "GET", "endpoint": "api/v1/ping", "status": 200, "count": 3, "avg_ms": 0}


def test_the_down_profile_answers_503_to_everything(sandbox):
    services.set_faults(sandbox, "tims", "down")
    assert set(statuses(5)) == {503}


def test_a_seed_replays_the_same_faults(sandbox):
    services.set_faults(sandbox, "tims", "chaos", seed=7, hang_rate=0.0, latency_ms=0, jitter_ms=0)
    first = statuses(60)
    Decider.reset()
    assert statuses(60) == first
    assert {500, 502, 503, 429} & set(first), "chaos should inject some failures in 60 calls"
    services.set_faults(sandbox, "tims", None, seed=8)
    Decider.reset()
    assert statuses(60) != first


def test_throttling_sends_retry_after(sandbox):
    services.set_faults(sandbox, "tims", None, throttle_rate=1.0, retry_after_seconds=4)
    response = ping(RequestFactory().get("/x"), slug="core-test")
    assert response.status_code == 429 and response["Retry-After"] == "4"


def test_commit_then_fail_does_the_write_then_answers_500(sandbox):
    calls = []

    @core.endpoint("tims", "api/v1/things")
    def write(request, sandbox):
        calls.append(1)
        return JsonResponse({}, status=201)

    services.set_faults(sandbox, "tims", None, commit_then_fail_rate=1.0)
    response = write(RequestFactory().post("/x"), slug="core-test")
    assert response.status_code == 500 and calls == [1]
    assert SandboxCall.objects.get(endpoint="api/v1/things").fault == "commit_then_fail"


def test_unknown_sandbox_is_404(sandbox):
    from django.http import Http404

    with pytest.raises(Http404):
        ping(RequestFactory().get("/x"), slug="nope")


def test_secrets_are_stored_as_hashes_only(sandbox):
    core.store_secret(sandbox, "tims", "client_secret", "very-secret-value", identifier="client-1")
    row = SandboxCredential.objects.get(kind="client_secret")
    assert "very-secret-value" not in row.secret_hash
    assert core.secret_matches(sandbox, "tims", "client_secret", "very-secret-value", identifier="client-1")
    assert not core.secret_matches(sandbox, "tims", "client_secret", "very-secret-value", identifier="client-2")
    assert not core.secret_matches(sandbox, "tims", "client_secret", "wrong")
    services.revoke_credentials(sandbox, "tims")
    assert not core.secret_matches(sandbox, "tims", "client_secret", "very-secret-value")


class Receiver(BaseHTTPRequestHandler):
    received = []
    fail_first = 0

    def do_POST(self):  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        if Receiver.fail_first > 0:
            Receiver.fail_first -= 1
            self.send_response(503)
        else:
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received, Receiver.fail_first = [], 0
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_webhooks_are_signed_and_retried(sandbox, receiver):
    WebhookSubscription.objects.create(sandbox=sandbox, system="tims", url=receiver, signing={"secret": "s3cr3t"})
    Receiver.fail_first = 1
    core.queue_webhook(sandbox, "tims", "shipment.created", {"ShipmentID": "SH1"})
    assert core.deliver_due() == 0  # the receiver failed once
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 1 and delivery.last_status == 503 and delivery.next_attempt_at is not None
    WebhookDelivery.objects.update(next_attempt_at=delivery.created_at)
    assert core.deliver_due() == 1
    headers, body = Receiver.received[-1]
    expected = hmac.new(b"s3cr3t", f"{headers[core.TIMESTAMP_HEADER]}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers[core.SIGNATURE_HEADER] == expected
    assert json.loads(body) == {"ShipmentID": "SH1"}


def test_webhook_duplicates_come_from_the_fault_profile(sandbox, receiver):
    WebhookSubscription.objects.create(sandbox=sandbox, system="tims", url=receiver, signing={"secret": "x"})
    services.set_faults(sandbox, "tims", None, webhook_duplicate_rate=1.0)
    core.queue_webhook(sandbox, "tims", "invoice.created", {"InvoiceID": "I1"})
    assert WebhookDelivery.objects.count() == 2


def test_cli_faults_and_stats(sandbox, capsys):
    call_command("sandbox", "faults", "--slug", "core-test", "--system", "tims", "--profile", "flaky", "--seed", "3")
    out = json.loads(capsys.readouterr().out)
    assert out["profile"] == "flaky" and out["seed"] == 3 and out["error_rate"] > 0
    statuses(2)
    call_command("sandbox", "stats", "--slug", "core-test")
    assert json.loads(capsys.readouterr().out)["total"] == 2


def test_cli_refuses_an_unknown_sandbox_plainly():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No sandbox “ghost”"):
        call_command("sandbox", "stats", "--slug", "ghost")
