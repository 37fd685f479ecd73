"""One reconciliation of one integration's day: the five columns side by side and the differences found. Every run
is kept, so the page shows a day's history and the alert reads the latest report."""

from django.db import models

from integrations.models import Integration


class ReportStatus(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "No differences"
    DIFFERENCES = "differences", "Differences"
    FAILED = "failed", "Could not reconcile"


def _money():
    return models.DecimalField(max_digits=14, decimal_places=2, default=0)


class ReconciliationReport(models.Model):
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="reconciliation_reports")
    day = models.DateField(help_text="The day the channel orders were placed, in the day's time zone.")
    time_zone = models.CharField(max_length=64, blank=True, help_text="Which zone's day it is.")
    computed_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=ReportStatus.choices, default=ReportStatus.RUNNING)
    error = models.TextField(blank=True)
    currency = models.CharField(max_length=3, blank=True)
    orders_count = models.PositiveIntegerField(default=0)
    orders_gross = _money()
    sales_orders_count = models.PositiveIntegerField(default=0)
    sales_orders_total = _money()
    invoices_count = models.PositiveIntegerField(default=0)
    invoiced_total = _money()
    payments_count = models.PositiveIntegerField(default=0)
    paid_total = _money()
    journal_count = models.PositiveIntegerField(default=0)
    posted_total = _money()  # what the invoices' entries put on receivables
    posted_payments_total = _money()  # what the payments' entries took off receivables
    in_progress = models.PositiveIntegerField(default=0, help_text="Orders not fully shipped and invoiced yet.")
    differences_count = models.PositiveIntegerField(default=0)
    differences = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="Orders in progress, notes.")
    summary = models.TextField(blank=True)
    api_calls = models.PositiveIntegerField(default=0, help_text="TIMS calls the run made.")

    class Meta:
        ordering = ["-day", "-computed_at"]
        indexes = [models.Index(fields=["integration", "day", "computed_at"]),
                   models.Index(fields=["integration", "computed_at"])]

    def __str__(self):
        return f"{self.integration} on {self.day:%Y-%m-%d}: {self.get_status_display()}"
