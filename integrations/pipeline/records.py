"""Units of work as rows: receive (idempotent), claim (one writer per business key), finish, sweep."""

import logging
import os
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations.models import Link, RecordStatus, SyncRecord

log = logging.getLogger(__name__)
BLOCKING = (RecordStatus.PENDING, RecordStatus.RUNNING, RecordStatus.RETRYING)
RUNNABLE = (RecordStatus.PENDING, RecordStatus.RETRYING, RecordStatus.HELD)


def worker_name():
    """This process, asked when needed: a cluster's workers are forked after this module is imported."""
    return f"{socket.gethostname()}:{os.getpid()}"


def receive(integration, *, flow, entity_type, source_id, source_version="", business_key=None, reference="",
            payload=None):
    """Record a unit of work in the caller's transaction and ring the doorbell after commit.

    The same (integration, entity, source id, version) received twice is one record: webhooks and poll pages may
    repeat themselves. Returns (record, created).
    """
    key = dict(integration=integration, entity_type=entity_type, source_id=str(source_id),
               source_version=str(source_version or ""))
    defaults = dict(organization_id=integration.organization_id, flow=flow,
                    source_system=integration.channel_connection.kind if flow != "inventory" else "tims",
                    business_key=business_key or f"{integration.pk}:{entity_type}:{source_id}",
                    reference=str(reference or "")[:100], source_payload=payload, next_attempt_at=timezone.now(),
                    correlation_id=uuid.uuid4().hex)
    try:
        with transaction.atomic():
            record, created = SyncRecord.objects.get_or_create(**key, defaults=defaults)
    except IntegrityError:  # a concurrent delivery won the race: same record
        record, created = SyncRecord.objects.get(**key), False
    if created:
        dispatch_after_commit(record.pk)
    return record, created


def receive_hint(integration, *, flow, entity_type, source_id):
    """A webhook says "this changed" without a version: fold it into open work on the same record, or open new work.

    The worker reads the record back from the source, so one open record per source id is enough; a hint arriving
    after that work finished starts new work (which finds the link and changes nothing if nothing changed).
    """
    business_key = f"{integration.pk}:{entity_type}:{source_id}"
    with transaction.atomic():
        _lock_business_key(business_key)
        open_record = SyncRecord.objects.filter(
            integration=integration, entity_type=entity_type, source_id=str(source_id),
            status__in=(RecordStatus.PENDING, RecordStatus.RETRYING, RecordStatus.HELD)).order_by("pk").first()
        if open_record is not None:
            if open_record.status == RecordStatus.HELD:  # the news may be what the hold waits for: look now
                SyncRecord.objects.filter(pk=open_record.pk).update(next_attempt_at=timezone.now())
                dispatch_after_commit(open_record.pk)
            return open_record, False
        return receive(integration, flow=flow, entity_type=entity_type, source_id=source_id,
                       source_version=f"hint:{uuid.uuid4().hex}", business_key=business_key)


def dispatch_after_commit(record_id):
    transaction.on_commit(lambda: dispatch(record_id))


def dispatch(record_id):
    """Ring the doorbell. If the broker is down the row is still there: the sweeper will ring again."""
    from django_q.tasks import async_task

    try:
        async_task("integrations.pipeline.runner.process", record_id, task_name=f"record-{record_id}",
                   q_options={"group": "sync", "save": False})  # the record and its attempts are the history
    except Exception:
        log.warning("Could not enqueue record %s; the sweeper will pick it up", record_id, exc_info=True)


