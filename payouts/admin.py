"""Admin: upload a settlement file (choose the integration, the file, then its columns with a preview), follow the
job, and work the lines — unmatched ones first, with their reason, Match again and a CSV of what is left."""

import csv
import io

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, Value, When
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html

from integrations.models import Integration
from payouts import forms, jobs, parsing, services
from payouts.models import LineStatus, PayoutLine, PayoutUpload, SettlementFormat, UploadStatus
from portal import tenancy
from portal.access import may
from portal.admin_scoping import OrganizationScopedAdmin
from portal.models import Organization
from portal.tenancy import ROLES_THAT_OPERATE

# Unmatched lines first: they are the ones a human works.
LINE_RANK = Case(When(status=LineStatus.UNMATCHED, then=Value(0)), When(status=LineStatus.MATCHED, then=Value(1)),
                 When(status=LineStatus.REFUSED, then=Value(2)), When(status=LineStatus.DUPLICATE, then=Value(3)),
                 default=Value(4), output_field=IntegerField())
CSV_COLUMNS = ["upload", "row", "order reference", "amount", "fee", "date", "currency", "payout id", "status",
               "reason"]


def _local(moment):
    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i:s T") if moment else "—"


def _cell(value):
    """A spreadsheet must not run what a marketplace wrote in a cell (=HYPERLINK(...))."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "@", "\t", "\r") or (text[:1] == "-" and not _numeric(text)) \
        else text


def _numeric(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def lines_csv(lines, file_name):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for line in lines.order_by("upload_id", "number"):
        writer.writerow([line.upload_id, line.number, _cell(line.order_reference), line.amount, line.fee,
                         line.date or "", _cell(line.currency), _cell(line.payout_id), line.status,
                         _cell(line.reason)])
    response = HttpResponse("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response


class PayoutsAdmin(OrganizationScopedAdmin):
    """Company staff act on payouts as operators (they are not in the staff groups' apps); a customer's user with
    the operator role and up uploads and matches, a viewer looks. Nothing is deleted: a line gone would post again."""

    organization_path = "integration__organization"
    customer_change_roles = frozenset(ROLES_THAT_OPERATE)
    customer_add_roles = frozenset(ROLES_THAT_OPERATE)
    customer_delete_roles = frozenset()

    def has_module_permission(self, request):
        return tenancy.is_company_staff(request.user) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return tenancy.is_company_staff(request.user) or super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return tenancy.is_company_staff(request.user) or super().has_change_permission(request, obj)

    def has_add_permission(self, request):
        return tenancy.is_company_staff(request.user) or super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PayoutUpload)
class PayoutUploadAdmin(PayoutsAdmin):
    list_display = ["file_name", "integration", "status", "lines", "posted", "unmatched_link", "refused",
                    "duplicates", "fees_total", "amount_total", "uploaded_by", "uploaded"]
    list_filter = ["status", "integration"]
    list_select_related = ["integration", "uploaded_by"]
    search_fields = ["file_name"]
    actions = ["match_again", "continue_reading"]
    readonly_fields = ["integration", "file_name", "status", "what_to_do", "job_link", "uploaded_by", "uploaded",
                       "lines", "matched", "posted", "unmatched_link", "refused", "duplicates", "fees_total",
                       "amount_total", "columns", "error"]
    fields = readonly_fields
    change_form_template = "admin/payouts/payoutupload/change_form.html"

    def save_model(self, request, obj, form, change):
        pass  # read-only: an upload is made by the upload page and changed by its job

    @admin.display(description="uploaded", ordering="uploaded_at")
    def uploaded(self, obj):
        return _local(obj.uploaded_at)

    @admin.display(description="unmatched", ordering="unmatched")
    def unmatched_link(self, obj):
        url = reverse("admin:payouts_payoutline_changelist") + f"?upload={obj.pk}&status={LineStatus.UNMATCHED}"
        return format_html('<a href="{}">{}</a>', url, obj.unmatched)

    @admin.display(description="job")
    def job_link(self, obj):
        if obj.job_id is None:
            return "—"
        return format_html('<a href="{}">{} — see its progress</a>',
                           reverse("admin:jobs_job_change", args=[obj.job_id]), obj.job.get_status_display())

    @admin.display(description="columns read")
    def columns(self, obj):
        mapping = obj.mapping or {}
        if not mapping:
            return "—"
        named = [f"{label}: {mapping.get(key) or '—'}" for key, label in (
            ("reference_column", "reference"), ("amount_column", "amount"), ("fee_column", "fee"),
            ("date_column", "date"), ("currency_column", "currency"), ("payout_column", "payout id"))]
        return "; ".join(named) + f"; date format {mapping.get('date_format')}" + \
            ("; decimal comma" if mapping.get("decimal_comma") else "")

    @admin.display(description="what to do")
    def what_to_do(self, obj):
        lines = reverse("admin:payouts_payoutline_changelist") + f"?upload={obj.pk}"
        if obj.status == UploadStatus.DRAFT:
            return format_html('Its columns are not chosen yet: <a href="{}">choose them and start</a>.',
                               reverse("admin:payouts_payoutupload_map", args=[obj.pk]))
        if obj.status in (UploadStatus.QUEUED, UploadStatus.RUNNING):
            return "Being read: follow the job's progress; the lines appear as they are read."
        if obj.status in (UploadStatus.CANCELLED, UploadStatus.FAILED):
            return "Not all of it was read: choose “Continue reading” in the list of uploads (rows read are kept)."
        if obj.unmatched:
            return format_html('<a href="{}">{} lines are unmatched</a>: each says why. Fix the cause, then choose '
                               '“Match again”; or <a href="{}">download them as CSV</a>.', lines + "&status=unmatched",
                               obj.unmatched, reverse("admin:payouts_payoutupload_unmatched", args=[obj.pk]))
        return format_html('Nothing left to do. <a href="{}">See its lines</a>.', lines)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("upload/", view(self.upload_view), name="payouts_payoutupload_upload"),
                path("<int:upload_id>/map/", view(self.map_view), name="payouts_payoutupload_map"),
                path("<int:upload_id>/unmatched.csv", view(self.unmatched_csv), name="payouts_payoutupload_unmatched"),
                ] + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:payouts_payoutupload_upload")

    def _operable_integrations(self, request):
        integrations = Integration.objects.select_related("organization").order_by("organization__name", "name")
        if tenancy.is_company_staff(request.user):
            return integrations
        operated = [org for org, role in tenancy.roles_of(request.user).items() if role in ROLES_THAT_OPERATE]
        return integrations.filter(organization_id__in=operated)

    def _context(self, request, title, **extra):
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title, **extra}

    def upload_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        integrations = self._operable_integrations(request)
        form = forms.UploadForm(request.POST or None, request.FILES or None, integrations=integrations,
                                initial={"integration": request.GET.get("integration")})
        if request.method == "POST" and form.is_valid():
            integration = form.cleaned_data["integration"]
            if not may(request.user, integration.organization, "operate"):
                raise PermissionDenied
            upload = PayoutUpload.objects.create(integration=integration, file_name=form.cleaned_data["file"].name,
                                                 content=form.cleaned_data["text"], uploaded_by=request.user)
            return redirect("admin:payouts_payoutupload_map", upload.pk)
        return render(request, "admin/payouts/payoutupload/upload.html",
                      self._context(request, "Upload a payout file", form=form))

    def _upload_for(self, request, upload_id):
        upload = self.get_queryset(request).select_related("integration__organization").filter(pk=upload_id).first()
        if upload is None:
            raise Http404(f"No payout upload with id “{upload_id}”.")
        if not may(request.user, upload.integration.organization, "operate"):
            raise PermissionDenied
        return upload

    def map_view(self, request, upload_id):
        upload = self._upload_for(request, upload_id)
        if upload.status != UploadStatus.DRAFT:
            self.message_user(request, "This file is read already; its page shows how far.", messages.INFO)
            return redirect("admin:payouts_payoutupload_change", upload.pk)
        remembered = SettlementFormat.objects.filter(integration=upload.integration).first()
        delimiter = request.POST.get("delimiter") or (remembered.delimiter if remembered else
                                                      parsing.sniff_delimiter(upload.content))
        headers = parsing.headers(upload.content, delimiter)
        initial = forms.initial_mapping(headers, remembered.mapping() if remembered else None, delimiter)
        bound = request.method == "POST" and not request.POST.get("delimiter_changed")
        form = forms.MappingForm(request.POST if bound else None, headers=headers, initial=initial)
        preview, problem = [], ""
        mapping = {**initial, **(form.cleaned_data if bound and form.is_valid() else {})}
        try:
            preview = parsing.rows(_first_lines(upload.content), mapping)[:parsing.PREVIEW_ROWS]
        except parsing.FileRefused as exc:
            problem = str(exc)
        if bound and form.is_valid() and "start" in request.POST and not problem:
            job = services.start_reading(upload, form.cleaned_data, request.user)
            self.message_user(request, f"Reading {upload.file_name}: the bar shows how far; the upload's page lists "
                                       "its lines as they are matched.", messages.SUCCESS)
            return redirect("admin:jobs_job_change", job.pk)
        raw = list(csv.reader(io.StringIO(_first_lines(upload.content), newline=""), delimiter=delimiter))
        return render(request, "admin/payouts/payoutupload/map.html", self._context(
            request, f"Choose the columns of {upload.file_name}", form=form, upload=upload, headers=headers,
            preview=preview, problem=problem, raw=raw[:parsing.PREVIEW_ROWS + 1], remembered=remembered))

    def unmatched_csv(self, request, upload_id):
        upload = self.get_queryset(request).filter(pk=upload_id).first()
        if upload is None:
            raise Http404(f"No payout upload with id “{upload_id}”.")
        return lines_csv(PayoutLine.objects.filter(upload=upload, status=LineStatus.UNMATCHED),
                         f"unmatched-payout-lines-{upload.pk}.csv")

    def _operable(self, request, queryset):
        for upload in queryset.select_related("integration__organization"):
            if not may(request.user, upload.integration.organization, "operate"):
                raise PermissionDenied

    @admin.action(description="Match again the lines still unmatched", permissions=["change"])
    def match_again(self, request, queryset):
        _match_again(self, request, PayoutLine.objects.filter(upload__in=queryset))

    @admin.action(description="Continue reading (an upload stopped or failed)", permissions=["change"])
    def continue_reading(self, request, queryset):
        self._operable(request, queryset)
        started = 0
        for upload in queryset.filter(status__in=[UploadStatus.CANCELLED, UploadStatus.FAILED]):
            jobs.start(upload, request.user)
            started += 1
        skipped = queryset.count() - started
        self.message_user(request, f"{started} uploads are read on from where they stopped"
                          + (f"; {skipped} were not stopped and are left as they are." if skipped else "."),
                          messages.SUCCESS if started else messages.WARNING)


def _first_lines(text, count=parsing.PREVIEW_ROWS + 1):
    """Enough of the file for a preview, without reading 10 MB on every page view."""
    lines = text.splitlines(keepends=True)
    return "".join(lines[:count + 20])


def _match_again(model_admin, request, lines):
    """Match again what the user may operate on: at once when few, else a job whose progress they can follow."""
    organization_ids = set(lines.values_list("integration__organization", flat=True).distinct())
    for organization in Organization.objects.filter(pk__in=organization_ids):
        if not may(request.user, organization, "operate"):
            raise PermissionDenied
    only = Organization.objects.get(pk=organization_ids.pop()) if len(organization_ids) == 1 else None
    outcome, job = jobs.match_again(lines, request.user, organization=only)
    if job is not None:
        model_admin.message_user(request, format_html('Many lines: they are matched again by a job — <a href="{}">'
                                                      'follow its progress</a>.',
                                                      reverse("admin:jobs_job_change", args=[job.pk])))
        return
    model_admin.message_user(request, f"Matched again: {jobs.describe(outcome)}",
                             messages.SUCCESS if outcome.get(LineStatus.POSTED) else messages.INFO)


@admin.register(PayoutLine)
class PayoutLineAdmin(PayoutsAdmin):
    list_display = ["order_reference", "upload_link", "number", "amount", "fee", "date", "currency", "status",
                    "reason", "order_link", "sales_order_id", "journal_link"]
    list_filter = ["status", "integration"]
    list_select_related = ["upload", "journal_record"]
    search_fields = ["order_reference", "=order_id", "=sales_order_id", "=payout_id"]
    actions = ["match_again", "export_csv"]
    readonly_fields = ["upload_link", "number", "order_reference", "amount", "fee", "date", "currency", "payout_id",
                       "status", "reason", "order_link", "sales_order_id", "payments", "journal_link", "raw",
                       "updated"]
    fields = readonly_fields
    show_full_result_count = False

    def get_ordering(self, request):
        return [LINE_RANK.asc(), "-upload_id", "number"]

    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(request, queryset, search_term.strip())

    def save_model(self, request, obj, form, change):
        pass  # read-only: a line changes by matching

    @admin.display(description="upload", ordering="upload")
    def upload_link(self, obj):
        return format_html('<a href="{}">#{} {}</a>', reverse("admin:payouts_payoutupload_change",
                                                              args=[obj.upload_id]), obj.upload_id,
                           obj.upload.file_name)

    @admin.display(description="order")
    def order_link(self, obj):
        if not obj.order_id:
            return "—"
        url = reverse("admin:integrations_syncrecord_changelist") + f"?flow=orders&q={obj.order_id}"
        return format_html('<a href="{}">{}</a>', url, obj.order_id)

    @admin.display(description="journal record")
    def journal_link(self, obj):
        if obj.journal_record_id is None:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:integrations_syncrecord_change",
                                                          args=[obj.journal_record_id]),
                           obj.journal_record.get_status_display())

    @admin.display(description="TIMS payments")
    def payments(self, obj):
        from integrations.models import Link

        found = Link.objects.filter(pk__in=obj.payment_link_ids or []).values_list("target_id", flat=True)
        return ", ".join(found) or "—"

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, obj):
        return _local(obj.updated_at)

    @admin.action(description="Match again", permissions=["change"])
    def match_again(self, request, queryset):
        _match_again(self, request, queryset.order_by())

    @admin.action(description="Export to CSV")
    def export_csv(self, request, queryset):
        return lines_csv(queryset, "payout-lines.csv")


@admin.register(SettlementFormat)
class SettlementFormatAdmin(PayoutsAdmin):
    list_display = ["integration", "reference_column", "amount_column", "fee_column", "date_column", "delimiter",
                    "date_format", "decimal_comma", "updated_by"]
    readonly_fields = ["integration", "updated_by"]

    def has_add_permission(self, request):
        return False  # made by the first upload
