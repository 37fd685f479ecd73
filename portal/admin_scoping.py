"""The admin's tenancy rules, shared by every ModelAdmin that shows an organization's data.

Company staff (superusers, Operations, Integration admins) are governed by Django's permissions and see every
organization. A customer's user sees only their organizations' rows, with what their role allows — and only their
organizations' names anywhere the admin offers a choice: list filters, foreign-key dropdowns, autocomplete and
raw-id popups (those two go through the related model's scoped ModelAdmin).
"""

from functools import cache

from django.contrib import admin, messages
from django.contrib.admin.filters import AllValuesFieldListFilter, FieldListFilter, RelatedFieldListFilter
from django.contrib.admin.utils import get_fields_from_path, get_model_from_relation
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme

from portal import tenancy
from portal.models import Organization, Role

ALL_ROLES = frozenset(Role)
MAX_PATH_DEPTH = 4


@cache
def organization_path_of(model):
    """The shortest chain of forward foreign keys from `model` to Organization ("sandbox__organization"), or None
    for data that belongs to no tenant. Users are not followed: a user belongs to organizations only through
    memberships."""
    user_model = get_user_model()
    frontier, seen = [(model, "")], {model}
    for _ in range(MAX_PATH_DEPTH):
        following = []
        for current, prefix in frontier:
            for field in current._meta.get_fields():
                if not (field.concrete and (field.many_to_one or field.one_to_one)) or field.related_model is None:
                    continue
                path = prefix + field.name
                if field.related_model is Organization:
                    return path
                if field.related_model not in seen and field.related_model is not user_model:
                    seen.add(field.related_model)
                    following.append((field.related_model, path + "__"))
        frontier = following
    return None


def visible_queryset(model, request, admin_site=None):
    """Every row of `model` that the request's user may see named in a choice list.

    Company staff: all of them. A customer: their organizations; the rows the related model's scoped ModelAdmin
    shows them; rows that lead to their organizations; users who are members of their organizations. Data of no
    tenant (global lookup tables) stays visible."""
    user = request.user
    queryset = model._default_manager.all()
    if tenancy.is_company_staff(user):
        return queryset
    if model is Organization:
        return tenancy.visible_organizations(user)
    related_admin = (admin_site or admin.site)._registry.get(model)
    if isinstance(related_admin, OrganizationScopedAdmin):
        return related_admin.get_queryset(request)
    if model is get_user_model():
        return queryset.filter(memberships__organization__in=list(tenancy.roles_of(user))).distinct()
    path = organization_path_of(model)
    return queryset if path is None else tenancy.scope(queryset, user, path)


def _limit_choices(field):
    limit = field.get_limit_choices_to() if hasattr(field, "get_limit_choices_to") else None
    if not limit:
        return Q()
    return limit if isinstance(limit, Q) else Q(**limit)


class ScopedRelatedFieldListFilter(RelatedFieldListFilter):
    """A related-object filter that offers a customer only the objects they may see (company staff: all)."""

    def field_choices(self, field, request, model_admin):
        if tenancy.is_company_staff(request.user):
            return super().field_choices(field, request, model_admin)
        other_model = get_model_from_relation(field)
        visible = visible_queryset(other_model, request, model_admin.admin_site)
        limit = _limit_choices(field) & Q(pk__in=visible.values("pk"))
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)


