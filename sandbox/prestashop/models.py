"""The sandbox shop's tables. Each resource model is built from its description in resources.py, so columns,
API fields and validation never drift apart. Every row belongs to one sandbox.

Datetimes are the shop's local wall-clock time (PrestaShop stores naive local datetimes in MySQL). Django runs with
USE_TZ, so the wall-clock value is tagged UTC purely as a storage convention: it is written and read back unchanged
and is never converted. `clock.now(shop)` makes such values."""

import re

from django.db import models
from django.utils import timezone

from sandbox.models import Sandbox, WebhookSubscription
from sandbox.prestashop import resources


class Shop(models.Model):
    """Per-sandbox shop settings."""

    sandbox = models.OneToOneField(Sandbox, on_delete=models.CASCADE, related_name="prestashop_shop")
    name = models.CharField(max_length=64, default="Sandbox shop")
    timezone = models.CharField(max_length=64, default="Europe/Paris",
                                help_text="IANA zone; date_add/date_upd are stored in this zone's local time.")
    version = models.CharField(max_length=20, default="8.1.7", help_text="Sent as PSWS-Version.")

    def __str__(self):
        return f"{self.sandbox} shop ({self.timezone})"


class KeyPermission(models.Model):
    """What one webservice key may do. The key itself is a SandboxCredential (hash only); this row is found by the
    same hash. `grants` null: every resource and method; {}: nothing (error 21)."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="prestashop_key_permissions")
    key_hash = models.CharField(max_length=64, db_index=True)
    description = models.CharField(max_length=255, blank=True)
    grants = models.JSONField(null=True, blank=True)

    def __str__(self):
        return self.description or self.key_hash[:8]


def _column(spec):
    if spec.type == "lang":
        # {iso_code: text}: keys are iso codes, not ids, because digit keys mean array indexes in JSON lookups.
        return models.JSONField(default=dict, blank=True)
    if spec.type in ("id", "int"):
        return models.BigIntegerField(default=0)
    if spec.type == "bool":
        return models.BooleanField(default=False)
    if spec.type in ("price", "float"):
        return models.DecimalField(max_digits=20, decimal_places=6, default=0)
    if spec.type == "datetime":
        return models.DateTimeField(null=True, blank=True, db_index=spec.name in ("date_add", "date_upd"))
    if spec.type == "date":
        return models.DateField(null=True, blank=True)
    if spec.max_length and spec.max_length <= 255:
        # Longer than PrestaShop allows is caught by validation (code 85); the column is roomier on purpose.
        return models.CharField(max_length=255, default=spec.values[0] if spec.values else "", blank=True)
    return models.TextField(default="", blank=True)


def _plural(name):
    """“OrderHistory” → “order histories”, “Address” → “addresses” (Django would say “order historys”)."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()
    if words.endswith(("s", "x", "ch", "sh")):
        return words + "es"
    if words.endswith("y") and words[-2:-1] not in "aeiou":
        return words[:-1] + "ies"
    return words + "s"


def _build(name, fields, extra=None):
    related = f"prestashop_{name.lower()}s"
    attrs = {"__module__": __name__,
             "sandbox": models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name=related),
             "Meta": type("Meta", (), {"ordering": ["id"], "verbose_name_plural": _plural(name)}),
             "__str__": lambda self: f"{type(self).__name__} {self.pk}"}
    for spec in fields:
        if spec.name != "id":
            attrs[spec.name] = _column(spec)
    attrs.update(extra or {})
    return type(name, (models.Model,), attrs)


