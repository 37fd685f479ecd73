import json
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from integrations import kinds
from integrations.connectors.checks import test_connection
from integrations.flows import registry
from integrations.models import (
    OPEN_STATUSES,
    AuditEntry,
    Connection,
    ErrorClass,
    Integration,
    Link,
    RecordStatus,
    SkuIssue,
    StockReport,
    SyncAttempt,
    SyncRecord,
)
from integrations.pipeline import actions, bulk, golive, pollers
from integrations.pipeline.preview import preview_record
from integrations.pipeline.timeline import timeline
from portal import tenancy
from portal.admin_scoping import OrganizationScopedAdmin
from portal.models import Organization

KEEP_HELP = "Write-only: leave blank to keep the stored value."


def secret_field_names():
    return [name for kind in kinds.KINDS.values() for name, _ in kind.secrets]


class ConnectionForm(forms.ModelForm):
    """Secrets are separate write-only fields: never rendered back, blank means keep."""

    class Meta:
        model = Connection
        fields = ["organization", "kind", "name", "base_url", "settings", "sandbox", "on_premises",
                  "rate_limit_per_minute", "max_concurrent_requests"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in secret_field_names():
            if name in self.fields:
                stored = bool(self.instance.pk and self.instance.credentials.get(name))
                self.fields[name].help_text = ("A value is stored. " if stored else "Nothing stored yet. ") + KEEP_HELP
        if "settings" in self.fields:
            examples = "; ".join(
                f"{k.label}: " + ", ".join(s.name + (" (required)" if s.required else "") for s in k.settings)
                for k in kinds.KINDS.values()
            )
            self.fields["settings"].help_text = f"A JSON object. Settings by kind — {examples}."

    def _post_clean(self):
        # Merge the typed secrets before the model's clean() runs, dropping those of other kinds.
        kind = kinds.KINDS.get(self.cleaned_data.get("kind") or self.instance.kind)
        if kind is not None:
            credentials = dict(self.instance.credentials or {})
            own = {name for name, _ in kind.secrets}
            credentials = {k: v for k, v in credentials.items() if k in own}
            for name in own:
                if self.cleaned_data.get(name):
                    credentials[name] = self.cleaned_data[name]
            self.instance.credentials = credentials
        super()._post_clean()


@admin.register(Connection)
class ConnectionAdmin(OrganizationScopedAdmin):
    form = ConnectionForm
    actions = ["test_connections"]
    change_form_template = "admin/integrations/connection/change_form.html"
    list_display = ["name", "organization", "kind", "host", "status_badge", "traffic", "last_checked_at",
                    "secrets_state"]
    list_filter = ["kind", "status", "organization"]
    list_select_related = ["organization"]
    search_fields = ["name", "base_url", "organization__name"]
    readonly_fields = ["status", "last_checked_at", "last_check_message", "on_premises_allowed_by", "created_at",
                       "updated_at", "health_summary", "last_success_at", "last_failure_at", "last_failure_message"]

    @admin.display(description="address", ordering="base_url")
    def host(self, obj):
        return urlsplit(obj.base_url).netloc or obj.base_url

    @admin.display(description="traffic (15 min)")
    def traffic(self, obj):
        """Short for the list; the connection's page has the whole line with the last failure."""
        if not obj.traffic_calls:
            return "no calls yet"
        text = f"{obj.traffic_failures} of {obj.traffic_calls} failed"
        if obj.last_success_at:
            text += f", last success {timezone.localtime(obj.last_success_at):%H:%M:%S}"
        return text

    def get_fieldsets(self, request, obj=None):
        main = ["organization", "kind", "name", "base_url", "settings", "sandbox", "on_premises"]
        fieldsets = [(None, {"fields": main}),
                     ("Limits", {"fields": ["rate_limit_per_minute", "max_concurrent_requests"]}),
                     ("Health", {"fields": ["status", "health_summary", "last_success_at", "last_failure_at",
                                            "last_failure_message", "last_checked_at", "last_check_message"]})]
        if self.may_edit_credentials(request, obj):
            shown = [k for k in kinds.KINDS.values() if obj is None or k.code == obj.kind]
            for kind in shown:
                fieldsets.append((f"{kind.label} credentials", {
                    "fields": [name for name, _ in kind.secrets],
                    "description": "Encrypted at rest and never shown again." +
                                   ("" if obj else f" Fill these only for a {kind.label} connection."),
                }))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not tenancy.is_integration_admin(request.user):
            fields.append("on_premises")  # only Integration admins may open private hosts and plain HTTP
        if obj is not None:
            fields.append("kind")
        return fields

    def may_edit_credentials(self, request, obj):
        user = request.user
        if tenancy.is_company_staff(user):
            return tenancy.is_integration_admin(user)
        return self.has_change_permission(request, obj) if obj else self.has_add_permission(request)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if not self.may_edit_credentials(request, obj):
            kwargs["fields"] = [f for f in flatten(self.get_fieldsets(request, obj))
                                if f not in self.get_readonly_fields(request, obj)]
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        if obj.on_premises and (not change or "on_premises" in form.changed_data):
            obj.on_premises_allowed_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Test connection")
    def test_connections(self, request, queryset):
        for connection in queryset[:20]:
            self._report_test(request, connection)

    def _report_test(self, request, connection):
        results = test_connection(connection)
        failed = [r for r in results if not r.ok]
        level = messages.ERROR if failed else messages.SUCCESS
        summary = "all checks passed" if not failed else f"{len(failed)} of {len(results)} checks failed"
        self.message_user(request, format_html(
            "{}: {}<ul>{}</ul>", connection, summary,
            format_html_join("", "<li>{} {}: {}</li>", (("✔" if r.ok else "✘", r.name, r.message) for r in results))),
            level)

    def response_change(self, request, obj):
        if "_test_connection" in request.POST:
            self._report_test(request, obj)
            return redirect("admin:integrations_connection_change", obj.pk)
        return super().response_change(request, obj)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        colours = {"ok": "#2e7d32", "needs_attention": "#ef6c00", "failing": "#c62828", "new": "#616161"}
        return format_html('<strong style="color:{}">{}</strong>', colours.get(obj.status, "#000"),
                           obj.get_status_display())

    @admin.display(description="credentials")
    def secrets_state(self, obj):
        missing = obj.missing_secrets
        return "complete" if not missing else "missing: " + ", ".join(missing)


# Secret inputs are declared on the form class (not per instance) so the admin's fieldsets may name them.
for _kind in kinds.KINDS.values():
    for _name, _label in _kind.secrets:
        ConnectionForm.declared_fields[_name] = ConnectionForm.base_fields[_name] = forms.CharField(
            label=f"{_label} ({_kind.label})", required=False, strip=True, max_length=1000, help_text=KEEP_HELP,
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        )


def pretty_json(value):
    if value is None:
        return "-"
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return format_html('<pre style="max-height:28em;overflow:auto;white-space:pre-wrap">{}</pre>', text)


def flatten(fieldsets):
    return [field for _, options in fieldsets for field in options["fields"]]


class IntegrationForm(forms.ModelForm):
    flows = forms.MultipleChoiceField(choices=registry.choices, widget=forms.CheckboxSelectMultiple, required=False,
                                      help_text="The flows this integration runs (each template offers its own).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            self.fields["flows"].initial = sorted({name for template in kinds.TEMPLATES
                                                   for name in registry.default_flows(template)})

    class Meta:
        model = Integration
        fields = ["organization", "name", "template", "channel_connection", "tims_connection", "flows", "state"]


