"""Keeps TIMS's event feeds fresh without webhooks: each worker process runs a daemon thread that polls every TIMS
connection whose feed has not been read for PIPELINE_FEED_POLL_SECONDS.

django-q2's scheduler looks at its schedules every 30 s and the poll schedule runs once a minute, so on the feed alone a
shipment could wait over a minute. The poll's lease keeps one read of a feed at a time whichever worker's thread
runs it, and `last_polled_at` makes the workers' tickers share one rhythm instead of multiplying it. Webhooks still
ring polls sooner; the schedule stays the safety net.
"""

import logging
import random
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from integrations.pipeline import records

log = logging.getLogger(__name__)
_started = threading.Event()


def start(**_signal):
    """django-q2's post_spawn: one ticker per worker process."""
    if settings.PIPELINE_FEED_POLL_SECONDS <= 0 or _started.is_set():
        return
    _started.set()
    threading.Thread(target=_run, name="feed-ticker", daemon=True).start()


def _run():
    interval = settings.PIPELINE_FEED_POLL_SECONDS
    while True:
        time.sleep(interval * random.uniform(0.2, 0.3))  # spread over the interval; a feed is due at 0.8 of it
        try:
            poll_due_feeds(interval)
            records.ring_gathered()
        except Exception:  # noqa: BLE001 - a ticker must outlive a bad moment (database restart, a bug in one poll)
            log.exception("The feed ticker's poll failed; it tries again next tick")
        finally:
            close_old_connections()


def poll_due_feeds(interval, now=None):
    """Poll each TIMS connection whose feed is due (read 0.8 × interval ago or more; a tick every 0.2–0.3 of it
    keeps the gap between reads near the interval) and not being read. Returns the connections polled."""
    from integrations.flows import registry
    from integrations.models import Integration, PollState
    from integrations.pipeline import pollers

    now = now or timezone.now()
    integrations = Integration.objects.filter(state__in=pollers.POLLING_STATES).select_related(
        "channel_connection", "tims_connection")
    connections = sorted({i.tims_connection_id for i in integrations if pollers.poll_triggers(i, registry.TIMS)})
    fresh = set(PollState.objects.filter(connection_id__in=connections).filter(
        last_polled_at__gte=now - timedelta(seconds=interval * 0.8)).values_list("connection_id", flat=True))
    busy = set(PollState.objects.filter(connection_id__in=connections, lease_until__gt=now).values_list(
        "connection_id", flat=True))
    due = [pk for pk in connections if pk not in fresh | busy]
    for connection_id in due:
        pollers.poll_connection(connection_id)
    return due
