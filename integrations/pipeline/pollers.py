"""Pollers, generic over the flows' declared streams.

Channel streams belong to an integration; TIMS streams to the TIMS connection, read once and fanned out to every
subscribing integration. Each page's records are written in the transaction that moves the stream's position, so a
crash mid-poll re-reads rather than skips; the inbox's unique key makes a re-read harmless. An item that cannot be
read becomes a dead letter of its own and the rest of the page goes on. One poll of a stream runs at a time.
"""

import hashlib
import json
import logging
import time
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.connectors import errors, streams
from integrations.connectors.checks import client_for
from integrations.flows import registry
from integrations.models import Connection, Integration, IntegrationState, PollState, RecordStatus, SyncRecord
from integrations.pipeline import records

log = logging.getLogger(__name__)
POLLING_STATES = (IntegrationState.LIVE, IntegrationState.SHADOW)
POLL_LEASE = timedelta(seconds=60)  # renewed with every page; a poll that died (a killed worker) is taken over
SET_ASIDE = (RecordStatus.SUCCEEDED, RecordStatus.HELD, RecordStatus.DEAD, RecordStatus.DISCARDED,
             RecordStatus.SKIPPED)


def poll_triggers(integration, system):
    """[(flow, Poll trigger)] this integration subscribes to on its `system` side (channel or TIMS)."""
    return [(flow, trigger) for flow in registry.flows_of(integration) for trigger in flow.triggers_of(registry.Poll)
            if trigger.system == system and registry.applies(trigger, integration)]


def poll_all():
    """The schedule: one task per stream owner, so a slow shop does not hold up the others."""
    from django_q.tasks import async_task

    integrations = list(Integration.objects.filter(state__in=POLLING_STATES).select_related(
        "channel_connection", "tims_connection"))
    owners = [("poll_integration", i.pk) for i in integrations if poll_triggers(i, registry.CHANNEL)]
    owners += [("poll_connection", pk) for pk in sorted(
        {i.tims_connection_id for i in integrations if poll_triggers(i, registry.TIMS)})]
    for function, owner_id in owners:
        async_task(f"integrations.pipeline.pollers.{function}", owner_id, task_name=f"{function}-{owner_id}",
                   q_options={"group": "poll"})
    return len(owners)


def poll_integration(integration_id):
    """Read the integration's channel streams. Returns how many records were received."""
    integration = Integration.objects.select_related("channel_connection", "tims_connection").get(pk=integration_id)
    if integration.state not in POLLING_STATES:
        return 0
    received = 0
    by_stream = {}
    for flow, trigger in poll_triggers(integration, registry.CHANNEL):
        by_stream.setdefault(trigger.stream, []).append((integration, flow, trigger))
    for stream, subscribers in by_stream.items():
        received += poll_stream(integration.channel_connection, stream, subscribers, owner={"integration": integration})
        received += poll_backfill(integration, stream, subscribers)
    return received


REPOLLS = 5  # reads of a TIMS feed in one task while hints keep arriving


def poll_connection(connection_id):
    """Read a TIMS connection's streams once and fan each item out to every subscribing integration; read again
    if a webhook hint arrived meanwhile (its own poll was coalesced away, or found this one reading)."""
    from integrations.webhooks import hinted_since, poll_started

    connection = Connection.objects.get(pk=connection_id)
    integrations = Integration.objects.filter(tims_connection=connection, state__in=POLLING_STATES).select_related(
        "channel_connection", "tims_connection")
    by_stream = {}
    for integration in integrations:
        for flow, trigger in poll_triggers(integration, registry.TIMS):
            by_stream.setdefault(trigger.stream, []).append((integration, flow, trigger))
    received = 0
    budget = Budget()
    for _ in range(REPOLLS):
        started = timezone.now()
        poll_started(connection_id)
        received += sum(poll_stream(connection, stream, subscribers, owner={"connection": connection}, budget=budget)
                        for stream, subscribers in by_stream.items())
        if budget.exhausted or not hinted_since(connection_id, started):
            break
    if budget.exhausted:
        from integrations.webhooks import enqueue_poll

        enqueue_poll(connection_id)  # a backlog: the next task goes on where this one stopped
    return received


POLL_TASK_SECONDS = 45  # a poll task stops paging after this long and rings itself again, well inside Q_TIMEOUT


class Budget:
    """A poll task's time: a stream that stops early because it ran out says so, so the task rings itself again."""

    def __init__(self, seconds=POLL_TASK_SECONDS):
        self.until, self.exhausted = time.monotonic() + seconds, False

    def spent(self):
        self.exhausted = self.exhausted or time.monotonic() > self.until
        return self.exhausted