@admin.register(Integration)
class IntegrationAdmin(OrganizationScopedAdmin):
    form = IntegrationForm
    list_display = ["name", "organization", "template", "state", "connections", "flow_list"]
    list_filter = ["state", "template", "organization"]
    list_select_related = ["organization", "channel_connection", "tims_connection"]
    search_fields = ["name", "organization__name", "channel_connection__name", "tims_connection__name"]
    readonly_fields = ["webhook_url", "streams", "stock", "finance_links", "cutover_at", "created_at", "updated_at"]
    actions = ["issue_webhook_secret", "go_live", "backfill_orders", "reconcile_stock", "load_catalog"]

    @admin.display(description="finance")
    def finance_links(self, obj):
        from finance.models import PostingRules

        if not obj.pk:
            return "Shown once the integration is saved."
        rules = PostingRules.objects.filter(integration=obj).first()
        parts = [format_html('<a href="{}">Posting rules</a> (version {})',
                             reverse("admin:finance_postingrules_change", args=[rules.pk]), rules.version)
                 if rules else "Posting rules: none yet",
                 format_html('<a href="{}">Upload a payout file</a>',
                             reverse("admin:payouts_payoutupload_upload") + f"?integration={obj.pk}"),
                 format_html('<a href="{}">Reconciliation</a>', reverse("admin:reconciliation_days", args=[obj.pk]))]
        return format_html_join(mark_safe("<br>"), "{}", ((part,) for part in parts))

    @admin.display(description="stock to the channel")
    def stock(self, obj):
        from django.db.models import Max

        from integrations.flows import inventory
        from integrations.models import PublishedStock

        if not obj.pk or inventory.INVENTORY not in registry.flows_of(obj):
            return "Not published (the flow “Stock to the channel” is off)."
        published = PublishedStock.objects.filter(integration=obj).aggregate(n=Count("id"), last=Max("sent_at"))
        waiting = inventory.waiting_skus(obj)
        issues = obj.sku_issues.filter(resolved_at__isnull=True).count()
        parts = [f"{published['n']} SKUs published" + (
            f", the last at {timezone.localtime(published['last']):%Y-%m-%d %H:%M:%S}" if published["last"] else "")]
        if waiting:
            url = reverse("admin:integrations_syncrecord_changelist") + f"?flow=inventory&integration__id__exact=" \
                f"{obj.pk}&status__exact=retrying"
            parts.append(format_html('<a href="{}">{} SKUs waiting to be sent</a>', url, waiting))
        if issues:
            url = reverse("admin:integrations_skuissue_changelist") + f"?resolved=no&integration__id__exact={obj.pk}"
            parts.append(format_html('<a href="{}">{} SKUs not published</a>', url, issues))
        report = obj.stock_reports.first()
        if report:
            url = reverse("admin:integrations_stockreport_change", args=[report.pk])
            parts.append(format_html('last reconciliation <a href="{}">{}</a>: {}, {} drifted', url,
                                     timezone.localtime(report.started_at).strftime("%Y-%m-%d %H:%M"),
                                     report.get_status_display().lower(), report.drifted))
        else:
            parts.append("never reconciled (the action “Reconcile stock now” does it)")
        return format_html_join(mark_safe("<br>"), "{}", ((part,) for part in parts))

    @admin.display(description="streams read")
    def streams(self, obj):
        if not obj.pk:
            return "—"
        rows = []
        for state in obj.poll_states.order_by("name"):
            if state.watermark:
                where = f"read up to {timezone.localtime(state.watermark):%Y-%m-%d %H:%M}"
            elif state.cursor:
                where = f"read up to cursor {state.cursor}"
            elif state.last_polled_at:
                where = "a list of work still to do (every order not yet imported, on each poll)"
            else:
                where = "not read yet"
            notes = [f"last poll {timezone.localtime(state.last_polled_at):%Y-%m-%d %H:%M:%S}, "
                     f"{state.received} new records"] if state.last_polled_at else []
            if state.until:
                notes.append(f"backfill {pollers.backfill_progress(state):.0%} done, "
                             f"{state.received_total} records so far")
            elif state.started_from:
                notes.append(f"the first poll began at {timezone.localtime(state.started_from):%Y-%m-%d %H:%M}: "
                             "orders changed before that were not read (use the action “Backfill orders”)")
            if state.unreadable:
                notes.append(f"{state.unreadable} unreadable in the last poll (dead letters of their own)")
            if state.last_error:
                notes.append(f"last poll failed: {state.last_error[:200]}")
            rows.append((state.name, where, "; ".join(notes) or "—"))
        return format_html_join(mark_safe("<br>"), "<strong>{}</strong>: {} — {}", rows) if rows else "—"

    def _dated_action(self, request, queryset, *, action, title, label, submit, explanation, lines, default, apply):
        for integration in queryset:
            if not self.has_change_permission(request, integration):
                raise PermissionDenied
        if request.POST.get("apply"):
            try:
                moment = timezone.make_aware(datetime.fromisoformat(request.POST.get("moment", "")))
            except ValueError:
                self.message_user(request, "Give a date and time such as 2026-12-01 09:00.", messages.ERROR)
                return None
            for integration in queryset:
                self.message_user(request, apply(integration, moment))
            return None
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title,
                   "queryset": queryset, "action": action, "label": label, "submit": submit,
                   "explanation": explanation, "lines": lines, "default": default.strftime("%Y-%m-%dT%H:%M"),
                   "zone_note": f"Time zone: {timezone.get_current_timezone_name()}."}
        return render(request, "admin/integrations/integration/dated_action.html", context)

    @admin.action(description="Go live: import orders from a cut-over time")
    def go_live(self, request, queryset):
        default = timezone.localtime() - timedelta(days=1)
        lines = [f"{i}: {len(golive.shadow_orders_since(i, default))} orders read in shadow mode since "
                 f"{default:%Y-%m-%d %H:%M} would be imported" for i in queryset]

        def apply(integration, moment):
            count = golive.go_live(integration, moment, request.user)
            return f"{integration} is live: {count} orders read in shadow mode since {moment:%Y-%m-%d %H:%M} are " \
                   "being imported; older ones are not."

        return self._dated_action(
            request, queryset, action="go_live", title="Go live", label="Import orders placed from",
            submit="Go live", lines=lines, default=default, apply=apply,
            explanation="From now on the integration writes to TIMS and the channel. Orders placed from the cut-over "
                        "time on are imported, including those the shadow run only read; older ones are not.")

    @admin.action(description="Backfill orders from a date")
    def backfill_orders(self, request, queryset):
        lines = [f"{i}: the first poll began at {timezone.localtime(pollers.left_behind(i)):%Y-%m-%d %H:%M}"
                 for i in queryset if pollers.left_behind(i)]

        def apply(integration, moment):
            try:
                pollers.start_backfill(integration, moment)
            except ValueError as exc:
                return str(exc)
            actions.audit(request.user, "backfill", organization=integration.organization,
                          after={"integration": integration.pk, "from": moment.isoformat()})
            return f"{integration}: orders changed since {moment:%Y-%m-%d %H:%M} are being read; the integration's " \
                   "page shows the progress under “streams read”."

        return self._dated_action(
            request, queryset, action="backfill_orders", title="Backfill orders", label="Read orders changed since",
            submit="Start the backfill", lines=lines, default=timezone.localtime() - timedelta(days=30),
            apply=apply, explanation="Orders changed before the first poll began were never read. A backfill reads "
                                     "them from the date you pick, with the usual import rules (paid orders only).")

    @admin.action(description="Reconcile stock now: compare every SKU the channel shows with TIMS")
    def reconcile_stock(self, request, queryset):
        from integrations.flows import inventory

        for integration in queryset:
            if not self.has_change_permission(request, integration):
                raise PermissionDenied
            if inventory.INVENTORY not in registry.flows_of(integration):
                self.message_user(request, f"{integration} does not run “{inventory.INVENTORY.label}”: switch the "
                                  "flow on first.", messages.WARNING)
                continue
            report, job = inventory.start_reconcile(integration, started_by=request.user.get_username(),
                                                    user=request.user)
            actions.audit(request.user, "reconcile_stock", organization=integration.organization,
                          after={"integration": integration.pk, "report": report.pk, "job": job.pk})
            if queryset.count() == 1:  # one: straight to its progress bar
                return redirect("admin:jobs_job_change", job.pk)
            url = reverse("admin:jobs_job_change", args=[job.pk])
            self.message_user(request, format_html("{}: reconciliation started; <a href=\"{}\">its job</a> shows "
                                                   "the progress.", integration, url), messages.SUCCESS)

    @admin.action(description="Load the whole catalog into the channel (ChannelAdvisor; a job with progress)")
    def load_catalog(self, request, queryset):
        from catalog import first_load
        from integrations.flows import products

        for integration in queryset:
            if not self.has_change_permission(request, integration):
                raise PermissionDenied
            if products.PRODUCTS not in registry.flows_of(integration):
                self.message_user(request, f"{integration} does not run “{products.PRODUCTS.label}”: switch the "
                                  "flow on first.", messages.WARNING)
                continue
            job = first_load.start(integration, user=request.user)
            actions.audit(request.user, "load_catalog", organization=integration.organization,
                          after={"integration": integration.pk, "job": job.pk})
            if queryset.count() == 1:
                return redirect("admin:jobs_job_change", job.pk)
            self.message_user(request, format_html("{}: the catalog load started; <a href=\"{}\">its job</a> shows "
                                                   "the progress.", integration,
                                                   reverse("admin:jobs_job_change", args=[job.pk])), messages.SUCCESS)

    @admin.display(description="flows")
    def flow_list(self, obj):
        return ", ".join(obj.flows) or "none"

    @admin.display(description="connections")
    def connections(self, obj):
        return format_html("{}<br>{}", obj.channel_connection, obj.tims_connection)

    @admin.display(description="webhook URL")
    def webhook_url(self, obj):
        if not obj.pk:
            return "Shown once the integration is saved."
        url = f"/hooks/{obj.pk}/{obj.channel_connection.kind}/"
        return format_html("<code>{}</code> — signed with HMAC-SHA256 over “timestamp.body” in the "
                           "X-Webhook-Signature header, with X-Webhook-Timestamp.", url)

    @admin.action(description="Issue a new webhook secret (shown once)")
    def issue_webhook_secret(self, request, queryset):
        issued = []
        for integration in queryset:
            if not self.has_change_permission(request, integration):
                raise PermissionDenied
            issued.append((integration, self.webhook_url(integration), integration.new_webhook_secret()))
            actions.audit(request.user, "new_webhook_secret", organization=integration.organization,
                          after={"integration": integration.pk})
        # Shown in this response only: never stored in a message cookie or the session.
        context = {**self.admin_site.each_context(request), "issued": issued, "opts": self.model._meta,
                   "title": "New webhook secrets"}
        return render(request, "admin/integrations/integration/webhook_secrets.html", context)


