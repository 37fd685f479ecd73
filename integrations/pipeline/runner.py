"""One attempt at one record: claim it, run its flow step, record the attempt, decide what happens next."""

import logging
import time
from datetime import timedelta

from django.db import InterfaceError, OperationalError
from django.db import connection as db
from django.utils import timezone

from integrations.connectors import errors
from integrations.connectors.http import CallRecorder, recording
from integrations.flows import registry
from integrations.models import ErrorClass, IntegrationState, RecordStatus, SyncAttempt
from integrations.pipeline import records
from integrations.pipeline.outcomes import MAX_ATTEMPTS, Hold, Rejected, Skipped, backoff
from portal.logging import log_context

log = logging.getLogger(__name__)

FIX_TRANSIENT = "Nothing to do: it is retried automatically. If it keeps failing, check the connection's health."
FIX_AUTH = ("Check the connection's credentials (Integrations › Connections › Test connection), "
            "then retry this record.")
FIX_CRASH = "This is a bug in the portal; it is retried a few times. Report it with this record's id."
FIX_STALE = "Nothing to do: the record changed in the other system meanwhile; it is re-read and tried again."
FIX_DATABASE = "Nothing to do: the portal's database was briefly unavailable; it is retried automatically."
PAUSED_RECHECK = timedelta(minutes=5)  # a paused integration's record waits this long before it is looked at again


def process(record_id, worker=None):
    """The django-q2 task. Safe to run twice for the same id: only one claim succeeds.

    A flow with a batch step takes more due records of the same batch key with it and finishes each with its own
    outcome."""
    worker = worker or records.worker_name()
    record = records.claim(record_id, worker)
    if record is None:
        return None
    if record.integration.state == IntegrationState.PAUSED:
        # Paused: put it back untouched (no attempt spent); resuming makes the integration's work due again.
        records.finish(record, status=RecordStatus.PENDING, next_attempt_at=timezone.now() + PAUSED_RECHECK,
                       refund_attempt=True)
        return RecordStatus.PENDING
    flow = registry.get(record.flow)
    with log_context(record_id=record.pk, correlation_id=record.correlation_id):
        if flow is not None and flow.batch_step is not None:
            batch = records.claim_batch(record, flow.batch_size, worker)
            return _run_batch(flow, batch, worker)[record.pk]
        return _run_one(flow, record, worker)


def _run_one(flow, record, worker):
    started, clock = timezone.now(), time.monotonic()
    recorder = CallRecorder(record.correlation_id or None)
    record.chained = []
    outcome = {}
    try:
        with recording(recorder):
            if flow is None or flow.step is None:
                raise Rejected(f"No flow step handles {record.flow} / {record.entity_type}.",
                               fix="This integration's flow is not available yet: discard the record.")
            flow.step(record)
            record.chained += registry.follow_ups(record)
        outcome = SUCCESS
    except Exception as exc:  # noqa: BLE001 - every failure is classified below, none is lost
        outcome = outcome_of(record, exc)
    finally:
        _attempt(record, worker, started, clock, outcome, recorder.calls)
    if outcome.get("status") is None:  # the lease was lost: a later claim owns the record now
        return None
    records.finish(record, children=record.chained if outcome is SUCCESS else (), **outcome)
    return outcome["status"]


def _run_batch(flow, batch, worker):
    started, clock = timezone.now(), time.monotonic()
    recorder = CallRecorder(batch[0].correlation_id or None)
    for record in batch:
        record.chained = []
    try:
        with recording(recorder):
            results = flow.batch_step(batch) or {}
            for record in batch:
                if results.get(record.pk) is None:
                    record.chained += registry.follow_ups(record)
        outcomes = {r.pk: SUCCESS if results.get(r.pk) is None else outcome_of(r, results[r.pk]) for r in batch}
    except Exception as exc:  # noqa: BLE001 - the whole call failed: each record gets that outcome
        outcomes = {r.pk: outcome_of(r, exc) for r in batch}
    statuses = {}
    for record in batch:
        outcome = outcomes[record.pk]
        _attempt(record, worker, started, clock, outcome, recorder.calls)
        if outcome.get("status") is not None:
            records.finish(record, children=record.chained if outcome is SUCCESS else (), **outcome)
        statuses[record.pk] = outcome.get("status")
    return statuses


SUCCESS = dict(status=RecordStatus.SUCCEEDED, error_class="", error_message="", suggested_fix="", error_details={})


