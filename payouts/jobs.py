"""The long work of a payout file, run by a worker with a progress bar and a cancel: read it line by line, match
and post each. A job run again (its worker died, or someone pressed Continue) skips the rows already read."""

from django.db import transaction
from django.urls import reverse

from jobs import work
from payouts import matching, parsing
from payouts.models import PayoutLine, PayoutUpload, UploadStatus

READ_JOB = "payout_upload"
MATCH_JOB = "payout_match_again"
INLINE_LIMIT = 200  # more lines than this are matched again by a job


def start(upload, user):
    """Queue the reading of an upload (in the caller's transaction: the worker is rung after commit)."""
    with transaction.atomic():
        job = work.start(READ_JOB, f"Read the payout file {upload.file_name} of {upload.integration}", user=user,
                         organization=upload.integration.organization, upload_id=upload.pk,
                         link=reverse("admin:payouts_payoutupload_change", args=[upload.pk]))
        PayoutUpload.objects.filter(pk=upload.pk).update(job=job, status=UploadStatus.QUEUED, error="")
    return job


@work.kind(READ_JOB)
def read_upload(job, progress):
    upload = PayoutUpload.objects.select_related("integration").get(pk=job.arguments["upload_id"])
    PayoutUpload.objects.filter(pk=upload.pk).update(status=UploadStatus.RUNNING, error="")
    try:
        rows = parsing.rows(upload.content, upload.mapping)
        progress.total(len(rows))
        done = set(PayoutLine.objects.filter(upload=upload).values_list("number", flat=True))
        progress.done = len(done)
        for row in rows:
            if row.number in done:
                continue
            matching.take_row(upload, row)
            progress.advance()
        progress.report()
    except work.Cancelled:
        _end(upload, UploadStatus.CANCELLED, "Stopped on request; the lines read so far are kept. Continue reading "
                                             "it from the upload's page.")
        raise
    except parsing.FileRefused as exc:
        _end(upload, UploadStatus.FAILED, str(exc))
        raise
    except Exception as exc:
        _end(upload, UploadStatus.FAILED, f"{type(exc).__name__}: {exc} — the lines read so far are kept; continue "
                                          "reading it from the upload's page once the cause is fixed.")
        raise
    _end(upload, UploadStatus.DONE, "")
    return matching.summary(upload)


def _end(upload, status, error):
    matching.recount(upload.pk)
    PayoutUpload.objects.filter(pk=upload.pk).update(status=status, error=error[:2000])


def match_again(lines, user, organization=None):
    """Try the unmatched lines again: at once when they are few, else as a job. Returns ({status: n}, job)."""
    lines = lines.filter(status__in=matching.MATCHABLE)
    if lines.count() <= INLINE_LIMIT:
        return matching.match_again(lines), None
    ids = list(lines.values_list("pk", flat=True))
    job = work.start(MATCH_JOB, f"Match {len(ids)} payout lines again", user=user, organization=organization,
                     line_ids=ids)
    return {}, job


@work.kind(MATCH_JOB)
def match_again_job(job, progress):
    ids = job.arguments["line_ids"]
    progress.total(len(ids))
    outcome = {}
    progress.done -= progress.done % 100  # run again after its worker died: from the chunk it was on
    for start in range(progress.done, len(ids), 100):
        chunk = ids[start:start + 100]
        for status, count in matching.match_again(PayoutLine.objects.filter(pk__in=chunk)).items():
            outcome[status] = outcome.get(status, 0) + count
        progress.advance(len(chunk))
    return describe(outcome)


def describe(outcome):
    if not outcome:
        return "No line was waiting to be matched."
    return ", ".join(f"{count} {status}" for status, count in sorted(outcome.items())) + "."
