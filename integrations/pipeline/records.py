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

from api import events
from integrations.models import Link, RecordStatus, SyncRecord
from integrations.pipeline.causes import cause_of

log = logging.getLogger(__name__)
BLOCKING = (RecordStatus.PENDING, RecordStatus.RUNNING, RecordStatus.RETRYING)
RUNNABLE = (RecordStatus.PENDING, RecordStatus.RETRYING, RecordStatus.HELD)


def worker_name():
    """This process, asked when needed: a cluster's workers are forked after this module is imported."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseLost(Exception):
    """This attempt no longer holds its record: a later claim does, so this one must stop writing."""


def receive(integration, *, flow, entity_type, source_id, source_version="", business_key=None, batch_key="",
            reference="", payload=None, parent=None, ring=True, due_at=None):
    """Record a unit of work in the caller's transaction and ring the doorbell after commit.

    The same (integration, entity, source id, version) received twice is one record: webhooks and poll pages may
    repeat themselves. What is read in shadow mode is kept apart, so going live imports it for real. A payload that
    only says back what the portal wrote (`note_written`) makes no record: returns (None, False). Otherwise returns
    (record, created).
    """
    from integrations.flows import registry
    from integrations.models import IntegrationState

    declared = registry.get(flow)
    source_system = declared.source_kind(integration) if declared else integration.channel_connection.kind
    key = dict(integration=integration, entity_type=entity_type, source_id=str(source_id),
               source_version=str(source_version or ""), shadow=integration.state == IntegrationState.SHADOW)
    if payload is not None and is_echo(integration, entity_type, source_id, payload):
        log.debug("Echo of our own write to %s %s: no new work", entity_type, source_id)
        return None, False
    defaults = dict(organization_id=integration.organization_id, flow=flow, source_system=source_system,
                    business_key=business_key or f"{integration.pk}:{entity_type}:{source_id}",
                    batch_key=batch_key, reference=str(reference or "")[:100], source_payload=payload,
                    search_text=search_text_of(reference, source_id, payload),
                    next_attempt_at=due_at or timezone.now(), correlation_id=uuid.uuid4().hex, parent=parent)
    try:
        with transaction.atomic():
            record, created = SyncRecord.objects.get_or_create(**key, defaults=defaults)
    except IntegrityError:  # a concurrent delivery won the race: same record
        record, created = SyncRecord.objects.get(**key), False
    if created and ring:  # a batch flow's poll rings one record per batch instead (ring_batches)
        dispatch_after_commit(record.pk)
    return record, created


SEARCH_TEXT_LENGTH = 2000
SEARCHED_KEYS = ("sku", "email", "emailaddress")  # payload keys whose values are searched (case and prefix aside)


def search_text_of(reference, source_id, payload):
    """What the admin's search reads for a record: its reference and source id, then every email and SKU anywhere
    in the payload (keys ending in sku, email or emailaddress: customer.email, lines[].sku, Data.Lines[].SKU,
    BuyerEmailAddress), each once, space-separated. Searching a whole JSON payload would scan every row."""
    words = [str(reference or ""), str(source_id or "")]
    _searched_values(payload, words, depth=0)
    unique = dict.fromkeys(word.strip() for word in words)
    unique.pop("", None)
    return " ".join(unique)[:SEARCH_TEXT_LENGTH]


def _searched_values(value, words, depth):
    if depth > 8:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                _searched_values(item, words, depth + 1)
            elif isinstance(item, str | int) and not isinstance(item, bool) and \
                    str(key).lower().endswith(SEARCHED_KEYS):
                words.append(str(item))
    elif isinstance(value, list):
        for item in value:
            _searched_values(item, words, depth + 1)


def ring_batches(pks, size):
    """One doorbell per batch of `size` new records of one batch key: the first claim takes the rest with it."""
    for pk in sorted(pks)[::max(size, 1)]:
        dispatch_after_commit(pk)


def ring_gathered(now=None, limit=20):
    """Ring the batch keys whose gathered records have come due (they were received to wait, without a ring):
    one doorbell per batch of them. The workers' ticker calls it every few seconds; the sweeper is the net."""
    from django.db.models import Count, Min

    from integrations.flows import registry

    flows = [flow for flow in registry.all_flows() if flow.gather_seconds]
    if not flows:
        return 0
    now = now or timezone.now()
    waiting = SyncRecord.objects.filter(status=RecordStatus.PENDING, flow__in=[f.name for f in flows],
                                        next_attempt_at__lte=now, updated_at__lt=F("next_attempt_at"))
    sizes = {flow.name: flow.batch_size for flow in flows}
    rung = 0
    for key in waiting.values("batch_key", "flow").annotate(n=Count("id"), first=Min("id")).order_by()[:limit]:
        chosen = waiting.filter(batch_key=key["batch_key"])
        pks = list(chosen.order_by("pk").values_list("pk", flat=True)[:2000])
        if SyncRecord.objects.filter(pk__in=pks, updated_at__lt=F("next_attempt_at")).update(updated_at=now):
            for pk in pks[::max(sizes.get(key["flow"], 1), 1)]:
                dispatch(pk)
                rung += 1
    return rung


