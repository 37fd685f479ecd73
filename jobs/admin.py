"""Admin: jobs with a live progress bar, their result, and a cancel button."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils import formats, timezone
from django.utils.html import format_html

from jobs import work
from jobs.models import Job
from portal import tenancy
from portal.admin_scoping import OrganizationScopedAdmin
from portal.models import Role


@admin.register(Job)
class JobAdmin(OrganizationScopedAdmin):
    customer_change_roles = frozenset({Role.OWNER, Role.ADMIN, Role.OPERATOR})  # they cancel what they started
    customer_add_roles = frozenset()
    customer_delete_roles = frozenset()
    list_display = ["title", "status", "progress_bar", "started_by", "created", "finished"]
    list_filter = ["status", "kind"]
    readonly_fields = ["title", "kind", "status", "progress_bar", "result", "made", "error", "started_by",
                       "organization", "created_at", "started_at", "finished_at"]
    fields = readonly_fields
    change_form_template = "admin/jobs/job/change_form.html"

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if tenancy.is_company_staff(request.user):
            return queryset
        return queryset.filter(Q(organization_id__in=list(tenancy.roles_of(request.user))) |
                               Q(started_by=request.user))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        pass  # read-only: a job is changed by its worker and by the cancel button

    @admin.display(description="progress")
    def progress_bar(self, obj):
        return format_html('<progress class="job-progress" max="100" value="{}" style="width:160px"></progress> '
                           '<span class="job-count">{}</span>', obj.percent, f"{obj.done} of {obj.total or '?'}")

    @admin.display(description="what it made")
    def made(self, obj):
        link = (obj.arguments or {}).get("link", "")
        return format_html('<a href="{}">{}</a>', link, "its report") if str(link).startswith("/") else "—"

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return _local(obj.created_at)

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, obj):
        return _local(obj.finished_at)

    def get_urls(self):
        return [path("<path:object_id>/progress/", self.admin_site.admin_view(self.progress_view),
                     name="jobs_job_progress"),
                path("<path:object_id>/cancel/", self.admin_site.admin_view(self.cancel_view),
                     name="jobs_job_cancel")] + super().get_urls()

    def progress_view(self, request, object_id):
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404("No such job.")
        return JsonResponse({"status": job.status, "status_label": job.get_status_display(), "done": job.done,
                             "total": job.total, "percent": job.percent, "finished": job.finished,
                             "result": job.result, "error": job.error, "finished_at": _local(job.finished_at)})

    def cancel_view(self, request, object_id):
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404("No such job.")
        if request.method != "POST" or not self.has_change_permission(request, job):
            raise PermissionDenied
        work.cancel(job)
        self.message_user(request, "Asked to stop: it stops after the chunk it is on.", messages.INFO)
        return redirect("admin:jobs_job_change", job.pk)


def _local(moment):
    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i:s T") if moment else "—"
