"""Browse the sandbox shop's data (read-mostly) and subscribe webhook receivers."""

from django import forms
from django.contrib import admin

from sandbox.prestashop import models as m


class ReadMostly(admin.ModelAdmin):
    """Sandbox data is made by the API and the generator; the admin is for looking, and for deleting."""

    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(m.Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ["sandbox", "name", "timezone", "version"]
    search_fields = ["sandbox__slug"]


@admin.register(m.KeyPermission)
class KeyPermissionAdmin(admin.ModelAdmin):
    list_display = ["sandbox", "description", "grants"]
    list_filter = ["sandbox"]
    readonly_fields = ["key_hash"]


@admin.register(m.Order)
class OrderAdmin(ReadMostly):
    list_display = ["id", "sandbox", "reference", "id_customer", "current_state", "total_paid", "date_add", "date_upd"]
    list_filter = ["sandbox", "current_state", "valid"]
    search_fields = ["reference"]


@admin.register(m.OrderRow)
class OrderRowAdmin(ReadMostly):
    list_display = ["id", "order", "product_reference", "product_name", "product_quantity", "unit_price_tax_incl"]
    list_filter = ["sandbox"]
    search_fields = ["product_reference", "product_name"]


@admin.register(m.Customer)
class CustomerAdmin(ReadMostly):
    list_display = ["id", "sandbox", "email", "firstname", "lastname", "is_guest", "date_upd"]
    list_filter = ["sandbox", "is_guest"]
    search_fields = ["email", "lastname"]
    exclude = ["passwd", "secure_key"]


@admin.register(m.Product)
class ProductAdmin(ReadMostly):
    list_display = ["id", "sandbox", "reference", "price", "quantity", "active"]
    list_filter = ["sandbox", "active"]
    search_fields = ["reference"]


for model, columns in [
    (m.Language, ["id", "sandbox", "iso_code", "name", "active"]),
    (m.Country, ["id", "sandbox", "iso_code"]),
    (m.Currency, ["id", "sandbox", "iso_code", "conversion_rate"]),
    (m.Carrier, ["id", "sandbox", "name", "active"]),
    (m.OrderState, ["id", "sandbox", "name", "paid", "shipped"]),
    (m.Address, ["id", "sandbox", "id_customer", "city", "postcode", "id_country"]),
    (m.Combination, ["id", "sandbox", "id_product", "reference"]),
    (m.StockAvailable, ["id", "sandbox", "id_product", "id_product_attribute", "quantity"]),
    (m.OrderHistory, ["id", "sandbox", "id_order", "id_order_state", "date_add"]),
    (m.OrderCarrier, ["id", "sandbox", "id_order", "id_carrier", "tracking_number"]),
    (m.OrderPayment, ["id", "sandbox", "order_reference", "amount", "payment_method"]),
    (m.OrderSlip, ["id", "sandbox", "id_order", "amount", "partial", "date_upd"]),
    (m.OrderSlipDetail, ["id", "sandbox", "order_slip", "id_order_detail", "product_quantity", "amount_tax_incl"]),
    (m.MailLog, ["id", "sandbox", "id_order", "template", "recipient", "subject", "date_add"]),
    (m.StockWrite, ["id", "sandbox", "id_stock_available", "previous_quantity", "quantity", "cause", "at"]),
    (m.Category, ["id", "sandbox", "id_parent", "name", "active"]),
    (m.ProductOption, ["id", "sandbox", "name", "group_type"]),
    (m.ProductOptionValue, ["id", "sandbox", "id_attribute_group", "name"]),
    (m.ProductFeature, ["id", "sandbox", "name"]),
    (m.ProductFeatureValue, ["id", "sandbox", "id_feature", "value"]),
    (m.SpecificPrice, ["id", "sandbox", "id_product", "id_product_attribute", "reduction", "reduction_type", "from",
                       "to"]),
]:
    admin.site.register(model, type(f"{model.__name__}Admin", (ReadMostly,),
                                    {"list_display": columns, "list_filter": ["sandbox"]}))


class WebhookModuleForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    secret = forms.CharField(widget=forms.PasswordInput, help_text="Signs each POST (HMAC-SHA256); write-only.")

    class Meta:
        model = m.WebhookModule
        fields = ["sandbox", "url", "events", "active"]

    def save(self, commit=True):
        subscription = super().save(commit=False)
        subscription.system = "prestashop"
        subscription.signing = {"secret": self.cleaned_data["secret"]}
        if commit:
            subscription.save()
        return subscription


@admin.register(m.WebhookModule)
class WebhookModuleAdmin(admin.ModelAdmin):
    """Subscribe a receiver to order.created / order.state_changed (leave events empty for both)."""

    form = WebhookModuleForm
    list_display = ["sandbox", "url", "events", "active", "created_at"]
    list_filter = ["sandbox", "active"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(system="prestashop")
