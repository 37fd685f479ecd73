"""The feed ticker: a TIMS feed not read for the interval is polled; a fresh or busy one is left alone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.connectors import streams
from integrations.flows import registry
from integrations.models import PollState, SyncRecord
from integrations.pipeline import ticker
from tests.integrations.pipeline.test_framework import declare, integration_with, quiet  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_due_feed_is_polled_and_a_fresh_or_busy_one_is_not(cast, quiet, monkeypatch):  # noqa: F811
    declare(monkeypatch, templates={"prestashop_tims": True},
            triggers=(registry.Poll("events", position="cursor", system=registry.TIMS, events=("shipment.created",)),))
    integration = integration_with(cast, "test_flow")
    reads = []

    def events(client, cursor):
        reads.append(cursor)
        yield streams.Page([streams.Item(f"S{len(reads)}", "", event="shipment.created")], str(len(reads)))

    monkeypatch.setitem(streams.READERS, ("tims", "events"), events)
    connection = integration.tims_connection_id
    assert ticker.poll_due_feeds(10) == [connection] and len(reads) == 1  # never read: due
    assert ticker.poll_due_feeds(10) == [] and len(reads) == 1  # just read: fresh
    state = PollState.objects.get(connection_id=connection, name="events")
    PollState.objects.filter(pk=state.pk).update(last_polled_at=timezone.now() - timedelta(seconds=11),
                                                 lease_until=timezone.now() + timedelta(minutes=1))
    assert ticker.poll_due_feeds(10) == [] and len(reads) == 1  # another worker is reading it
    PollState.objects.filter(pk=state.pk).update(lease_until=None)
    assert ticker.poll_due_feeds(10) == [connection] and reads == ["", "1"]
    assert SyncRecord.objects.filter(flow="test_flow").count() == 2


def test_the_ticker_starts_once_per_process_and_not_when_turned_off(settings, monkeypatch):
    started = []
    monkeypatch.setattr(ticker.threading, "Thread", lambda **kw: type("T", (), {"start": lambda self: started.append(
        kw["name"])})())
    monkeypatch.setattr(ticker, "_started", ticker.threading.Event())
    settings.PIPELINE_FEED_POLL_SECONDS = 0
    ticker.start(proc_name="Process-1")
    assert started == []
    settings.PIPELINE_FEED_POLL_SECONDS = 10
    ticker.start(proc_name="Process-1")
    ticker.start(proc_name="Process-1")
    assert started == ["feed-ticker"]


def test_a_hint_that_arrives_while_the_feed_is_read_makes_the_poll_read_again(cast, quiet, monkeypatch):  # noqa: F811
    from integrations import webhooks
    from integrations.pipeline import pollers

    declare(monkeypatch, templates={"prestashop_tims": True},
            triggers=(registry.Poll("events", position="cursor", system=registry.TIMS, events=("shipment.created",)),))
    integration = integration_with(cast, "test_flow")
    reads = []

    def events(client, cursor):
        reads.append(cursor)
        if len(reads) == 1:  # a webhook comes in while this page is read; its own poll was coalesced away
            webhooks.mark_hint(integration.tims_connection_id)
        yield streams.Page([streams.Item(f"S{len(reads)}", "", event="shipment.created")], str(len(reads)))

    monkeypatch.setitem(streams.READERS, ("tims", "events"), events)
    assert pollers.poll_connection(integration.tims_connection_id) == 2
    assert reads == ["", "1"]  # read again from where the first read ended, then no more hints: done
