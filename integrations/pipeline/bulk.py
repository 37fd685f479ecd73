"""Retry or discard thousands of records as a job with progress and a cancel: chunk by chunk, each chunk only
what is still dead, so a job queued again after its worker died goes on where it was."""

from integrations.models import RecordStatus, SyncRecord
from integrations.pipeline import actions
from jobs.work import kind

CHUNK = 200
INLINE_LIMIT = 200  # fewer records than this are done at once, in the request


def chosen(arguments):
    """The dead records a job acts on: a flow and a cause, within the organizations the user could see."""
    records = SyncRecord.objects.filter(status=RecordStatus.DEAD, **arguments.get("filters", {}))
    if arguments.get("organization_ids") is not None:
        records = records.filter(organization_id__in=arguments["organization_ids"])
    return records.order_by("pk")


def _in_chunks(job, progress, act):
    records = chosen(job.arguments)
    progress.total(progress.done + records.count())
    acted = 0
    while True:
        chunk = list(records.values_list("pk", flat=True)[:CHUNK])
        if not chunk:
            break
        count = act(SyncRecord.objects.filter(pk__in=chunk))
        acted += count
        progress.advance(len(chunk))
        if not count:
            break  # nothing in the chunk could be acted on: stop rather than loop
    progress.report()
    return acted


@kind("retry_records")
def retry_records(job, progress):
    reason = job.arguments.get("reason") or "retried in bulk"
    done = _in_chunks(job, progress, lambda records: actions.retry(records, job.started_by, reason))
    return f"{done} records queued for retry."


@kind("discard_records")
def discard_records(job, progress):
    reason = job.arguments["reason"]
    done = _in_chunks(job, progress, lambda records: actions.discard(records, job.started_by, reason))
    return f"{done} records discarded ({reason})."