class FlowFilter(admin.SimpleListFilter):
    """The declared flows (not the distinct values of the table, which a big table makes slow)."""

    title = "flow"
    parameter_name = "flow"

    def lookups(self, request, model_admin):
        return registry.choices()

    def queryset(self, request, queryset):
        return queryset.filter(flow=self.value()) if self.value() else queryset


class RecordActionForm(admin.helpers.ActionForm):
    reason = forms.CharField(required=False, max_length=500, label="Reason",
                             widget=forms.TextInput(attrs={"placeholder": "why (kept in the audit log)"}))


class AttemptInline(admin.TabularInline):
    model = SyncAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "duration", "outcome", "error_class", "error_message", "calls_summary"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="took")
    def duration(self, attempt):
        return rounded_ms(attempt.duration_ms)

    @admin.display(description="API calls")
    def calls_summary(self, attempt):
        return format_html_join(
            "", "<div><code>{} {} → {}</code> {}</div>",
            ((c.get("method"), c.get("url"), c.get("status") or c.get("error"), rounded_ms(c.get("ms")))
             for c in attempt.calls),
        ) or "none"


def record_badge(record, short=False):
    """The status in its colour; short in lists ("Dead letter"), with the whole label as its tooltip."""
    colours = {"dead": "#c62828", "retrying": "#ef6c00", "held": "#6a1b9a", "succeeded": "#2e7d32"}
    label = record.get_status_display()
    text = label.split(":")[0].split(" by ")[0] if short else label
    return format_html('<strong style="color:{};white-space:nowrap" title="{}">{}</strong>',
                       colours.get(record.status, "#424242"), label, text)


