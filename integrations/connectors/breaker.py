"""A circuit breaker per connection, stored in PostgreSQL so every worker sees the same state.

closed → (THRESHOLD transient failures in a row) → open for a cooldown → half-open: exactly one worker wins the
probe (a conditional UPDATE) → success closes it, failure opens it again for twice as long (up to MAX_COOLDOWN).
Auth and validation errors never count: they are not the remote being down.

A healthy circuit (closed, no failures) is remembered in this process for HEALTHY_SECONDS, so the check before a
call costs no query on the happy path; a circuit another worker opened is seen here at most that much later.
"""

import threading
import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from integrations.connectors.errors import CircuitOpen
from integrations.connectors.models import BreakerState, CircuitBreaker

THRESHOLD = 5
BASE_COOLDOWN = timedelta(seconds=30)
MAX_COOLDOWN = timedelta(minutes=15)
PROBE_TIMEOUT = timedelta(seconds=90)  # a probe that never reported back (killed worker) is taken over
HEALTHY_SECONDS = 1.0

_healthy_until = {}  # connection id -> monotonic time until which the circuit is known closed and clean
_healthy_lock = threading.Lock()


def _known_healthy(connection):
    with _healthy_lock:
        return _healthy_until.get(connection.pk, 0) > time.monotonic()


def _remember(connection, healthy):
    with _healthy_lock:
        if healthy:
            _healthy_until[connection.pk] = time.monotonic() + HEALTHY_SECONDS
        else:
            _healthy_until.pop(connection.pk, None)


def before_call(connection):
    """Raise CircuitOpen when the connection's calls are paused; otherwise let the call through."""
    if _known_healthy(connection):
        return
    row = (CircuitBreaker.objects.filter(pk=connection.pk)
           .values("state", "retry_at", "probe_started_at", "consecutive_failures").first())
    if row is None or row["state"] == BreakerState.CLOSED:
        _remember(connection, row is None or not row["consecutive_failures"])
        return
    now = timezone.now()
    if row["state"] == BreakerState.OPEN:
        if row["retry_at"] and now < row["retry_at"]:
            raise _open_error(connection, (row["retry_at"] - now).total_seconds())
        won = CircuitBreaker.objects.filter(pk=connection.pk, state=BreakerState.OPEN, retry_at__lte=now).update(
            state=BreakerState.HALF_OPEN, probe_started_at=now)
    else:
        won = CircuitBreaker.objects.filter(
            pk=connection.pk, state=BreakerState.HALF_OPEN, probe_started_at__lt=now - PROBE_TIMEOUT
        ).update(probe_started_at=now)
    if not won:
        raise _open_error(connection, 5, probing=True)


def record_success(connection):
    # Always written, even when known healthy: another worker's failures since then must be reset by this success,
    # or failures spread over many workers would add up to "in a row". Matches no row in the common case.
    CircuitBreaker.objects.filter(pk=connection.pk).exclude(
        state=BreakerState.CLOSED, consecutive_failures=0
    ).update(state=BreakerState.CLOSED, consecutive_failures=0, times_opened=0, retry_at=None, probe_started_at=None,
             last_success_at=timezone.now(), updated_at=timezone.now())
    _remember(connection, True)


def record_failure(connection, message):
    _remember(connection, False)
    now = timezone.now()
    with transaction.atomic():
        CircuitBreaker.objects.get_or_create(pk=connection.pk)
        row = CircuitBreaker.objects.select_for_update().get(pk=connection.pk)
        row.consecutive_failures += 1
        row.last_failure, row.last_failure_at = message[:2000], now
        if row.state == BreakerState.HALF_OPEN or (
            row.state == BreakerState.CLOSED and row.consecutive_failures >= THRESHOLD
        ):
            cooldown = min(BASE_COOLDOWN * (2 ** row.times_opened), MAX_COOLDOWN)
            row.state, row.opened_at, row.retry_at = BreakerState.OPEN, now, now + cooldown
            row.times_opened += 1
            row.probe_started_at = None
        row.save()


def reset(connection):
    _remember(connection, False)
    CircuitBreaker.objects.filter(pk=connection.pk).update(
        state=BreakerState.CLOSED, consecutive_failures=0, times_opened=0, retry_at=None, probe_started_at=None)


def _open_error(connection, seconds, probing=False):
    why = "a probe call is checking whether it is back" if probing else "it failed repeatedly"
    return CircuitOpen(f"Calls to {connection.name} are paused: {why}. They resume automatically.",
                       retry_after=max(round(seconds, 1), 1), system=connection.kind)
