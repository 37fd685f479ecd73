"""/metrics: who may read it, and whether its numbers are what the database holds."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from integrations.connectors.models import BreakerState, CircuitBreaker, RateLease, RateState
from integrations.models import PollState, RecordStatus, SyncAttempt, SyncRecord
from portal.metrics import label
from tests.factories import make_integration

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-5f1c9e"
_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def database_governor(settings):
    settings.REDIS_URL = ""  # the governor's metrics are read from its tables only without Redis
    settings.METRICS_TOKEN = TOKEN


def make_record(integration, flow="orders", status=RecordStatus.PENDING, age=None):
    number = next(_ids)
    record = SyncRecord.objects.create(
        organization=integration.organization, integration=integration, flow=flow, entity_type="order",
        source_system="prestashop", source_id=str(number), business_key=f"{integration.pk}:order:{number}",
        status=status, next_attempt_at=timezone.now(), correlation_id=f"corr-{number}")
    if age is not None:  # created_at is auto_now_add: set it afterwards
        SyncRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - age)
    return record


def make_attempt(record, outcome, ms, ago=timedelta(minutes=5)):
    return SyncAttempt.objects.create(record=record, number=1, started_at=timezone.now() - ago, duration_ms=ms,
                                      outcome=outcome)


def scrape(client, **headers):
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples}


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# --- access -------------------------------------------------------------------------------------------------------

def test_anonymous_is_refused_with_a_bearer_challenge(client):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "METRICS_TOKEN" in response.content.decode()


def test_a_customer_user_is_refused_even_with_staff_status(cast, login):
    assert cast.owner_a.is_staff  # customers use the admin too: staff status alone must not open the metrics
    assert login(cast.owner_a).get("/metrics").status_code == 401


def test_a_wrong_token_is_refused(client):
    assert client.get("/metrics", **bearer("not-the-token")).status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401


def test_no_configured_token_lets_no_token_in(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/metrics", **bearer("")).status_code == 401


def test_the_token_is_let_in(client):
    scrape(client, **bearer(TOKEN))


def test_company_staff_are_let_in(cast, login):
    scrape(login(cast.operations))
    scrape(login(cast.superuser))


# --- numbers ------------------------------------------------------------------------------------------------------

def test_records_backlog_and_attempts_are_counted(cast, client):
    acme = make_integration(cast.org_a)
    borealis = make_integration(cast.org_b, template="channeladvisor_tims")
    make_attempt(make_record(acme, status=RecordStatus.SUCCEEDED), "succeeded", 900, ago=timedelta(hours=3))
    make_record(acme, age=timedelta(minutes=10))
    make_record(acme, status=RecordStatus.RETRYING, age=timedelta(minutes=40))
    make_record(borealis, age=timedelta(minutes=2))
    dead = make_record(acme, status=RecordStatus.DEAD)
    stock = make_record(borealis, flow="inventory", status=RecordStatus.SUCCEEDED)
    make_record(borealis, flow="inventory", status=RecordStatus.SUCCEEDED)
    # Rows are written as attempts end: one that started 59 minutes ago can end (get its id) before one that
    # started 61 minutes ago; the first is in the hour, the second is not.
    make_attempt(stock, "succeeded", 60_000, ago=timedelta(minutes=59))
    make_attempt(stock, "succeeded", 240_000, ago=timedelta(minutes=61))
    make_attempt(dead, "retrying", 1500)
    make_attempt(dead, "dead", 500)
    make_attempt(stock, "succeeded", 250)
    make_attempt(stock, "succeeded", 750)

    samples = scrape(client, **bearer(TOKEN))

    assert value(samples, "portal_sync_records", flow="orders", status="pending") == 2
    assert value(samples, "portal_sync_records", flow="orders", status="retrying") == 1
    assert value(samples, "portal_sync_records", flow="orders", status="dead") == 1
    assert value(samples, "portal_sync_records", flow="orders", status="succeeded") == 1
    assert value(samples, "portal_sync_records", flow="inventory", status="succeeded") == 2
    assert value(samples, "portal_sync_records", flow="inventory", status="pending") == 0
    assert value(samples, "portal_sync_records", flow="shipments", status="dead") == 0  # a declared flow, no rows
    assert sum(v for (name, _), v in samples.items() if name == "portal_sync_records") == SyncRecord.objects.count()

    assert value(samples, "portal_sync_attempts_last_hour", flow="orders", outcome="retrying") == 1
    assert value(samples, "portal_sync_attempts_last_hour", flow="orders", outcome="dead") == 1
    assert value(samples, "portal_sync_attempts_last_hour", flow="inventory", outcome="succeeded") == 3
    assert ("portal_sync_attempts_last_hour", frozenset({"flow": "orders", "outcome": "succeeded"}.items())) \
        not in samples  # its only attempt started three hours ago
    assert value(samples, "portal_sync_attempt_seconds_sum_last_hour", flow="inventory", outcome="succeeded") == 61.0
    assert value(samples, "portal_sync_attempt_seconds_max_last_hour", flow="inventory", outcome="succeeded") == 60
    assert value(samples, "portal_sync_attempt_seconds_sum_last_hour", flow="orders", outcome="retrying") == 1.5

    # The oldest open order is the retrying one, 40 minutes old; no inventory record is open.
    assert value(samples, "portal_backlog_oldest_seconds", flow="orders") == pytest.approx(40 * 60, abs=30)
    assert value(samples, "portal_backlog_oldest_seconds", flow="inventory") == 0
    assert 0 <= value(samples, "portal_backlog_overdue_seconds", flow="orders") < 30


def test_connections_circuits_governor_and_streams(cast, client):
    integration = make_integration(cast.org_a)
    channel, tims = integration.channel_connection, integration.tims_connection
    now = timezone.now()
    CircuitBreaker.objects.create(connection=channel, state=BreakerState.OPEN, opened_at=now)
    type(channel).objects.filter(pk=channel.pk).update(
        traffic_window_start=now - timedelta(minutes=3), traffic_calls=7, traffic_failures=2)
    type(tims).objects.filter(pk=tims.pk).update(  # a window long past: its counts are not the present's
        traffic_window_start=now - timedelta(hours=2), traffic_calls=50, traffic_failures=50)
    RateState.objects.create(connection=tims, window_start=now, paused_until=now + timedelta(seconds=30))
    RateLease.objects.create(connection=channel, lane="high", expires_at=now + timedelta(seconds=60))
    RateLease.objects.create(connection=channel, lane="low", expires_at=now + timedelta(seconds=60))
    RateLease.objects.create(connection=channel, lane="low", expires_at=now - timedelta(seconds=1))  # a dead worker's
    PollState.objects.create(integration=integration, name="orders", last_polled_at=now - timedelta(seconds=120))
    PollState.objects.create(connection=tims, name="events", last_polled_at=now - timedelta(seconds=5),
                             last_success_at=now - timedelta(minutes=10), last_error="TIMS did not answer in time.")
    PollState.objects.create(connection=tims, name="inventory")  # never polled: no lag to tell yet

    samples = scrape(client, **bearer(TOKEN))
    channel_label, tims_label = label(channel.pk, channel.name), label(tims.pk, tims.name)

    assert value(samples, "portal_circuit_open", connection=channel_label) == 1
    assert value(samples, "portal_circuit_open", connection=tims_label) == 0
    assert value(samples, "portal_connection_calls", connection=channel_label) == 7
    assert value(samples, "portal_connection_call_failures", connection=channel_label) == 2
    assert value(samples, "portal_connection_calls", connection=tims_label) == 0
    assert value(samples, "portal_governor_in_flight", connection=channel_label) == 2
    assert value(samples, "portal_governor_in_flight", connection=tims_label) == 0
    assert 25 < value(samples, "portal_governor_paused_seconds", connection=tims_label) <= 30
    assert value(samples, "portal_governor_paused_seconds", connection=channel_label) == 0

    orders_stream = {"integration": label(integration.pk, integration.name), "connection": "", "stream": "orders"}
    events_stream = {"integration": "", "connection": tims_label, "stream": "events"}
    assert value(samples, "portal_stream_lag_seconds", **orders_stream) == pytest.approx(120, abs=30)
    assert value(samples, "portal_stream_last_poll_failed", **orders_stream) == 0
    # Its failed polls do not reset the lag: it counts from the last poll that read to its end.
    assert value(samples, "portal_stream_lag_seconds", **events_stream) == pytest.approx(600, abs=30)
    assert value(samples, "portal_stream_last_poll_failed", **events_stream) == 1
    assert not any(name == "portal_stream_lag_seconds" and dict(labels)["stream"] == "inventory"
                   for name, labels in samples)


def test_with_redis_the_governor_tables_are_not_read(client, settings, cast):
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    make_integration(cast.org_a)
    samples = scrape(client, **bearer(TOKEN))
    assert not any(name.startswith("portal_governor_") for name, _ in samples)
    assert any(name == "portal_circuit_open" for name, _ in samples)


def test_a_scrape_takes_a_few_queries_whatever_the_data(cast, client, django_assert_max_num_queries):
    integration = make_integration(cast.org_a)
    for status in (RecordStatus.PENDING, RecordStatus.DEAD, RecordStatus.SUCCEEDED):
        for _ in range(5):
            make_attempt(make_record(integration, status=status), status.value, 100)
    with django_assert_max_num_queries(8):
        scrape(client, **bearer(TOKEN))
