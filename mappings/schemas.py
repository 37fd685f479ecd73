"""Target schemas (what the receiving system accepts) and the canonical source shapes we map from.

One place for required fields, types, max lengths and decimal scales, so validation, truncation and
suggestions all agree. Values are JSON-safe: decimals as strings, timestamps as ISO 8601 strings.
"""

from dataclasses import dataclass, field

ORDER_STATUSES = ("Open", "Processing", "Allocated", "PartiallyShipped", "Fulfilled", "Invoiced", "Closed",
                  "Cancelled", "OnHold")
PAYMENT_STATUSES = ("Unpaid", "PartiallyPaid", "Paid", "Refunded")


@dataclass(frozen=True)
class FieldSpec:
    type: str = "string"  # string, decimal, integer, boolean, datetime, date, enum, object, list, map
    required: bool = False
    max_length: int | None = None
    scale: int | None = None  # most digits after the decimal point
    choices: tuple = ()
    fields: dict = field(default_factory=dict)  # for object, and for the items of a list
    min_items: int = 0
    help: str = ""


def S(max_length=None, required=False, help=""):  # noqa: N802 - short constructors keep the tables readable
    return FieldSpec("string", required=required, max_length=max_length, help=help)


def D(scale=2, required=False, help=""):  # noqa: N802
    return FieldSpec("decimal", required=required, scale=scale, help=help)


TIMS_ADDRESS = {
    "Line1": S(100), "Line2": S(100), "City": S(60), "State": S(30), "PostalCode": S(20), "Country": S(2),
}

TIMS_SALES_ORDER = {
    "ExternalOrderID": S(50, required=True, help="The channel's order reference; the natural key against duplicates."),
    "CustomerID": S(20, required=True, help="TIMS customer code such as C000123."),
    "OrderDate": FieldSpec("datetime", required=True),
    "OrderStatus": FieldSpec("enum", required=True, choices=ORDER_STATUSES),
    "LineItems": FieldSpec("list", required=True, min_items=1, fields={
        "SKU": S(64, required=True),
        "Quantity": FieldSpec("integer", required=True),
        "Price": D(2, required=True),
        "TaxAmount": D(2),
        "DiscountAmount": D(2),
    }),
    "ShippingMethod": S(30),
    "ShippingAddress": FieldSpec("object", fields=TIMS_ADDRESS),
    "BillingAddress": FieldSpec("object", fields=TIMS_ADDRESS),
    "TotalAmount": D(2),
    "Currency": S(3, help="ISO 4217 code; TIMS invoices the order in it (USD when left out)."),
    "ShippingAmount": D(2, help="The freight TIMS bills on the order's first invoice."),
    "PaymentStatus": FieldSpec("enum", choices=PAYMENT_STATUSES),
    "CostCenter": S(20),
    "ProjectCode": S(20),
    "Location": S(20),
    "CustomFields": FieldSpec("map", max_length=255, help="Custom field name → text value (at most 255 characters)."),
}

TIMS_CUSTOMER = {
    "Name": S(100, required=True),
    "Email": S(254),
    "Phone": S(30),
    "BillingAddress": FieldSpec("object", fields=TIMS_ADDRESS),
    "TaxExempt": FieldSpec("boolean"),
    "PriceLevel": S(20),
    "CustomFields": FieldSpec("map", max_length=255),
}

CHANNELADVISOR_PRODUCT = {
    "Sku": S(50, required=True),
    "Title": S(255, required=True),
    "Brand": S(150),
    "Manufacturer": S(255),
    "MPN": S(50),
    "UPC": S(20),
    "EAN": S(20),
    "Cost": D(2),
    "RetailPrice": D(2),
    "Weight": D(3),
}

PRESTASHOP_PRODUCT = {
    "reference": S(64, required=True),
    "name": S(128, required=True),
    "description": S(21844),
    "price": D(6, required=True, help="Tax-excluded base price."),
    "wholesale_price": D(6),
    "weight": D(6),
    "ean13": S(13),
    "active": FieldSpec("boolean"),
}

CHANNEL_STOCK = {
    "SKU": S(64, required=True),
    "Quantity": FieldSpec("integer", required=True),
    "Location": S(20),
}

TARGET_SCHEMAS = {
    "tims_sales_order": ("TIMS sales order", TIMS_SALES_ORDER),
    "tims_customer": ("TIMS customer", TIMS_CUSTOMER),
    "channeladvisor_product": ("ChannelAdvisor product", CHANNELADVISOR_PRODUCT),
    "prestashop_product": ("PrestaShop product", PRESTASHOP_PRODUCT),
    "channel_stock": ("Channel stock", CHANNEL_STOCK),
}
TARGET_CHOICES = [(code, label) for code, (label, _) in TARGET_SCHEMAS.items()]

