"""State of the ChannelAdvisor sandbox. Every row belongs to one sandbox.Sandbox, so sandboxes never see each other.

Entity IDs are the row primary keys (ChannelAdvisor IDs are plain integers too)."""

from decimal import Decimal

from django.db import models

from sandbox.models import Sandbox

CHECKOUT_STATUSES = ["NotVisited", "Completed", "Visited", "CompletedAndVisited", "Disabled", "CompletedOffline",
                     "OnHold"]
PAYMENT_STATUSES = ["NotYetSubmitted", "Cleared", "Submitted", "Failed", "Deposited"]
SHIPPING_STATUSES = ["Unshipped", "Shipped", "PartiallyShipped", "PendingShipment", "Canceled", "ThirdPartyManaged"]
FULFILLMENT_TYPES = ["Ship", "Pickup", "ShipToStore", "Courier"]
DELIVERY_STATUSES = ["NoChange", "InTransit", "ReadyForPickup", "Complete", "Canceled", "ThirdPartyManaged",
                     "Confirmed", "PickAndPack", "LabelCreated", "Held"]
# A fulfillment in one of these still has its units to ship; one of the shipped ones has sent them.
OPEN_DELIVERY_STATUSES = {"NoChange", "Confirmed", "PickAndPack", "LabelCreated", "Held"}
SHIPPED_DELIVERY_STATUSES = {"InTransit", "ReadyForPickup", "Complete", "ThirdPartyManaged"}
TRACKING_NUMBER_MAX_LENGTH = 50  # not documented; see docs/sandboxes/channeladvisor.md
# AdjustmentRequestStatus (the values are not documented publicly; see docs/sandboxes/channeladvisor.md).
REQUEST_STATUSES = ["Pending", "Complete", "Failed"]
ADJUSTMENT_REASONS = ["GeneralAdjustment", "ItemNotAvailable", "CustomerReturnedItem", "CouldNotShip",
                      "AlternateItemProvided", "BuyerCancelled", "CustomerExchange", "MerchandiseNotReceived",
                      "ShippingAddressUndeliverable", "DamagedInTransit", "ItemNotAsDescribed", "BuyerReturnRefund",
                      "SellerCancelled", "Other"]
CANCEL_REASONS = {"BuyerCancelled", "SellerCancelled", "ItemNotAvailable", "CouldNotShip",
                  "ShippingAddressUndeliverable"}
QUANTITY_UPDATE_TYPES = ["Absolute", "Relative", "Available", "InStock", "UnShipped"]
# Orders whose units are still to ship; of them, InStock counts only those waiting for checkout or payment.
OPEN_SHIPPING_STATUSES = ["Unshipped", "PendingShipment", "PartiallyShipped"]
COMPLETED_CHECKOUT_STATUSES = ["Completed", "CompletedAndVisited", "CompletedOffline"]
PENDING_PAYMENT_STATUSES = ["NotYetSubmitted", "Submitted"]

MONEY = {"max_digits": 14, "decimal_places": 2, "default": Decimal("0")}


class Config(models.Model):
    """Per-sandbox knobs; tests shrink the limits and the token lifetime so they need no long waits."""

    sandbox = models.OneToOneField(Sandbox, on_delete=models.CASCADE, related_name="channeladvisor_config")
    profile_id = models.BigIntegerField(default=12345678, help_text="The one account (profile) of this sandbox.")
    account_name = models.CharField(max_length=100, default="Sandbox seller",
                                    help_text="The profile's AccountName (v1/Profiles, the consent page).")
    access_token_seconds = models.PositiveIntegerField(default=3600)
    requests_per_window = models.PositiveIntegerField(default=2000, help_text="Per profile, per rate window.")
    rate_window_seconds = models.PositiveIntegerField(default=60)
    concurrent_requests = models.PositiveIntegerField(default=5, help_text="Per application.")
    slot_timeout_seconds = models.PositiveIntegerField(
        default=60, help_text="An in-flight slot older than this is freed, so a crashed process cannot leak it.")

    def __str__(self):
        return f"{self.sandbox} profile {self.profile_id}"


