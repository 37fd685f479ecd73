"""Connection health from real traffic: last success, last failure (with its message), an error rate, a status.

The HTTP layer reports every call's outcome here (`record_call`). Outcomes are gathered in memory per connection and
written with one UPDATE at most every FLUSH_SECONDS per connection per process — or at once when the connection's
state changes (first success, or FAILING_AFTER failures in a row) — so high throughput costs no write per call.

What counts: a transient failure (timeout, refused connection, 5xx, TLS) is a failure; any other answer is a success
(a 404 or a 422 validation answer means the system is up and answering); 401/403 and 429 count as neither (OAuth
refreshes on a 401; an auth failure that sticks is reported by the client through `record_auth_failure`).

Status: NEW or FAILING → OK on success; NEW or OK → FAILING after FAILING_AFTER failures in a row in a process;
auth failure → NEEDS_ATTENTION, which traffic clears only after AUTH_QUIET without another auth failure (so a
permission missing for one resource is not hidden by successes elsewhere). NEEDS_ATTENTION set by the test
connection checks is left for the next check.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Case, F, Q, TextField, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

log = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0
FAILING_AFTER = 5  # failures in a row (the circuit breaker's threshold too)
WINDOW = timedelta(minutes=15)  # the error rate is over a fixed window, restarted when older than this
AUTH_QUIET = timedelta(minutes=5)
MESSAGE_MAX = 2000

SUCCESS, FAILURE, NEUTRAL = "success", "failure", "neutral"


@dataclass
class _Pending:
    calls: int = 0
    failures: int = 0
    last_success_at: object = None
    last_failure_at: object = None
    last_failure: str = ""
    in_a_row: int = 0  # failures in a row, in this process
    reported: str = ""  # the state last written: "", "working" or "failing"
    flushed_at: float = 0.0  # monotonic


_clock = time.monotonic
_pending: dict[int, _Pending] = {}
_lock = threading.Lock()


def outcome_of(status=None, error=None) -> str:
    """SUCCESS, FAILURE or NEUTRAL for an HTTP status, or for an error raised before any answer."""
    if error is not None:
        return FAILURE
    if status is None:
        return NEUTRAL
    if status >= 500:
        return FAILURE
    if status in (401, 403, 429):
        return NEUTRAL
    return SUCCESS


def record_call(connection, outcome, message=""):
    """Note one call's outcome; writes the connection's row only when due (see the module docstring)."""
    if outcome == NEUTRAL or connection.pk is None:
        return
    now = timezone.now()
    with _lock:
        entry = _pending.setdefault(connection.pk, _Pending())
        entry.calls += 1
        if outcome == SUCCESS:
            entry.last_success_at, entry.in_a_row = now, 0
        else:
            entry.failures += 1
            entry.last_failure_at, entry.last_failure, entry.in_a_row = now, message[:MESSAGE_MAX], entry.in_a_row + 1
        state = _state(entry)
        due = (state and state != entry.reported) or _clock() - entry.flushed_at >= FLUSH_SECONDS
        if not due:
            return
        entry.flushed_at = _clock()
        entry.reported = state or entry.reported
    # After the caller's transaction commits (at once outside one): a rolled-back step must not hold the
    # connection's row locked meanwhile, and what is not written stays pending for the next flush.
    transaction.on_commit(lambda: flush(connection.pk), robust=True)


def _state(entry):
    if entry.in_a_row >= FAILING_AFTER:
        return "failing"
    if entry.in_a_row == 0 and entry.last_success_at is not None:
        return "working"
    return ""


def flush(connection_id=None):
    """Write what is pending (for one connection, or all); returns how many rows were updated."""
    with _lock:
        ids = [connection_id] if connection_id is not None else list(_pending)
        taken = {}
        for pk in ids:
            entry = _pending.get(pk)
            if entry is None or not entry.calls:
                continue
            taken[pk] = (entry.calls, entry.failures, entry.last_success_at, entry.last_failure_at,
                         entry.last_failure, _state(entry))
            entry.calls = entry.failures = 0
            entry.last_success_at = entry.last_failure_at = None
            entry.last_failure = ""
    written = 0
    for pk, values in taken.items():
        try:
            written += _write(pk, *values)
        except Exception:  # noqa: BLE001 - health must never break a call; what was not written is kept
            log.warning("Could not save the health of connection %s; kept for the next try.", pk, exc_info=True)
            _put_back(pk, *values)
    return written


def _put_back(pk, calls, failures, last_success_at, last_failure_at, last_failure, state):
    with _lock:
        entry = _pending.setdefault(pk, _Pending())
        entry.calls += calls
        entry.failures += failures
        entry.last_success_at = entry.last_success_at or last_success_at
        if entry.last_failure_at is None and last_failure_at is not None:
            entry.last_failure_at, entry.last_failure = last_failure_at, last_failure
        entry.reported = ""  # write the state again next time


def _write(pk, calls, failures, last_success_at, last_failure_at, last_failure, state):
    from integrations.models import Connection
    from integrations.models import ConnectionStatus as S

    now = timezone.now()
    stale_window = Q(traffic_window_start__isnull=True) | Q(traffic_window_start__lt=now - WINDOW)
    changes = {
        "traffic_window_start": Case(When(stale_window, then=Value(now)), default=F("traffic_window_start")),
        "traffic_calls": Case(When(stale_window, then=Value(calls)), default=F("traffic_calls") + calls),
        "traffic_failures": Case(When(stale_window, then=Value(failures)), default=F("traffic_failures") + failures),
    }
    if last_success_at is not None:  # never move a time back that another process moved forward
        changes["last_success_at"] = Greatest(Coalesce(F("last_success_at"), Value(last_success_at)),
                                              Value(last_success_at))
    if last_failure_at is not None:
        newer = Q(last_failure_at__isnull=True) | Q(last_failure_at__lt=last_failure_at)
        changes["last_failure_at"] = Case(When(newer, then=Value(last_failure_at)), default=F("last_failure_at"))
        changes["last_failure_message"] = Case(When(newer, then=Value(last_failure)),
                                               default=F("last_failure_message"), output_field=TextField())
    if state == "failing":
        changes["status"] = Case(When(status__in=[S.NEW, S.OK], then=Value(S.FAILING)), default=F("status"))
    elif state == "working":
        auth_cleared = Q(status=S.NEEDS_ATTENTION, auth_failed_at__lt=now - AUTH_QUIET)
        changes["status"] = Case(When(status__in=[S.NEW, S.FAILING], then=Value(S.OK)),
                                 When(auth_cleared, then=Value(S.OK)), default=F("status"))
        changes["auth_failed_at"] = Case(When(auth_cleared, then=Value(None)), default=F("auth_failed_at"))
    return Connection.objects.filter(pk=pk).update(**changes)


def record_auth_failure(connection, message):
    """Credentials refused (after any refresh): the client marks the connection NEEDS_ATTENTION; note when, so
    successes do not clear it at once."""
    from integrations.models import Connection

    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(auth_failed_at=now, last_failure_at=now,
                                                       last_failure_message=message[:MESSAGE_MAX])
    connection.auth_failed_at = now
    with _lock:
        entry = _pending.get(connection.pk)
        if entry is not None:
            entry.reported = ""  # the next success is written at once, to be judged against AUTH_QUIET


def forget():
    """Drop what is pending in this process (tests)."""
    with _lock:
        _pending.clear()


def error_rate(connection) -> float | None:
    """Failed share of the calls in the current window, or None when there were none."""
    if not connection.traffic_calls:
        return None
    return connection.traffic_failures / connection.traffic_calls


def summary(connection) -> str:
    """One line for the admin: status, last success, error rate, last failure."""
    parts = [connection.get_status_display()]
    if connection.last_success_at:
        parts.append(f"last success {_ago(connection.last_success_at)}")
    rate = error_rate(connection)
    if rate is not None and connection.traffic_window_start:
        parts.append(f"{connection.traffic_failures} of {connection.traffic_calls} calls failed since "
                     f"{timezone.localtime(connection.traffic_window_start):%H:%M} ({rate:.0%})")
    if connection.last_failure_at:
        message = connection.last_failure_message
        message = message if len(message) <= 160 else message[:157] + "…"
        parts.append(f"last failure {_ago(connection.last_failure_at)}: {message}")
    if len(parts) == 1 and not connection.last_checked_at:
        parts.append("no traffic yet")
    return " — ".join(parts)


def _ago(moment):
    seconds = max((timezone.now() - moment).total_seconds(), 0)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"on {timezone.localtime(moment):%Y-%m-%d}"
