"""Running jobs: a job is a row before it is queued (the queue carries only its id), a worker claims it once, the
work reports progress and looks for a cancel between chunks, and a job whose worker died is queued again (the kinds
of work are written to be run again safely: each chunk acts only on what is still to do)."""

import logging
import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from jobs.models import Job, JobStatus

log = logging.getLogger(__name__)
KINDS = {}
STALLED_AFTER = timedelta(minutes=5)  # a running job reports at least every chunk; this long silent: its worker died
REPORT_EVERY_SECONDS = 0.5


class Cancelled(Exception):
    pass


def kind(name):
    """Register a kind of work: fn(job, progress) -> the result, in words."""
    def register(fn):
        KINDS[name] = fn
        return fn
    return register


def start(kind_name, title, *, user=None, organization=None, **arguments):
    if kind_name not in KINDS:
        raise ValueError(f"Unknown kind of job “{kind_name}”.")
    job = Job.objects.create(kind=kind_name, title=title[:200], arguments=arguments, organization=organization,
                             started_by=user if getattr(user, "pk", None) else None)
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id):
    from django_q.tasks import async_task

    try:
        async_task("jobs.work.run", job_id, task_name=f"job-{job_id}", q_options={"group": "jobs", "save": False})
    except Exception:
        log.warning("Could not enqueue job %s; take_back_stalled will", job_id, exc_info=True)


class Progress:
    def __init__(self, job):
        self.job, self.done, self._reported = job, job.done, 0.0

    def total(self, n):
        Job.objects.filter(pk=self.job.pk).update(total=n)

    def advance(self, n=1):
        """Count work done; between chunks this is where a cancel is seen."""
        self.done += n
        if time.monotonic() - self._reported >= REPORT_EVERY_SECONDS:
            self.report()

    def report(self):
        self._reported = time.monotonic()
        Job.objects.filter(pk=self.job.pk).update(done=self.done, updated_at=timezone.now())
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise Cancelled


def run(job_id):
    """The worker's side; a job already running elsewhere or finished is left alone (a task delivered twice)."""
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), updated_at=timezone.now())
    if not claimed:
        return None
    job = Job.objects.get(pk=job_id)
    progress = Progress(job)
    try:
        if job.cancel_requested:
            raise Cancelled
        result = KINDS[job.kind](job, progress)
    except Cancelled:
        total = Job.objects.values_list("total", flat=True).get(pk=job.pk)
        Job.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED, done=progress.done, finished_at=timezone.now(),
                                             result=f"Stopped on request after {progress.done} of {total or '?'}.")
        return "cancelled"
    except Exception as exc:
        log.exception("Job %s (%s) failed", job.pk, job.kind)
        Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, done=progress.done, finished_at=timezone.now(),
                                             error=f"{type(exc).__name__}: {exc}"[:2000])
        return "failed"
    Job.objects.filter(pk=job.pk).update(status=JobStatus.DONE, done=progress.done, finished_at=timezone.now(),
                                         result=str(result or "")[:5000])
    return "done"


def cancel(job):
    """Ask a job to stop; a queued job stops before it starts, a running one at its next chunk."""
    Job.objects.filter(pk=job.pk).exclude(status__in=[JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED]).update(
        cancel_requested=True)
    Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(status=JobStatus.CANCELLED,
                                                                  finished_at=timezone.now(),
                                                                  result="Cancelled before it started.")


def take_back_stalled(now=None):
    """Every minute: a running job silent for STALLED_AFTER lost its worker; queued jobs nobody took are rung."""
    now = now or timezone.now()
    stalled = list(Job.objects.filter(status=JobStatus.RUNNING, updated_at__lt=now - STALLED_AFTER)
                   .values_list("pk", flat=True))
    Job.objects.filter(pk__in=stalled).update(status=JobStatus.QUEUED, updated_at=now)
    waiting = list(Job.objects.filter(status=JobStatus.QUEUED, updated_at__lt=now - timedelta(minutes=1))
                   .values_list("pk", flat=True))
    for job_id in set(stalled) | set(waiting):
        _enqueue(job_id)
    return len(stalled)