# Canonical source records: the paths of integrations/canonical.py's to_dict() forms (used for suggestions and
# for checking source paths). Money is {"amount": "10.5", "currency": "EUR"} or null, so its amount is
# `total.amount`; datetimes are aware ISO 8601 strings or null.
CANONICAL_MONEY = ["amount", "currency"]
CANONICAL_ADDRESS = ["first_name", "last_name", "company", "line1", "line2", "city", "state", "postal_code",
                     "country", "phone", "email", "source_id"]


def _money(name):
    return [f"{name}.{part}" for part in CANONICAL_MONEY]


CANONICAL_SOURCES = {
    "canonical_order": (
        "Canonical order",
        ["source", "source_id", "number", "currency", "status", "payment_status", "shipping_status", "ordered_at",
         "updated_at", *_money("total"), *_money("subtotal"), *_money("shipping"), *_money("tax"),
         *_money("discount"), "shipping_method", "payment_method", "notes", "version",
         "customer.source", "customer.source_id", "customer.email", "customer.first_name", "customer.last_name",
         "customer.company", "customer.phone", "customer.created_at", "customer.updated_at"]
        + [f"shipping_address.{name}" for name in CANONICAL_ADDRESS]
        + [f"billing_address.{name}" for name in CANONICAL_ADDRESS]
        + ["lines[].sku", "lines[].name", "lines[].quantity", *_money("lines[].unit_price"), *_money("lines[].tax"),
           *_money("lines[].discount"), "lines[].source_id"],
    ),
    "canonical_item": (
        "Canonical item (from TIMS)",
        ["source", "source_id", "sku", "name", "description", *_money("price"), *_money("cost"), "ean", "upc", "mpn",
         "brand", "unit_of_measure", "weight", "active", "updated_at"],
    ),
    "canonical_stock": (
        "Canonical stock level (from TIMS)",
        ["sku", "available", "source", "source_id", "location", "on_hand", "allocated", "updated_at"],
    ),
}
SOURCE_CHOICES = [(code, label) for code, (label, _) in CANONICAL_SOURCES.items()]


def schema_for(code):
    return TARGET_SCHEMAS[code][1]


def split_target(path):
    """'LineItems[].SKU' -> ['LineItems[]', 'SKU']; 'CustomFields.Deposit' -> ['CustomFields', 'Deposit']."""
    return [part for part in path.split(".") if part != ""] if path else []


def field_spec(schema, path):
    """The FieldSpec a target path lands on, or raise ValueError with a plain-words reason."""
    parts = split_target(path)
    if not parts:
        raise ValueError("the target field is empty")
    fields = schema
    spec = None
    for position, part in enumerate(parts):
        name, is_list = (part[:-2], True) if part.endswith("[]") else (part, False)
        if spec is not None and spec.type == "map":
            if position != len(parts) - 1 or is_list or not name:
                raise ValueError(f"“{path}”: a custom field name is one word after {parts[position - 1]}.")
            return FieldSpec("string", max_length=spec.max_length)
        if fields is None or name not in fields:
            known = ", ".join(fields or {})
            raise ValueError(f"“{name}” is not a field here; known fields: {known}.")
        spec = fields[name]
        if is_list and spec.type != "list":
            raise ValueError(f"“{name}” is not a list; drop the [].")
        if spec.type == "list" and not is_list and position != len(parts) - 1:
            raise ValueError(f"“{name}” is a list; write {name}[].")
        fields = spec.fields if spec.type in ("object", "list") else None
    if spec.type == "map":
        raise ValueError(f"“{path}” holds custom fields; write {path}.<name>.")
    if spec.type in ("object", "list"):
        raise ValueError(f"“{path}” is a group of fields; map its fields one by one.")
    return spec


def leaf_paths(schema, prefix=""):
    """Every mappable target path of a schema, e.g. 'ShippingAddress.City', 'LineItems[].SKU'."""
    paths = []
    for name, spec in schema.items():
        if spec.type == "object":
            paths += leaf_paths(spec.fields, f"{prefix}{name}.")
        elif spec.type == "list":
            paths += leaf_paths(spec.fields, f"{prefix}{name}[].")
        elif spec.type != "map":
            paths.append(f"{prefix}{name}")
    return paths