Language = _build("Language", resources.LANGUAGES.fields)
Country = _build("Country", resources.COUNTRIES.fields)
Currency = _build("Currency", resources.CURRENCIES.fields)
Carrier = _build("Carrier", resources.CARRIERS.fields)
OrderState = _build("OrderState", resources.ORDER_STATES.fields)
Customer = _build("Customer", resources.CUSTOMERS.fields)
Address = _build("Address", resources.ADDRESSES.fields)
Product = _build("Product", resources.PRODUCTS.fields)
Combination = _build("Combination", resources.COMBINATIONS.fields)
StockAvailable = _build("StockAvailable", resources.STOCK_AVAILABLES.fields)
Category = _build("Category", resources.CATEGORIES.fields)
ProductOption = _build("ProductOption", resources.PRODUCT_OPTIONS.fields)
ProductOptionValue = _build("ProductOptionValue", resources.PRODUCT_OPTION_VALUES.fields)
ProductFeature = _build("ProductFeature", resources.PRODUCT_FEATURES.fields)
ProductFeatureValue = _build("ProductFeatureValue", resources.PRODUCT_FEATURE_VALUES.fields)
SpecificPrice = _build("SpecificPrice", resources.SPECIFIC_PRICES.fields)


def _link(name, columns, **extra):
    """A link table behind an association (category_product, feature_product, product_attribute_combination)."""
    fields = tuple(resources.Field(column, "id") for column in columns)
    return _build(name, fields, {column: models.BigIntegerField(default=0, db_index=True) for column in columns[:1]}
                  | extra)


ProductCategory = _link("ProductCategory", ("id_product", "id_category"), position=models.IntegerField(default=0))
ProductFeatureLink = _link("ProductFeatureLink", ("id_product", "id_feature", "id_feature_value"))
# id_product is kept with each row (the combination's product) so a product can list its option values.
CombinationOptionValue = _link("CombinationOptionValue", ("id_combination", "id_attribute"),
                               id_product=models.BigIntegerField(default=0, db_index=True))
Order = _build("Order", resources.ORDERS.fields)
OrderRow = _build("OrderRow", resources.ORDER_ROW_FIELDS, {
    "order": models.ForeignKey(Order, on_delete=models.CASCADE, related_name="rows")})
OrderHistory = _build("OrderHistory", resources.ORDER_HISTORIES.fields)
OrderCarrier = _build("OrderCarrier", resources.ORDER_CARRIERS.fields)
OrderPayment = _build("OrderPayment", resources.ORDER_PAYMENTS.fields)
OrderSlip = _build("OrderSlip", resources.ORDER_SLIPS.fields)
OrderSlipDetail = _build("OrderSlipDetail", resources.ORDER_SLIP_DETAIL_FIELDS, {
    "order_slip": models.ForeignKey(OrderSlip, on_delete=models.CASCADE, related_name="details")})


class MailLog(models.Model):
    """The e-mails the shop would have sent its customers (order state mails, "in transit"). PrestaShop does not
    expose sent mail over the webservice, so neither does the sandbox: tests and the admin read this table."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="prestashop_mails")
    id_order = models.BigIntegerField(default=0)
    template = models.CharField(max_length=64)
    recipient = models.CharField(max_length=255)
    subject = models.CharField(max_length=255, blank=True)
    date_add = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.template} to {self.recipient}"


class StockWrite(models.Model):
    """Every value written to a stock_available row, in order: what the webservice wrote (PUT / PATCH) and what the
    shop derived from it (a product's row recomputed as the sum of its combinations, "sum"). PrestaShop keeps no
    such log; tests read it to check that no older value overwrote a newer one."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="prestashop_stock_writes")
    id_stock_available = models.BigIntegerField(db_index=True)
    id_product = models.BigIntegerField()
    id_product_attribute = models.BigIntegerField()
    quantity = models.BigIntegerField()
    previous_quantity = models.BigIntegerField()
    cause = models.CharField(max_length=10)  # PUT, PATCH or sum
    at = models.DateTimeField(default=timezone.now)  # real time, not the shop's clock: for ordering writes

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"stock {self.id_stock_available}: {self.previous_quantity} → {self.quantity} ({self.cause})"


def model_for(name):
    """The model class named in resources.py (Resource.model / Association.model)."""
    return globals()[name]


class WebhookModule(WebhookSubscription):
    """The optional webhook module's subscriptions (PrestaShop core has none): a view of the shared table."""

    class Meta:
        proxy = True
        verbose_name = "webhook module subscription"