class Application(models.Model):
    """A developer application. Its shared secret and refresh tokens live hashed in sandbox.SandboxCredential.
    As in ChannelAdvisor's developer console, the authorize page sends users back only to a registered URI."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="channeladvisor_applications")
    application_id = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    redirect_uris = models.TextField(
        "redirect URIs", blank=True,
        help_text="One per line, matched exactly. HTTPS, or plain http on localhost / 127.0.0.1 (sandbox only).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "application_id"], name="ca_unique_application")]

    def __str__(self):
        return f"{self.sandbox} {self.application_id}"

    def registered_redirect_uris(self):
        return [line.strip() for line in self.redirect_uris.splitlines() if line.strip()]

    def clean(self):
        from django.core.exceptions import ValidationError

        from sandbox.channeladvisor.auth import redirect_uri_problem

        problems = [p for p in map(redirect_uri_problem, self.registered_redirect_uris()) if p]
        if problems:
            raise ValidationError({"redirect_uris": problems})


class AccessToken(models.Model):
    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="access_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"token of {self.application} until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class AuthorizationCode(models.Model):
    """A one-time code from the self-service authorize page, exchanged for tokens at oauth2/token."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="authorization_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    redirect_uri = models.CharField(max_length=1000)
    expires_at = models.DateTimeField()
    used = models.BooleanField(default=False)

    def __str__(self):
        return f"code of {self.application} (used: {self.used})"


class DistributionCenter(models.Model):
    """A warehouse of the account (GET v1/DistributionCenters). ChannelAdvisor: with a single DC its ID is 0."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    profile_id = models.BigIntegerField()
    dc_id = models.IntegerField("ID")
    code = models.CharField(max_length=50)
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=30, default="Warehouse")  # Warehouse | ExternallyManaged | Retail ...
    is_externally_managed = models.BooleanField(default=False)
    is_deleted = models.BooleanField(default=False)
    city = models.CharField(max_length=100, blank=True)
    state_or_province = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True)

    class Meta:
        ordering = ["dc_id"]
        constraints = [models.UniqueConstraint(fields=["sandbox", "dc_id"], name="ca_unique_distribution_center")]

    def __str__(self):
        return f"{self.code} ({self.dc_id})"


class RateCounter(models.Model):
    """Requests of one profile in one fixed window, shared by every process through the database."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    profile_id = models.BigIntegerField()
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "profile_id", "window_start"],
                                               name="ca_one_counter_per_window")]

    def __str__(self):
        return f"{self.profile_id} from {self.window_start:%H:%M:%S}: {self.count}"


class InFlightSlot(models.Model):
    """One request being served for an application; deleted when it ends, ignored after expires_at."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="in_flight")
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"{self.application} since {self.started_at:%H:%M:%S}"


class CarrierClass(models.Model):
    """A shipping carrier/class pair the Ship action accepts."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    carrier = models.CharField(max_length=60)
    shipping_class = models.CharField(max_length=60)

    class Meta:
        ordering = ["carrier", "shipping_class"]
        verbose_name_plural = "carrier classes"
        constraints = [models.UniqueConstraint(fields=["sandbox", "carrier", "shipping_class"],
                                               name="ca_unique_carrier_class")]

    def __str__(self):
        return f"{self.carrier} {self.shipping_class}"


# Enumerations of the v1 Product entity (names as ChannelAdvisor's $metadata serves them; see
# docs/sandboxes/channeladvisor.md).
FLAG_TYPES = ["NotSpecified", "ItemCopied", "ExclamationPoint", "NoFlag", "RedFlag", "QuestionMark", "NotAvailable",
              "Price", "YellowFlag", "GreenFlag", "BlueFlag"]
BUNDLE_TYPES = ["None", "BundleComponent", "BundleItem", "AssemblyBundleItem"]
ALIAS_TYPES = ["None", "Reference", "Alias"]
PRODUCT_TYPES = ["Item", "Child", "Bundle", "Parent"]  # InventoryItemType; derived, read-only
CONDITIONS = ["NEW", "USED", "REFURBISHED", "RECONDITIONED", "LIKE NEW"]

PRICE = {"max_digits": 14, "decimal_places": 2, "null": True, "blank": True}
DIMENSION = {"max_digits": 16, "decimal_places": 3, "null": True, "blank": True}


