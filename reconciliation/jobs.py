"""Running reconciliations and keeping their reports: every night for every live integration (yesterday, in its own
time zone), and on request for a chosen day or range, as a job with progress."""

import logging
from datetime import timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from integrations.models import Integration, IntegrationState
from jobs import work
from reconciliation.compute import CENT, reconcile, zone_of
from reconciliation.models import ReconciliationReport, ReportStatus

log = logging.getLogger(__name__)
JOB = "reconcile_days"
MAX_DAYS = 92  # one request reconciles at most a quarter
SCHEDULE = ("reconciliation: reconcile yesterday of live integrations", "reconciliation.jobs.reconcile_yesterday", 60)


def run_day(integration, day, *, tims=None, progress=None):
    """Reconcile one day and keep the report (a failure is kept too, with its error)."""
    report = ReconciliationReport.objects.create(integration=integration, day=day, computed_at=timezone.now(),
                                                 time_zone=str(zone_of(integration)))
    try:
        result = reconcile(integration, day, tims=tims, progress=progress)
    except work.Cancelled:
        report.delete()
        raise
    except Exception as exc:
        log.warning("Reconciliation of %s on %s failed", integration, day, exc_info=True)
        report.status, report.error = ReportStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        report.summary = "Could not reconcile: " + report.error[:300]
        report.computed_at = timezone.now()
        report.save()
        return report
    _fill(report, result)
    report.save()
    return report


def _fill(report, result):
    def q(amount):
        return amount.quantize(CENT)

    report.computed_at = timezone.now()
    report.status = ReportStatus.OK if result.ok else ReportStatus.DIFFERENCES
    report.currency = result.currency[:3]
    report.orders_count, report.orders_gross = result.orders.count, q(result.orders.total)
    report.sales_orders_count, report.sales_orders_total = result.sales_orders.count, q(result.sales_orders.total)
    report.invoices_count, report.invoiced_total = result.invoices.count, q(result.invoices.total)
    report.payments_count, report.paid_total = result.payments.count, q(result.payments.total)
    report.journal_count, report.posted_total = result.journal.count, q(result.journal.total)
    report.posted_payments_total = q(result.posted_payments)
    report.in_progress = len(result.in_progress)
    report.differences_count = len(result.differences)
    report.differences = [d.to_dict() for d in result.differences]
    report.details = {"in_progress": result.in_progress, "notes": result.notes}
    report.summary = result.summary
    report.api_calls = result.api_calls


def yesterday_of(integration, now=None):
    return timezone.localdate(now or timezone.now(), timezone=zone_of(integration)) - timedelta(days=1)


def reconcile_yesterday(now=None):
    """Hourly: each live integration's yesterday, once (its midnight comes when its time zone says)."""
    done = 0
    for integration in Integration.objects.filter(state=IntegrationState.LIVE).select_related("channel_connection"):
        day = yesterday_of(integration, now)
        if ReconciliationReport.objects.filter(integration=integration, day=day).exclude(
                status=ReportStatus.RUNNING).exists():
            continue
        try:
            run_day(integration, day)
            done += 1
        except Exception:  # one integration's trouble does not stop the others
            log.exception("Reconciliation of %s on %s could not be stored", integration, day)
    return done


def days_between(first, last):
    if last < first:
        first, last = last, first
    return [first + timedelta(days=n) for n in range(min((last - first).days + 1, MAX_DAYS))]


def start(integration, first, last, user):
    """Reconcile now, as a job: the page follows its progress, and links to the day once done."""
    days = days_between(first, last)
    what = f"{days[0]:%Y-%m-%d}" + (f" to {days[-1]:%Y-%m-%d}" if len(days) > 1 else "")
    with transaction.atomic():
        return work.start(JOB, f"Reconcile {integration.name}, {what}", user=user,
                          organization=integration.organization, integration_id=integration.pk,
                          days=[d.isoformat() for d in days],
                          link=reverse("admin:reconciliation_day", args=[integration.pk, days[-1].isoformat()]))


@work.kind(JOB)
def reconcile_days(job, progress):
    from datetime import date

    integration = Integration.objects.select_related("channel_connection", "tims_connection").get(
        pk=job.arguments["integration_id"])
    days = [date.fromisoformat(d) for d in job.arguments["days"]]
    steps = 5  # reconcile() advances five times a day
    progress.total(len(days) * steps)
    progress.done -= progress.done % steps  # run again after its worker died: from the day it was on
    outcome = []
    for day in days[progress.done // steps:]:
        report = run_day(integration, day, progress=progress)
        progress.done = (days.index(day) + 1) * steps
        progress.report()
        outcome.append(f"{day:%Y-%m-%d}: {report.summary}")
    return "\n".join(outcome)


def ensure_schedule():
    from django_q.models import Schedule

    name, func, minutes = SCHEDULE
    Schedule.objects.update_or_create(name=name, defaults={
        "func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1,
        "next_run": timezone.now() + timedelta(minutes=1)})