def poll_stream(connection, stream, subscribers, *, owner, name=None, start=None, budget=None):
    """One poll of one stream; the stream's position moves with the records it made, page by page."""
    state, _ = PollState.objects.get_or_create(**owner, name=name or stream)
    if not _take_lease(state):
        return 0  # another poll of this stream is running
    received = unreadable = 0
    try:
        state.refresh_from_db()
        if state.until and state.watermark and state.watermark >= state.until:
            return 0  # a finished backfill
        kind = subscribers[0][2].position
        position = state.cursor or state.watermark or ("" if kind == "cursor" else None)  # a cursor feed's start
        if position is None and kind == "watermark":
            position = start or _first_position(subscribers)
            state.watermark = position
            PollState.objects.filter(pk=state.pk).update(watermark=position, started_from=position)
        client = client_for(connection, lane=subscribers[0][1].lane)
        set_aside = []
        for page in streams.read(client, stream, position):
            made, bad, keep = _receive_page(state, page, subscribers)
            received, unreadable = received + made, unreadable + bad
            set_aside += keep
            if state.until and state.watermark and state.watermark >= state.until:
                break
            if budget is not None and budget.spent():
                break  # the rest is read by the next poll, rung at once
        # After the last page: setting aside while paging would shift the feed under the next page's $skip.
        if set_aside and not _shadow(subscribers):  # shadow mode writes nothing, not even "exported"
            streams.set_aside(client, stream, sorted(set(set_aside)))
    except errors.ConnectorError as exc:
        PollState.objects.filter(pk=state.pk).update(last_error=str(exc)[:2000], last_polled_at=timezone.now(),
                                                     lease_until=None)
        log.warning("Polling %s of %s failed: %s", stream, connection, exc)
        return received
    except Exception:
        PollState.objects.filter(pk=state.pk).update(lease_until=None)
        raise
    now = timezone.now()
    PollState.objects.filter(pk=state.pk).update(last_error="", last_polled_at=now, last_success_at=now,
                                                 received=received, unreadable=unreadable, lease_until=None)
    return received


def _take_lease(state):
    now = timezone.now()
    return bool(PollState.objects.filter(pk=state.pk).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
                .update(lease_until=now + POLL_LEASE))


def _shadow(subscribers):
    return any(integration.state == IntegrationState.SHADOW for integration, _, _ in subscribers)


def _first_position(subscribers):
    """Where a watermark stream's very first poll begins (cursor feeds begin at their start, "feeds" have none)."""
    integration = subscribers[0][0]
    days = integration.option("first_poll_days") or 1
    return timezone.now() - timedelta(days=days)


def _receive_page(state, page, subscribers):
    """Records for every item × subscriber, and the new position, in one commit. Returns (made, unreadable, ids to
    set aside: items the portal already keeps, so a feed of work still to do stops listing them)."""
    made = bad = 0
    keep = []
    owners = _owners(page.items, subscribers)
    batches = {}  # (batch size, batch key) -> new record ids, rung one per batch once committed
    windows = {}  # batch key -> when its gathered records are due
    with transaction.atomic():
        for store in dict.fromkeys(trigger.store for _, _, trigger in subscribers if trigger.store):
            store(state.connection_id or subscribers[0][0].channel_connection_id, page.items)
        for item in page.items:
            for integration, flow, trigger in subscribers:
                if trigger.events and getattr(item, "event", "") not in trigger.events:
                    continue
                owner = owners.get((trigger.route, getattr(item, "owner", "")))
                if owner and integration.pk not in owner:
                    continue  # another integration's order
                if isinstance(item, streams.Unreadable):
                    _, created = records.receive_unreadable(
                        integration, flow=flow.name, entity_type=flow.entity_type, source_id=item.source_id,
                        version=item.version or _digest(item.raw), raw=item.raw, message=item.message,
                        field=item.field)
                    bad += created
                    if trigger.position == "feed":
                        keep.append(item.source_id)
                    continue
                batch_key = f"{integration.pk}:{flow.name}" if flow.batch_step else ""
                record, created = records.receive(
                    integration, flow=flow.name, entity_type=flow.entity_type, source_id=item.source_id,
                    source_version=item.version, reference=item.reference, payload=item.payload,
                    business_key=item.business_key or _owner_key(integration, trigger, item, owner),
                    batch_key=batch_key, ring=not flow.batch_step, due_at=_gathered_until(flow, batch_key, windows))
                gather = windows.get(batch_key)
                made += created
                if created and flow.batch_step and not gather:
                    batches.setdefault((flow.batch_size, record.batch_key), []).append(record.pk)
                if record is None:  # our own write read back: nothing to do, and a feed may set it aside
                    if trigger.position == "feed":
                        keep.append(item.source_id)
                    continue
                if trigger.position == "feed" and not created and record.status in SET_ASIDE:
                    keep.append(item.source_id)
        _move(state, page.position)
        PollState.objects.filter(pk=state.pk).update(lease_until=timezone.now() + POLL_LEASE)  # still reading
        for (size, _), pks in batches.items():
            records.ring_batches(pks, size)
    return made, bad, keep


