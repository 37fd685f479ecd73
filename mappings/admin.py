"""Admin: mapping sets with inline field mappings and rules, value maps with inline entries and CSV, versions
with rollback, preview, unmapped values. Every queryset is scoped to the user's organizations."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, OuterRef, Q
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from integrations.pipeline.actions import retry, waiting_on_map
from mappings import services, templates, transforms
from mappings.engine import CompiledMapping
from mappings.errors import CompileError, UnmappedValueError
from mappings.models import FieldMapping, MappingSet, Rule, UnmappedValue, ValueMap, ValueMapEntry, Version
from portal.admin_scoping import OrganizationScopedAdmin, TenantChoicesMixin
from portal.tenancy import ROLES_THAT_CHANGE_CONNECTIONS, is_company_staff, roles_of

MAX_PREVIEW_BYTES = 1024 * 1024


def can_change(user, organization_id, permission):
    """Company staff by their permissions; customers on their own organization's objects as owner or admin.
    Global templates (no organization) belong to company staff."""
    if is_company_staff(user):
        return user.has_perm(permission)
    return organization_id is not None and roles_of(user).get(organization_id) in ROLES_THAT_CHANGE_CONNECTIONS


def value_map_saved(value_map, user, comment):
    """After a value map's entries changed (admin or customer console): the values it now maps are no longer
    "unmapped", and the change is a version. Returns the version, or None when nothing changed."""
    sources = list(value_map.entries.values_list("source", flat=True))
    UnmappedValue.objects.filter(value_map=value_map, value__in=sources).delete()
    return services.record_version(value_map, user, comment=comment)


def retry_waiting_on(value_map, user, organization=None):
    """Retry the dead letters this map now maps (only `organization`'s, when given). Returns how many."""
    waiting = waiting_on_map(value_map, value_map.entries.values_list("source", flat=True))
    if organization is not None:
        waiting = waiting.filter(organization=organization)
    return retry(waiting, user, f"value map “{value_map.name}” fixed")


# ---- mapping sets -----------------------------------------------------------------------------------------------

class MappingLinesFormSet(BaseInlineFormSet):
    """Checks what a single row cannot: value maps exist for this organization, per-line targets pair up with a
    source list."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        mapping_set = self.instance
        rows = [form.cleaned_data for form in self.forms
                if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("target")]
        names = set()
        for row in rows:
            names.update(transforms.value_maps_used(row.get("transforms") or ""))
        if mapping_set.integration_id and names:
            found = services.value_maps_for(mapping_set.integration.organization_id, names)
            missing = sorted(names - set(found))
            if missing:
                raise ValidationError(f"No value map named {', '.join(missing)} for this organization; "
                                      "create it under Value maps first.")
        # Compile these rows with the set's saved rows of the other kind: catches per-line targets without a list.
        kind = "fields" if self.model is FieldMapping else "rules"
        saved = services.definition_of(mapping_set) if mapping_set.pk else {"fields": [], "rules": []}
        definition = {"target": mapping_set.target, "fields": saved["fields"], "rules": saved["rules"]}
        definition[kind] = [{**row, "name": row.get("name") or row["target"]} for row in rows]
        if mapping_set.target:
            try:
                CompiledMapping(definition)
            except CompileError as error:
                raise ValidationError(str(error)) from None


class FollowParentPermissions(TenantChoicesMixin):
    """Rows of a set or a map are part of it: whoever may change the parent may edit its rows (and choose only
    among what the user may see)."""

    def _parent_admin(self):
        return self.admin_site._registry[self.parent_model]

    def has_view_permission(self, request, obj=None):
        return self._parent_admin().has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return self._parent_admin().has_change_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._parent_admin().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._parent_admin().has_change_permission(request, obj)


class FieldMappingInline(FollowParentPermissions, admin.TabularInline):
    model = FieldMapping
    formset = MappingLinesFormSet
    extra = 1
    fields = ("position", "target", "source", "transforms", "condition", "required", "active")
    form = forms.modelform_factory(FieldMapping, fields=fields, widgets={
        "position": forms.NumberInput(attrs={"style": "width: 4em"}),
        "target": forms.TextInput(attrs={"size": 22}),
        "source": forms.Textarea(attrs={"rows": 1, "cols": 30}),
        "transforms": forms.TextInput(attrs={"size": 30}),
        "condition": forms.Textarea(attrs={"rows": 1, "cols": 18}),
    })


class RuleInline(FollowParentPermissions, admin.StackedInline):
    model = Rule
    formset = MappingLinesFormSet
    extra = 0
    fields = (("position", "name", "kind", "active"), ("target", "mode"), "condition", "value", "transforms")
    formfield_overrides = {
        Rule._meta.get_field("value").__class__: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 80})},
    }


@admin.register(MappingSet)
class MappingSetAdmin(OrganizationScopedAdmin):
    organization_path = "integration__organization"
    list_display = ("name", "integration", "organization", "flow", "target", "version", "active", "updated_at")
    list_filter = ("flow", "target", "active")
    search_fields = ("name", "integration__name", "integration__organization__name")
    readonly_fields = ("version", "template_key", "suggested_mappings")
    fieldsets = ((None, {"fields": ("integration", "name", "flow", "source", "target", "active", "description",
                                    "version", "template_key")}),
                 ("Unmapped target fields", {"fields": ("suggested_mappings",), "classes": ("collapse",)}))
    inlines = [FieldMappingInline, RuleInline]
    change_form_template = "mappings/admin/mappingset_change_form.html"

    @admin.display(ordering="integration__organization__name")
    def organization(self, obj):
        return obj.integration.organization

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("integration__organization")

    @admin.display(description="Suggestions")
    def suggested_mappings(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        found = services.suggestions(obj)
        if not found:
            return "Every target field has a mapping."
        return format_html("<ul>{}</ul>", format_html_join(
            "", "<li><code>{}</code> ← {}</li>",
            ((item["target"], ", ".join(f"{s['source']} ({s['confidence']:.0%})" for s in item["sources"]))
             for item in found)))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        mapping_set = form.instance
        try:
            CompiledMapping(services.definition_of(mapping_set))  # list pairing etc.: warn, the rows are valid
        except CompileError as error:
            messages.warning(request, f"This mapping cannot run yet: {error}")
        version = services.record_version(mapping_set, request.user, comment="Edited in the admin")
        if version is not None:
            messages.info(request, f"Saved as version {version.number}.")

    def get_urls(self):
        return [
            path("<int:pk>/preview/", self.admin_site.admin_view(self.preview_view),
                 name="mappings_mappingset_preview"),
        ] + super().get_urls()

    def preview_view(self, request, pk):
        mapping_set = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_view_permission(request, mapping_set):
            raise PermissionDenied
        payload, result, problem, extra_fields = "", None, "", []
        sample = templates.sample_record(mapping_set.source, mapping_set.integration.template)
        if request.method == "GET" and sample:
            payload = json.dumps(sample, indent=2, ensure_ascii=False)  # a starting point to edit
        if request.method == "POST":
            payload = request.POST.get("payload", "")
            if len(payload.encode()) > MAX_PREVIEW_BYTES:
                problem = "The payload is larger than 1 MB."
            else:
                try:
                    source = json.loads(payload)
                except ValueError as error:
                    problem = f"That is not JSON: {error}"
                else:
                    if not isinstance(source, dict):
                        problem = "Paste one JSON object (the record), not a list or a value."
                    else:
                        try:
                            result = services.preview(mapping_set, source)
                        except CompileError as error:
                            problem = f"The mapping itself has a problem: {error}"
                        extra_fields = services.unused_extra_fields(mapping_set, source)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview: {mapping_set.name}",
            "opts": self.model._meta,
            "original": mapping_set,
            "payload": payload,
            "problem": problem,
            "result": result,
            "output_json": json.dumps(result.output, indent=2, ensure_ascii=False) if result else "",
            "extra_fields": extra_fields,
        }
        return TemplateResponse(request, "mappings/admin/preview.html", context)


# ---- value maps -------------------------------------------------------------------------------------------------

class ValueMapEntryInline(FollowParentPermissions, admin.TabularInline):
    model = ValueMapEntry
    extra = 1
    fields = ("source", "target")


class ValueMapForm(forms.ModelForm):
    class Meta:
        model = ValueMap
        fields = ("organization", "name", "description", "strict", "default")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("strict") and cleaned.get("default"):
            self.add_error("default", "A strict map has no default: unknown values must stop the record.")
        return cleaned

    def validate_unique(self):
        super().validate_unique()
        # The global-name constraint is conditional; say it in words rather than with a database error.
        name = self.cleaned_data.get("name")
        if name and self.cleaned_data.get("organization") is None:
            clash = ValueMap.objects.filter(organization__isnull=True, name=name).exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("name", "A global template with this name exists.")


class CsvImportForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header line source,target.")
    replace = forms.BooleanField(required=False, help_text="Remove entries that are not in the file.")


@admin.register(ValueMap)
class ValueMapAdmin(OrganizationScopedAdmin):
    form = ValueMapForm
    list_display = ("name", "owner", "strict", "default", "entry_count", "unmapped_count", "version")
    list_filter = ("strict", ("organization", admin.RelatedOnlyFieldListFilter))
    ordering = ("organization__name", "name")  # kept under the counts' GROUP BY (autocomplete pages it)
    search_fields = ("name", "description", "entries__source", "entries__target")
    readonly_fields = ("version",)
    inlines = [ValueMapEntryInline]
    change_form_template = "mappings/admin/valuemap_change_form.html"

    @admin.display(description="Whose", ordering="organization__name")
    def owner(self, obj):
        """Told apart at a glance: the template new organizations copy, a copy of it, or an organization's own."""
        if obj.organization_id is None:
            return format_html("<strong>{}</strong>", "Global template")
        kind = "copy of the template" if obj.has_template else "own map"
        return format_html('{}<br><span class="quiet">{}</span>', obj.organization, kind)

    @admin.display(description="Entries", ordering="entry_total")
    def entry_count(self, obj):
        return obj.entry_total

    @admin.display(description="Unmapped values seen")
    def unmapped_count(self, obj):
        if not obj.unmapped_total:
            return 0
        url = reverse("admin:mappings_unmappedvalue_changelist") + f"?value_map__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.unmapped_total)

    def get_queryset(self, request):
        # Customers see their organizations' maps; global templates (no organization) are company staff's.
        templates_of_that_name = ValueMap.objects.filter(organization__isnull=True, name=OuterRef("name"))
        return super().get_queryset(request).select_related("organization").annotate(
            entry_total=Count("entries", distinct=True), unmapped_total=Count("unmapped_values", distinct=True),
            has_template=Exists(templates_of_that_name))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "organization" and not is_company_staff(request.user):
            field.required = True  # only company staff make global templates
        return field

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        value = request.GET.get("add_source")
        if isinstance(inline, ValueMapEntryInline) and value and request.method == "GET" and not (
                obj is not None and obj.entries.filter(source=value).exists()):  # else its row is the one to fix
            kwargs["initial"] = [{"source": value[:200]}]  # arriving from an "unmapped value" error link
        return kwargs

    def change_view(self, request, object_id, form_url="", extra_context=None):
        value_map = self.get_object(request, object_id)
        extra = {}
        if value_map is not None:
            value = request.GET.get("add_source", "")
            extra = {"valid_targets": services.valid_targets(value_map), "add_source": value,
                     "waiting": waiting_on_map(value_map, [value] if value else None).count()}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def response_change(self, request, obj):
        if "_save_and_retry" in request.POST:
            count = retry_waiting_on(obj, request.user)
            self.message_user(request, f"Saved; {count} record{pluralize(count)} waiting on “{obj.name}” "
                              "queued for retry.", messages.SUCCESS)
            return HttpResponseRedirect(self.return_to(request) or reverse(
                "admin:integrations_syncrecord_changelist") + "?status__exact=retrying")
        return super().response_change(request, obj)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        version = value_map_saved(form.instance, request.user, "Edited in the admin")
        if version is not None:
            messages.info(request, f"Saved as version {version.number}.")

    def get_urls(self):
        return [
            path("<int:pk>/export/", self.admin_site.admin_view(self.export_view), name="mappings_valuemap_export"),
            path("<int:pk>/import/", self.admin_site.admin_view(self.import_view), name="mappings_valuemap_import"),
        ] + super().get_urls()

    def export_view(self, request, pk):
        value_map = get_object_or_404(self.get_queryset(request), pk=pk)
        response = HttpResponse(services.export_csv(value_map), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{value_map.name}.csv"'
        return response

    def import_view(self, request, pk):
        value_map = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, value_map):
            raise PermissionDenied
        form = CsvImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size > MAX_PREVIEW_BYTES:
                    raise services.CsvProblem("the file is larger than 1 MB")
                text = upload.read().decode("utf-8-sig")
                changed, removed = services.import_csv(value_map, text, request.user, form.cleaned_data["replace"])
            except (UnicodeDecodeError, services.CsvProblem) as error:
                form.add_error("file", f"Nothing imported: {error}")
            else:
                messages.success(request, f"Imported: {changed} added or changed, {removed} removed.")
                return HttpResponseRedirect(reverse("admin:mappings_valuemap_change", args=[value_map.pk]))
        context = {**self.admin_site.each_context(request), "title": f"Import CSV into {value_map.name}",
                   "opts": self.model._meta, "original": value_map, "form": form}
        return TemplateResponse(request, "mappings/admin/import_csv.html", context)


# ---- unmapped values and versions -------------------------------------------------------------------------------

@admin.register(UnmappedValue)
class UnmappedValueAdmin(OrganizationScopedAdmin):
    organization_path = "value_map__organization"
    list_display = ("value", "value_map", "times_seen", "example", "last_seen_at", "add_entry")
    list_filter = ("value_map__strict", ("value_map", admin.RelatedOnlyFieldListFilter))
    search_fields = ("value", "value_map__name", "example")
    readonly_fields = ("value_map", "value", "times_seen", "example", "first_seen_at", "last_seen_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("value_map__organization")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # fixed by adding an entry to the map, which removes the row

    @admin.display(description="")
    def add_entry(self, obj):
        url = UnmappedValueError(obj.value_map.name, obj.value, obj.value_map_id).admin_url
        return format_html('<a href="{}">Add to the map</a>', url)


@admin.register(Version)
class VersionAdmin(OrganizationScopedAdmin):
    list_display = ("subject", "number", "created_at", "created_by", "comment", "change_summary")
    list_filter = ("created_at",)
    search_fields = ("mapping_set__name", "value_map__name", "comment")
    readonly_fields = ("mapping_set", "value_map", "number", "created_at", "created_by", "comment", "changes",
                       "snapshot")
    actions = ["roll_back"]

    def get_queryset(self, request):
        queryset = Version.objects.select_related("mapping_set__integration", "value_map", "created_by")
        if is_company_staff(request.user):
            return queryset
        if not request.user.is_authenticated:
            return queryset.none()
        organizations = list(roles_of(request.user))
        return queryset.filter(Q(mapping_set__integration__organization__in=organizations)
                               | Q(value_map__organization__in=organizations))

    def organization_of(self, obj):
        return obj.mapping_set.integration.organization if obj.mapping_set_id else obj.value_map.organization

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in ("mapping_set__id__exact", "value_map__id__exact") or super().lookup_allowed(
            lookup, value, request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # history is never rewritten; roll back instead

    @admin.display(description="What changed")
    def change_summary(self, obj):
        shown = obj.changes[:5]
        more = len(obj.changes) - len(shown)
        return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")

    @admin.action(description="Roll back to the selected version")
    def roll_back(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to roll back to.", messages.WARNING)
            return
        version = queryset.get()
        subject = version.subject
        if version.mapping_set_id:
            allowed = can_change(request.user, subject.integration.organization_id, "mappings.change_mappingset")
        else:
            allowed = can_change(request.user, subject.organization_id, "mappings.change_valuemap")
        if not allowed:
            self.message_user(request, "You may not change that.", messages.ERROR)
            return
        new_version = services.rollback(version, request.user)
        if new_version is None:
            self.message_user(request, f"{subject} already matches version {version.number}.", messages.INFO)
        else:
            self.message_user(request, f"{subject} rolled back to version {version.number} "
                                       f"(saved as version {new_version.number}).", messages.SUCCESS)

    def has_roll_back_permission(self, request):
        if is_company_staff(request.user):
            return request.user.has_perm("mappings.change_mappingset") or request.user.has_perm(
                "mappings.change_valuemap")
        return any(role in ROLES_THAT_CHANGE_CONNECTIONS for role in roles_of(request.user).values())

    roll_back.allowed_permissions = ("roll_back",)
