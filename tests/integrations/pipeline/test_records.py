"""The pipeline's invariants, each with a test that fails without it."""

import dataclasses
import json
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection as db
from django.utils import timezone

from integrations.connectors import errors
from integrations.flows import registry
from integrations.models import AuditEntry, Link, RecordStatus, SyncAttempt, SyncRecord
from integrations.pipeline import actions, records, runner
from integrations.pipeline.outcomes import Hold, Rejected, backoff
from tests.factories import make_integration

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(cast):
    return make_integration(cast.org_a)


@pytest.fixture
def step(monkeypatch):
    """Register a test flow step; `calls` counts its runs and `behaviour` decides what it does."""
    calls = []
    state = {"behaviour": lambda record: None}

    def handler(record):
        calls.append(record.pk)
        return state["behaviour"](record)

    monkeypatch.setitem(registry.FLOWS, "orders", dataclasses.replace(registry.get("orders"), step=handler))
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)  # tests drive the runner themselves
    return calls, state


def receive(integration, source_id="1001", version="v1", **kw):
    return records.receive(integration, flow="orders", entity_type="order", source_id=source_id,
                           source_version=version, reference=f"REF{source_id}", payload={"id": source_id}, **kw)


def test_the_same_delivery_twice_makes_one_record(integration, step):
    first, created = receive(integration)
    again, created_again = receive(integration)
    assert created and not created_again and first.pk == again.pk
    assert SyncRecord.objects.count() == 1
    receive(integration, version="v2")
    assert SyncRecord.objects.count() == 2  # a new version of the order is new work


