"""The upload as a job: progress counted line by line, a cancel between lines, Continue reading picks up where it
stopped (no line read twice, nothing posted twice), and a job run again after its worker died does the same."""

import pytest

from jobs import work
from jobs.models import Job, JobStatus
from payouts import jobs, matching, parsing
from payouts.models import LineStatus, PayoutLine, PayoutUpload, UploadStatus
from tests.payouts.conftest import HEADER, MAPPING, paid_order

pytestmark = pytest.mark.django_db


def upload_of(shop, count):
    for i in range(count):
        paid_order(shop, str(100 + i), f"REF{i}")
    body = "".join(f"REF{i},10.00,1.00,2026-12-01\r\n" for i in range(count)) + "NOPE,5,1,2026-12-01\r\n"
    return PayoutUpload.objects.create(integration=shop, file_name="big.csv", content=HEADER + body,
                                       mapping=MAPPING)


def test_the_job_reads_every_line_with_progress_and_says_what_it_did(shop, cast):
    upload = upload_of(shop, 5)
    job = jobs.start(upload, cast.superuser)
    assert PayoutUpload.objects.get(pk=upload.pk).status == UploadStatus.QUEUED
    assert (job.organization, job.arguments["link"]) == (cast.org_a, f"/admin/payouts/payoutupload/{upload.pk}/change/")
    assert work.run(job.pk) == "done"
    job.refresh_from_db()
    upload.refresh_from_db()
    assert (job.status, job.done, job.total) == (JobStatus.DONE, 6, 6)
    assert job.result == "6 lines: 5 posted, 0 matched but not posted, 1 unmatched, 0 refused, 0 duplicates."
    assert (upload.status, upload.job, upload.lines, upload.posted, upload.unmatched) == (
        UploadStatus.DONE, job, 6, 5, 1)


def test_a_cancel_stops_between_lines_and_continue_reading_finishes_it(shop, cast, monkeypatch):
    upload = upload_of(shop, 5)
    job = jobs.start(upload, cast.superuser)
    real = matching.take_row

    def take_then_cancel(upload_, row):
        line = real(upload_, row)
        if row.number == 3:
            work.cancel(job)  # someone presses Cancel while row 3 is read
        return line

    monkeypatch.setattr(matching, "take_row", take_then_cancel)
    monkeypatch.setattr(work, "REPORT_EVERY_SECONDS", 0)
    assert work.run(job.pk) == "cancelled"
    upload.refresh_from_db()
    assert upload.status == UploadStatus.CANCELLED and "Continue reading" in upload.error
    assert list(upload.payout_lines.values_list("number", flat=True)) == [2, 3]
    monkeypatch.setattr(matching, "take_row", real)
    again = jobs.start(upload, cast.superuser)
    assert work.run(again.pk) == "done"
    upload.refresh_from_db()
    assert list(upload.payout_lines.values_list("number", flat=True)) == [2, 3, 4, 5, 6, 7]
    assert (upload.status, upload.posted, upload.duplicates) == (UploadStatus.DONE, 5, 0)
    assert Job.objects.get(pk=again.pk).done == 6


def test_a_job_whose_worker_died_goes_on_where_it_was(shop, cast, monkeypatch):
    from django.utils import timezone

    upload = upload_of(shop, 4)
    job = jobs.start(upload, cast.superuser)
    real = matching.take_row

    def dies_on_row_4(upload_, row):
        if row.number == 4:
            raise SystemExit("killed")
        return real(upload_, row)

    monkeypatch.setattr(matching, "take_row", dies_on_row_4)
    with pytest.raises(SystemExit):
        work.run(job.pk)
    monkeypatch.setattr(matching, "take_row", real)
    work.take_back_stalled(now=timezone.now() + work.STALLED_AFTER * 2)
    assert work.run(job.pk) == "done"
    assert PayoutLine.objects.filter(upload=upload).count() == 5
    assert PayoutLine.objects.filter(status=LineStatus.POSTED).count() == 4


def test_a_file_that_no_longer_fits_its_mapping_fails_the_job_with_the_reason(shop, cast):
    upload = PayoutUpload.objects.create(integration=shop, file_name="x.csv", content="Ref,Gross\nA,1\n",
                                         mapping=MAPPING)
    job = jobs.start(upload, cast.superuser)
    assert work.run(job.pk) == "failed"
    upload.refresh_from_db()
    assert upload.status == UploadStatus.FAILED and "no column “Order reference”" in upload.error
    assert parsing.FileRefused.__name__ in Job.objects.get(pk=job.pk).error


def test_many_lines_are_matched_again_by_a_job(shop, monkeypatch):
    upload = upload_of(shop, 0)
    work.run(jobs.start(upload, None).pk)
    monkeypatch.setattr(jobs, "INLINE_LIMIT", 0)
    outcome, job = jobs.match_again(PayoutLine.objects.all(), None)
    assert outcome == {} and job is not None
    assert work.run(job.pk) == "done"
    assert Job.objects.get(pk=job.pk).result == "1 unmatched."