def outcome_of(record, exc):
    """What a failure means for the record: retry, dead letter, hold, or (lease lost) nothing at all."""
    if isinstance(exc, records.LeaseLost):
        return {}
    if isinstance(exc, errors.CircuitOpen):  # the call was never made: pause without burning an attempt
        return _retry(record, exc, ErrorClass.TRANSIENT, refund=True)
    if isinstance(exc, errors.TransientError):
        return _retry(record, exc, ErrorClass.TRANSIENT)
    if isinstance(exc, errors.AuthError):
        return _dead(ErrorClass.AUTH, str(exc), FIX_AUTH, {"system": exc.system, "status": exc.status})
    if isinstance(exc, errors.Conflict) and exc.status == 412:  # a stale If-Match: re-read and decide again
        return _retry(record, exc, ErrorClass.TRANSIENT, fix=FIX_STALE, delay=1)
    if isinstance(exc, errors.PermanentError):
        return _dead(ErrorClass.PERMANENT, str(exc), _permanent_fix(exc),
                     {"field_errors": exc.field_errors, "status": exc.status})
    if isinstance(exc, Rejected):
        return _dead(exc.error_class, exc.message, exc.fix, exc.details)
    if isinstance(exc, Hold):
        return _hold(record, exc)
    if isinstance(exc, Skipped):
        return {**SUCCESS, "status": RecordStatus.SKIPPED, "notes": exc.message[:2000]}
    if isinstance(exc, OperationalError | InterfaceError):  # our own database went away (a restart): not a bug
        if not db.in_atomic_block:
            db.close()  # the broken session is dropped, so recording this attempt can reconnect
        return _retry(record, exc, ErrorClass.TRANSIENT, fix=FIX_DATABASE)
    # A bug must not lose the record: retry a few times, then dead-letter it.
    log.error("Record %s crashed", record.pk, exc_info=exc)
    if record.attempts >= 3:
        return _dead(ErrorClass.CRASH, f"{exc.__class__.__name__}: {exc}", FIX_CRASH)
    return _retry(record, exc, ErrorClass.CRASH, fix=FIX_CRASH)


def _attempt(record, worker, started, clock, outcome, calls):
    SyncAttempt.objects.create(
        record=record, number=record.attempts, started_at=started, duration_ms=(time.monotonic() - clock) * 1000,
        outcome=outcome.get("status", "lease lost"), error_class=outcome.get("error_class", ""),
        error_message=outcome.get("error_message", ""), worker=worker, calls=[_call_json(call) for call in calls])


def _retry(record, exc, error_class, refund=False, fix=FIX_TRANSIENT, delay=None):
    if not refund and record.attempts >= MAX_ATTEMPTS:
        return _dead(error_class, f"Gave up after {record.attempts} attempts: {exc}",
                     "The other system kept failing. Check its health, then retry this record.")
    if delay is None:
        delay = backoff(record.attempts, getattr(exc, "retry_after", None))
    return dict(status=RecordStatus.RETRYING, error_class=error_class, error_message=str(exc) or repr(exc),
                suggested_fix=fix, next_attempt_at=timezone.now() + timedelta(seconds=delay), refund_attempt=refund)


def _dead(error_class, message, fix, details=None):
    return dict(status=RecordStatus.DEAD, error_class=error_class, error_message=message, suggested_fix=fix,
                error_details=details or {})


def _hold(record, exc):
    now = timezone.now()
    if exc.give_up_at and now >= exc.give_up_at:
        return _dead(ErrorClass.HOLD, f"Held too long: {exc.message}", exc.fix or "Retry it or discard it.")
    return dict(status=RecordStatus.HELD, error_class=ErrorClass.HOLD, error_message=exc.message,
                suggested_fix=exc.fix, next_attempt_at=now + exc.recheck_after, refund_attempt=True)


def _permanent_fix(exc):
    if isinstance(exc, errors.ValidationFailed):
        return "Fix the data or the mapping named above, then retry the record."
    if isinstance(exc, errors.NotFound):
        return "The record no longer exists in the other system: discard it, or re-create it there and retry."
    if isinstance(exc, errors.Conflict):
        return "The record changed meanwhile: retry to re-read it."
    return "Fix the cause named above, then retry the record."


def _call_json(call):
    return {"method": call.method, "url": call.url, "status": call.status, "ms": round(call.duration_ms, 1),
            "bytes": call.response_bytes, "error": call.error, "excerpt": call.response_excerpt[:1000]}
