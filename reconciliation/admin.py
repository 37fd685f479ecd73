"""Admin: per integration, its days with their status; a day's five columns side by side, its differences with the
records that explain them, a CSV of the day or a range, and "Reconcile now" (a job with progress)."""

import csv
import io
from datetime import date, timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html

from integrations.models import Integration
from portal import tenancy
from portal.access import may
from portal.admin_scoping import OrganizationScopedAdmin
from reconciliation import jobs
from reconciliation.compute import KINDS, zone_of
from reconciliation.models import ReconciliationReport, ReportStatus

DAYS_SHOWN = 35
CSV_COLUMNS = ["integration", "day", "status", "kind", "order", "reference", "difference", "amounts", "records",
               "what to do"]


def _local(moment):
    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i T") if moment else "—"


def _cell(value):
    """A spreadsheet must not run what a channel wrote in a cell (=HYPERLINK(...))."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def latest_by_day(reports):
    """{day: the newest finished report of that day} (a running one only if nothing finished yet)."""
    latest = {}
    for report in reports.order_by("day", "-computed_at", "-pk"):
        kept = latest.get(report.day)
        if kept is None or (kept.status == ReportStatus.RUNNING and report.status != ReportStatus.RUNNING):
            latest[report.day] = report
    return latest


def csv_rows(report, absolute):
    base = [report.integration.name, report.day.isoformat(), report.status]
    if not report.differences:
        return [base + ["", "", "", report.summary or report.error, "", "", ""]]
    return [base + [d.get("kind", ""), d.get("order_id", ""), d.get("reference", ""), d.get("sentence", ""),
                    "; ".join(f"{k}: {v}" for k, v in _pairs(d.get("amounts"))),
                    " ".join(absolute(r["url"]) for r in d.get("records") or []), d.get("what_to_do", "")]
            for d in report.differences]


def _pairs(amounts):
    return list(amounts.items()) if isinstance(amounts, dict) else [tuple(pair) for pair in amounts or []]


def csv_response(reports, absolute, file_name):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for report in reports:
        for row in csv_rows(report, absolute):
            writer.writerow([_cell(value) for value in row])
    response = HttpResponse("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response


def _day(value):
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise Http404("Not a day.") from None


@admin.register(ReconciliationReport)
class ReconciliationReportAdmin(OrganizationScopedAdmin):
    """Read-only: a report is made by a run. Company staff see every organization's, a customer's people their
    own; operators and up may reconcile again."""

    organization_path = "integration__organization"
    customer_change_roles = frozenset()
    customer_add_roles = frozenset()
    customer_delete_roles = frozenset()
    list_display = ["day_link", "integration", "status", "summary", "differences_count", "computed"]
    list_filter = ["status", "integration"]
    date_hierarchy = "day"
    search_fields = ["integration__name", "summary"]

    def has_module_permission(self, request):
        return tenancy.is_company_staff(request.user) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return tenancy.is_company_staff(request.user) or super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("integration")

    @admin.display(description="day", ordering="day")
    def day_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:reconciliation_day",
                                                          args=[obj.integration_id, obj.day.isoformat()]), obj.day)

    @admin.display(description="computed", ordering="computed_at")
    def computed(self, obj):
        return _local(obj.computed_at)

    def changelist_view(self, request, extra_context=None):
        integrations = tenancy.scope(Integration.objects.order_by("name"), request.user)
        return super().changelist_view(request, {"reconciled_integrations": integrations, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        report = self.get_object(request, object_id)
        if report is None:
            raise Http404("No such report.")
        return redirect("admin:reconciliation_day", report.integration_id, report.day.isoformat())

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("integration/<int:integration_id>/", view(self.days_view), name="reconciliation_days"),
            path("integration/<int:integration_id>/run/", view(self.run_view), name="reconciliation_run"),
            path("integration/<int:integration_id>/csv/", view(self.range_csv_view), name="reconciliation_range_csv"),
            path("integration/<int:integration_id>/<str:day>/", view(self.day_view), name="reconciliation_day"),
            path("integration/<int:integration_id>/<str:day>/csv/", view(self.day_csv_view),
                 name="reconciliation_day_csv"),
        ] + super().get_urls()

    # --- the pages ---

    def integration_or_404(self, request, integration_id):
        """Another tenant's integration looks exactly like a missing one."""
        if not self.has_view_permission(request):
            raise Http404("No such integration.")
        visible = tenancy.scope(Integration.objects.select_related("organization", "channel_connection"),
                                request.user)
        return get_object_or_404(visible, pk=integration_id)

    def context(self, request, integration, **extra):
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "integration": integration,
                "may_run": may(request.user, integration.organization, "operate"),
                "time_zone": str(zone_of(integration)), **extra}

    def days_view(self, request, integration_id):
        integration = self.integration_or_404(request, integration_id)
        yesterday = jobs.yesterday_of(integration)
        first = yesterday - timedelta(days=DAYS_SHOWN - 1)
        latest = latest_by_day(ReconciliationReport.objects.filter(integration=integration, day__gte=first,
                                                                   day__lte=yesterday + timedelta(days=1)))
        days = [(day, latest.get(day)) for day in sorted({*latest, *(yesterday - timedelta(days=n)
                                                                    for n in range(DAYS_SHOWN))}, reverse=True)]
        return TemplateResponse(request, "admin/reconciliation/days.html", self.context(
            request, integration, title=f"Reconciliation of {integration.name}", days=days,
            yesterday=yesterday, first=first,
            counts={status: sum(1 for _, r in days if r and r.status == status) for status in ReportStatus}))

    def day_view(self, request, integration_id, day):
        integration = self.integration_or_404(request, integration_id)
        day = _day(day)
        runs = list(ReconciliationReport.objects.filter(integration=integration, day=day).order_by("-computed_at"))
        report = latest_by_day(ReconciliationReport.objects.filter(integration=integration, day=day)).get(day)
        columns = []
        if report:
            columns = [("Channel orders", report.orders_count, report.orders_gross),
                       ("TIMS sales orders", report.sales_orders_count, report.sales_orders_total),
                       ("Invoiced", report.invoices_count, report.invoiced_total),
                       ("Paid", report.payments_count, report.paid_total),
                       ("Posted to the GL", report.journal_count, report.posted_total)]
        return TemplateResponse(request, "admin/reconciliation/day.html", self.context(
            request, integration, title=f"{integration.name}: {day:%Y-%m-%d}", day=day, report=report, runs=runs,
            columns=columns, kinds=KINDS, previous=day - timedelta(days=1), next=day + timedelta(days=1),
            details=(report.details if report else {}) or {}))

    def run_view(self, request, integration_id):
        integration = self.integration_or_404(request, integration_id)
        if request.method != "POST" or not may(request.user, integration.organization, "operate"):
            raise PermissionDenied("Reconciling needs the operator role or more.")
        first = _day(request.POST.get("day_from") or request.POST.get("day"))
        last = _day(request.POST.get("day_to") or request.POST.get("day") or first.isoformat())
        if max(first, last) > timezone.localdate(timezone=zone_of(integration)):
            messages.error(request, "A day that has not happened yet cannot be reconciled.")
            return redirect("admin:reconciliation_days", integration.pk)
        job = jobs.start(integration, first, last, request.user)
        days = len(jobs.days_between(first, last))
        messages.info(request, f"Reconciling {days} day(s) of {integration.name}: follow the job here; the day's "
                               "page shows the report once it is done.")
        return redirect("admin:jobs_job_change", job.pk)

    def day_csv_view(self, request, integration_id, day):
        integration = self.integration_or_404(request, integration_id)
        day = _day(day)
        report = latest_by_day(ReconciliationReport.objects.filter(integration=integration, day=day)).get(day)
        if report is None:
            raise Http404("That day has not been reconciled yet.")
        return csv_response([report], request.build_absolute_uri,
                            f"reconciliation-{integration.pk}-{day:%Y-%m-%d}.csv")

    def range_csv_view(self, request, integration_id):
        integration = self.integration_or_404(request, integration_id)
        yesterday = jobs.yesterday_of(integration)
        last = _day(request.GET.get("to") or yesterday.isoformat())
        first = _day(request.GET.get("from") or (last - timedelta(days=DAYS_SHOWN - 1)).isoformat())
        if last < first:
            first, last = last, first
        latest = latest_by_day(ReconciliationReport.objects.filter(integration=integration, day__gte=first,
                                                                   day__lte=last).select_related("integration"))
        return csv_response([latest[day] for day in sorted(latest)], request.build_absolute_uri,
                            f"reconciliation-{integration.pk}-{first:%Y-%m-%d}-to-{last:%Y-%m-%d}.csv")
