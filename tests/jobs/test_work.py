"""Jobs: claimed once, progress in chunks, cancelled between chunks, queued again when their worker died and
resumed where they were; a bulk retry of thousands from the dead letters by cause is one; in a real browser, the
bar moves and the cancel button stops it."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from integrations.models import AuditEntry, RecordStatus, SyncRecord
from integrations.pipeline import actions, bulk, records
from integrations.pipeline.causes import cause_of
from jobs import work
from jobs.models import Job, JobStatus
from tests.factories import make_integration

pytestmark = pytest.mark.django_db
MESSAGE = "SKU “X-1” in order 7 does not exist in TIMS"


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    monkeypatch.setattr(work, "_enqueue", lambda job_id: None)  # the test is the worker


def make_dead(integration, n):
    rows = [SyncRecord(organization_id=integration.organization_id, integration=integration, flow="orders",
                       entity_type="order", source_system="prestashop", source_id=str(i), business_key=f"k{i}",
                       status=RecordStatus.DEAD, error_message=MESSAGE, error_cause=cause_of(MESSAGE))
            for i in range(n)]
    SyncRecord.objects.bulk_create(rows)


def retry_job(cast, **extra):
    return work.start("retry_records", "Retry them", user=cast.operations,
                      filters={"flow": "orders", "error_cause": cause_of(MESSAGE)}, organization_ids=None,
                      reason="items created", **extra)


def test_a_retry_job_works_in_chunks_once_and_says_what_it_did(cast):
    make_dead(make_integration(cast.org_a), 450)
    job = retry_job(cast)
    assert work.run(job.pk) == "done"
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.percent) == (JobStatus.DONE, 450, 450, 100)
    assert job.result == "450 records queued for retry."
    assert SyncRecord.objects.filter(status=RecordStatus.RETRYING).count() == 450
    assert AuditEntry.objects.filter(action="retry", actor=cast.operations, reason="items created").count() == 450
    assert work.run(job.pk) is None  # the task delivered twice: nothing runs again


def test_a_cancel_stops_it_between_chunks(cast, monkeypatch):
    make_dead(make_integration(cast.org_a), 450)
    job = retry_job(cast)
    real_retry = actions.retry

    def retry_then_cancel(chosen, actor, reason=""):
        count = real_retry(chosen, actor, reason)
        work.cancel(job)  # someone clicks Cancel while the first chunk runs
        return count

    monkeypatch.setattr(actions, "retry", retry_then_cancel)
    monkeypatch.setattr(work, "REPORT_EVERY_SECONDS", 0)
    assert work.run(job.pk) == "cancelled"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.done == bulk.CHUNK
    assert job.result == f"Stopped on request after {bulk.CHUNK} of 450."
    assert SyncRecord.objects.filter(status=RecordStatus.DEAD).count() == 450 - bulk.CHUNK


def test_a_queued_job_cancelled_never_starts(cast):
    make_dead(make_integration(cast.org_a), 3)
    job = retry_job(cast)
    work.cancel(job)
    assert work.run(job.pk) is None
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    assert SyncRecord.objects.filter(status=RecordStatus.DEAD).count() == 3


def test_a_job_whose_worker_died_is_queued_again_and_goes_on_where_it_was(cast, monkeypatch):
    make_dead(make_integration(cast.org_a), 450)
    job = retry_job(cast)
    real_retry = actions.retry
    calls = []

    def dies_after_one_chunk(chosen, actor, reason=""):
        if calls:
            raise SystemExit("killed")  # the worker process dies: nothing is written about the job
        calls.append(1)
        return real_retry(chosen, actor, reason)

    monkeypatch.setattr(actions, "retry", dies_after_one_chunk)
    monkeypatch.setattr(work, "REPORT_EVERY_SECONDS", 0)
    with pytest.raises(SystemExit):
        work.run(job.pk)
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING
    monkeypatch.setattr(actions, "retry", real_retry)
    assert work.take_back_stalled(now=timezone.now() + timedelta(minutes=6)) == 1
    assert work.run(job.pk) == "done"
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.done == 450 and job.total == 450
    assert job.result == f"{450 - bulk.CHUNK} records queued for retry."
    assert not SyncRecord.objects.filter(status=RecordStatus.DEAD).exists()


def test_retry_all_of_a_big_cause_is_a_job_scoped_to_the_users_organizations(cast, login):
    make_dead(make_integration(cast.org_a), bulk.INLINE_LIMIT + 1)
    other = make_integration(cast.org_b)
    SyncRecord.objects.create(organization_id=other.organization_id, integration=other, flow="orders",
                              entity_type="order", source_system="prestashop", source_id="b1", business_key="b1",
                              status=RecordStatus.DEAD, error_message=MESSAGE, error_cause=cause_of(MESSAGE))
    client = login(cast.owner_a)
    response = client.post(reverse("admin:integrations_syncrecord_causes"), {
        "flow": "orders", "error_cause": cause_of(MESSAGE), "retry": "1"})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:jobs_job_change", args=[job.pk])
    assert job.organization == cast.org_a and job.arguments["organization_ids"] == [cast.org_a.pk]
    work.run(job.pk)
    assert SyncRecord.objects.get(source_id="b1").status == RecordStatus.DEAD  # not theirs
    assert client.get(reverse("admin:jobs_job_progress", args=[job.pk])).json()["percent"] == 100
    assert login(cast.outsider_b).get(reverse("admin:jobs_job_progress", args=[job.pk])).status_code == 404


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_bar_moves_and_cancel_stops_the_job_in_the_browser(page, live_server, cast, monkeypatch):
    make_dead(make_integration(cast.org_a), 1000)
    monkeypatch.setattr(bulk, "CHUNK", 50)
    real_retry = actions.retry

    def slow_retry(chosen, actor, reason=""):
        time.sleep(0.4)  # a chunk of a busy day
        return real_retry(chosen, actor, reason)

    monkeypatch.setattr(actions, "retry", slow_retry)
    monkeypatch.setattr(work, "REPORT_EVERY_SECONDS", 0)
    job = retry_job(cast)

    def worker_process():
        try:
            work.run(job.pk)
        finally:
            connection.close()  # this thread's own connection, or the test database could not be dropped

    worker = threading.Thread(target=worker_process)

    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/admin/login/?next=" + reverse("admin:jobs_job_change", args=[job.pk]))
    page.fill("#id_username", cast.operations.username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_selector(".job-progress")
    worker.start()
    page.wait_for_function("document.querySelector('.job-progress').value > 0")
    seen = page.evaluate("document.querySelector('.job-progress').value")
    assert 0 < seen < 100
    page.click("#cancel-job")
    worker.join(timeout=60)
    expect(page.locator(".field-status")).to_contain_text("Cancelled", timeout=10000)
    expect(page.locator(".field-result")).to_contain_text("Stopped on request after")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and 0 < job.done < 1000