def short_time(moment):
    """14:03:10 today, Dec 1 14:03 otherwise: in the user's time zone, narrow enough for a list."""
    local = timezone.localtime(moment)
    if local.date() == timezone.localdate():
        return formats.time_format(local, "H:i:s")
    return formats.date_format(local, "M j H:i")


def rounded_ms(ms):
    """142 ms, 2.4 s, 3 min 5 s: what a person reads, not 2267.5241868917033."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {int(ms % 60_000 // 1000)} s"


class PayloadForm(forms.Form):
    payload = forms.JSONField(label="Source payload (JSON)", widget=forms.Textarea(attrs={"rows": 24, "cols": 100}))
    reason = forms.CharField(max_length=500, required=False)


def fix_target(record):
    """What fixes this dead letter, for any site to link to: ("value_map", ValueMap or None, value), ("connection",
    Connection), ("mapping", MappingSet) or None. The admin and the customer's console each make their own URL."""
    if record.status != RecordStatus.DEAD:
        return None
    details = record.error_details if isinstance(record.error_details, dict) else {}
    value_map = details.get("value_map")
    if isinstance(value_map, dict) and value_map.get("name"):
        return "value_map", value_map, str(value_map.get("value", ""))
    if record.error_class == ErrorClass.AUTH:
        integration = record.integration
        connection = integration.tims_connection if details.get("system") == "TIMS" else integration.channel_connection
        return "connection", connection
    if details.get("field_errors"):
        mapping_set = record.integration.mapping_sets.filter(flow=record.flow, active=True).first()
        return ("mapping", mapping_set) if mapping_set is not None else None
    return None


