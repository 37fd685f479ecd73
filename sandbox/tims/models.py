"""The state of a TIMS sandbox. Every row belongs to one sandbox, so sandboxes never see each other's data.

Field names follow Django style here; serializers.py turns them into the profile's PascalCase JSON.
"""

from django.db import models

from sandbox.models import Sandbox

ORDER_STATUSES = ["Open", "Processing", "Allocated", "PartiallyShipped", "Fulfilled", "Invoiced", "Closed",
                  "Cancelled", "OnHold"]
PAYMENT_STATUSES = ["Unpaid", "PartiallyPaid", "Paid", "Refunded"]
CUSTOM_FIELD_ENTITIES = ["sales_order", "item", "customer"]
CUSTOM_FIELD_TYPES = ["string", "number", "boolean", "date"]
GL_ACCOUNT_TYPES = ["Asset", "Liability", "Equity", "Revenue", "Expense"]
MONEY = {"max_digits": 14, "decimal_places": 2}
UNIT_PRICE = {"max_digits": 16, "decimal_places": 4}  # distributors price some items to the hundredth of a cent


def _choices(values):
    return [(value, value) for value in values]


class TimsConfig(models.Model):
    """Per-sandbox knobs; tests shorten the token lifetime to a second or two."""

    sandbox = models.OneToOneField(Sandbox, on_delete=models.CASCADE, related_name="tims_config")
    token_lifetime_seconds = models.PositiveIntegerField(default=3600)
    default_location = models.CharField(max_length=20, default="MAIN")
    guest_customer_code = models.CharField(max_length=20, default="C-GUEST")

    def __str__(self):
        return f"{self.sandbox} TIMS settings"


class AccessToken(models.Model):
    """An issued OAuth access token, stored as its SHA-256 only."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    client_id = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.client_id} token until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class Counter(models.Model):
    """Per-sandbox number sequences (customer codes, order numbers, feed positions). Taking a number locks the
    row until commit, so feed positions are handed out in commit order and a cursor never skips a late row."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=40)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "name"], name="tims_one_counter_per_name")]

    def __str__(self):
        return f"{self.name}={self.value}"


class IdempotencyRecord(models.Model):
    """The first response to a write sent with an Idempotency-Key. The unique key makes a concurrent duplicate
    wait for the first transaction and then replay its answer instead of writing again."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    status_code = models.PositiveSmallIntegerField(default=0)
    response_body = models.TextField(blank=True)
    response_headers = models.JSONField(default=dict, blank=True)  # ETag, Location
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "key"], name="tims_one_idempotency_key")]

    def __str__(self):
        return f"{self.method} {self.path} [{self.key}] → {self.status_code}"


class Location(models.Model):
    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "code"], name="tims_unique_location")]
        ordering = ["code"]

    def __str__(self):
        return self.code


class CustomFieldDefinition(models.Model):
    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    entity = models.CharField(max_length=20, choices=_choices(CUSTOM_FIELD_ENTITIES))
    name = models.CharField(max_length=40)
    data_type = models.CharField(max_length=10, choices=_choices(CUSTOM_FIELD_TYPES), default="string")
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "entity", "name"],
                                               name="tims_unique_custom_field")]
        ordering = ["entity", "name"]

    def __str__(self):
        return f"{self.entity}.{self.name}"


class Customer(models.Model):
    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=100)
    email = models.CharField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=30, blank=True)
    billing_address = models.JSONField(default=dict, blank=True)
    shipping_addresses = models.JSONField(default=list, blank=True)
    tax_exempt = models.BooleanField(default=False)
    price_level = models.CharField(max_length=20, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "code"], name="tims_unique_customer_code")]
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class Item(models.Model):
    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    sku = models.CharField(max_length=40)
    description = models.CharField(max_length=200)
    unit_price = models.DecimalField(**UNIT_PRICE)
    cost = models.DecimalField(**UNIT_PRICE, default=0)
    unit_of_measure = models.CharField(max_length=10, default="EA")
    weight = models.DecimalField(max_digits=10, decimal_places=3, default=0)
    active = models.BooleanField(default=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "sku"], name="tims_unique_sku")]
        ordering = ["sku"]

    def __str__(self):
        return self.sku


class InventoryLevel(models.Model):
    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="levels")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="levels")
    on_hand = models.IntegerField(default=0)
    allocated = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "location"], name="tims_one_level_per_location")]
        ordering = ["item__sku", "location__code"]

    def __str__(self):
        return f"{self.item.sku}@{self.location.code}: {self.on_hand} on hand, {self.allocated} allocated"

    @property
    def available(self):
        return self.on_hand - self.allocated


class InventoryChange(models.Model):
    """One row of the inventory change feed; `seq` is the feed position."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    sku = models.CharField(max_length=40)
    location = models.CharField(max_length=20)
    available = models.IntegerField()
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "seq"], name="tims_unique_inventory_seq")]
        ordering = ["seq"]

    def __str__(self):
        return f"#{self.seq} {self.sku}@{self.location} available {self.available}"