ECHO_WINDOW = timedelta(minutes=15)


def note_written(integration, entity_type, source_id, written, window=ECHO_WINDOW):
    """After writing to a system, remember what was written, so the change read back from it (the next poll, a
    webhook) is recognised as our own echo and makes no new work. `written`: {payload path: value}."""
    from integrations.models import EchoGuard

    EchoGuard.objects.create(integration=integration, entity_type=entity_type, source_id=str(source_id),
                             written=written, expires_at=timezone.now() + window)


def is_echo(integration, entity_type, source_id, payload):
    """Does this payload only say back what the portal wrote moments ago?"""
    from integrations.models import EchoGuard

    if not isinstance(payload, dict):
        return False
    guards = EchoGuard.objects.filter(integration=integration, entity_type=entity_type, source_id=str(source_id),
                                      expires_at__gt=timezone.now()).values_list("written", flat=True)
    return any(written and all(_at(payload, path) == value for path, value in written.items()) for written in guards)


def _at(payload, path):
    value = payload
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def receive_unreadable(integration, *, flow, entity_type, source_id, version, raw, message, field=""):
    """An item the source served but we cannot read (a non-numeric amount, an impossible date): a dead letter of
    its own with the raw data and the field named, so the rest of the page goes on."""
    record, created = receive(integration, flow=flow, entity_type=entity_type, source_id=source_id,
                              source_version=f"unreadable:{version}", reference=source_id,
                              payload={"unreadable": raw})
    if created:
        from integrations.models import ErrorClass

        where = f" (field {field})" if field else ""
        SyncRecord.objects.filter(pk=record.pk).update(
            status=RecordStatus.DEAD, finished_at=timezone.now(), next_attempt_at=None,
            error_class=ErrorClass.PERMANENT, error_message=f"The source served data we cannot read{where}: {message}",
            error_cause=cause_of(f"The source served data we cannot read{where}: {message}"),
            suggested_fix="Correct the record in the source system (a new version is read by itself), or edit "
                          "the stored payload here and retry.",
            error_details={"field": field, "unreadable": True})
    return record, created


def receive_hint(integration, *, flow, entity_type, source_id):
    """A webhook says "this changed" without a version: fold it into open work on the same record, or open new work.

    The worker reads the record back from the source, so one open record per source id is enough; a hint arriving
    after that work finished starts new work (which finds the link and changes nothing if nothing changed).
    The business key's lock is taken before any row lock, as claim() does, so the two never deadlock.
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
    """Take the record for one attempt, or return None when it is not due, taken, or must wait its turn.

    Locks are always taken in one order, the business key's first and then the row's (as receive_hint does).
    """
    now = now or timezone.now()
    key = SyncRecord.objects.filter(pk=record_id).values_list("business_key", flat=True).first()
    if key is None:
        return None
    with transaction.atomic():
        _lock_business_key(key)
        record = (SyncRecord.objects.select_for_update(skip_locked=True)
                  .filter(pk=record_id, status__in=RUNNABLE)
                  .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)).first())
        if record is None:
            return None
        if _supersedes(record):
            record = _supersede(record, now)
            if record is None:
                return None
        ahead = SyncRecord.objects.filter(business_key=record.business_key).exclude(pk=record.pk).filter(
            Q(status=RecordStatus.RUNNING, lease_expires_at__gt=now) | Q(pk__lt=record.pk, status__in=BLOCKING))
        if ahead.exists():
            return None  # the earlier or running record dispatches this one when it finishes
        _take(record, worker, now)
    return record


def _take(record, worker, now):
    record.status = RecordStatus.RUNNING
    record.attempts += 1
    # Each claim is its own lease, so a stalled attempt cannot finish one that a later claim holds.
    record.lease_owner = f"{worker or worker_name()}/{uuid.uuid4().hex[:8]}"
    # Longer than django-q2's task timeout, so a live worker never loses its lease.
    record.lease_expires_at = now + timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)
    record.save(update_fields=["status", "attempts", "lease_owner", "lease_expires_at", "updated_at"])


def _supersedes(record):
    from integrations.flows import registry

    declared = registry.get(record.flow)
    return bool(declared and declared.supersedes)


def _supersede(record, now):
    """Newest wins, and a busy key still runs: the key's newest waiting version is taken in place of the one that
    came due, and every other waiting version ends as superseded. (Giving way to the newer record instead would
    starve a key whose changes keep coming: each claim would give way in turn.) Returns the record to run."""
    waiting = SyncRecord.objects.filter(business_key=record.business_key, status__in=RUNNABLE)
    newest = waiting.filter(pk__gt=record.pk).order_by("-pk").values_list("pk", flat=True).first()
    if newest is not None:
        record = waiting.select_for_update(skip_locked=True).filter(pk=newest).first()
        if record is None:
            return None  # another claim is at it
    waiting.exclude(pk=record.pk).update(
        status=RecordStatus.SUPERSEDED, finished_at=now, next_attempt_at=None, updated_at=now,
        error_message=f"A newer version (record {record.pk}) was sent in its place.")
    return record


def claim_batch(first, size, worker=None, now=None):
    """More due records of `first`'s batch key, each claimed as claim() would; `first` is already held."""
    if size <= 1 or not first.batch_key:
        return [first]
    now = now or timezone.now()
    due = (SyncRecord.objects.filter(batch_key=first.batch_key, status__in=RUNNABLE)
           .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)).exclude(pk=first.pk)
           .exclude(business_key=first.business_key).order_by("pk").values_list("pk", "business_key"))
    taken, keys = [first], {first.business_key}
    for record_id, key in due[:size * 10]:  # one per key: a busy key's many versions do not crowd out the rest
        if len(taken) >= size:
            break
        if key in keys:
            continue
        keys.add(key)
        record = claim(record_id, worker, now)
        if record is not None:
            taken.append(record)
    return taken