def fix_link(record, back=None):
    """(label, url) of the page that fixes this dead letter, or None: the value map with the value filled in, the
    credentials of the connection that refused, or the mapping that made a bad field. Saving it returns to `back`
    (the record's page unless told)."""
    target = fix_target(record)
    if target is None:
        return None
    if target[0] == "value_map":
        value_map = target[1]
        if not str(value_map.get("url", "")).startswith("/"):
            return None
        label, url = f"Add “{value_map.get('value')}” to {value_map.get('name')}", value_map["url"]
    elif target[0] == "connection":
        label, url = f"Fix the credentials of {target[1].name}", reverse("admin:integrations_connection_change",
                                                                          args=[target[1].pk])
    else:
        label, url = f"Open the mapping “{target[1].name}”", reverse("admin:mappings_mappingset_change",
                                                                      args=[target[1].pk])
    back = back or reverse("admin:integrations_syncrecord_change", args=[record.pk])
    return label, f"{url}{'&' if '?' in url else '?'}{urlencode({'next': back})}"


def short_error(record):
    """The error with its class, cut to fit a list; the whole message is the tooltip."""
    if not record.error_message:
        return "—"
    kind = ErrorClass(record.error_class).label.split(" (")[0] if record.error_class in ErrorClass.values else ""
    text = record.error_message if len(record.error_message) <= 80 else record.error_message[:80] + "…"
    return format_html('<span title="{}">{}{}</span>', record.error_message, f"{kind}: " if kind else "", text)


def record_when(record):
    """When it last moved, or when it is tried next while it is open."""
    if record.next_attempt_at and record.status in OPEN_STATUSES:
        return format_html('<span title="next try">next {}</span>', short_time(record.next_attempt_at))
    return short_time(record.updated_at)


def record_state(record, what_to_do_html):
    """The record's state as its page's live view reads it (the admin's and the console's)."""
    return {
        "status": record.status, "status_html": record_badge(record), "attempts": record.attempts,
        "open": record.status in OPEN_STATUSES, "error_class": record.get_error_class_display() or "-",
        "error_message": record.error_message or "-", "what_to_do_html": what_to_do_html,
        "next_attempt_at": formats.date_format(timezone.localtime(record.next_attempt_at), "DATETIME_FORMAT")
        if record.next_attempt_at else "-"}


def dead_letter_causes(dead, fix_url, limit=200):
    """Dead letters grouped by cause, biggest first: count, first and last time, an example record, its message and
    fix; `fix_url(record)` gives the URL of the fix on the caller's site (or "")."""
    from django.db.models import Max, Min

    groups = list(dead.values("flow", "error_class", "error_cause").annotate(
        count=Count("id"), first=Min("updated_at"), last=Max("updated_at"), example=Max("id"))
        .order_by("-count", "-last")[:limit])
    examples = SyncRecord.objects.select_related("integration").in_bulk([g["example"] for g in groups])
    labels = dict(registry.choices())
    for group in groups:
        record = examples[group["example"]]
        group.update(flow_label=labels.get(group["flow"], group["flow"]), message=record.error_message,
                     fix=record.suggested_fix, record=record, fix_url=fix_url(record))
    return groups


def act_on_dead(chosen, user, verb, reason, filters, organization_ids, organization=None):
    """Retry or discard the chosen dead letters: at once up to bulk.INLINE_LIMIT, else as a job with progress and a
    cancel. Returns (count, None) or (count, job); a discard without a reason raises ValueError."""
    from jobs import work

    reason = reason.strip()
    if verb == "discard" and not reason:
        raise ValueError("Say why the records are discarded: the reason is kept in the audit log.")
    count = chosen.count()
    if count > bulk.INLINE_LIMIT:  # thousands: a job with a progress bar and a cancel button
        kind_name = "retry_records" if verb == "retry" else "discard_records"
        label = filters.get("error_cause") or "the chosen records"
        if organization is None and organization_ids and len(organization_ids) == 1:
            organization = Organization.objects.get(pk=organization_ids[0])
        job = work.start(kind_name, f"{verb.capitalize()} {count} dead letters: {label}"[:200], user=user,
                         organization=organization, filters=filters, organization_ids=organization_ids,
                         reason=reason or "retried with the others of the same cause")
        return count, job
    if verb == "retry":
        return actions.retry(chosen, user, reason or "retried with the others of the same cause"), None
    return actions.discard(chosen, user, reason), None


