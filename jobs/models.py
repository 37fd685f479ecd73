"""Long work people start from the admin (a bulk retry of thousands, a discard), run by a worker, with its progress,
its result and a way to stop it."""

from django.conf import settings
from django.db import models

from portal.models import Organization


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="jobs", help_text="Empty: several organizations (company staff).")
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    arguments = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    result = models.TextField(blank=True, help_text="What it did, in words.")
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.title

    @property
    def percent(self):
        if self.status == JobStatus.DONE:
            return 100
        return min(int(self.done * 100 / self.total), 100) if self.total else 0

    @property
    def finished(self):
        return self.status in FINISHED
