"""Alert rules fire once per condition, remind only while nobody acknowledged, recover with a message, send
digests, keep every delivery, and sign what they post. Mail goes to Django's outbox; webhooks to a local HTTP
receiver."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from alerts import conditions, evaluate
from alerts.models import Alert, AlertKind, AlertRule, Delivery
from integrations.connectors.models import BreakerState, CircuitBreaker
from integrations.models import PollState, RecordStatus, StockReport, SyncRecord
from integrations.pipeline import records
from portal import signing
from tests.factories import make_integration

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quiet(monkeypatch, settings):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


class Receiver:
    """A local HTTP endpoint that keeps what it was sent and answers with the status it is told to."""

    def __init__(self):
        self.received, self.status = [], 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def payloads(self):
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


def make_dead(integration, n, start=0):
    for index in range(start, start + n):
        record, _ = records.receive(integration, flow="orders", entity_type="order", source_id=f"o{index}")
        SyncRecord.objects.filter(pk=record.pk).update(status=RecordStatus.DEAD, error_message="TIMS refused it",
                                                       updated_at=timezone.now())


def rule(organization=None, **fields):
    defaults = dict(name="Dead letters", kind=AlertKind.DEAD_LETTERS, threshold=3, minutes=15,
                    emails="ops@example.com")
    return AlertRule.objects.create(organization=organization, **{**defaults, **fields})


def test_a_condition_fires_once_while_it_lasts_and_recovers_with_a_message(cast):
    integration = make_integration(cast.org_a)
    dead_rule = rule(cast.org_a)
    make_dead(integration, 2)
    assert evaluate.run() == {dead_rule.pk: (0, 0)} and not mail.outbox  # below the threshold
    make_dead(integration, 1, start=2)
    assert evaluate.run() == {dead_rule.pk: (1, 0)}
    assert len(mail.outbox) == 1 and "3 records became dead letters" in mail.outbox[0].body
    assert mail.outbox[0].to == ["ops@example.com"]
    for _ in range(3):  # it lasts: still the one alert, nobody told again
        assert evaluate.run() == {dead_rule.pk: (0, 0)}
    assert len(mail.outbox) == 1 and Alert.objects.count() == 1

    later = timezone.now() + timedelta(minutes=16)  # the dead letters are older than the window now
    assert evaluate.run(now=later) == {dead_rule.pk: (0, 1)}
    alert = Alert.objects.get()
    assert alert.resolved_at == later and alert.recovery_notified_at == later
    assert len(mail.outbox) == 2 and mail.outbox[1].subject.startswith("[Integration portal] Recovered")
    assert list(Delivery.objects.values_list("kind", "ok").order_by("at")) == [("firing", True), ("recovery", True)]


def test_a_signed_slack_compatible_webhook_and_a_failed_delivery_sent_again(cast, receiver):
    integration = make_integration(cast.org_a)
    hook_rule = rule(cast.org_a, emails="", webhook_url=receiver.url, webhook_signing={"secret": "s3cret"})
    make_dead(integration, 3)
    receiver.status = 503
    evaluate.run()
    failed = Delivery.objects.get()
    assert not failed.ok and "503" in failed.detail and Alert.objects.get().notified_at is None

    receiver.status = 200
    evaluate.run()  # the message that did not go through goes again, and only it
    assert len(receiver.received) == 2 and Alert.objects.get().notified_at is not None
    headers, body = receiver.received[-1]
    assert signing.verify("s3cret", headers[signing.TIMESTAMP_HEADER], headers[signing.SIGNATURE_HEADER], body) \
        is None
    payload = json.loads(body)
    assert payload["text"].startswith(f"*{hook_rule.name}: {integration.name}*")
    assert payload["alerts"][0]["about"] == integration.name and payload["alerts"][0]["firing"] is True
    evaluate.run()
    assert len(receiver.received) == 2


def test_reminders_stop_once_a_person_acknowledges(cast):
    integration = make_integration(cast.org_a)
    rule(cast.org_a, repeat_minutes=30, minutes=120)
    make_dead(integration, 3)
    start = timezone.now()
    evaluate.run(now=start)
    evaluate.run(now=start + timedelta(minutes=20))
    assert len(mail.outbox) == 1
    evaluate.run(now=start + timedelta(minutes=31))
    assert len(mail.outbox) == 2 and mail.outbox[1].subject.startswith("[Integration portal] Still firing")
    Alert.objects.update(acknowledged_at=timezone.now(), acknowledged_by=cast.operations)
    evaluate.run(now=start + timedelta(minutes=70))
    assert len(mail.outbox) == 2


def test_a_digest_rule_sends_one_summary_per_period(cast):
    first, second = make_integration(cast.org_a, name="Shop"), make_integration(cast.org_a, name="Marketplace")
    rule(cast.org_a, digest_minutes=60, minutes=120)
    make_dead(first, 3)
    make_dead(second, 4, start=10)
    start = timezone.now()
    evaluate.run(now=start)
    assert len(mail.outbox) == 1 and "2 firing, 0 recovered" in mail.outbox[0].subject
    assert "Shop" in mail.outbox[0].body and "Marketplace" in mail.outbox[0].body
    evaluate.run(now=start + timedelta(minutes=30))
    assert len(mail.outbox) == 1  # not yet an hour
    SyncRecord.objects.filter(integration=first).update(status=RecordStatus.SUCCEEDED)
    evaluate.run(now=start + timedelta(minutes=61))
    assert len(mail.outbox) == 2 and "1 firing, 1 recovered" in mail.outbox[1].subject


def test_an_organizations_rule_sees_only_its_organization(cast):
    make_dead(make_integration(cast.org_b), 5)
    rule(cast.org_a)
    company_wide = rule(None, name="Everyone's dead letters")
    evaluate.run()
    assert list(Alert.objects.values_list("rule_id", "organization_id")) == [(company_wide.pk, cast.org_b.pk)]


def test_circuit_open_stream_silent_backlog_and_reconciliation_are_watched(cast):
    integration = make_integration(cast.org_a)
    integration.state = "live"
    integration.save()
    now = timezone.now()
    CircuitBreaker.objects.create(connection=integration.tims_connection, state=BreakerState.OPEN,
                                  opened_at=now - timedelta(minutes=20), last_failure="503 from TIMS")
    PollState.objects.create(integration=integration, name="orders", last_polled_at=now,
                             last_success_at=now - timedelta(minutes=45), last_error="PrestaShop answered 500")
    record, _ = records.receive(integration, flow="orders", entity_type="order", source_id="late")
    SyncRecord.objects.filter(pk=record.pk).update(created_at=now - timedelta(minutes=90))
    StockReport.objects.create(integration=integration, started_at=now, status=StockReport.Status.DONE,
                               drifted=12, corrected=12)

    def found(kind, minutes=15, threshold=0):
        return conditions.findings(AlertRule(kind=kind, minutes=minutes, threshold=threshold,
                                             organization=cast.org_a), now)

    circuit = found(AlertKind.CIRCUIT_OPEN)[f"connection:{integration.tims_connection_id}"]
    assert "paused since" in circuit.message and "503 from TIMS" in circuit.message
    assert not found(AlertKind.CIRCUIT_OPEN, minutes=30)
    (stream,) = found(AlertKind.STREAM_SILENT, minutes=30).values()
    assert "has not been read successfully since" in stream.message and "answered 500" in stream.message
    assert not found(AlertKind.STREAM_SILENT, minutes=60)
    backlog = found(AlertKind.BACKLOG_AGE, minutes=60)[f"integration:{integration.pk}"]
    assert "1 record waits" in backlog.message and "(90 min, the rule allows 60 min)" in backlog.message
    assert not found(AlertKind.BACKLOG_AGE, minutes=120)
    assert "found 12 SKUs" in found(AlertKind.RECONCILIATION, threshold=10)[f"integration:{integration.pk}"].message
    assert not found(AlertKind.RECONCILIATION, threshold=12)


def test_one_broken_rule_does_not_stop_the_others(cast, monkeypatch):
    make_dead(make_integration(cast.org_a), 3)
    broken, working = rule(cast.org_a, name="broken"), rule(cast.org_a, name="working")
    real = conditions.WATCHERS[AlertKind.DEAD_LETTERS]

    def flaky(watched, now):
        if watched.pk == broken.pk:
            raise RuntimeError("boom")
        return real(watched, now)

    monkeypatch.setitem(conditions.WATCHERS, AlertKind.DEAD_LETTERS, flaky)
    assert evaluate.run() == {working.pk: (1, 0)}
