"""What a human does to records: retry, edit and retry, discard. Every action is audited."""

from django.db import transaction
from django.utils import timezone

from integrations.models import AuditEntry, RecordStatus, SyncRecord
from integrations.pipeline import records

RETRYABLE = (RecordStatus.DEAD, RecordStatus.RETRYING, RecordStatus.HELD, RecordStatus.DISCARDED)


def audit(actor, action, record=None, reason="", before=None, after=None, organization=None):
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=getattr(actor, "username", "") or str(actor or "system"),
        organization_id=organization.pk if organization else (record.organization_id if record else None),
        action=action, record=record, reason=reason, before=before, after=after)


def retry(records_qs, actor, reason=""):
    """Make the chosen records due now, each with a fresh set of attempts. Returns how many were queued."""
    count = 0
    with transaction.atomic():
        for record in records_qs.select_for_update().filter(status__in=RETRYABLE):
            before = {"status": record.status, "error": record.error_message, "attempts": record.attempts}
            SyncRecord.objects.filter(pk=record.pk).update(
                status=RecordStatus.RETRYING, next_attempt_at=timezone.now(), finished_at=None, attempts=0,
                updated_at=timezone.now())
            audit(actor, "retry", record, reason, before, {"status": RecordStatus.RETRYING, "attempts": 0})
            records.dispatch_after_commit(record.pk)
            count += 1
    return count


def edit_payload_and_retry(record, payload, actor, reason=""):
    with transaction.atomic():
        before = {"source_payload": record.source_payload}
        record.source_payload = payload
        record.payload_edited_at = timezone.now()  # the retry uses this payload, not a fresh read
        record.notes = (f"The payload was edited by {getattr(actor, 'username', actor)}: retries use the edited "
                        "payload instead of reading the record from the source again.")
        record.save(update_fields=["source_payload", "payload_edited_at", "notes", "updated_at"])
        audit(actor, "edit_payload", record, reason, before, {"source_payload": payload})
    return retry(SyncRecord.objects.filter(pk=record.pk), actor, reason or "payload edited")


def discard(records_qs, actor, reason):
    if not reason.strip():
        raise ValueError("Say why the records are discarded: the reason is kept in the audit log.")
    count = 0
    with transaction.atomic():
        for record in records_qs.select_for_update().exclude(status__in=[RecordStatus.SUCCEEDED,
                                                                         RecordStatus.RUNNING]):
            before = {"status": record.status}
            SyncRecord.objects.filter(pk=record.pk).update(status=RecordStatus.DISCARDED, finished_at=timezone.now(),
                                                           updated_at=timezone.now())
            audit(actor, "discard", record, reason, before, {"status": RecordStatus.DISCARDED})
            count += 1
    return count


def waiting_on_map(value_map, values=None):
    """Dead letters stopped by a value this map did not have (only `values`, when given): those a fix of the map
    sets going. A global template stands for the organizations that have no copy of their own."""
    waiting = SyncRecord.objects.filter(status=RecordStatus.DEAD, error_details__value_map__name=value_map.name)
    if value_map.organization_id:
        waiting = waiting.filter(organization_id=value_map.organization_id)
    else:
        waiting = waiting.exclude(organization__value_maps__name=value_map.name)
    if values is not None:
        waiting = waiting.filter(error_details__value_map__value__in=list(values))
    return waiting