class InventoryAdjustment(models.Model):
    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=20)
    sku = models.CharField(max_length=40)
    location = models.CharField(max_length=20)
    quantity = models.IntegerField()
    reason_code = models.CharField(max_length=20)
    reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.code} {self.sku} {self.quantity:+d}"


class SalesOrder(models.Model):
    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=20)
    external_order_id = models.CharField(max_length=50, blank=True, db_index=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    order_date = models.DateTimeField()
    status = models.CharField(max_length=20, choices=_choices(ORDER_STATUSES), default="Open")
    payment_status = models.CharField(max_length=20, choices=_choices(PAYMENT_STATUSES), default="Unpaid")
    currency = models.CharField(max_length=3, default="USD")
    shipping_method = models.CharField(max_length=50, blank=True)
    shipping_amount = models.DecimalField(**MONEY, default=0)
    shipping_address = models.JSONField(default=dict, blank=True)
    billing_address = models.JSONField(default=dict, blank=True)
    total_amount = models.DecimalField(**MONEY, default=0)
    cost_center = models.CharField(max_length=30, blank=True)
    project_code = models.CharField(max_length=30, blank=True)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    custom_fields = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "code"], name="tims_unique_order_code")]
        ordering = ["-id"]

    def __str__(self):
        return f"{self.code} ({self.external_order_id or 'no external id'})"


class SalesOrderLine(models.Model):
    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveIntegerField()
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    price = models.DecimalField(**UNIT_PRICE)
    tax_amount = models.DecimalField(**MONEY, default=0)
    discount_amount = models.DecimalField(**MONEY, default=0)
    allocated_quantity = models.PositiveIntegerField(default=0)
    shipped_quantity = models.PositiveIntegerField(default=0)
    invoiced_quantity = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "line_number"]

    def __str__(self):
        return f"{self.order.code}/{self.line_number} {self.item.sku} × {self.quantity}"


class Shipment(models.Model):
    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=20)
    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(max_length=40)
    shipping_class = models.CharField(max_length=40, blank=True)
    tracking_number = models.CharField(max_length=60)
    shipped_at = models.DateTimeField()
    lines = models.JSONField(default=list)  # [{"SKU", "Quantity"}]
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.code} {self.carrier} {self.tracking_number}"


class Invoice(models.Model):
    """An AR invoice: the whole order, one shipment, or the lines a client named. `lines` hold the profile's
    JSON ({"LineNumber", "SKU", "Quantity", "Price", "ExtendedPrice", "TaxAmount", "DiscountAmount", "LineTotal"}),
    the order line's amounts pro rata, so an order's invoices add up to the order to the cent."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=20)
    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="invoices")
    shipment = models.ForeignKey(Shipment, on_delete=models.RESTRICT, null=True, blank=True,
                                 related_name="invoices")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    invoice_date = models.DateField(db_index=True)
    currency = models.CharField(max_length=3, default="USD")
    lines = models.JSONField(default=list)
    shipping_amount = models.DecimalField(**MONEY, default=0)  # the freight it bills (the first invoice only)
    total_amount = models.DecimalField(**MONEY)
    balance = models.DecimalField(**MONEY)
    status = models.CharField(max_length=20, default="Open")  # Open, PartiallyPaid, Paid
    # Paid money given back by returns (operations.record_return); Balance, what is still owed, is unchanged.
    refunded_amount = models.DecimalField(**MONEY, default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.code} {self.total_amount} ({self.status})"


class Payment(models.Model):
    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=20)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="payments")
    amount = models.DecimalField(**MONEY)
    method = models.CharField(max_length=30)
    reference = models.CharField(max_length=100, blank=True, db_index=True)
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.code} {self.amount}"


class Return(models.Model):
    """Goods a customer sent back. `lines` hold the profile's JSON ({"SKU", "Quantity", "Reason", "Restock",
    "Amount"}); `credits` how the refund was given back against the order's invoices ({"InvoiceID", "Amount"})."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=20)
    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="returns")
    external_return_id = models.CharField(max_length=50, blank=True, db_index=True)
    return_date = models.DateField(null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    lines = models.JSONField(default=list)
    refund_amount = models.DecimalField(**MONEY)
    credits = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, default="Received")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.code} for {self.order.code}"


class GlAccount(models.Model):
    """One account of the sandbox's chart of accounts; journal lines may only name active ones."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    account = models.CharField(max_length=20)
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=_choices(GL_ACCOUNT_TYPES))
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "account"], name="tims_unique_gl_account")]
        ordering = ["account"]
        verbose_name = "GL account"

    def __str__(self):
        return f"{self.account} {self.name}"


class JournalEntry(models.Model):
    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=20)
    date = models.DateField(db_index=True)
    reference = models.CharField(max_length=100, blank=True, db_index=True)
    memo = models.CharField(max_length=200, blank=True)
    lines = models.JSONField(default=list)  # [{"Account", "Debit", "Credit", "Memo"}] with decimal strings
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "journal entries"

    def __str__(self):
        return f"{self.code} {self.reference}"


class Event(models.Model):
    """One entry of the events feed; `seq` is the feed position."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=40)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "seq"], name="tims_unique_event_seq")]
        ordering = ["seq"]

    def __str__(self):
        return f"#{self.seq} {self.type}"
