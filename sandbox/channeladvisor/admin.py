"""Browse the ChannelAdvisor sandbox's state; business rows are read-mostly (the API is the way to change them)."""

from django.contrib import admin, messages

from sandbox.channeladvisor import actions
from sandbox.channeladvisor import models as m


class ReadMostly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False


class ItemInline(admin.TabularInline):
    model = m.OrderItem
    extra = 0
    can_delete = False
    fields = ("sku", "title", "quantity", "unit_price", "tax_price", "shipping_price")
    readonly_fields = fields


class FulfillmentInline(admin.TabularInline):
    model = m.Fulfillment
    extra = 0
    can_delete = False
    fields = ("type", "delivery_status", "shipping_carrier", "shipping_class", "tracking_number",
              "seller_fulfillment_id", "shipped_date_utc")
    readonly_fields = fields


class AdjustmentInline(admin.TabularInline):
    model = m.Adjustment
    fk_name = "order"
    extra = 0
    can_delete = False
    fields = ("order_item", "type", "reason", "quantity", "item_adjustment", "request_status", "restock_status")
    readonly_fields = fields


@admin.register(m.Config)
class ConfigAdmin(admin.ModelAdmin):
    list_display = ("sandbox", "profile_id", "account_name", "access_token_seconds", "requests_per_window",
                    "rate_window_seconds", "concurrent_requests")


@admin.register(m.Application)
class ApplicationAdmin(ReadMostly):
    """As in the developer console: the name the consent page shows and the redirect URIs it may send back to."""

    list_display = ("application_id", "sandbox", "name", "redirect_uris", "created_at")
    list_filter = ("sandbox",)
    search_fields = ("application_id", "name")
    fields = ("sandbox", "application_id", "name", "redirect_uris", "created_at")
    readonly_fields = ("sandbox", "application_id", "created_at")


@admin.register(m.DistributionCenter)
class DistributionCenterAdmin(admin.ModelAdmin):
    list_display = ("dc_id", "code", "name", "type", "is_externally_managed", "is_deleted", "sandbox")
    list_filter = ("sandbox", "type")


@admin.register(m.Order)
class OrderAdmin(ReadMostly):
    list_display = ("id", "sandbox", "site_order_id", "site_name", "currency", "total_price", "payment_status",
                    "shipping_status", "created_date_utc")
    list_filter = ("sandbox", "payment_status", "shipping_status", "currency", "site_name")
    search_fields = ("site_order_id", "seller_order_id", "buyer_email_address", "items__sku")
    date_hierarchy = "created_date_utc"
    readonly_fields = ("sandbox", "profile_id", "import_date_utc", "created_date_utc")
    inlines = [ItemInline, FulfillmentInline, AdjustmentInline]
    actions = ["buyer_cancels"]

    @admin.action(description="Cancel as the buyer on the marketplace (nothing may have shipped)")
    def buyer_cancels(self, request, queryset):
        done, refused = 0, []
        for order in queryset:
            try:
                actions.marketplace_cancel(order.sandbox, order.pk)
                done += 1
            except actions.Invalid as exc:
                refused.append(str(exc))
        if done:
            self.message_user(request, f"{done} order(s) canceled by the buyer.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)


class AttributeInline(admin.TabularInline):
    model = m.ProductAttribute
    extra = 0


class ImageInline(admin.TabularInline):
    model = m.ProductImage
    extra = 0


class LabelInline(admin.TabularInline):
    model = m.ProductLabel
    extra = 0


@admin.register(m.Product)
class ProductAdmin(ReadMostly):
    list_display = ("id", "sandbox", "sku", "title", "product_type", "parent_sku", "retail_price", "cost",
                    "total_available_quantity", "update_date_utc")
    list_filter = ("sandbox", "brand", "product_type", "is_blocked")
    inlines = [AttributeInline, ImageInline, LabelInline]
    search_fields = ("sku", "title", "upc", "ean", "mpn")
    readonly_fields = ("sandbox", "profile_id", "update_date_utc", "quantity_update_date_utc")


@admin.register(m.QuantityWrite)
class QuantityWriteAdmin(ReadMostly):
    list_display = ("id", "sandbox", "sku", "distribution_center_id", "update_type", "requested",
                    "available_quantity", "written_at")
    list_filter = ("sandbox", "update_type")
    search_fields = ("sku",)

    def has_change_permission(self, request, obj=None):
        return False  # a log: what was written stays as written


@admin.register(m.Fulfillment)
class FulfillmentAdmin(ReadMostly):
    list_display = ("id", "order", "shipping_carrier", "shipping_class", "tracking_number", "delivery_status",
                    "shipped_date_utc")
    list_filter = ("shipping_carrier", "delivery_status")
    search_fields = ("tracking_number", "order__site_order_id")


@admin.register(m.Adjustment)
class AdjustmentAdmin(ReadMostly):
    list_display = ("id", "order", "order_item", "type", "reason", "quantity", "item_adjustment", "request_status",
                    "created_date_utc")
    list_filter = ("type", "reason", "request_status")
    search_fields = ("seller_adjustment_id", "order__site_order_id")


@admin.register(m.OrderExport)
class OrderExportAdmin(ReadMostly):
    list_display = ("order", "application", "exported_at")
    search_fields = ("order__site_order_id", "application__application_id")


@admin.register(m.CarrierClass)
class CarrierClassAdmin(admin.ModelAdmin):
    list_display = ("carrier", "shipping_class", "sandbox")
    list_filter = ("sandbox", "carrier")


@admin.register(m.RateCounter)
class RateCounterAdmin(ReadMostly):
    list_display = ("sandbox", "profile_id", "window_start", "count")
    list_filter = ("sandbox",)


@admin.register(m.InFlightSlot)
class InFlightSlotAdmin(ReadMostly):
    list_display = ("sandbox", "application", "started_at", "expires_at")