@admin.register(SyncRecord)
class SyncRecordAdmin(OrganizationScopedAdmin):
    customer_change_roles = frozenset({"owner", "admin", "operator"})
    customer_add_roles = frozenset()
    customer_delete_roles = frozenset()
    action_form = RecordActionForm
    actions = ["retry_now", "discard_records"]
    list_display = ["reference_or_id", "flow_name", "integration", "status_badge", "tries", "short_error", "when"]
    list_display_links = ["reference_or_id"]
    list_filter = ["status", FlowFilter, "shadow", "error_class", "integration", "created_at"]
    list_select_related = ["integration"]
    search_fields = ["search_text", "=target_id"]  # reference, source id, emails, SKUs: trigram-indexed (0012)
    show_full_result_count = False  # no full-table count on big tables
    inlines = [AttemptInline]

    def lookup_allowed(self, lookup, value, request=None):
        # A reconciliation's report links to the records it queued (their versions start with its id); a cause's row
        # to the records that failed that way.
        return lookup in ("source_version__startswith", "error_cause") or super().lookup_allowed(lookup, value,
                                                                                                  request)
    readonly_fields = [f.name for f in SyncRecord._meta.fields] + ["status_now", "what_to_do", "source", "mapped",
                                                                   "chained_from", "chained_records", "order_timeline",
                                                                   "target"]
    fieldsets = [
        ("What happened", {"fields": ["status_now", "what_to_do", "error_class", "error_message", "error_details",
                                     "notes"]}),
        ("The order across systems", {"fields": ["order_timeline"]}),
        ("Record", {"fields": ["organization", "integration", "flow", "entity_type", "source_system", "source_id",
                               "source_version", "reference", "business_key", "batch_key", "target",
                               "correlation_id", "shadow", "chained_from", "chained_records"]}),
        ("Timing", {"fields": ["attempts", "next_attempt_at", "lease_owner", "lease_expires_at", "sent_at",
                               "payload_edited_at", "created_at", "updated_at", "finished_at"]}),
        ("Payloads", {"fields": ["source", "mapped", "mapping_version"]}),
    ]
    change_form_template = "admin/integrations/syncrecord/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_object(request, object_id)
        extra = {"original_is_open": record is not None and record.status in OPEN_STATUSES}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def get_fieldsets(self, request, obj=None):
        from integrations.pipeline.timeline import order_key

        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not order_key(obj)[0]:  # not part of an order's story (stock, say)
            fieldsets = [(name, options) for name, options in fieldsets if "order_timeline" not in options["fields"]]
        return fieldsets

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # nothing disappears: discard instead

    def save_model(self, request, obj, form, change):
        pass  # every field is read-only; saving the loaded row could overwrite a worker's newer state

    @admin.display(description="target id (in the other system)")
    def target(self, obj):
        from integrations.pipeline.timeline import order_key

        if obj.target_id and order_key(obj)[0]:  # the order's story across systems is on this page
            return format_html('<a href="#order-timeline" title="the order across systems">{}</a>', obj.target_id)
        return obj.target_id or "—"

    @admin.display(description="made by")
    def chained_from(self, obj):
        if not obj.parent_id:
            return "—"
        return format_html('<a href="{}">record {}</a> ({})', reverse("admin:integrations_syncrecord_change",
                                                                       args=[obj.parent_id]),
                           obj.parent_id, obj.parent.flow_label)

    @admin.display(description="follow-up records")
    def chained_records(self, obj):
        children = list(obj.children.all()[:50])  # a step chains within its own integration: same tenant
        if not children:
            return "—"
        return format_html_join(", ", '<a href="{}">record {}</a> ({}, {})', (
            (reverse("admin:integrations_syncrecord_change", args=[c.pk]), c.pk, c.flow_label,
             c.get_status_display()) for c in children))

    @admin.display(description="timeline")
    def order_timeline(self, obj):
        steps = timeline(obj)
        if not steps:
            return "—"
        rows = format_html_join("", '<tr{}><td style="white-space:nowrap">{}</td><td>{}</td><td>{}</td>'
                                    '<td>{}</td></tr>', (
            (mark_safe(' style="color:#c62828"') if step.problem else "",
             formats.date_format(timezone.localtime(step.at), "Y-m-d H:i:s T") if step.at else "—", step.system,
             step.what,
             format_html('<a href="{}">record {}</a>', reverse("admin:integrations_syncrecord_change",
                                                               args=[step.record.pk]), step.record.pk)
             if step.record else "") for step in steps))
        return format_html('<table class="order-timeline" id="order-timeline"><thead><tr><th>when</th>'
                           '<th>system</th><th>what</th><th>done by</th></tr></thead><tbody>{}</tbody></table>', rows)

    @admin.display(description="record", ordering="-pk")
    def reference_or_id(self, obj):
        return format_html("{}<br><span class=\"quiet\">record {}</span>", obj.reference or obj.source_id, obj.pk)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return record_badge(obj, short=True)

    @admin.display(description="status")
    def status_now(self, obj):
        return record_badge(obj)

    @admin.display(description="flow", ordering="flow")
    def flow_name(self, obj):
        return obj.flow_label

    @admin.display(description="tries", ordering="attempts")
    def tries(self, obj):
        if obj.status == RecordStatus.HELD:  # a hold's checks give the attempt back: say how often it was checked
            return f"{obj.attempt_rows.count()} checks"
        return obj.attempts

    @admin.display(description="error", ordering="error_class")
    def short_error(self, obj):
        return short_error(obj)

    @admin.display(description="when", ordering="updated_at")
    def when(self, obj):
        return record_when(obj)

    @admin.display(description="source payload (after reading it back)")
    def source(self, obj):
        return pretty_json(obj.source_payload)

    @admin.display(description="mapped payload (what was, or would be, sent)")
    def mapped(self, obj):
        return pretty_json(obj.mapped_payload)

    @admin.display(description="What to do")
    def what_to_do(self, obj):
        fix = obj.suggested_fix or "Nothing."
        link = fix_link(obj)
        if link:  # the fix is one click away, and saving it comes back here
            return format_html('{} <a class="button" id="fix-link" href="{}">{}</a>', fix, link[1], link[0])
        return fix

    @admin.action(description="Retry now")
    def retry_now(self, request, queryset):
        if queryset.count() > bulk.INLINE_LIMIT:
            ids = list(queryset.filter(status=RecordStatus.DEAD).values_list("pk", flat=True)[:100_000])
            done, job = act_on_dead(SyncRecord.objects.filter(pk__in=ids), request.user, "retry",
                                 request.POST.get("reason", ""), {"pk__in": ids}, self._organization_ids(request))
            if job is not None:
                return redirect("admin:jobs_job_change", job.pk)
            self.message_user(request, f"{done} record(s) queued for retry.", messages.SUCCESS)
            return None
        count = actions.retry(queryset, request.user, request.POST.get("reason", ""))
        self.message_user(request, f"{count} record(s) queued for retry.", messages.SUCCESS)

    @admin.action(description="Discard (give a reason)")
    def discard_records(self, request, queryset):
        try:
            count = actions.discard(queryset, request.user, request.POST.get("reason", ""))
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"{count} record(s) discarded.", messages.SUCCESS)

    def get_urls(self):
        return [path("causes/", self.admin_site.admin_view(self.causes_view), name="integrations_syncrecord_causes"),
                path("<path:object_id>/edit-payload/", self.admin_site.admin_view(self.edit_payload_view),
                     name="integrations_syncrecord_edit_payload"),
                path("<path:object_id>/preview/", self.admin_site.admin_view(self.preview_view),
                     name="integrations_syncrecord_preview"),
                path("<path:object_id>/status/", self.admin_site.admin_view(self.status_view),
                     name="integrations_syncrecord_status"),
                path("<path:object_id>/retry/", self.admin_site.admin_view(self.retry_view),
                     name="integrations_syncrecord_retry")] + super().get_urls()

    def status_view(self, request, object_id):
        """The record's state for its page, which follows it live after a retry instead of being reloaded."""
        record = self.get_object(request, object_id)
        if record is None:
            raise Http404("No such record.")
        return JsonResponse(record_state(record, self.what_to_do(record)))

    def retry_view(self, request, object_id):
        record = self.get_object(request, object_id)
        if record is None:
            raise Http404("No such record.")
        if request.method != "POST" or not self.has_change_permission(request, record):
            raise PermissionDenied
        done = actions.retry(SyncRecord.objects.filter(pk=record.pk), request.user, "retried from the record page")
        self.message_user(request, "Queued for retry: this page follows it." if done else
                          f"Not retried: the record is {record.get_status_display().lower()}.",
                          messages.SUCCESS if done else messages.WARNING)
        return redirect("admin:integrations_syncrecord_change", record.pk)

    def causes_view(self, request):
        """Dead letters grouped by cause: one row per way of failing, with its fix and actions for all of them."""
        dead = self.get_queryset(request).filter(status=RecordStatus.DEAD)
        if request.GET.get("flow"):
            dead = dead.filter(flow=request.GET["flow"])
        if request.method == "POST":
            return self._act_on_cause(request, dead)
        back = request.get_full_path()
        groups = dead_letter_causes(dead, lambda record: (fix_link(record, back=back) or ("", ""))[1])
        changelist = reverse("admin:integrations_syncrecord_changelist")
        for group in groups:
            group["records_url"] = changelist + "?" + urlencode(
                {"status__exact": "dead", "flow": group["flow"], "error_cause": group["error_cause"]})
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "groups": groups,
                   "title": "Dead letters by cause", "may_change": self.has_change_permission(request),
                   "total": sum(g["count"] for g in groups)}
        return render(request, "admin/integrations/syncrecord/causes.html", context)

    def _act_on_cause(self, request, dead):
        if not self.has_change_permission(request):
            raise PermissionDenied
        filters = {"flow": request.POST.get("flow", ""), "error_cause": request.POST.get("error_cause", "")}
        verb = "retry" if "retry" in request.POST else "discard" if "discard" in request.POST else None
        if verb is None:
            return redirect(request.get_full_path())
        try:
            done, job = act_on_dead(dead.filter(**filters), request.user, verb, request.POST.get("reason", ""),
                                    filters, self._organization_ids(request))
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return redirect(request.get_full_path())
        if job is not None:
            return redirect("admin:jobs_job_change", job.pk)
        self.message_user(request, f"{done} records {'queued for retry' if verb == 'retry' else 'discarded'}.",
                          messages.SUCCESS)
        return redirect(request.get_full_path())

    def _organization_ids(self, request):
        return None if tenancy.is_company_staff(request.user) else list(tenancy.roles_of(request.user))

    def preview_view(self, request, object_id):
        """The stored source through today's mapping: output, messages, and what changed against what was sent."""
        record = self.get_object(request, object_id)
        if record is None:
            raise Http404("No such record.")
        result = preview_record(record)
        context = {**self.admin_site.each_context(request), "record": record, "result": result,
                   "opts": self.model._meta, "title": f"Preview record {record.pk} with the current mapping"}
        return render(request, "admin/integrations/syncrecord/preview.html", context)

    def edit_payload_view(self, request, object_id):
        record = self.get_object(request, object_id)
        if record is None:
            raise Http404("No such record.")
        if not self.has_change_permission(request, record):
            raise PermissionDenied
        form = PayloadForm(request.POST or None, initial={"payload": record.source_payload})
        if request.method == "POST" and form.is_valid():
            actions.edit_payload_and_retry(record, form.cleaned_data["payload"], request.user,
                                           form.cleaned_data["reason"])
            self.message_user(request, "Payload saved; the record is queued for retry.", messages.SUCCESS)
            return redirect("admin:integrations_syncrecord_change", record.pk)
        context = {**self.admin_site.each_context(request), "form": form, "record": record,
                   "opts": self.model._meta, "title": f"Edit the payload of record {record.pk}"}
        return render(request, "admin/integrations/syncrecord/edit_payload.html", context)