def test_the_task_is_enqueued_after_commit_and_carries_only_the_id(integration, monkeypatch,
                                                                    django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: sent.append((func, args)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record, _ = receive(integration)
    assert sent == [] and SyncRecord.objects.filter(pk=record.pk).exists()
    for callback in callbacks:
        callback()
    assert sent == [("integrations.pipeline.runner.process", (record.pk,))]


def test_a_broker_that_is_down_loses_nothing(integration, monkeypatch, django_capture_on_commit_callbacks):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        record, _ = receive(integration)
    assert SyncRecord.objects.get(pk=record.pk).status == RecordStatus.PENDING  # the sweeper will ring again


def test_success_records_an_attempt(integration, step):
    calls, _ = step
    record, _ = receive(integration)
    assert runner.process(record.pk) == RecordStatus.SUCCEEDED
    record.refresh_from_db()
    assert record.status == RecordStatus.SUCCEEDED and record.finished_at and calls == [record.pk]
    assert SyncAttempt.objects.get(record=record).outcome == RecordStatus.SUCCEEDED
    assert runner.process(record.pk) is None  # a second doorbell does nothing
    assert calls == [record.pk]


def test_transient_errors_back_off_and_honour_retry_after(integration, step):
    _, state = step

    def throttled(record):
        raise errors.RateLimited("429 from TIMS", retry_after=900)

    state["behaviour"] = throttled
    record, _ = receive(integration)
    runner.process(record.pk)
    record.refresh_from_db()
    assert record.status == RecordStatus.RETRYING and record.error_class == "transient"
    assert record.next_attempt_at >= timezone.now() + timedelta(seconds=890)
    assert runner.process(record.pk) is None  # not due yet


def test_an_open_circuit_pauses_without_burning_attempts(integration, step):
    _, state = step
    state["behaviour"] = lambda record: (_ for _ in ()).throw(errors.CircuitOpen("circuit open", retry_after=30))
    record, _ = receive(integration)
    runner.process(record.pk)
    record.refresh_from_db()
    assert record.status == RecordStatus.RETRYING and record.attempts == 0


def test_permanent_errors_dead_letter_at_once_with_a_fix(integration, step):
    _, state = step

    def unknown_sku(record):
        raise Rejected("SKU ZZZ-1 in order REF1001 does not exist in TIMS",
                       fix="Create the item in TIMS or map the SKU, then retry.")

    state["behaviour"] = unknown_sku
    record, _ = receive(integration)
    runner.process(record.pk)
    record.refresh_from_db()
    assert record.status == RecordStatus.DEAD and record.attempts == 1
    assert "does not exist in TIMS" in record.error_message and "map the SKU" in record.suggested_fix


def test_remote_validation_errors_are_dead_letters_with_field_errors(integration, step):
    _, state = step
    state["behaviour"] = lambda record: (_ for _ in ()).throw(errors.ValidationFailed(
        "TIMS refused the sales order", field_errors=["LineItems[0].SKU: unknown SKU"], status=422))
    record, _ = receive(integration)
    runner.process(record.pk)
    record.refresh_from_db()
    assert record.status == RecordStatus.DEAD
    assert record.error_details["field_errors"] == ["LineItems[0].SKU: unknown SKU"]


def test_transient_errors_become_dead_after_the_last_attempt(integration, step, monkeypatch):
    _, state = step
    state["behaviour"] = lambda record: (_ for _ in ()).throw(errors.TransientError("503"))
    monkeypatch.setattr(runner, "MAX_ATTEMPTS", 2)
    record, _ = receive(integration)
    runner.process(record.pk)
    SyncRecord.objects.filter(pk=record.pk).update(next_attempt_at=timezone.now())
    runner.process(record.pk)
    record.refresh_from_db()
    assert record.status == RecordStatus.DEAD and "Gave up after 2 attempts" in record.error_message


def test_holds_wait_and_then_become_dead_with_the_reason(integration, step):
    _, state = step
    past = timezone.now() - timedelta(seconds=1)
    state["behaviour"] = lambda record: (_ for _ in ()).throw(Hold("Not paid yet"))
    record, _ = receive(integration)
    runner.process(record.pk)
    record.refresh_from_db()
    assert record.status == RecordStatus.HELD and record.attempts == 0
    state["behaviour"] = lambda record: (_ for _ in ()).throw(Hold("Not paid yet", give_up_at=past))
    SyncRecord.objects.filter(pk=record.pk).update(next_attempt_at=timezone.now())
    runner.process(record.pk)
    record.refresh_from_db()
    assert record.status == RecordStatus.DEAD and "Held too long: Not paid yet" in record.error_message


def test_a_crash_is_retried_then_dead_lettered_never_lost(integration, step):
    _, state = step
    state["behaviour"] = lambda record: 1 / 0
    record, _ = receive(integration)
    for _ in range(3):
        SyncRecord.objects.filter(pk=record.pk).update(next_attempt_at=timezone.now())
        runner.process(record.pk)
    record.refresh_from_db()
    assert record.status == RecordStatus.DEAD and "ZeroDivisionError" in record.error_message


def test_our_database_going_away_is_transient_not_a_crash(integration, step):
    from django.db import OperationalError

    _, state = step

    def database_restarting(record):
        raise OperationalError("terminating connection due to administrator command")

    state["behaviour"] = database_restarting
    record, _ = receive(integration)
    for _ in range(4):  # more attempts than a crash gets
        SyncRecord.objects.filter(pk=record.pk).update(next_attempt_at=timezone.now())
        assert runner.process(record.pk) == RecordStatus.RETRYING
    record.refresh_from_db()
    assert record.error_class == "transient" and "database was briefly unavailable" in record.suggested_fix


def test_one_writer_per_business_key_in_source_order(integration, step):
    first, _ = receive(integration, version="v1")
    second, _ = receive(integration, version="v2")
    assert records.claim(second.pk) is None  # the earlier version goes first
    assert records.claim(first.pk) is not None
    assert records.claim(second.pk) is None  # still running
    assert records.claim(first.pk) is None  # and nobody claims a running record twice


def test_a_killed_worker_loses_nothing(integration, step):
    calls, _ = step
    record, _ = receive(integration)
    claimed = records.claim(record.pk, worker="doomed")
    assert claimed is not None  # ... and the worker dies here, holding the lease
    assert records.sweep()["abandoned"] == 0  # a live lease is left alone
    SyncRecord.objects.filter(pk=record.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1),
                                                   updated_at=timezone.now() - timedelta(minutes=5))
    assert records.sweep()["abandoned"] == 1
    assert runner.process(record.pk) == RecordStatus.SUCCEEDED
    # the dead worker's late answer cannot overwrite the outcome
    assert not records.finish(claimed, status=RecordStatus.DEAD)
    assert SyncRecord.objects.get(pk=record.pk).status == RecordStatus.SUCCEEDED


def test_a_stalled_attempt_cannot_finish_a_later_claim_by_the_same_worker(integration):
    record, _ = receive(integration)
    stalled = records.claim(record.pk, worker="host:42")
    SyncRecord.objects.filter(pk=record.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1),
                                                   updated_at=timezone.now() - timedelta(minutes=5))
    assert records.sweep()["abandoned"] == 1
    current = records.claim(record.pk, worker="host:42")  # the same process name: a sibling worker, or a reused pid
    assert not records.finish(stalled, status=RecordStatus.DEAD, error_message="late")
    assert records.finish(current, status=RecordStatus.SUCCEEDED)
    assert SyncRecord.objects.get(pk=record.pk).status == RecordStatus.SUCCEEDED


