"""Connection health from traffic: the HTTP layer records outcomes cheaply and moves the connection's status."""

from datetime import timedelta

import pytest
import requests
import responses
from django.db import DatabaseError, transaction
from django.utils import timezone

from integrations.connectors import errors, health
from integrations.connectors.http import HttpClient
from integrations.connectors.tims.client import TimsClient
from integrations.models import Connection, ConnectionStatus

from .conftest import fixture_json

BASE = "https://tims.example.com"
URL = f"{BASE}/api/v1/items/A"

# Real commits: health is written after the caller's transaction commits (at once outside one), as in a worker.
pytestmark = pytest.mark.django_db(transaction=True)


class Clock:
    def __init__(self):
        self.now = 10_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(health, "_clock", fake)
    return fake


@pytest.fixture
def connection(make_connection):
    return make_connection("tims")


@pytest.fixture
def client(connection):
    return HttpClient(connection, "TIMS", use_governor=False, use_breaker=False)


def fresh(connection):
    return Connection.objects.get(pk=connection.pk)


@responses.activate
def test_successful_traffic_makes_a_new_connection_working(connection, client):
    assert fresh(connection).status == ConnectionStatus.NEW
    responses.get(URL, json={"SKU": "A"})
    client.request("GET", URL)
    row = fresh(connection)
    assert row.status == ConnectionStatus.OK and row.get_status_display() == "Working"
    assert row.last_success_at is not None and (row.traffic_calls, row.traffic_failures) == (1, 0)


@responses.activate
def test_hundreds_of_calls_cost_one_write_every_few_seconds(connection, client, clock, monkeypatch):
    writes = []
    real_write = health._write
    monkeypatch.setattr(health, "_write", lambda *args: writes.append(args) or real_write(*args))
    responses.get(URL, json={"SKU": "A"})
    for _ in range(300):
        client.request("GET", URL)
    assert len(writes) == 1  # the first success (a change of state); the rest waits in memory
    assert fresh(connection).traffic_calls == 1
    clock.now += health.FLUSH_SECONDS
    client.request("GET", URL)
    assert len(writes) == 2 and fresh(connection).traffic_calls == 301


@responses.activate
def test_validation_and_not_found_answers_do_not_count_as_the_connection_failing(connection, client):
    responses.post(f"{BASE}/api/v1/sales-orders", status=422, json=fixture_json("tims/error_422.json"))
    responses.get(URL, status=404, json={"errors": []})
    with pytest.raises(errors.ValidationFailed):
        client.request("POST", f"{BASE}/api/v1/sales-orders", json_body={})
    with pytest.raises(errors.NotFound):
        client.request("GET", URL)
    health.flush()
    row = fresh(connection)
    assert row.status == ConnectionStatus.OK and row.traffic_failures == 0 and row.last_failure_at is None


@responses.activate
def test_rate_limits_count_neither_way(connection, client):
    responses.post(URL, status=429, headers={"Retry-After": "1"})
    with pytest.raises(errors.RateLimited):
        client.request("POST", URL)
    health.flush()
    row = fresh(connection)
    assert row.status == ConnectionStatus.NEW and row.traffic_calls == 0


@responses.activate
def test_sustained_5xx_and_timeouts_make_it_failing_then_a_success_makes_it_working(connection, client):
    responses.get(URL, json={"SKU": "A"})
    responses.post(URL, status=503)
    responses.post(f"{BASE}/api/v1/slow", body=requests.exceptions.ReadTimeout("read timed out"))
    client.request("GET", URL)
    for _ in range(health.FAILING_AFTER - 1):
        with pytest.raises(errors.TransientError):
            client.request("POST", URL)  # a POST without a key is not retried at once: one call each
    assert fresh(connection).status == ConnectionStatus.OK  # a few failures are not yet "failing"
    with pytest.raises(errors.TransientError):
        client.request("POST", f"{BASE}/api/v1/slow")
    row = fresh(connection)
    assert row.status == ConnectionStatus.FAILING
    assert "did not answer in time" in row.last_failure_message
    assert (row.traffic_calls, row.traffic_failures) == (1 + health.FAILING_AFTER, health.FAILING_AFTER)
    assert health.error_rate(row) == pytest.approx(5 / 6)
    client.request("GET", URL)
    assert fresh(connection).status == ConnectionStatus.OK