def fenced(record):
    """The record's row, only while this attempt still holds its lease."""
    return SyncRecord.objects.filter(pk=record.pk, status=RecordStatus.RUNNING, lease_owner=record.lease_owner)


def save_fields(record, **fields):
    """A step writes its own record only through here: a stalled attempt whose lease was taken over cannot."""
    if not record.lease_owner:  # not claimed (a preview or a test driving a step directly)
        SyncRecord.objects.filter(pk=record.pk).update(**fields, updated_at=timezone.now())
    elif not fenced(record).update(**fields, updated_at=timezone.now()):
        raise LeaseLost(f"Record {record.pk}: another attempt holds it now; this one stops.")
    for name, value in fields.items():
        setattr(record, name, value)


def mark_sent(record):
    """Durably note, before a create is sent, that the target may have it from now on (answer lost or not)."""
    if record.sent_at is None:
        save_fields(record, sent_at=timezone.now())


def ever_sent(record):
    """Could any earlier attempt at this business key have written to the target?"""
    return record.sent_at is not None or SyncRecord.objects.filter(
        business_key=record.business_key, sent_at__isnull=False).exclude(pk=record.pk).exists()


def chain(record, *, flow, entity_type, source_id, source_version="", payload=None, **receive_kwargs):
    """Emit a follow-up record (e.g. "invoice due" after a shipment); it is written in the commit that finishes
    this record, and only if it succeeds."""
    record.chained = getattr(record, "chained", [])
    record.chained.append(dict(flow=flow, entity_type=entity_type, source_id=source_id,
                               source_version=source_version, payload=payload, **receive_kwargs))


def finish(record, *, status, next_attempt_at=None, refund_attempt=False, children=(), **fields):
    """Write the outcome only if this claim still holds the lease; returns False when the lease was lost.

    Follow-up records a step chained (`children`: receive() keyword dicts) are written in the same commit, and
    only when the record succeeded."""
    lease = record.lease_owner
    values = dict(status=status, lease_owner="", lease_expires_at=None, next_attempt_at=next_attempt_at,
                  updated_at=timezone.now(), **fields)
    if "error_message" in fields:
        values["error_cause"] = cause_of(fields["error_message"], fields.get("error_details"))
    if status in (RecordStatus.SUCCEEDED, RecordStatus.DEAD, RecordStatus.DISCARDED, RecordStatus.SKIPPED):
        values["finished_at"] = timezone.now()
    if refund_attempt:
        values["attempts"] = max(record.attempts - 1, 0)
    with transaction.atomic():
        updated = SyncRecord.objects.filter(pk=record.pk, status=RecordStatus.RUNNING, lease_owner=lease).update(
            **values)
        if updated and status == RecordStatus.SUCCEEDED:
            for child in children:
                receive(record.integration, parent=record, **child)
    if updated:
        for name, value in values.items():
            setattr(record, name, value)
        dispatch_next_for_key(record)
        events.record_finished(record, status)  # subscribers hear of it after the commit; never raises
    return bool(updated)