class Product(models.Model):
    """A v1 Product. Empty strings are served as null, as ChannelAdvisor serves unset text properties."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    profile_id = models.BigIntegerField()
    sku = models.CharField(max_length=50)
    title = models.CharField(max_length=500, blank=True)
    subtitle = models.CharField(max_length=500, blank=True)
    short_description = models.TextField(blank=True)
    description = models.TextField(blank=True)
    brand = models.CharField(max_length=150, blank=True)
    manufacturer = models.CharField(max_length=150, blank=True)
    mpn = models.CharField(max_length=50, blank=True)
    upc = models.CharField(max_length=20, blank=True)
    ean = models.CharField(max_length=20, blank=True)
    isbn = models.CharField(max_length=20, blank=True)
    asin = models.CharField(max_length=20, blank=True)
    condition = models.CharField(max_length=20, blank=True)
    flag = models.CharField(max_length=20, default="NoFlag")
    flag_description = models.CharField(max_length=80, blank=True)
    harmonized_code = models.CharField(max_length=20, blank=True)
    tax_product_code = models.CharField(max_length=25, blank=True)
    warehouse_location = models.CharField(max_length=80, blank=True)
    warranty = models.CharField(max_length=255, blank=True)
    supplier_name = models.CharField(max_length=100, blank=True)
    supplier_code = models.CharField(max_length=50, blank=True)
    supplier_po = models.CharField(max_length=50, blank=True)
    classification = models.CharField(max_length=50, blank=True)
    is_display_in_store = models.BooleanField(null=True, blank=True)
    store_title = models.CharField(max_length=500, blank=True)
    store_description = models.TextField(blank=True)
    cost = models.DecimalField(**PRICE)
    retail_price = models.DecimalField(**PRICE)
    buy_it_now_price = models.DecimalField(**PRICE)
    store_price = models.DecimalField(**PRICE)
    starting_price = models.DecimalField(**PRICE)
    reserve_price = models.DecimalField(**PRICE)
    second_chance_price = models.DecimalField(**PRICE)
    min_price = models.DecimalField(**PRICE)
    max_price = models.DecimalField(**PRICE)
    margin = models.DecimalField(**PRICE)
    estimated_shipping_cost = models.DecimalField(**PRICE)
    weight = models.DecimalField(**DIMENSION)
    height = models.DecimalField(**DIMENSION)
    length = models.DecimalField(**DIMENSION)
    width = models.DecimalField(**DIMENSION)
    multipack_quantity = models.IntegerField(null=True, blank=True)
    is_available_in_store = models.BooleanField(default=False)
    is_blocked = models.BooleanField(default=False)
    block_comment = models.CharField(max_length=500, blank=True)
    blocked_date_utc = models.DateTimeField(null=True, blank=True)
    is_blocked_from_advertising = models.BooleanField(default=False)
    blocked_from_advertising_date_utc = models.DateTimeField(null=True, blank=True)
    is_external_quantity_blocked = models.BooleanField(default=False)
    infinite_quantity = models.BooleanField(default=False)
    received_date_utc = models.DateTimeField(null=True, blank=True)
    last_sale_date_utc = models.DateTimeField(null=True, blank=True)
    bundle_type = models.CharField(max_length=20, default="None")
    product_type = models.CharField(max_length=10, default="Item")  # derived on save (InventoryItemType)
    is_parent = models.BooleanField(default=False)
    is_in_relationship = models.BooleanField(default=False)
    parent_product_id = models.BigIntegerField(null=True, blank=True)
    parent_sku = models.CharField(max_length=50, blank=True)  # the parent's Sku, kept on save
    relationship_name = models.CharField(max_length=50, blank=True)
    vary_by = models.CharField(max_length=500, blank=True)
    alias_type = models.CharField(max_length=10, default="None")
    reference_product_id = models.BigIntegerField(null=True, blank=True)
    reference_sku = models.CharField(max_length=50, blank=True)
    total_available_quantity = models.IntegerField(default=0)
    open_allocated_quantity = models.IntegerField(default=0)
    pending_checkout_quantity = models.IntegerField(default=0)
    pending_payment_quantity = models.IntegerField(default=0)
    pending_shipment_quantity = models.IntegerField(default=0)
    total_quantity = models.IntegerField(default=0)
    quantity_sold_last_7_days = models.IntegerField(default=0)
    quantity_sold_last_14_days = models.IntegerField(default=0)
    quantity_sold_last_30_days = models.IntegerField(default=0)
    quantity_sold_last_60_days = models.IntegerField(default=0)
    quantity_sold_last_90_days = models.IntegerField(default=0)
    create_date_utc = models.DateTimeField(auto_now_add=True)
    update_date_utc = models.DateTimeField()
    quantity_update_date_utc = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["sandbox", "sku"], name="ca_unique_sku")]
        indexes = [models.Index(fields=["sandbox", "parent_product_id"])]

    def __str__(self):
        return self.sku


class ProductAttribute(models.Model):
    """An AttributeValue: one named value of a product (key: ProductID + Name)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="attribute_values")
    name = models.CharField(max_length=100)
    value = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["product", "name"], name="ca_one_attribute_per_name")]

    def __str__(self):
        return f"{self.name}={self.value[:40]}"