def _lock_business_key(key):
    """Serialize claims on one business key across every worker (SQLite serializes all writes anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])


def claim(record_id, worker=None, now=None):
    """Take the record for one attempt, or return None when it is not due, taken, or must wait its turn."""
    now = now or timezone.now()
    with transaction.atomic():
        record = (SyncRecord.objects.select_for_update(skip_locked=True)
                  .filter(pk=record_id, status__in=RUNNABLE)
                  .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)).first())
        if record is None:
            return None
        _lock_business_key(record.business_key)
        ahead = SyncRecord.objects.filter(business_key=record.business_key).exclude(pk=record.pk).filter(
            Q(status=RecordStatus.RUNNING, lease_expires_at__gt=now) | Q(pk__lt=record.pk, status__in=BLOCKING))
        if ahead.exists():
            return None  # the earlier or running record dispatches this one when it finishes
        record.status = RecordStatus.RUNNING
        record.attempts += 1
        # Each claim is its own lease, so a stalled attempt cannot finish one that a later claim holds.
        record.lease_owner = f"{worker or worker_name()}/{uuid.uuid4().hex[:8]}"
        # Longer than django-q2's task timeout, so a live worker never loses its lease.
        record.lease_expires_at = now + timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)
        record.save(update_fields=["status", "attempts", "lease_owner", "lease_expires_at", "updated_at"])
    return record


def finish(record, *, status, next_attempt_at=None, refund_attempt=False, **fields):
    """Write the outcome only if this claim still holds the lease; returns False when the lease was lost."""
    lease = record.lease_owner
    values = dict(status=status, lease_owner="", lease_expires_at=None, next_attempt_at=next_attempt_at,
                  updated_at=timezone.now(), **fields)
    if status in (RecordStatus.SUCCEEDED, RecordStatus.DEAD, RecordStatus.DISCARDED):
        values["finished_at"] = timezone.now()
    if refund_attempt:
        values["attempts"] = max(record.attempts - 1, 0)
    updated = SyncRecord.objects.filter(pk=record.pk, status=RecordStatus.RUNNING, lease_owner=lease).update(**values)
    if updated:
        for name, value in values.items():
            setattr(record, name, value)
        dispatch_next_for_key(record)
    return bool(updated)


def dispatch_next_for_key(record):
    waiting = (SyncRecord.objects.filter(business_key=record.business_key, status__in=RUNNABLE)
               .exclude(pk=record.pk).order_by("pk").values_list("pk", flat=True).first())
    if waiting:
        dispatch_after_commit(waiting)


def link(record, target_id, entity_type=None, source_id=None):
    """Bind source id to target id in its own commit, as soon as the target answered (exactly-once effects).

    By default the record's own entity is bound; `entity_type` and `source_id` bind another one it depends on
    (e.g. a buyer's email to a TIMS customer), which leaves the record's own target id alone."""
    entity_type = entity_type or record.entity_type
    source_id = record.source_id if source_id is None else str(source_id)
    own = entity_type == record.entity_type and source_id == record.source_id
    with transaction.atomic():
        Link.objects.get_or_create(integration_id=record.integration_id, entity_type=entity_type,
                                   source_id=source_id, defaults={"target_id": str(target_id), "record": record})
        if own:
            SyncRecord.objects.filter(pk=record.pk).update(target_id=str(target_id))
    if own:
        record.target_id = str(target_id)


def linked_target(record, entity_type=None, source_id=None):
    return (Link.objects.filter(integration_id=record.integration_id, entity_type=entity_type or record.entity_type,
                                source_id=record.source_id if source_id is None else str(source_id))
            .values_list("target_id", flat=True).first())


RING_AGAIN_AFTER = timedelta(seconds=20)  # a doorbell this old may have been lost
RING_AGAIN_WHILE_BUSY_AFTER = timedelta(minutes=5)  # ...unless the queue still holds messages to work through


def sweep(now=None, limit=500):
    """Re-dispatch due work and take back abandoned leases (a killed worker). Returns what it did.

    A record whose retry or hold time has come is rung at once. One that was rung already (a new record, or a
    re-ring) is rung again after RING_AGAIN_AFTER, but while the broker's queue is not empty only after
    RING_AGAIN_WHILE_BUSY_AFTER: its message is most likely still waiting there, and a backlog must not be flooded
    with copies of itself.
    """
    now = now or timezone.now()
    abandoned = list(SyncRecord.objects.filter(status=RecordStatus.RUNNING, lease_expires_at__lt=now)
                     .values_list("pk", flat=True)[:limit])
    if abandoned:  # updated_at is left alone, so the next query sees them as due and never rung
        SyncRecord.objects.filter(pk__in=abandoned, status=RecordStatus.RUNNING, lease_expires_at__lt=now).update(
            status=RecordStatus.RETRYING, lease_owner="", lease_expires_at=None, next_attempt_at=now,
            error_class="transient", error_message="The worker running this record stopped (lease expired).")
    again_before = now - (RING_AGAIN_WHILE_BUSY_AFTER if _queue_busy() else RING_AGAIN_AFTER)
    due = list(SyncRecord.objects.filter(status__in=RUNNABLE, updated_at__lt=now - RING_AGAIN_AFTER)
               .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
               .filter(Q(updated_at__lt=F("next_attempt_at")) | Q(updated_at__lt=again_before))
               .order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    # Remember the ring (updated_at), so the next sweeps know these were rung.
    SyncRecord.objects.filter(pk__in=due).update(updated_at=now)
    for record_id in due:
        dispatch(record_id)
    return {"abandoned": len(abandoned), "dispatched": len(due)}


def _queue_busy():
    """True when the broker still holds messages nobody has taken; False when empty or unknown (then ring)."""
    from django_q.brokers import get_broker

    try:
        return get_broker().queue_size() > 0
    except Exception:
        log.warning("Could not read the broker's queue size", exc_info=True)
        return False


def prune_succeeded(now=None):
    """Delete succeeded records past the retention setting. Dead, held or discarded records are never pruned."""
    days = settings.SUCCEEDED_RECORD_RETENTION_DAYS
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = SyncRecord.objects.filter(status=RecordStatus.SUCCEEDED, finished_at__lt=cutoff)
    deleted, _ = old.delete()
    return deleted
