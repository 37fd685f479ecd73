from datetime import timedelta

import pytest
from django.utils import timezone

from portal.health import beat
from portal.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


def test_unhealthy_without_any_worker(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "No background worker" in response.json()["checks"]["worker"]["problem"]


def test_healthy_after_a_heartbeat(client):
    beat()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_a_stale_heartbeat_is_reported(client, settings):
    WorkerHeartbeat.objects.create(name="worker@old", beat_at=timezone.now() - timedelta(minutes=30))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "No worker has reported for" in response.json()["checks"]["worker"]["problem"]


def test_database_failure_is_named(client, monkeypatch):
    from portal import health

    monkeypatch.setattr(health, "check_database", lambda: {"ok": False, "problem": "The database does not answer."})
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["problem"] == "The database does not answer."


def test_check_database_reports_a_database_error(monkeypatch):
    from django.db import DatabaseError, connection

    from portal import health

    def broken_cursor():
        raise DatabaseError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    assert health.check_database() == {"ok": False, "problem": "The database does not answer: DatabaseError."}