class ProductImage(models.Model):
    """An Image: the URL at one placement (ITEMIMAGEURL1...) of a product (key: ProductID + PlacementName)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="image_rows")
    placement_name = models.CharField(max_length=50)
    url = models.CharField(max_length=255)

    class Meta:
        ordering = ["placement_name", "id"]
        constraints = [models.UniqueConstraint(fields=["product", "placement_name"], name="ca_one_image_per_place")]

    def __str__(self):
        return f"{self.placement_name}: {self.url}"


class ProductLabel(models.Model):
    """A ProductLabel: a label name applied to a product (key: ProductID + Name)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="label_rows")
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["product", "name"], name="ca_one_label_per_name")]

    def __str__(self):
        return self.name


class DCQuantity(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="dc_quantities")
    distribution_center_id = models.IntegerField()
    available_quantity = models.IntegerField(default=0)

    class Meta:
        ordering = ["distribution_center_id"]
        constraints = [models.UniqueConstraint(fields=["product", "distribution_center_id"], name="ca_one_dc_row")]

    def __str__(self):
        return f"{self.product} DC {self.distribution_center_id}: {self.available_quantity}"


class QuantityWrite(models.Model):
    """One DC quantity written by UpdateQuantity, in the order written: what was asked and what it became.
    Plain numbers (no foreign key), so the log outlives a deleted product."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    product_id = models.BigIntegerField()
    sku = models.CharField(max_length=50)
    distribution_center_id = models.IntegerField()
    update_type = models.CharField(max_length=20)
    requested = models.IntegerField(help_text="The Quantity sent.")
    available_quantity = models.IntegerField(help_text="The DC's AvailableQuantity after this write.")
    written_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["sandbox", "sku", "distribution_center_id"])]

    def __str__(self):
        return f"{self.sku} DC {self.distribution_center_id} = {self.available_quantity} at {self.written_at}"


class Order(models.Model):
    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="+")
    profile_id = models.BigIntegerField()
    site_id = models.IntegerField(default=0)
    site_name = models.CharField(max_length=100, blank=True)
    site_order_id = models.CharField(max_length=100)
    secondary_site_order_id = models.CharField(max_length=100, blank=True)
    seller_order_id = models.CharField(max_length=100, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    import_date_utc = models.DateTimeField()
    created_date_utc = models.DateTimeField()
    checkout_date_utc = models.DateTimeField(null=True, blank=True)
    payment_date_utc = models.DateTimeField(null=True, blank=True)
    shipping_date_utc = models.DateTimeField(null=True, blank=True)
    estimated_ship_date_utc = models.DateTimeField(null=True, blank=True)
    public_notes = models.TextField(blank=True)
    private_notes = models.TextField(blank=True)
    special_instructions = models.TextField(blank=True)
    total_price = models.DecimalField(**MONEY)
    total_tax_price = models.DecimalField(**MONEY)
    total_shipping_price = models.DecimalField(**MONEY)
    total_shipping_tax_price = models.DecimalField(**MONEY)
    total_insurance_price = models.DecimalField(**MONEY)
    total_gift_option_price = models.DecimalField(**MONEY)
    additional_cost_or_discount = models.DecimalField(**MONEY)
    promotion_code = models.CharField(max_length=100, blank=True)
    promotion_amount = models.DecimalField(**MONEY)
    checkout_status = models.CharField(max_length=30, default="Completed")
    payment_status = models.CharField(max_length=30, default="Cleared")
    shipping_status = models.CharField(max_length=30, default="Unshipped")
    buyer_user_id = models.CharField(max_length=100, blank=True)
    buyer_email_address = models.CharField(max_length=200, blank=True)
    payment_method = models.CharField(max_length=50, blank=True)
    payment_transaction_id = models.CharField(max_length=100, blank=True)
    shipping = models.JSONField(default=dict, blank=True)  # the address object, keys as in the API
    billing = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["sandbox", "created_date_utc"])]

    def __str__(self):
        return f"{self.site_order_id} ({self.id})"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product_id = models.BigIntegerField(null=True, blank=True)  # a plain number: orders outlive deleted products
    site_order_item_id = models.CharField(max_length=100, blank=True)
    site_listing_id = models.CharField(max_length=100, blank=True)
    sku = models.CharField(max_length=50)
    title = models.CharField(max_length=500, blank=True)
    quantity = models.IntegerField(default=1)
    unit_price = models.DecimalField(**MONEY)
    tax_price = models.DecimalField(**MONEY)
    shipping_price = models.DecimalField(**MONEY)
    shipping_tax_price = models.DecimalField(**MONEY)
    gift_message = models.CharField(max_length=500, blank=True)
    promotions = models.JSONField(default=list, blank=True)  # [{"Code", "Amount", "ShippingAmount"}]

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.sku} x {self.quantity}"


class OrderCustomField(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="custom_fields")
    field_id = models.IntegerField()
    value = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.field_id}={self.value}"


class OrderExport(models.Model):
    """The 'exported' flag belongs to the application, not the order."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="exports")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="exports")
    exported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "application"], name="ca_one_export_per_app")]

    def __str__(self):
        return f"{self.order} exported by {self.application}"


