"""ChannelAdvisor's limits, counted in the database so every process serving the sandbox shares them:
requests per profile per fixed window (an atomic upsert), and concurrent requests per application (slot rows
claimed under a row lock on the application; a slot a crashed process left behind expires)."""

import math
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from sandbox.channeladvisor.models import Application, InFlightSlot, RateCounter


class Limited(Exception):
    def __init__(self, message, retry_after):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def window_bounds(seconds, now=None):
    now = time.time() if now is None else now
    start = math.floor(now / seconds) * seconds
    return datetime.fromtimestamp(start, UTC), start + seconds - now


def count_request(sandbox, config):
    """Count one request for the sandbox's profile; raise Limited once the window's budget is spent."""
    window = max(config.rate_window_seconds, 1)
    start, remaining = window_bounds(window)
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (sandbox_id, profile_id, window_start, count) VALUES (%s, %s, %s, 1) "
            f"ON CONFLICT (sandbox_id, profile_id, window_start) DO UPDATE SET count = {table}.count + 1 "
            f"RETURNING count",
            [sandbox.id, config.profile_id, start])
        count = cursor.fetchone()[0]
    if count == 1:  # a new window began: old counters are history
        RateCounter.objects.filter(sandbox=sandbox, window_start__lt=start - timedelta(hours=1)).delete()
    if count > config.requests_per_window:
        raise Limited(f"The rate limit of {config.requests_per_window} requests per {window} seconds for "
                      f"profile {config.profile_id} was exceeded.", max(1, math.ceil(remaining)))
    return count


def acquire_slot(application, config):
    """Claim one of the application's concurrent-request slots; raise Limited when all are taken."""
    now = timezone.now()
    with transaction.atomic():
        # The row lock makes count-then-insert safe across processes (PostgreSQL; SQLite serializes writers).
        Application.objects.select_for_update().filter(pk=application.pk).first()
        InFlightSlot.objects.filter(application=application, expires_at__lte=now).delete()
        if InFlightSlot.objects.filter(application=application).count() >= config.concurrent_requests:
            raise Limited(f"Too many concurrent requests: at most {config.concurrent_requests} per application.",
                          1)
        slot = InFlightSlot.objects.create(sandbox=application.sandbox, application=application, started_at=now,
                                           expires_at=now + timedelta(seconds=config.slot_timeout_seconds))
    return slot.pk


def release_slot(slot_id):
    InFlightSlot.objects.filter(pk=slot_id).delete()


@contextmanager
def in_flight(application, config):
    slot_id = acquire_slot(application, config)
    try:
        yield
    finally:
        release_slot(slot_id)
