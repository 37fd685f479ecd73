"""One attempt at one record: claim it, run its flow step, record the attempt, decide what happens next."""

import logging
import time
from datetime import timedelta

from django.db import InterfaceError, OperationalError
from django.db import connection as db
from django.utils import timezone

from integrations.connectors import errors
from integrations.connectors.http import CallRecorder, recording
from integrations.flows import handler_for
from integrations.models import ErrorClass, RecordStatus, SyncAttempt
from integrations.pipeline import records
from integrations.pipeline.outcomes import MAX_ATTEMPTS, Hold, Rejected, backoff

log = logging.getLogger(__name__)

FIX_TRANSIENT = "Nothing to do: it is retried automatically. If it keeps failing, check the connection's health."
FIX_AUTH = ("Check the connection's credentials (Integrations › Connections › Test connection), "
            "then retry this record.")
FIX_CRASH = "This is a bug in the portal; it is retried a few times. Report it with this record's id."
FIX_DATABASE = "Nothing to do: the portal's database was briefly unavailable; it is retried automatically."


def process(record_id, worker=None):
    """The django-q2 task. Safe to run twice for the same id: only one claim succeeds."""
    worker = worker or records.worker_name()
    record = records.claim(record_id, worker)
    if record is None:
        return None
    started, clock = timezone.now(), time.monotonic()
    recorder = CallRecorder(record.correlation_id or None)
    outcome = {}
    try:
        with recording(recorder):
            handler = handler_for(record)
            if handler is None:
                raise Rejected(f"No flow step handles {record.flow} / {record.entity_type}.",
                               fix="This integration's flow is not available yet: discard the record.")
            handler(record)
        outcome = dict(status=RecordStatus.SUCCEEDED, error_class="", error_message="", suggested_fix="",
                       error_details={})
    except errors.CircuitOpen as exc:  # the call was never made: pause without burning an attempt
        outcome = _retry(record, exc, ErrorClass.TRANSIENT, refund=True)
    except errors.TransientError as exc:
        outcome = _retry(record, exc, ErrorClass.TRANSIENT)
    except errors.AuthError as exc:
        outcome = _dead(ErrorClass.AUTH, str(exc), FIX_AUTH)
    except errors.PermanentError as exc:
        outcome = _dead(ErrorClass.PERMANENT, str(exc), _permanent_fix(exc),
                        {"field_errors": exc.field_errors, "status": exc.status})
    except Rejected as exc:
        outcome = _dead(exc.error_class, exc.message, exc.fix, exc.details)
    except Hold as exc:
        outcome = _hold(record, exc)
    except (OperationalError, InterfaceError) as exc:  # our own database went away (a restart): not a bug
        if not db.in_atomic_block:
            db.close()  # the broken session is dropped, so recording this attempt can reconnect
        outcome = _retry(record, exc, ErrorClass.TRANSIENT, fix=FIX_DATABASE)
    except Exception as exc:  # a bug must not lose the record: retry a few times, then dead-letter it
        log.exception("Record %s crashed", record.pk)
        if record.attempts >= 3:
            outcome = _dead(ErrorClass.CRASH, f"{exc.__class__.__name__}: {exc}", FIX_CRASH)
        else:
            outcome = _retry(record, exc, ErrorClass.CRASH, fix=FIX_CRASH)
    finally:
        duration = (time.monotonic() - clock) * 1000
        SyncAttempt.objects.create(
            record=record, number=record.attempts, started_at=started, duration_ms=duration,
            outcome=outcome.get("status", "crashed"), error_class=outcome.get("error_class", ""),
            error_message=outcome.get("error_message", ""), worker=worker,
            calls=[_call_json(call) for call in recorder.calls])
    records.finish(record, **outcome)
    return outcome["status"]


def _retry(record, exc, error_class, refund=False, fix=FIX_TRANSIENT):
    if not refund and record.attempts >= MAX_ATTEMPTS:
        return _dead(error_class, f"Gave up after {record.attempts} attempts: {exc}",
                     "The other system kept failing. Check its health, then retry this record.")
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
