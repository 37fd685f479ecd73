"""Browse a TIMS sandbox and do what TIMS staff would: allocate and ship, cancel, invoice, count stock.

The actions call sandbox.tims.backoffice, the same functions as `manage.py tims_backoffice`, so stock moves and
events happen exactly as they do from the command line. Records are read-mostly: the API is the way to write.
"""

from django.contrib import admin, messages

from sandbox.tims import backoffice, serializers
from sandbox.tims.models import (
    AccessToken,
    Customer,
    CustomFieldDefinition,
    Event,
    GlAccount,
    IdempotencyRecord,
    InventoryAdjustment,
    InventoryChange,
    InventoryLevel,
    Invoice,
    Item,
    JournalEntry,
    Location,
    Payment,
    Return,
    SalesOrder,
    SalesOrderLine,
    Shipment,
    TimsConfig,
)
from sandbox.tims.operations import ActionRefused


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _run_each(modeladmin, request, queryset, action, label):
    done = 0
    for row in queryset:
        try:
            action(row)
            done += 1
        except ActionRefused as refused:
            modeladmin.message_user(request, f"{row}: {refused.message}", messages.WARNING)
    if done:
        modeladmin.message_user(request, f"{label}: {done} done.", messages.SUCCESS)


class SalesOrderLineInline(admin.TabularInline):
    model = SalesOrderLine
    extra = 0
    can_delete = False
    readonly_fields = ["line_number", "item", "quantity", "price", "tax_amount", "discount_amount",
                       "allocated_quantity", "shipped_quantity"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SalesOrder)
class SalesOrderAdmin(ReadOnlyAdmin):
    list_display = ["code", "sandbox", "external_order_id", "customer", "status", "payment_status", "total_amount",
                    "currency", "order_date", "version"]
    list_filter = ["sandbox", "status", "payment_status", "currency"]
    search_fields = ["code", "external_order_id", "customer__code", "customer__name"]
    list_select_related = ["sandbox", "customer"]
    inlines = [SalesOrderLineInline]
    actions = ["allocate_and_ship", "cancel", "invoice"]

    @admin.action(description="Allocate and ship (UPS, generated tracking number)")
    def allocate_and_ship(self, request, queryset):
        _run_each(self, request, queryset, lambda order: backoffice.ship(order.sandbox, order.code), "Shipped")

    @admin.action(description="Cancel (only before anything ships; releases reserved stock)")
    def cancel(self, request, queryset):
        _run_each(self, request, queryset, lambda order: backoffice.cancel(order.sandbox, order.code), "Cancelled")

    @admin.action(description="Invoice")
    def invoice(self, request, queryset):
        _run_each(self, request, queryset, lambda order: backoffice.invoice(order.sandbox, order.code), "Invoiced")


@admin.register(InventoryLevel)
class InventoryLevelAdmin(admin.ModelAdmin):
    """OnHand is editable: saving counts the stock through backoffice.set_stock (feed row and event)."""

    list_display = ["item", "location", "on_hand", "allocated", "available", "updated_at", "sandbox"]
    list_filter = ["sandbox", "location__code"]
    search_fields = ["item__sku", "item__description"]
    list_select_related = ["item", "location", "sandbox"]
    fields = ["sandbox", "item", "location", "on_hand", "allocated"]
    readonly_fields = ["sandbox", "item", "location", "allocated"]
    actions = ["receive_ten", "remove_ten"]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        backoffice.set_stock(obj.sandbox, obj.item.sku, obj.on_hand, obj.location.code)

    @admin.action(description="Stock change: receive 10 units")
    def receive_ten(self, request, queryset):
        _run_each(self, request, queryset, lambda level: backoffice.change_stock_by(level.pk, 10), "Received")

    @admin.action(description="Stock change: remove 10 units")
    def remove_ten(self, request, queryset):
        _run_each(self, request, queryset, lambda level: backoffice.change_stock_by(level.pk, -10), "Removed")