@responses.activate
def test_an_auth_error_needs_attention_and_successes_clear_it_only_after_a_quiet_while(connection,
                                                                                        clock):
    responses.post(f"{BASE}/oauth/token", status=401, json={"error": "invalid_client"})
    with pytest.raises(errors.AuthError):
        TimsClient(connection).get_item("A")
    row = fresh(connection)
    assert row.status == ConnectionStatus.NEEDS_ATTENTION and row.auth_failed_at is not None
    assert "client secret" in row.last_failure_message
    client = HttpClient(connection, "TIMS", use_governor=False, use_breaker=False)
    responses.get(URL, json={"SKU": "A"})
    client.request("GET", URL)
    assert fresh(connection).status == ConnectionStatus.NEEDS_ATTENTION  # one resource working proves little
    Connection.objects.filter(pk=connection.pk).update(auth_failed_at=timezone.now() - health.AUTH_QUIET * 2)
    clock.now += health.FLUSH_SECONDS  # the next periodic write judges it again
    client.request("GET", URL)
    row = fresh(connection)
    assert row.status == ConnectionStatus.OK and row.auth_failed_at is None


@responses.activate
def test_needs_attention_from_the_connection_checks_is_left_for_the_next_check(connection, client):
    Connection.objects.filter(pk=connection.pk).update(status=ConnectionStatus.NEEDS_ATTENTION)
    responses.get(URL, json={"SKU": "A"})
    client.request("GET", URL)
    assert fresh(connection).status == ConnectionStatus.NEEDS_ATTENTION


@responses.activate
def test_the_window_restarts_when_old(connection, client, clock):
    responses.get(URL, json={"SKU": "A"})
    client.request("GET", URL)
    Connection.objects.filter(pk=connection.pk).update(
        traffic_window_start=timezone.now() - health.WINDOW - timedelta(seconds=1), traffic_calls=500,
        traffic_failures=400)
    clock.now += health.FLUSH_SECONDS
    client.request("GET", URL)
    row = fresh(connection)
    assert (row.traffic_calls, row.traffic_failures) == (1, 0)


@responses.activate
def test_a_failed_health_write_never_breaks_the_call_and_is_kept(connection, client, monkeypatch):
    responses.get(URL, json={"SKU": "A"})

    def broken(*args):
        raise DatabaseError("database restarting")

    real_write = health._write
    monkeypatch.setattr(health, "_write", broken)
    assert client.request("GET", URL).status_code == 200
    monkeypatch.setattr(health, "_write", real_write)
    health.flush()
    assert fresh(connection).traffic_calls == 1 and fresh(connection).status == ConnectionStatus.OK


@responses.activate
def test_nothing_is_written_until_the_callers_transaction_commits(connection, client):
    responses.get(URL, json={"SKU": "A"})
    with transaction.atomic():
        client.request("GET", URL)
        assert fresh(connection).status == ConnectionStatus.NEW  # the row is not touched (nor locked) meanwhile
    assert fresh(connection).status == ConnectionStatus.OK
    try:
        with transaction.atomic():
            for _ in range(3):
                client.request("GET", URL)
            health._pending[connection.pk].reported = ""  # make the next call due at once
            client.request("GET", URL)
            raise RuntimeError("the step failed")
    except RuntimeError:
        pass
    assert fresh(connection).traffic_calls == 1
    assert health._pending[connection.pk].calls == 4  # kept for the next flush, not lost with the rollback
    health.flush()
    assert fresh(connection).traffic_calls == 5


def test_health_summary_reads_as_one_line(connection):
    connection.status = ConnectionStatus.OK
    connection.last_success_at = timezone.now() - timedelta(seconds=30)
    connection.traffic_window_start = timezone.now() - timedelta(minutes=3)
    connection.traffic_calls, connection.traffic_failures = 400, 8
    connection.last_failure_at = timezone.now() - timedelta(minutes=10)
    connection.last_failure_message = "TIMS did not answer in time (read timeout)."
    text = connection.health_summary
    assert text.startswith("Working — last success 30 s ago — 8 of 400 calls failed since ")
    assert "(2%)" in text and text.endswith("last failure 10 min ago: TIMS did not answer in time (read timeout).")
    assert Connection(status=ConnectionStatus.NEW).health_summary == "Not checked yet — no traffic yet"
