from django import forms
from django.contrib import admin
from django.utils.html import format_html

from integrations import kinds
from integrations.models import Connection, Integration
from portal import tenancy
from portal.admin_scoping import OrganizationScopedAdmin

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
    list_display = ["name", "organization", "kind", "base_url", "status_badge", "last_checked_at", "secrets_state"]
    list_filter = ["kind", "status", "organization"]
    list_select_related = ["organization"]
    search_fields = ["name", "base_url", "organization__name"]
    readonly_fields = ["status", "last_checked_at", "last_check_message", "on_premises_allowed_by", "created_at",
                       "updated_at"]

    def get_fieldsets(self, request, obj=None):
        main = ["organization", "kind", "name", "base_url", "settings", "sandbox", "on_premises"]
        fieldsets = [(None, {"fields": main}),
                     ("Limits", {"fields": ["rate_limit_per_minute", "max_concurrent_requests"]}),
                     ("Health", {"fields": ["status", "last_checked_at", "last_check_message"]})]
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


def flatten(fieldsets):
    return [field for _, options in fieldsets for field in options["fields"]]


class IntegrationForm(forms.ModelForm):
    flows = forms.MultipleChoiceField(choices=kinds.FLOW_CHOICES, widget=forms.CheckboxSelectMultiple,
                                      required=False, initial=kinds.DEFAULT_FLOWS)

    class Meta:
        model = Integration
        fields = ["organization", "name", "template", "channel_connection", "tims_connection", "flows", "state"]


@admin.register(Integration)
class IntegrationAdmin(OrganizationScopedAdmin):
    form = IntegrationForm
    list_display = ["name", "organization", "template", "state", "channel_connection", "tims_connection", "flow_list"]
    list_filter = ["state", "template", "organization"]
    list_select_related = ["organization", "channel_connection", "tims_connection"]
    search_fields = ["name", "organization__name", "channel_connection__name", "tims_connection__name"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="flows")
    def flow_list(self, obj):
        return ", ".join(obj.flows) or "none"
