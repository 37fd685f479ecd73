"""The admin's front page is where operations staff start their day: what needs a human comes first."""

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse

from portal import tenancy


def attention_items(request):
    """[(headline, count, url, level)] of things that need a human, scoped to what the user may see."""
    from integrations.models import Connection, ConnectionStatus, Integration, RecordStatus, SyncRecord
    from portal.health import check_worker

    items = []
    if tenancy.is_company_staff(request.user):
        worker = check_worker()
        if not worker["ok"]:
            items.append((worker["problem"], None, "/healthz", "error"))
    from integrations.flows import registry
    from integrations.models import PollState

    sync_records = tenancy.scope(SyncRecord.objects.all(), request.user)
    labels = dict(registry.choices())
    for status, level in ((RecordStatus.DEAD, "error"), (RecordStatus.HELD, "warning")):
        by_flow = dict(sync_records.filter(status=status).values_list("flow").annotate(n=Count("id")).order_by())
        for flow, count in sorted(by_flow.items()):  # one line per declared flow, so the cause is one click away
            url = reverse("admin:integrations_syncrecord_changelist") + f"?status__exact={status}&flow={flow}"
            if status == RecordStatus.DEAD:  # grouped by cause, each with its fix and "retry all"
                url = reverse("admin:integrations_syncrecord_causes") + f"?flow={flow}"
            items.append((f"{labels.get(flow, flow)}: {RecordStatus(status).label.lower()}", count, url, level))
    failing_polls = tenancy.scope(PollState.objects.exclude(last_error="").filter(integration__isnull=False),
                                  request.user, "integration__organization").count()
    if failing_polls:
        url = reverse("admin:integrations_integration_changelist")
        items.append(("Streams whose last poll failed (see “streams read” on the integration)", failing_polls, url,
                      "error"))
    connections = tenancy.scope(Connection.objects.all(), request.user)
    for status, level in ((ConnectionStatus.FAILING, "error"), (ConnectionStatus.NEEDS_ATTENTION, "warning")):
        count = connections.filter(status=status).count()
        if count:
            url = reverse("admin:integrations_connection_changelist") + f"?status__exact={status}"
            items.append((f"Connections: {ConnectionStatus(status).label.lower()}", count, url, level))
    for hook in ADDITIONAL_ATTENTION:
        items.extend(hook(request))
    states = dict(tenancy.scope(Integration.objects.all(), request.user)
                  .values_list("state").annotate(n=Count("id")).order_by())
    return items, states


# Later modules (the pipeline's dead letters, unmapped values) append callables(request) -> [items].
ADDITIONAL_ATTENTION = []


class PortalAdminSite(admin.AdminSite):
    site_header = "Integration portal"
    site_title = "Integration portal"
    index_title = "Today"
    enable_nav_sidebar = False  # at a laptop's 1,366 px the lists need the width; the front page lists every model

    def index(self, request, extra_context=None):
        from portal.dashboard import integration_summaries

        items, states = attention_items(request)
        simulators = [app for app in super().get_app_list(request) if is_simulator(app["app_label"])]
        extra_context = {**(extra_context or {}), "attention_items": items, "integration_states": states,
                         "simulator_apps": simulators, "summaries": integration_summaries(request.user)}
        return super().index(request, extra_context)

    def get_urls(self):
        from django.urls import path

        return [path("dashboard/", self.admin_view(self.dashboard_view), name="dashboard")] + super().get_urls()

    def dashboard_view(self, request):
        """The day and the week at a glance, for the user's organizations."""
        from django.template.response import TemplateResponse

        from portal import charts, dashboard

        context = {**self.each_context(request), "title": "Dashboard", "summaries":
                   dashboard.integration_summaries(request.user), "week": dashboard.week_chart(request.user),
                   "causes": dashboard.failures_by_cause(request.user), "streams": dashboard.streams(request.user),
                   "connections": dashboard.connections(request.user),
                   "legend": charts.legend((charts.GREEN, "succeeded"), (charts.RED, "dead letters"))}
        return TemplateResponse(request, "admin/dashboard.html", context)

    def get_app_list(self, request, app_label=None):
        """Everyday navigation leaves the simulated systems' tables out: they have a section of their own on the
        front page, and their own pages (an app's index lists them)."""
        apps = super().get_app_list(request, app_label)
        if app_label is not None or request.path.startswith(reverse("admin:index") + "sandbox"):
            return apps  # on the simulators' own pages their sidebar lists them
        return [app for app in apps if not is_simulator(app["app_label"])]


def is_simulator(app_label):
    return app_label == "sandbox" or app_label.startswith("sandbox_")