def _gathered_until(flow, batch_key, windows):
    """When a gathered record is due: with the batch already gathering for its key (so they go out together),
    else `gather_seconds` from now. None: at once."""
    seconds = gather_seconds(flow)
    if not seconds:
        return None
    if batch_key not in windows:
        from django.db.models import Min

        now = timezone.now()
        open_window = SyncRecord.objects.filter(batch_key=batch_key, status=RecordStatus.PENDING,
                                                next_attempt_at__gt=now).aggregate(at=Min("next_attempt_at"))["at"]
        windows[batch_key] = open_window or now + timedelta(seconds=seconds)
    return windows[batch_key]


def gather_seconds(flow):
    """How long a batch flow's new records wait for others (the flow's wish, capped by the setting)."""
    from django.conf import settings

    return min(flow.gather_seconds, settings.PIPELINE_BATCH_GATHER_SECONDS) if flow.batch_step else 0


def _owners(items, subscribers):
    """{(entity type, target id): {integration id: its source id}} for items a trigger routes to their owner: a
    TIMS shipment goes only to the integration whose link made its sales order. An item no link owns yet goes to
    every subscriber, whose step decides (TIMS's own order says whose it is)."""
    from integrations.models import Link

    found = {}
    for route in {trigger.route for _, _, trigger in subscribers if trigger.route}:
        targets = {item.owner for item in items if getattr(item, "owner", "")}
        links = Link.objects.filter(integration_id__in={i.pk for i, _, _ in subscribers}, entity_type=route,
                                    target_id__in=targets).values_list("target_id", "integration_id", "source_id")
        for target_id, integration_id, source_id in links:
            found.setdefault((route, target_id), {})[integration_id] = source_id
    return found


def _owner_key(integration, trigger, item, owner):
    """Work on one owner (an order) runs one at a time with the owner's own work: same business key."""
    if not (trigger.route and getattr(item, "owner", "")):
        return None
    if owner and integration.pk in owner:
        return f"{integration.pk}:{trigger.route}:{owner[integration.pk]}"
    return f"{integration.pk}:{trigger.route}-target:{item.owner}"


def _move(state, position):
    if position is None or position == "":
        return
    if isinstance(position, str):
        state.cursor = position
        PollState.objects.filter(pk=state.pk).update(cursor=position)
    elif state.watermark is None or position > state.watermark:
        state.watermark = position
        PollState.objects.filter(pk=state.pk).update(watermark=position)


def _digest(raw):
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- what a first poll left behind, and a backfill from a chosen date ---------------------------------------

BACKFILL = "{stream}:backfill"


def left_behind(integration, stream="orders"):
    """Where the first poll of a watermark stream began: orders changed before it were never read."""
    state = PollState.objects.filter(integration=integration, name=stream).first()
    return state.started_from if state else None


def reads_by_date(integration, stream="orders"):
    """Does the integration read this stream by a date watermark (so a backfill from a date means something)?"""
    triggers = [trigger for _, trigger in poll_triggers(integration, registry.CHANNEL)]
    return any(trigger.stream == stream and trigger.position == "watermark" for trigger in triggers)


def start_backfill(integration, since, stream="orders"):
    """Read the stream again from `since` up to where the first poll began; progress shows on its poll state."""
    if not reads_by_date(integration, stream):
        raise ValueError(f"{integration} reads its {stream} as a list of work still to do, not by date: every order "
                         "not yet imported is read on each poll, so there is nothing to backfill.")
    until = left_behind(integration, stream) or timezone.now()
    PollState.objects.update_or_create(integration=integration, name=BACKFILL.format(stream=stream), defaults=dict(
        watermark=since, started_from=since, until=until, cursor="", received=0, last_error="", lease_until=None))


def poll_backfill(integration, stream, subscribers):
    name = BACKFILL.format(stream=stream)
    state = PollState.objects.filter(integration=integration, name=name).first()
    if state is None or (state.watermark and state.until and state.watermark >= state.until):
        return 0
    made = poll_stream(integration.channel_connection, stream, subscribers, owner={"integration": integration},
                       name=name)
    PollState.objects.filter(pk=state.pk).update(received_total=state.received_total + made)
    return made


def backfill_progress(state):
    """0..1 for a backfill's poll state."""
    if not (state.until and state.started_from and state.watermark):
        return 0.0
    span = (state.until - state.started_from).total_seconds()
    return 1.0 if span <= 0 else min(1.0, max(0.0, (state.watermark - state.started_from).total_seconds() / span))