def test_the_sweeper_rings_again_for_due_records(integration, monkeypatch):
    rung = []
    monkeypatch.setattr(records, "dispatch", rung.append)
    record, _ = receive(integration)
    SyncRecord.objects.filter(pk=record.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert records.sweep()["dispatched"] == 1 and rung == [record.pk]


def test_a_busy_queue_is_not_flooded_with_copies_of_itself(integration, monkeypatch):
    rung = []
    monkeypatch.setattr(records, "dispatch", rung.append)
    monkeypatch.setattr(records, "_queue_busy", lambda: True)  # messages still wait in the broker
    now = timezone.now() + timedelta(seconds=1)  # after every receive below
    waiting, _ = receive(integration, source_id="1")  # rung when received, its message most likely still queued
    SyncRecord.objects.filter(pk=waiting.pk).update(next_attempt_at=now - timedelta(seconds=61),
                                                    updated_at=now - timedelta(seconds=60))
    retry_due, _ = receive(integration, source_id="2")  # failed, and its retry time has come: never rung since
    SyncRecord.objects.filter(pk=retry_due.pk).update(status=RecordStatus.RETRYING, updated_at=now - timedelta(
        minutes=2), next_attempt_at=now - timedelta(seconds=30))
    long_lost, _ = receive(integration, source_id="3")  # rung long ago: its message may really be lost
    SyncRecord.objects.filter(pk=long_lost.pk).update(next_attempt_at=now - timedelta(seconds=361),
                                                      updated_at=now - timedelta(seconds=360))
    assert records.sweep(now=now)["dispatched"] == 2 and sorted(rung) == sorted([retry_due.pk, long_lost.pk])

    monkeypatch.setattr(records, "_queue_busy", lambda: False)  # the queue drained: anything left was lost
    rung.clear()
    assert records.sweep(now=now)["dispatched"] == 1 and rung == [waiting.pk]


def test_links_are_unique_both_ways(integration, step):
    record, _ = receive(integration)
    records.link(record, "SO-1")
    records.link(record, "SO-1")  # idempotent
    assert Link.objects.count() == 1 and records.linked_target(record) == "SO-1"


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_take_a_record_once(cast, monkeypatch):
    integration = make_integration(cast.org_a)
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    record, _ = receive(integration)
    won = []

    def contend():
        try:
            won.append(records.claim(record.pk, worker=threading.current_thread().name) is not None)
        finally:
            db.close()

    threads = [threading.Thread(target=contend) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert won.count(True) == 1


def test_backoff_grows_with_jitter_and_respects_retry_after():
    import random

    rng = random.Random(1)
    delays = [backoff(n, rng=rng) for n in range(1, 6)]
    assert delays == sorted(delays) and 24 <= delays[0] <= 36
    assert backoff(1, retry_after=600, rng=rng) >= 600


def test_human_actions_are_audited(integration, step, cast):
    _, state = step
    state["behaviour"] = lambda record: (_ for _ in ()).throw(Rejected("bad"))
    record, _ = receive(integration)
    runner.process(record.pk)
    assert actions.retry(SyncRecord.objects.filter(pk=record.pk), cast.operations, "fixed the map") == 1
    assert SyncRecord.objects.get(pk=record.pk).status == RecordStatus.RETRYING
    with pytest.raises(ValueError, match="Say why"):
        actions.discard(SyncRecord.objects.filter(pk=record.pk), cast.operations, " ")
    actions.discard(SyncRecord.objects.filter(pk=record.pk), cast.operations, "duplicate test order")
    entries = list(AuditEntry.objects.filter(record=record).order_by("at").values_list("action", "actor_name"))
    assert entries == [("retry", "ops"), ("discard", "ops")]


def test_records_cli_lists_dead_letters_as_json_and_retries(integration, step, capsys):
    _, state = step
    state["behaviour"] = lambda record: (_ for _ in ()).throw(Rejected(
        "Unmapped value", details={"value_map": {"name": "ps_states", "value": "Gift wrap"}}))
    record, _ = receive(integration)
    runner.process(record.pk)
    call_command("records", "list", "--status", "dead", "--json")
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["error"]["message"] == "Unmapped value"
    assert listed[0]["value_map"] == {"name": "ps_states", "value": "Gift wrap"}
    call_command("records", "retry", "--id", str(record.pk))
    assert SyncRecord.objects.get(pk=record.pk).status == RecordStatus.RETRYING


def test_only_old_successes_are_pruned_never_failures(integration, step, settings):
    _, state = step
    done, _ = receive(integration, source_id="1")
    runner.process(done.pk)
    state["behaviour"] = lambda record: (_ for _ in ()).throw(Rejected("bad"))
    dead, _ = receive(integration, source_id="2")
    runner.process(dead.pk)
    SyncRecord.objects.update(finished_at=timezone.now() - timedelta(days=400))
    settings.SUCCEEDED_RECORD_RETENTION_DAYS = 0
    assert records.prune_succeeded() == 0  # the default keeps everything
    settings.SUCCEEDED_RECORD_RETENTION_DAYS = 30
    records.prune_succeeded()
    assert list(SyncRecord.objects.values_list("pk", flat=True)) == [dead.pk]