class Fulfillment(models.Model):
    """Every order is created with one (DeliveryStatus NoChange, holding all its units); shipping marks one
    shipped and leaves what is still to ship in an open one."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fulfillments")
    type = models.CharField(max_length=20, default="Ship")
    delivery_status = models.CharField(max_length=30, default="NoChange")
    tracking_number = models.CharField(max_length=100, blank=True)
    seller_fulfillment_id = models.CharField(max_length=100, blank=True)
    shipping_carrier = models.CharField(max_length=60, blank=True)
    shipping_class = models.CharField(max_length=60, blank=True)
    distribution_center_id = models.IntegerField(default=0)
    shipped_date_utc = models.DateTimeField(null=True, blank=True)
    created_date_utc = models.DateTimeField(auto_now_add=True)
    updated_date_utc = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.shipping_carrier} {self.shipping_class} {self.tracking_number}".strip()


class FulfillmentItem(models.Model):
    fulfillment = models.ForeignKey(Fulfillment, on_delete=models.CASCADE, related_name="items")
    order_item = models.ForeignKey(OrderItem, on_delete=models.CASCADE, related_name="fulfillment_items")
    quantity = models.IntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.order_item} x {self.quantity}"


class Adjustment(models.Model):
    """A refund or cancellation on an order (order_item empty) or on one line."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="adjustments")
    order_item = models.ForeignKey(OrderItem, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="adjustments")
    seller_adjustment_id = models.CharField(max_length=100, blank=True)
    type = models.CharField(max_length=20, default="Refund")  # Refund | Cancellation
    reason = models.CharField(max_length=40)
    comment = models.CharField(max_length=500, blank=True)
    quantity = models.IntegerField(default=0)
    item_adjustment = models.DecimalField(**MONEY)
    tax_adjustment = models.DecimalField(**MONEY)
    shipping_adjustment = models.DecimalField(**MONEY)
    shipping_tax_adjustment = models.DecimalField(**MONEY)
    request_status = models.CharField(max_length=30, default="Complete")
    restock_status = models.CharField(max_length=30, default="NotRestocked")
    rma_number = models.CharField(max_length=100, blank=True)
    return_tracking_number = models.CharField(max_length=200, blank=True)  # served as ReturnTrackingNumberOrUrl
    return_shipping_method = models.CharField(max_length=100, blank=True)
    return_shipping_fee = models.DecimalField(**MONEY)
    restocking_fee = models.DecimalField(**MONEY)
    site_adjustment_id = models.CharField(max_length=100, blank=True)  # the marketplace's id for a buyer's return
    created_source = models.CharField(max_length=20, default="Api")  # AdjustmentSource: Api | Channel | ...
    created_date_utc = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.type} {self.reason} on {self.order}"
