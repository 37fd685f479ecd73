from django.contrib import admin

from portal.admin_scoping import OrganizationScopedAdmin, TenantChoicesMixin
from portal.models import Membership, Organization, UserProfile, WorkerHeartbeat


class MembershipInline(TenantChoicesMixin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    organization_path = "pk"
    customer_add_roles = frozenset()
    customer_delete_roles = frozenset()
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    customer_change_roles = frozenset({"owner"})
    customer_add_roles = frozenset({"owner"})
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    list_select_related = ["user", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    autocomplete_fields = ["user"]


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "timezone"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "beat_at"]
    readonly_fields = ["name", "beat_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
