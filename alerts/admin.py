"""Admin: alert rules staff edit (with a test message), the alerts they raised with their deliveries, and
acknowledgement by a person, audited."""

from django import forms
from django.contrib import admin, messages
from django.utils import formats, timezone
from django.utils.html import format_html

from alerts import evaluate
from alerts.models import Alert, AlertRule, Delivery
from portal.admin_scoping import OrganizationScopedAdmin
from portal.models import Role
from portal.tenancy import is_company_staff


class AlertRuleForm(forms.ModelForm):
    webhook_secret = forms.CharField(
        required=False, max_length=200, widget=forms.PasswordInput(render_value=False),
        help_text="Signs each webhook message (HMAC-SHA256 over “timestamp.body”). Write-only: blank keeps what is "
                  "stored.")
    clear_webhook_secret = forms.BooleanField(required=False, label="Remove the stored secret")
    webhook_url = forms.URLField(required=False, assume_scheme="https", label="Webhook URL",
                                 help_text=AlertRule._meta.get_field("webhook_url").help_text)

    class Meta:
        model = AlertRule
        fields = ["organization", "name", "kind", "threshold", "minutes", "emails", "webhook_url", "digest_minutes",
                  "repeat_minutes", "active"]

    def clean_emails(self):
        from django.core.validators import validate_email

        text = self.cleaned_data.get("emails", "")
        for address in AlertRule(emails=text).recipients:
            try:
                validate_email(address)
            except forms.ValidationError as exc:
                raise forms.ValidationError(f"“{address}” is not an email address.") from exc
        return text

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("emails", "").strip() and not cleaned.get("webhook_url"):
            self.add_error("emails", "Say where alerts go: at least one email address or a webhook URL.")
        return cleaned

    def _post_clean(self):
        if self.cleaned_data.get("clear_webhook_secret"):
            self.instance.webhook_signing = {}
        elif self.cleaned_data.get("webhook_secret"):
            self.instance.webhook_signing = {"secret": self.cleaned_data["webhook_secret"]}
        super()._post_clean()


class AcknowledgeForm(admin.helpers.ActionForm):
    reason = forms.CharField(required=False, max_length=300, label="Note",
                             widget=forms.TextInput(attrs={"placeholder": "what you are doing about it"}))


@admin.register(AlertRule)
class AlertRuleAdmin(OrganizationScopedAdmin):
    form = AlertRuleForm
    list_display = ["name", "owner", "kind", "threshold", "minutes", "channels", "firing", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "emails", "webhook_url"]
    actions = ["send_test_message", "evaluate_now"]
    fieldsets = [
        (None, {"fields": ["organization", "name", "kind", "threshold", "minutes", "active"]}),
        ("Where alerts go", {"fields": ["emails", "webhook_url", "webhook_secret", "clear_webhook_secret",
                                        "digest_minutes", "repeat_minutes"]}),
    ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "organization" and not is_company_staff(request.user):
            field.required = True  # only company staff watch every organization
        return field

    @admin.display(description="organization", ordering="organization__name")
    def owner(self, obj):
        return obj.organization or "Every organization"

    @admin.display(description="goes to")
    def channels(self, obj):
        parts = [f"{len(obj.recipients)} email{'s' if len(obj.recipients) != 1 else ''}"] if obj.recipients else []
        if obj.webhook_url:
            parts.append("webhook" + (" (signed)" if obj.webhook_signing.get("secret") else ""))
        return ", ".join(parts) or "—"

    @admin.display(description="firing now")
    def firing(self, obj):
        return obj.alerts.filter(resolved_at__isnull=True).count()

    @admin.action(description="Send a test message")
    def send_test_message(self, request, queryset):
        for rule in queryset:
            if evaluate.send_test(rule):
                self.message_user(request, f"“{rule}”: the test message went out.", messages.SUCCESS)
            else:
                failed = rule.deliveries.filter(kind=Delivery.Kind.TEST, ok=False).first()
                self.message_user(request, f"“{rule}”: the test message did not go out: "
                                  f"{failed.detail if failed else 'no channel is set'}", messages.ERROR)

    @admin.action(description="Evaluate now")
    def evaluate_now(self, request, queryset):
        for rule in queryset.filter(active=True):
            opened, resolved = evaluate.evaluate(rule, timezone.now())
            self.message_user(request, f"“{rule}”: {opened} opened, {resolved} resolved.", messages.INFO)


class FiringFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "firing"

    def lookups(self, request, model_admin):
        return [("yes", "Firing"), ("no", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ["at", "kind", "channel", "ok", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(OrganizationScopedAdmin):
    customer_change_roles = frozenset({Role.OWNER, Role.ADMIN, Role.OPERATOR})  # they acknowledge
    customer_add_roles = frozenset()
    customer_delete_roles = frozenset()
    action_form = AcknowledgeForm
    actions = ["acknowledge"]
    list_display = ["state", "rule", "about", "message", "since", "resolved", "acknowledged"]
    list_filter = [FiringFilter, "rule__kind", ("acknowledged_at", admin.EmptyFieldListFilter)]
    list_select_related = ["rule", "acknowledged_by"]
    search_fields = ["subject_label", "message", "rule__name"]
    readonly_fields = ["rule", "organization", "subject", "subject_label", "message", "url", "started_at",
                       "last_seen_at", "resolved_at", "notified_at", "reminded_at", "recovery_notified_at",
                       "acknowledged_by", "acknowledged_at", "acknowledgement"]
    inlines = [DeliveryInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the history of alerts is kept

    def save_model(self, request, obj, form, change):
        pass  # read-only: acknowledging is an action

    @admin.display(description="state", ordering="resolved_at")
    def state(self, obj):
        if obj.firing:
            return format_html('<strong style="color:#c62828">{}</strong>', "Firing")
        return format_html('<span style="color:#2e7d32">{}</span>', "Resolved")

    @admin.display(description="about", ordering="subject_label")
    def about(self, obj):
        return format_html('<a href="{}">{}</a>', obj.url, obj.subject_label) if obj.url else obj.subject_label

    @admin.display(description="since", ordering="started_at")
    def since(self, obj):
        return _local(obj.started_at)

    @admin.display(description="resolved", ordering="resolved_at")
    def resolved(self, obj):
        return _local(obj.resolved_at) if obj.resolved_at else "—"

    @admin.display(description="acknowledged")
    def acknowledged(self, obj):
        if not obj.acknowledged_at:
            return "—"
        return f"{obj.acknowledged_by or 'someone'}, {_local(obj.acknowledged_at)}" + (
            f": {obj.acknowledgement}" if obj.acknowledgement else "")

    @admin.action(description="Acknowledge (stops reminders)")
    def acknowledge(self, request, queryset):
        from integrations.pipeline.actions import audit

        note = request.POST.get("reason", "").strip()
        count = 0
        for alert in queryset.filter(acknowledged_at__isnull=True):
            Alert.objects.filter(pk=alert.pk).update(acknowledged_by=request.user, acknowledged_at=timezone.now(),
                                                     acknowledgement=note)
            audit(request.user, "acknowledge_alert", reason=note, organization=alert.organization,
                  after={"alert": alert.pk, "rule": alert.rule.name, "about": alert.subject_label})
            count += 1
        self.message_user(request, f"{count} alert{'s' if count != 1 else ''} acknowledged.", messages.SUCCESS)


def _local(moment):
    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i T") if moment else "—"
