from django.contrib import admin

from catalog.models import SentProduct
from portal.admin_scoping import OrganizationScopedAdmin


@admin.register(SentProduct)
class SentProductAdmin(OrganizationScopedAdmin):
    """The products each channel was last sent (read-only: the products flow keeps it)."""

    organization_path = "integration__organization"
    list_display = ["sku", "channel_id", "integration", "sent_at"]
    list_filter = ["integration"]
    search_fields = ["sku", "channel_id"]
    readonly_fields = ["integration", "sku", "channel_id", "fields", "sent_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