def dispatch_next_for_key(record):
    """Ring the next record of this key that is due now (a hold that is not due waits for its own time)."""
    now = timezone.now()
    waiting = (SyncRecord.objects.filter(business_key=record.business_key, status__in=RUNNABLE)
               .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
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
            save_fields(record, target_id=str(target_id))


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
    abandoned = take_back_abandoned(now, limit)
    again_before = now - (RING_AGAIN_WHILE_BUSY_AFTER if _queue_busy() else RING_AGAIN_AFTER)
    due = list(SyncRecord.objects.filter(status__in=RUNNABLE, updated_at__lt=now - RING_AGAIN_AFTER)
               .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
               .filter(Q(updated_at__lt=F("next_attempt_at")) | Q(updated_at__lt=again_before))
               .order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    # Remember the ring (updated_at), so the next sweeps know these were rung.
    SyncRecord.objects.filter(pk__in=due).update(updated_at=now)
    for record_id in due:
        dispatch(record_id)
    return {"abandoned": abandoned, "dispatched": len(due)}


WORKER_STOPPED = "The worker stopped while running this record (killed, out of memory, or timed out)."


def take_back_abandoned(now, limit=500):
    """Records whose worker died mid-attempt: the attempt is counted and recorded, and a record that keeps killing
    its worker becomes a dead letter instead of looping forever. Returns how many were taken back."""
    from integrations.models import ErrorClass, SyncAttempt

    taken = 0
    with transaction.atomic():
        stale = list(SyncRecord.objects.select_for_update(skip_locked=True)
                     .filter(status=RecordStatus.RUNNING, lease_expires_at__lt=now).order_by("pk")[:limit])
        for record in stale:
            stops = 1 + _worker_stops(record)
            SyncAttempt.objects.create(record=record, number=record.attempts, started_at=record.updated_at,
                                       outcome="crashed", error_class=ErrorClass.CRASH, error_message=WORKER_STOPPED,
                                       worker=record.lease_owner.split("/")[0])
            common = dict(lease_owner="", lease_expires_at=None, error_message=WORKER_STOPPED,
                          error_cause=cause_of(WORKER_STOPPED))
            if stops >= settings.PIPELINE_MAX_WORKER_STOPS:  # its worker stops, not its failures, count here
                SyncRecord.objects.filter(pk=record.pk).update(
                    **common, status=RecordStatus.DEAD, finished_at=now, next_attempt_at=None, updated_at=now,
                    error_class=ErrorClass.CRASH,
                    suggested_fix=f"Its worker stopped {stops} times while running it: the record is "
                    "likely too big or hits a bug. Report it with this record's id; retry once it is fixed.")
                events.record_finished(record, RecordStatus.DEAD)
            else:  # updated_at is left alone, so the next query sees it as due and never rung
                SyncRecord.objects.filter(pk=record.pk).update(
                    **common, status=RecordStatus.RETRYING, next_attempt_at=now, error_class=ErrorClass.TRANSIENT,
                    suggested_fix="Nothing to do: it is tried again; it becomes a dead letter if this repeats.")
            taken += 1
    return taken


def _worker_stops(record):
    """How often a worker died running this record since it was last retried by hand (a retry starts afresh)."""
    from integrations.models import SyncAttempt

    crashed = SyncAttempt.objects.filter(record=record, outcome="crashed")
    retried = record.audit_entries.filter(action="retry").order_by("-at").values_list("at", flat=True).first()
    return (crashed.filter(started_at__gte=retried) if retried else crashed).count()


def _queue_busy():
    """True when the broker still holds messages nobody has taken; False when empty or unknown (then ring)."""
    from django_q.brokers import get_broker

    try:
        return get_broker().queue_size() > 0
    except Exception:
        log.warning("Could not read the broker's queue size", exc_info=True)
        return False


def prune_succeeded(now=None):
    """Delete records that ended well (succeeded, superseded by a newer version, skipped with nothing to do) past
    the retention setting. Dead, held or discarded records are never pruned."""
    days = settings.SUCCEEDED_RECORD_RETENTION_DAYS
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    ended_well = (RecordStatus.SUCCEEDED, RecordStatus.SUPERSEDED, RecordStatus.SKIPPED)
    old = SyncRecord.objects.filter(status__in=ended_well, finished_at__lt=cutoff)
    deleted, _ = old.delete()
    return deleted


def prune_echo_guards(now=None):
    from integrations.models import EchoGuard

    return EchoGuard.objects.filter(expires_at__lt=now or timezone.now()).delete()[0]