@admin.register(Item)
class ItemAdmin(ReadOnlyAdmin):
    list_display = ["sku", "description", "unit_price", "cost", "unit_of_measure", "active", "version", "sandbox"]
    list_filter = ["sandbox", "active", "unit_of_measure"]
    search_fields = ["sku", "description"]


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "email", "price_level", "tax_exempt", "version", "sandbox"]
    list_filter = ["sandbox", "tax_exempt", "price_level"]
    search_fields = ["code", "name", "email"]


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdmin):
    list_display = ["code", "order", "carrier", "tracking_number", "shipped_at", "sandbox"]
    list_filter = ["sandbox", "carrier"]
    search_fields = ["code", "tracking_number", "order__code", "order__external_order_id"]


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fields = readonly_fields = ["code", "amount", "method", "reference", "received_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ["code", "order", "shipment", "customer", "invoice_date", "currency", "shipping_amount",
                    "total_amount", "balance", "refunded_amount", "status", "sandbox"]
    list_filter = ["sandbox", "status", "currency"]
    search_fields = ["code", "order__code", "order__external_order_id", "shipment__code", "customer__code"]
    list_select_related = ["order", "shipment", "customer", "sandbox"]
    inlines = [PaymentInline]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["code", "invoice", "order", "amount", "method", "reference", "received_at", "sandbox"]
    list_filter = ["sandbox", "method"]
    search_fields = ["code", "reference", "invoice__code", "invoice__order__code"]
    list_select_related = ["invoice__order", "sandbox"]

    @admin.display(description="sales order")
    def order(self, row):
        return row.invoice.order.code


@admin.register(Return)
class ReturnAdmin(ReadOnlyAdmin):
    list_display = ["code", "external_return_id", "order", "return_date", "currency", "refund_amount", "status",
                    "created_at", "sandbox"]
    list_filter = ["sandbox", "status"]
    search_fields = ["code", "external_return_id", "order__code", "order__external_order_id"]
    list_select_related = ["order", "sandbox"]


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["code", "date", "reference", "memo", "total_debit", "sandbox"]
    list_filter = ["sandbox", "date"]
    search_fields = ["code", "reference", "memo"]

    @admin.display(description="debits = credits")
    def total_debit(self, row):
        return serializers.journal_entry(row)["TotalDebit"]


@admin.register(GlAccount)
class GlAccountAdmin(admin.ModelAdmin):
    """Staff may rename or deactivate an account (journal lines may then no longer name it)."""

    list_display = ["account", "name", "type", "active", "sandbox"]
    list_filter = ["sandbox", "type", "active"]
    search_fields = ["account", "name"]
    fields = ["sandbox", "account", "name", "type", "active"]
    readonly_fields = ["sandbox", "account", "type"]

    def has_add_permission(self, request):
        return False


@admin.register(InventoryChange)
class InventoryChangeAdmin(ReadOnlyAdmin):
    list_display = ["seq", "sku", "location", "available", "changed_at", "sandbox"]
    list_filter = ["sandbox", "location"]
    search_fields = ["sku"]


@admin.register(InventoryAdjustment)
class InventoryAdjustmentAdmin(ReadOnlyAdmin):
    list_display = ["code", "sku", "location", "quantity", "reason_code", "reference", "created_at", "sandbox"]
    list_filter = ["sandbox", "reason_code"]
    search_fields = ["code", "sku", "reference"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "type", "created_at", "sandbox"]
    list_filter = ["sandbox", "type"]


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(ReadOnlyAdmin):
    list_display = ["entity", "name", "data_type", "label", "sandbox"]
    list_filter = ["sandbox", "entity"]


@admin.register(Location)
class LocationAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "sandbox"]
    list_filter = ["sandbox"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["key", "method", "path", "status_code", "created_at", "sandbox"]
    list_filter = ["sandbox", "status_code"]
    search_fields = ["key", "path"]
    exclude = ["fingerprint"]


@admin.register(AccessToken)
class AccessTokenAdmin(ReadOnlyAdmin):
    list_display = ["client_id", "expires_at", "created_at", "sandbox"]
    list_filter = ["sandbox"]
    exclude = ["token_hash"]


@admin.register(TimsConfig)
class TimsConfigAdmin(admin.ModelAdmin):
    list_display = ["sandbox", "token_lifetime_seconds", "default_location", "guest_customer_code"]
    readonly_fields = ["sandbox"]
