"""Posting rules in the admin: one page per integration with its rules in a table, the version history in plain
words, and restoring an older version (which makes a new one). Scoped to the user's organizations."""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from finance import rules as services
from finance.models import KIND_HELP, PostingRule, PostingRules, PostingRulesVersion
from portal.admin_scoping import OrganizationScopedAdmin, TenantChoicesMixin


class PostingRuleInline(TenantChoicesMixin, admin.TabularInline):
    model = PostingRule
    extra = 1
    fields = ["kind", "key", "account", "note"]


class VersionInline(admin.TabularInline):
    model = PostingRulesVersion
    extra = 0
    fields = ["number", "saved_at", "saved_by", "comment", "changes_in_words", "open"]
    readonly_fields = fields
    can_delete = False
    max_num = 0
    verbose_name_plural = "History (restore a version from its page)"

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Changes")
    def changes_in_words(self, version):
        return format_html_join("", "<div>{}</div>", ((change,) for change in version.changes)) or "—"

    @admin.display(description="")
    def open(self, version):
        return format_html('<a href="{}">View / restore</a>',
                           reverse("admin:finance_postingrulesversion_change", args=[version.pk]))


@admin.register(PostingRules)
class PostingRulesAdmin(OrganizationScopedAdmin):
    organization_path = "integration__organization"
    list_display = ["integration", "organization", "version", "updated_at", "updated_by"]
    list_filter = ["integration__organization"]
    search_fields = ["integration__name", "integration__organization__name"]
    readonly_fields = ["version", "updated_at", "updated_by", "what_kinds_mean"]
    fields = ["integration", "version", "updated_at", "updated_by", "what_kinds_mean"]
    inlines = [PostingRuleInline, VersionInline]

    @admin.display(description="Organization", ordering="integration__organization__name")
    def organization(self, obj):
        return obj.integration.organization

    @admin.display(description="What each kind means")
    def what_kinds_mean(self, obj):
        return format_html("<dl>{}</dl>", format_html_join(
            "", "<dt><b>{}</b></dt><dd>{}</dd>", ((kind.label, text) for kind, text in KIND_HELP.items())))

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "integration"] if obj else self.readonly_fields

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # every save through the admin is a version (none when nothing changed)
        version = services.record_version(form.instance, request.user, comment="Saved in the admin")
        if version:
            self.message_user(request, f"Saved as version {version.number}: " + "; ".join(version.changes),
                              messages.SUCCESS)


@admin.register(PostingRulesVersion)
class PostingRulesVersionAdmin(OrganizationScopedAdmin):
    organization_path = "rules__integration__organization"
    list_display = ["rules", "number", "saved_at", "saved_by", "comment"]
    list_filter = ["rules__integration__organization"]
    readonly_fields = ["rules", "number", "saved_at", "saved_by", "comment", "changes_in_words", "rules_in_table"]
    fields = readonly_fields
    actions = ["restore_version"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # history is never rewritten

    @admin.display(description="Changes")
    def changes_in_words(self, version):
        return format_html_join("", "<div>{}</div>", ((change,) for change in version.changes)) or "—"

    @admin.display(description="Rules at this version")
    def rules_in_table(self, version):
        return format_html("<table><tr><th>Kind</th><th>Key</th><th>Account</th><th>Note</th></tr>{}</table>",
                           format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
                               (row["kind"], row["key"] or "any", row["account"], row["note"])
                               for row in version.snapshot)))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        may_restore = version is not None and self._may_restore(request, version)
        if request.method == "POST" and "_restore" in request.POST:
            if not may_restore:
                return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
            self._restore(request, [version])
            return self._redirect_to_rules(version)
        return super().change_view(request, object_id, form_url,
                                   {"show_restore": may_restore, **(extra_context or {})})

    def _may_restore(self, request, version):
        return self.admin_site._registry[PostingRules].has_change_permission(request, version.rules)

    def has_change_permission(self, request, obj=None):
        return False  # read-only page; restoring is its own permission check

    def _redirect_to_rules(self, version):
        return HttpResponseRedirect(reverse("admin:finance_postingrules_change", args=[version.rules_id]))

    def _restore(self, request, versions):
        for version in versions:
            if not self._may_restore(request, version):
                self.message_user(request, f"You may not change {version.rules}.", messages.ERROR)
                continue
            made = services.restore(version, request.user)
            self.message_user(request, f"Restored version {version.number} of {version.rules}"
                              + (f" as version {made.number}." if made else " (it is the current one)."),
                              messages.SUCCESS)

    @admin.action(description="Restore the selected version (makes a new version)")
    def restore_version(self, request, queryset):
        self._restore(request, list(queryset))