@admin.register(AuditEntry)
class AuditEntryAdmin(OrganizationScopedAdmin):
    list_display = ["at", "actor_name", "action", "record", "reason"]
    list_filter = ["action", "at"]
    search_fields = ["actor_name", "reason", "record__reference"]
    list_select_related = ["record"]
    readonly_fields = ["at", "actor", "actor_name", "organization", "action", "record", "reason", "before", "after"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = ["integration", "entity_type", "source_id", "target_id", "created_at"]
    list_filter = ["entity_type", "integration"]
    search_fields = ["source_id", "target_id"]
    list_select_related = ["integration"]

    def get_queryset(self, request):
        return tenancy.scope(super().get_queryset(request), request.user, "integration__organization")


class ResolvedFilter(admin.SimpleListFilter):
    title = "resolved"
    parameter_name = "resolved"

    def lookups(self, request, model_admin):
        return [("no", "Still failing"), ("yes", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() in ("no", "yes"):
            return queryset.filter(resolved_at__isnull=self.value() == "no")
        return queryset


@admin.register(SkuIssue)
class SkuIssueAdmin(OrganizationScopedAdmin):
    """SKUs whose stock a channel could not take: one row per SKU, however many changes it had."""

    organization_path = "integration__organization"
    list_display = ["sku", "channel_sku", "integration", "code", "message", "fix", "times", "last_seen",
                    "resolved_at"]
    list_filter = [ResolvedFilter, "code", "integration"]
    search_fields = ["sku", "channel_sku", "message"]
    list_select_related = ["integration"]
    readonly_fields = ["integration", "sku", "channel_sku", "code", "message", "fix", "times", "first_seen",
                       "last_seen", "resolved_at"]
    actions = ["publish_again"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Publish again (after fixing the SKU map or the channel's product)")
    def publish_again(self, request, queryset):
        from integrations.flows import inventory

        by_integration = {}
        for issue in queryset.select_related("integration"):
            if not self.has_change_permission(request, issue):
                raise PermissionDenied
            by_integration.setdefault(issue.integration, []).append(issue.sku)
        for integration, skus in by_integration.items():
            made = inventory.publish_again(integration, skus, why="staff")
            actions.audit(request.user, "publish_stock_again", organization=integration.organization,
                          after={"integration": integration.pk, "skus": skus[:100]})
            self.message_user(request, f"{integration}: {made} SKUs queued; a SKU that still fails stays listed "
                                       "here with the channel's answer.", messages.SUCCESS)


@admin.register(StockReport)
class StockReportAdmin(OrganizationScopedAdmin):
    """Reconciliations: what each channel showed against what TIMS says it should, and what was corrected."""

    organization_path = "integration__organization"
    list_display = ["started_at", "integration", "status", "progress", "drifted", "corrections", "not_published",
                    "started_by_label", "finished_at"]
    list_filter = ["status", "integration"]
    list_select_related = ["integration"]
    readonly_fields = ["integration", "status", "started_at", "finished_at", "started_by_label", "progress",
                       "drifted", "corrections", "not_published", "error", "drift_table"]
    exclude = ["drift", "started_by", "total", "checked", "corrected", "unknown"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the history of reports is kept

    @admin.display(description="not published")
    def not_published(self, obj):
        if not obj.unknown:
            return "0"
        url = reverse("admin:integrations_skuissue_changelist") + f"?resolved=no&integration__id__exact=" \
            f"{obj.integration_id}"
        return format_html("<a href=\"{}\">{} SKUs</a> the channel does not have or cannot take", url, obj.unknown)

    @admin.display(description="checked")
    def progress(self, obj):
        share = f" ({obj.checked / obj.total:.0%})" if obj.total and obj.status == StockReport.Status.RUNNING else ""
        return f"{obj.checked} of {obj.total} SKUs{share}"

    @admin.display(description="corrected")
    def corrections(self, obj):
        sent = SyncRecord.objects.filter(integration_id=obj.integration_id, flow="inventory",
                                         source_version__startswith=f"reconcile-{obj.pk}:")
        if not obj.corrected:
            return "0"
        done = sent.filter(status="succeeded").count()
        url = reverse("admin:integrations_syncrecord_changelist") + f"?flow=inventory&source_version__startswith=" \
            f"reconcile-{obj.pk}:"
        return format_html("<a href=\"{}\">{} sent again, {} done</a>", url, obj.corrected, done)

    @admin.display(description="started by")
    def started_by_label(self, obj):
        return obj.started_by or "the schedule"

    @admin.display(description="drift found")
    def drift_table(self, obj):
        if not obj.drift:
            return "None: every SKU checked shows what it should."
        rows = [(row["sku"], row.get("channel_sku", ""), _buckets(row["channel_shows"]), _buckets(row["should_show"]))
                for row in obj.drift]
        more = f"<p>…and {obj.drifted - len(rows)} more.</p>" if obj.drifted > len(rows) else ""
        return format_html("<table><tr><th>TIMS SKU</th><th>channel SKU</th><th>the channel showed</th>"
                           "<th>it should show</th></tr>{}</table>{}",
                           format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
                           mark_safe(more))


def _buckets(quantities):
    if set(quantities) <= {""}:
        return str(sum(quantities.values()))
    return ", ".join(f"DC {dc}: {q}" for dc, q in sorted(quantities.items()))
