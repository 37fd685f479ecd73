"""Events: a dead record, a record that succeeded after a retry and a paused integration are delivered, signed,
to the subscribed URL, and retried with backoff after a failing receiver (a real HTTP server on this machine)."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from api import events
from api.models import Delivery, DeliveryStatus, Subscription
from integrations.models import IntegrationState, RecordStatus, SyncAttempt
from integrations.pipeline import actions, records
from portal import signing
from tests.api.conftest import make_record

pytestmark = pytest.mark.django_db
SECRET = "whsec-test-secret-123"


@pytest.fixture
def receiver():
    """A local HTTP receiver that answers 500 to its first `fail` requests, then 204, keeping what it got."""
    got, state = [], {"fail": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"headers": dict(self.headers), "body": body})
            if state["fail"] > 0:
                state["fail"] -= 1
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"receiver is down")
                return
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield type("Receiver", (), {"url": f"http://127.0.0.1:{server.server_port}/hooks/portal", "got": got,
                                "state": state})
    server.shutdown()
    server.server_close()


def subscribe(organization, url, names=("record.dead", "record.recovered", "integration.paused")):
    events.forget_subscriptions()
    return Subscription.objects.create(organization=organization, url=url, events=list(names),
                                       signing_secret={"secret": SECRET})


def running(record):
    record.status, record.lease_owner = RecordStatus.RUNNING, "test/1"
    record.save(update_fields=["status", "lease_owner"])
    return record


def test_a_dead_record_is_delivered_signed_and_retried_after_a_failing_receiver(
        cast, integration_a, receiver, django_capture_on_commit_callbacks):
    subscription = subscribe(cast.org_a, receiver.url)
    record = running(make_record(integration_a, status="pending"))
    receiver.state["fail"] = 2
    with django_capture_on_commit_callbacks(execute=True):
        assert records.finish(record, status=RecordStatus.DEAD, error_message="TIMS refused: unknown SKU GLV-1")
    delivery = Delivery.objects.get(subscription=subscription)
    assert delivery.event == "record.dead" and delivery.status == DeliveryStatus.PENDING

    assert events.deliver(delivery.pk) is False  # the receiver answers 500
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_code, delivery.status) == (1, 500, "pending")
    assert "500" in delivery.last_error and delivery.next_attempt_at > timezone.now() + timedelta(seconds=50)
    assert events.deliver_due() == 0  # not due yet: nothing is sent
    assert len(receiver.got) == 1

    later = timezone.now() + timedelta(minutes=2)
    assert events.deliver_due(now=later) == 0  # second failure; the next wait is longer
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.next_attempt_at >= later + timedelta(minutes=2)
    assert events.deliver_due(now=later + timedelta(minutes=3)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("delivered", 3, 204)

    assert len(receiver.got) == 3
    bodies = {sent["body"] for sent in receiver.got}
    assert len(bodies) == 1  # every try sends the same bytes
    for sent in receiver.got:
        headers = sent["headers"]
        assert signing.verify(SECRET, headers["X-Webhook-Timestamp"], headers["X-Webhook-Signature"],
                              sent["body"]) is None
        assert signing.verify("another secret", headers["X-Webhook-Timestamp"], headers["X-Webhook-Signature"],
                              sent["body"]) is not None
        assert headers["X-Portal-Event"] == "record.dead"
    payload = json.loads(receiver.got[0]["body"])
    assert payload["event"] == "record.dead" and payload["organization"]["slug"] == cast.org_a.slug
    assert payload["data"]["record"]["id"] == record.pk
    assert payload["data"]["record"]["error_message"] == "TIMS refused: unknown SKU GLV-1"


def test_a_receiver_that_never_answers_ends_failed_after_the_last_attempt(cast, integration_a):
    subscription = subscribe(cast.org_a, "http://127.0.0.1:9/nobody-listens")
    delivery = events.emit(cast.org_a, "record.dead", {"x": 1}, subscriptions=[subscription])[0]
    moment = timezone.now()
    for _ in range(events.MAX_ATTEMPTS):
        assert events.deliver(delivery.pk, now=moment) is False
        delivery.refresh_from_db()
        moment = (delivery.next_attempt_at or moment) + timedelta(seconds=1)
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == events.MAX_ATTEMPTS
    assert delivery.next_attempt_at is None and "Connection" in delivery.last_error
    assert [events.backoff(n).total_seconds() for n in (1, 2, 3, 8)] == [60, 120, 240, 3600]


def test_success_after_a_human_retry_is_a_recovery_and_a_first_success_is_not(
        cast, integration_a, receiver, django_capture_on_commit_callbacks):
    subscribe(cast.org_a, receiver.url)
    plain = running(make_record(integration_a, status="pending"))
    with django_capture_on_commit_callbacks(execute=True):
        records.finish(plain, status=RecordStatus.SUCCEEDED)
    assert not Delivery.objects.exists()

    dead = make_record(integration_a)
    actions.retry(type(dead).objects.filter(pk=dead.pk), cast.owner_a, "item created")
    dead.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        records.finish(running(dead), status=RecordStatus.SUCCEEDED, target_id="SO-1")
    delivery = Delivery.objects.get()
    assert delivery.event == "record.recovered"
    assert json.loads(delivery.body)["data"]["record"]["target_id"] == "SO-1"


def test_a_record_that_kills_its_worker_becomes_dead_and_is_told(cast, integration_a, settings,
                                                                 django_capture_on_commit_callbacks):
    subscribe(cast.org_a, "https://hooks.example.com/portal", ["record.dead"])
    record = make_record(integration_a, status="pending")
    for number in range(1, settings.PIPELINE_MAX_WORKER_STOPS):
        SyncAttempt.objects.create(record=record, number=number, started_at=timezone.now(), outcome="crashed")
    type(record).objects.filter(pk=record.pk).update(status=RecordStatus.RUNNING, lease_owner="gone/1",
                                                     lease_expires_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert records.take_back_abandoned(timezone.now()) == 1
    assert Delivery.objects.get().event == "record.dead"


def test_only_subscribed_events_of_the_own_organization_are_delivered(cast, integration_a, integration_b,
                                                                      django_capture_on_commit_callbacks):
    subscribe(cast.org_a, "https://hooks.example.com/a", ["integration.paused"])
    subscribe(cast.org_b, "https://hooks.example.com/b", ["record.dead"])
    with django_capture_on_commit_callbacks(execute=True):
        records.finish(running(make_record(integration_a, status="pending")), status=RecordStatus.DEAD)
    assert not Delivery.objects.exists()  # org A did not ask for dead records; org B's subscription never hears A
    type(integration_a).objects.filter(pk=integration_a.pk).update(state=IntegrationState.LIVE)
    integration_a.refresh_from_db()
    from api import services

    with django_capture_on_commit_callbacks(execute=True):
        services.pause(integration_a, cast.owner_a)
    delivery = Delivery.objects.get()
    assert delivery.event == "integration.paused" and delivery.subscription.organization == cast.org_a
    assert json.loads(delivery.body)["data"]["by"] == "owner_a"


def test_an_emit_error_never_fails_the_pipeline(cast, integration_a, monkeypatch, caplog,
                                                django_capture_on_commit_callbacks):
    subscribe(cast.org_a, "https://hooks.example.com/a")

    def broken(*args):
        raise RuntimeError("the events table is on fire")

    monkeypatch.setattr(events, "emit", broken)
    record = running(make_record(integration_a, status="pending"))
    with django_capture_on_commit_callbacks(execute=True):
        assert records.finish(record, status=RecordStatus.DEAD, error_message="boom") is True
    record.refresh_from_db()
    assert record.status == RecordStatus.DEAD
    assert "Emitting an event failed" in caplog.text


def test_private_addresses_are_refused_when_not_allowed(cast, settings, receiver):
    settings.API_EVENTS_ALLOW_PRIVATE = False
    subscription = subscribe(cast.org_a, receiver.url)
    delivery = events.send_test(subscription)
    assert events.deliver(delivery.pk) is False
    delivery.refresh_from_db()
    assert "private" in delivery.last_error.lower() or "loopback" in delivery.last_error.lower()
    assert receiver.got == []


def test_a_pause_made_anywhere_is_told_once(cast, integration_a, django_capture_on_commit_callbacks):
    subscribe(cast.org_a, "https://hooks.example.com/a", ["integration.paused"])
    integration_a.state = IntegrationState.LIVE
    integration_a.save()
    with django_capture_on_commit_callbacks(execute=True):
        integration_a.state = IntegrationState.PAUSED  # as the admin's change form saves it
        integration_a.save()
        integration_a.save()  # saved again while paused: no second event
    delivery = Delivery.objects.get()
    assert json.loads(delivery.body)["data"]["integration"] == {"id": integration_a.pk, "name": integration_a.name,
                                                                "state": "paused"}