class ScopedAllValuesFieldListFilter(AllValuesFieldListFilter):
    """Distinct values, taken from the rows the user may see even when the field lies across a relation (Django
    reads those from the related model's whole table)."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        if not tenancy.is_company_staff(request.user):
            self.lookup_choices = (model_admin.get_queryset(request).distinct().order_by(field_path)
                                   .values_list(field_path, flat=True))


SCOPED_FILTERS = {RelatedFieldListFilter: ScopedRelatedFieldListFilter,
                  AllValuesFieldListFilter: ScopedAllValuesFieldListFilter}


def _default_filter_class(model, field_path):
    field = get_fields_from_path(model, field_path)[-1]
    for test, filter_class in FieldListFilter._field_list_filters:
        if test(field):
            return filter_class
    return None


def scoped_list_filter(model, list_filter):
    """`list_filter` with every related-object and all-values filter swapped for its scoped twin. Filters that
    already read the ModelAdmin's queryset (RelatedOnlyFieldListFilter), fixed choices (booleans, choices, dates)
    and SimpleListFilter classes are kept as they are."""
    result = []
    for item in list_filter:
        if isinstance(item, str):
            path, filter_class = item, _default_filter_class(model, item)
        elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], type):
            path, filter_class = item
        else:
            result.append(item)
            continue
        scoped = SCOPED_FILTERS.get(filter_class)
        result.append((path, scoped) if scoped else item)
    return type(list_filter)(result) if isinstance(list_filter, (list, tuple)) else result


class TenantChoicesMixin:
    """Foreign-key and many-to-many choices (dropdowns, and what a form accepts) limited to what the user may see.
    For ModelAdmins and inlines alike."""

    def get_field_queryset(self, db, db_field, request):
        queryset = super().get_field_queryset(db, db_field, request)
        if tenancy.is_company_staff(request.user):
            return queryset
        model = db_field.remote_field.model
        if queryset is None:
            queryset = model._default_manager.using(db).all()
        return queryset.filter(pk__in=visible_queryset(model, request, self.admin_site).values("pk"))


class OrganizationScopedAdmin(TenantChoicesMixin, admin.ModelAdmin):
    organization_path = "organization"  # from this model to its Organization
    customer_view_roles = ALL_ROLES
    customer_change_roles = frozenset({Role.OWNER, Role.ADMIN})
    customer_add_roles = frozenset({Role.OWNER, Role.ADMIN})
    customer_delete_roles = frozenset({Role.OWNER})

    def get_queryset(self, request):
        return tenancy.scope(super().get_queryset(request), request.user, self.organization_path)

    def return_to(self, request):
        """Where the user came from to fix something (a dead record's page), if it is a page of this site."""
        target = request.GET.get("next", "")
        if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            return target
        return ""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return super().change_view(request, object_id, form_url,
                                   {"return_to": self.return_to(request), **(extra_context or {})})

    def response_change(self, request, obj):
        if "_save" in request.POST and self.return_to(request):  # the fix is saved: back to what it was for
            self.message_user(request, f"“{obj}” was saved.", messages.SUCCESS)
            return HttpResponseRedirect(self.return_to(request))
        return super().response_change(request, obj)

    def get_list_filter(self, request):
        return scoped_list_filter(self.model, super().get_list_filter(request))

    def organization_of(self, obj):
        for part in self.organization_path.split("__"):
            obj = obj if part == "pk" else getattr(obj, part)
        return obj if isinstance(obj, Organization) else None

    def _customer_may(self, request, obj, roles):
        user_roles = tenancy.roles_of(request.user)
        if obj is None:
            return any(role in roles for role in user_roles.values())
        organization = self.organization_of(obj)
        return organization is not None and user_roles.get(organization.pk) in roles

    def has_module_permission(self, request):
        if tenancy.is_company_staff(request.user):
            return super().has_module_permission(request)
        return request.user.is_active and request.user.is_staff and bool(tenancy.roles_of(request.user))

    def has_view_permission(self, request, obj=None):
        if tenancy.is_company_staff(request.user):
            return super().has_view_permission(request, obj)
        return request.user.is_staff and self._customer_may(request, obj, self.customer_view_roles)

    def has_change_permission(self, request, obj=None):
        if tenancy.is_company_staff(request.user):
            return super().has_change_permission(request, obj)
        return request.user.is_staff and self._customer_may(request, obj, self.customer_change_roles)

    def has_add_permission(self, request):
        if tenancy.is_company_staff(request.user):
            return super().has_add_permission(request)
        return request.user.is_staff and self._customer_may(request, None, self.customer_add_roles)

    def has_delete_permission(self, request, obj=None):
        if tenancy.is_company_staff(request.user):
            return super().has_delete_permission(request, obj)
        return request.user.is_staff and self._customer_may(request, obj, self.customer_delete_roles)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Another tenant's object must look exactly like a missing one: 404, not a redirect that hints it exists.
        raise Http404(f"No {opts.verbose_name} with id “{object_id}”.")
