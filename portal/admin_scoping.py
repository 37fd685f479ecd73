"""The admin's tenancy rules, shared by every ModelAdmin that shows an organization's data.

Company staff (superusers, Operations, Integration admins) are governed by Django's permissions and see every
organization. A customer's user sees only their organizations' rows, with what their role allows.
"""

from django.contrib import admin
from django.http import Http404

from portal import tenancy
from portal.models import Organization, Role

ALL_ROLES = frozenset(Role)


class OrganizationScopedAdmin(admin.ModelAdmin):
    organization_path = "organization"  # from this model to its Organization
    customer_view_roles = ALL_ROLES
    customer_change_roles = frozenset({Role.OWNER, Role.ADMIN})
    customer_add_roles = frozenset({Role.OWNER, Role.ADMIN})
    customer_delete_roles = frozenset({Role.OWNER})

    def get_queryset(self, request):
        return tenancy.scope(super().get_queryset(request), request.user, self.organization_path)

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

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """Offer only the user's own organizations and their objects in choice lists."""
        model = db_field.related_model
        if model is Organization:
            kwargs["queryset"] = tenancy.visible_organizations(request.user)
        elif any(f.name == "organization" for f in model._meta.fields):
            kwargs["queryset"] = tenancy.scope(model._default_manager.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Another tenant's object must look exactly like a missing one: 404, not a redirect that hints it exists.
        raise Http404(f"No {opts.verbose_name} with id “{object_id}”.")
