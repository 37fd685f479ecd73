"""Checks on request bodies, answering the profile's errors: a field path (`LineItems[2].SKU`), a stable code and
a plain message. Every check collects all problems of a body before failing, as a real API helps its callers.

Each `clean_*` function returns a dict of clean values (looked-up rows included) or raises ValidationFailed.
"""

import datetime
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils.dateparse import parse_date, parse_datetime

from sandbox.tims.models import (
    CUSTOM_FIELD_ENTITIES,
    CUSTOM_FIELD_TYPES,
    ORDER_STATUSES,
    PAYMENT_STATUSES,
    Customer,
    CustomFieldDefinition,
    Invoice,
    Item,
    Location,
    SalesOrder,
    Shipment,
)

# The documented maximum lengths (see docs/sandboxes/tims.md and openapi.json).
ADDRESS_MAX = {"Name": 100, "Company": 100, "Line1": 100, "Line2": 100, "City": 60, "State": 50, "PostalCode": 20,
               "Country": 2, "Phone": 30}
CUSTOMER_MAX = {"CustomerID": 20, "Name": 100, "Email": 254, "Phone": 30, "PriceLevel": 20}
ORDER_MAX = {"ExternalOrderID": 50, "ShippingMethod": 50, "CostCenter": 30, "ProjectCode": 30, "Location": 20,
             "Currency": 3}
ITEM_MAX = {"Description": 200, "UnitOfMeasure": 10}
SKU_MAX = 40
CUSTOM_FIELD_VALUE_MAX = 255
MAX_LINES = 500
MAX_QUANTITY = 1_000_000
PRICE_PLACES = 4  # unit prices and costs; every other amount has two places
MAX_TOTAL = Decimal("1000000000000")  # the stored amounts hold 12 digits before the point
DECIMAL_PATTERN = re.compile(r"^-?\d{1,12}(\.\d{1,8})?$")
WHOLE_NUMBER = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit() also accepts "²", which int() refuses
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
CUSTOMER_CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,19}$")
ALLOWED_NEW_ORDER_STATUSES = ("Open", "Processing", "OnHold")


class ValidationFailed(Exception):
    def __init__(self, errors, status=422):
        super().__init__(errors)
        self.errors = errors
        self.status = status


class Errors:
    def __init__(self):
        self.items = []

    def add(self, field, code, message):
        self.items.append({"field": field, "code": code, "message": message})

    def raise_if_any(self):
        if self.items:
            raise ValidationFailed(self.items)


def _path(prefix, key):
    return f"{prefix}.{key}" if prefix else key


def text(errors, data, key, max_length, prefix="", required=False):
    """A string field; returns "" when absent and not required."""
    path = _path(prefix, key)
    value = data.get(key)
    if value is None or value == "":
        if required:
            errors.add(path, "required", f"{key} is required.")
        return ""
    if not isinstance(value, str):
        errors.add(path, "invalid_type", f"{key} must be a string.")
        return ""
    if "\x00" in value:
        errors.add(path, "invalid_characters", f"{key} contains a NUL character.")
        return ""
    if len(value) > max_length:
        errors.add(path, "max_length", f"{key} is {len(value)} characters long; the maximum is {max_length}.")
        return ""
    return value


def decimal(errors, data, key, prefix="", required=False, minimum=Decimal("0"), places=2):
    """A decimal sent as a string such as "12.50". Amounts have at most two significant decimal places, unit
    prices four ("12.5000" is fine for an amount, "12.505" is not)."""
    path = _path(prefix, key)
    value = data.get(key)
    if value is None or value == "":
        if required:
            errors.add(path, "required", f"{key} is required.")
        return None
    amount = None
    if isinstance(value, str) and DECIMAL_PATTERN.match(value.strip()):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            amount = None
    if amount is None or amount != amount.quantize(Decimal(1).scaleb(-places)):
        errors.add(path, "invalid_decimal",
                   f'{key} must be a decimal string with at most {places} decimal places, such as "12.50".')
        return None
    if minimum is not None and amount < minimum:
        errors.add(path, "min_value", f"{key} must be at least {minimum}.")
        return None
    return amount


def integer(errors, data, key, prefix="", required=False, minimum=1, maximum=MAX_QUANTITY):
    path = _path(prefix, key)
    value = data.get(key)
    if value is None:
        if required:
            errors.add(path, "required", f"{key} is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "invalid_integer", f"{key} must be a whole number.")
        return None
    if minimum is not None and value < minimum:
        errors.add(path, "min_value", f"{key} must be at least {minimum}.")
        return None
    if maximum is not None and value > maximum:
        errors.add(path, "max_value", f"{key} must be at most {maximum}.")
        return None
    return value


def boolean(errors, data, key, prefix="", default=False):
    value = data.get(key, default)
    if not isinstance(value, bool):
        errors.add(_path(prefix, key), "invalid_type", f"{key} must be true or false.")
        return default
    return value


def choice(errors, data, key, choices, prefix="", default=None):
    value = data.get(key)
    if value is None:
        return default
    if value not in choices:
        errors.add(_path(prefix, key), "invalid_choice", f"{key} must be one of: {', '.join(choices)}.")
        return default
    return value


def parse_timestamp(value):
    """An aware datetime from ISO 8601 text with a zone; None for anything else, including well-formed text that
    names no real moment ("2026-02-30T10:00:00Z", hour 25) or one beyond what can be stored in UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
        if parsed is None or parsed.tzinfo is None:
            return None
        parsed.astimezone(datetime.UTC)
    except (ValueError, OverflowError):
        return None
    return parsed


def timestamp(errors, data, key, prefix=""):
    value = data.get(key)
    if value in (None, ""):
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        errors.add(_path(prefix, key), "invalid_datetime",
                   f"{key} must be a real date and time in ISO 8601 with a zone, such as 2026-01-31T12:00:00Z.")
    return parsed


def date(errors, data, key, prefix=""):
    value = data.get(key)
    if value in (None, ""):
        return None
    parsed = None
    if isinstance(value, str):
        try:
            parsed = parse_date(value)
        except ValueError:
            parsed = None
    if parsed is None:
        errors.add(_path(prefix, key), "invalid_date", f"{key} must be a date such as 2026-01-31.")
    return parsed


def obj(errors, data, key, prefix=""):
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add(_path(prefix, key), "invalid_type", f"{key} must be an object.")
        return None
    return value


def array(errors, data, key, prefix="", required=False, max_items=MAX_LINES):
    path = _path(prefix, key)
    value = data.get(key)
    if value is None or value == []:
        if required:
            errors.add(path, "required", f"{key} needs at least one entry.")
        return []
    if not isinstance(value, list):
        errors.add(path, "invalid_type", f"{key} must be a list.")
        return []
    if len(value) > max_items:
        errors.add(path, "max_items", f"{key} has {len(value)} entries; the maximum is {max_items}.")
        return []
    return value


def address(errors, data, key, prefix=""):
    """An address object; returns a dict with the profile's keys, or None when absent."""
    value = obj(errors, data, key, prefix)
    if value is None:
        return None
    return _address_fields(errors, value, _path(prefix, key))


def custom_fields(errors, sandbox, entity, data, prefix=""):
    """Values for custom fields defined with POST /custom-fields; naming an undefined one is an error."""
    value = obj(errors, data, "CustomFields", prefix)
    if value is None:
        return None
    definitions = {d.name: d.data_type for d in CustomFieldDefinition.objects.filter(sandbox=sandbox, entity=entity)}
    path = _path(prefix, "CustomFields")
    clean = {}
    for name, field_value in value.items():
        name = name.replace("\x00", "")
        field_path = f"{path}.{name}"
        data_type = definitions.get(name)
        if data_type is None:
            errors.add(field_path, "unknown_custom_field",
                       f"No custom field “{name}” is defined for {entity}; define it with POST /custom-fields.")
            continue
        if field_value is None:
            clean[name] = None
        elif not _custom_value_ok(data_type, field_value):
            errors.add(field_path, "invalid_value", f"{name} must be a {data_type}.")
        elif isinstance(field_value, str) and "\x00" in field_value:
            errors.add(field_path, "invalid_characters", f"{name} contains a NUL character.")
        elif isinstance(field_value, str) and len(field_value) > CUSTOM_FIELD_VALUE_MAX:
            errors.add(field_path, "max_length", f"{name} is longer than {CUSTOM_FIELD_VALUE_MAX} characters.")
        else:
            clean[name] = field_value
    return clean


def _custom_value_ok(data_type, value):
    if data_type == "string":
        return isinstance(value, str)
    if data_type == "number":
        return isinstance(value, str) and bool(DECIMAL_PATTERN.match(value)) or (
            isinstance(value, int | float) and not isinstance(value, bool))
    if data_type == "boolean":
        return isinstance(value, bool)
    if data_type == "date":
        try:
            return isinstance(value, str) and parse_date(value) is not None
        except ValueError:
            return False
    return False


def if_match_version(header):
    """The version an If-Match header names ("3", "\"3\"" or W/"3"); None when absent."""
    if header is None or header.strip() == "*":
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not WHOLE_NUMBER.fullmatch(value):
        raise ValidationFailed([{"field": "If-Match", "code": "invalid_header",
                                 "message": "If-Match must carry the record's Version, such as \"3\"."}], status=400)
    return int(value)


# --- per-resource checks ---

def clean_customer(sandbox, data, partial=False):
    errors = Errors()
    clean = {}
    if not partial:
        code = text(errors, data, "CustomerID", CUSTOMER_MAX["CustomerID"])
        if code and not CUSTOMER_CODE_PATTERN.match(code):
            errors.add("CustomerID", "invalid_format", "CustomerID uses capital letters, digits and dashes.")
        elif code and Customer.objects.filter(sandbox=sandbox, code=code).exists():
            raise ValidationFailed([{"field": "CustomerID", "code": "duplicate",
                                     "message": f"Customer {code} already exists."}], status=409)
        clean["code"] = code
    if not partial or "Name" in data:
        clean["name"] = text(errors, data, "Name", CUSTOMER_MAX["Name"], required=True)
    if "Email" in data:
        clean["email"] = text(errors, data, "Email", CUSTOMER_MAX["Email"])
        if clean["email"] and "@" not in clean["email"]:
            errors.add("Email", "invalid_email", "Email must be an e-mail address.")
    if "Phone" in data:
        clean["phone"] = text(errors, data, "Phone", CUSTOMER_MAX["Phone"])
    if "PriceLevel" in data:
        clean["price_level"] = text(errors, data, "PriceLevel", CUSTOMER_MAX["PriceLevel"])
    if "TaxExempt" in data:
        clean["tax_exempt"] = boolean(errors, data, "TaxExempt")
    if "BillingAddress" in data:
        clean["billing_address"] = address(errors, data, "BillingAddress") or {}
    if "ShippingAddresses" in data:
        entries = array(errors, data, "ShippingAddresses", max_items=20)
        clean["shipping_addresses"] = [_address_fields(errors, entry, f"ShippingAddresses[{index}]")
                                       for index, entry in enumerate(entries)]
    if "CustomFields" in data:
        clean["custom_fields"] = custom_fields(errors, sandbox, "customer", data) or {}
    errors.raise_if_any()
    return clean


def _address_fields(errors, entry, path):
    if not isinstance(entry, dict):
        errors.add(path, "invalid_type", "Each address must be an object.")
        return {}
    clean = {name: text(errors, entry, name, limit, prefix=path) for name, limit in ADDRESS_MAX.items()}
    for required in ("Line1", "City", "Country"):
        if not clean[required] and not any(e["field"] == f"{path}.{required}" for e in errors.items):
            errors.add(f"{path}.{required}", "required", f"{required} is required in an address.")
    return clean


def clean_item_patch(sandbox, data):
    errors = Errors()
    clean = {}
    if "Description" in data:
        clean["description"] = text(errors, data, "Description", ITEM_MAX["Description"], required=True)
    if "UnitPrice" in data:
        clean["unit_price"] = decimal(errors, data, "UnitPrice", required=True, places=PRICE_PLACES)
    if "Cost" in data:
        clean["cost"] = decimal(errors, data, "Cost", required=True, places=PRICE_PLACES)
    if "UnitOfMeasure" in data:
        clean["unit_of_measure"] = text(errors, data, "UnitOfMeasure", ITEM_MAX["UnitOfMeasure"], required=True)
    if "Active" in data:
        clean["active"] = boolean(errors, data, "Active")
    if "CustomFields" in data:
        clean["custom_fields"] = custom_fields(errors, sandbox, "item", data) or {}
    errors.raise_if_any()
    return clean


def _location(errors, sandbox, data, key, default_code):
    code = text(errors, data, key, ORDER_MAX["Location"]) or default_code
    location = Location.objects.filter(sandbox=sandbox, code=code).first()
    if location is None and not any(e["field"] == key for e in errors.items):
        errors.add(key, "unknown_location", f"No location “{code}”.")
    return location


def clean_sales_order(sandbox, data, default_location):
    errors = Errors()
    clean = {
        "external_order_id": text(errors, data, "ExternalOrderID", ORDER_MAX["ExternalOrderID"]),
        "shipping_method": text(errors, data, "ShippingMethod", ORDER_MAX["ShippingMethod"]),
        "cost_center": text(errors, data, "CostCenter", ORDER_MAX["CostCenter"]),
        "project_code": text(errors, data, "ProjectCode", ORDER_MAX["ProjectCode"]),
        "currency": text(errors, data, "Currency", ORDER_MAX["Currency"]) or "USD",
        "status": choice(errors, data, "OrderStatus", ALLOWED_NEW_ORDER_STATUSES, default="Open"),
        "payment_status": choice(errors, data, "PaymentStatus", PAYMENT_STATUSES, default="Unpaid"),
        "shipping_amount": decimal(errors, data, "ShippingAmount") or Decimal("0"),
        "shipping_address": address(errors, data, "ShippingAddress") or {},
        "billing_address": address(errors, data, "BillingAddress") or {},
        "order_date": timestamp(errors, data, "OrderDate"),
        "custom_fields": custom_fields(errors, sandbox, "sales_order", data) or {},
        "location": _location(errors, sandbox, data, "Location", default_location),
    }
    customer_code = text(errors, data, "CustomerID", CUSTOMER_MAX["CustomerID"], required=True)
    if customer_code:
        clean["customer"] = Customer.objects.filter(sandbox=sandbox, code=customer_code).first()
        if clean["customer"] is None:
            errors.add("CustomerID", "unknown_customer",
                       f"No customer “{customer_code}”; use the guest code for guest orders.")
    clean["lines"] = _order_lines(errors, sandbox, data)
    # The channel's total is kept as sent (it may include fees TIMS does not itemise); TIMS computes one only
    # when none is sent.
    total = decimal(errors, data, "TotalAmount")
    if not errors.items:
        computed = order_total(clean["lines"], clean["shipping_amount"])
        clean["total_amount"] = computed if total is None else total
        if computed >= MAX_TOTAL:
            errors.add("TotalAmount", "max_value", f"The order total must stay below {MAX_TOTAL}.")
    errors.raise_if_any()
    return clean


def _order_lines(errors, sandbox, data):
    entries = array(errors, data, "LineItems", required=True)
    skus = {entry.get("SKU") for entry in entries if isinstance(entry, dict) and isinstance(entry.get("SKU"), str)}
    items = {item.sku: item for item in Item.objects.filter(sandbox=sandbox, sku__in=skus)}
    lines = []
    for index, entry in enumerate(entries):
        path = f"LineItems[{index}]"
        if not isinstance(entry, dict):
            errors.add(path, "invalid_type", "Each line item must be an object.")
            continue
        sku = text(errors, entry, "SKU", SKU_MAX, prefix=path, required=True)
        item = items.get(sku)
        if sku and item is None:
            errors.add(f"{path}.SKU", "unknown_sku", f"No item with SKU “{sku}”.")
        elif item is not None and not item.active:
            errors.add(f"{path}.SKU", "inactive_sku", f"Item “{sku}” is inactive.")
        line = {
            "item": item,
            "quantity": integer(errors, entry, "Quantity", prefix=path, required=True),
            "price": decimal(errors, entry, "Price", prefix=path, required=True, places=PRICE_PLACES),
            "tax_amount": decimal(errors, entry, "TaxAmount", prefix=path) or Decimal("0"),
            "discount_amount": decimal(errors, entry, "DiscountAmount", prefix=path) or Decimal("0"),
        }
        if line["quantity"] is not None and line["price"] is not None:
            goods = line_amount(line)
            if line["discount_amount"] > goods:
                errors.add(f"{path}.DiscountAmount", "max_value",
                           f"DiscountAmount {line['discount_amount']} is more than the line's Quantity × Price "
                           f"({goods}).")
        lines.append(line)
    return lines


def line_amount(line):
    """Quantity × Price, rounded half-up to cents."""
    return (line["quantity"] * line["price"]).quantize(Decimal("0.01"), ROUND_HALF_UP)


def order_total(lines, shipping_amount):
    total = sum((line_amount(line) - line["discount_amount"] + line["tax_amount"] for line in lines), Decimal("0"))
    return (total + shipping_amount).quantize(Decimal("0.01"))


def clean_sales_order_patch(sandbox, data):
    errors = Errors()
    clean = {}
    if "OrderStatus" in data:
        clean["status"] = choice(errors, data, "OrderStatus", ORDER_STATUSES)
        if clean["status"] is None and "OrderStatus" not in {e["field"] for e in errors.items}:
            errors.add("OrderStatus", "required", "OrderStatus cannot be empty.")
    if "PaymentStatus" in data:
        clean["payment_status"] = choice(errors, data, "PaymentStatus", PAYMENT_STATUSES)
    for key, attribute in (("ShippingMethod", "shipping_method"), ("CostCenter", "cost_center"),
                           ("ProjectCode", "project_code"), ("ExternalOrderID", "external_order_id")):
        if key in data:
            clean[attribute] = text(errors, data, key, ORDER_MAX[key])
    if "ShippingAddress" in data:
        clean["shipping_address"] = address(errors, data, "ShippingAddress") or {}
    if "BillingAddress" in data:
        clean["billing_address"] = address(errors, data, "BillingAddress") or {}
    if "CustomFields" in data:
        clean["custom_fields"] = custom_fields(errors, sandbox, "sales_order", data) or {}
    for key in ("LineItems", "CustomerID", "Location"):
        if key in data:
            errors.add(key, "read_only", f"{key} cannot be changed after the order is entered.")
    errors.raise_if_any()
    return {key: value for key, value in clean.items() if value is not None}


def clean_adjustment(sandbox, data, default_location):
    errors = Errors()
    sku = text(errors, data, "SKU", SKU_MAX, required=True)
    item = Item.objects.filter(sandbox=sandbox, sku=sku).first() if sku else None
    if sku and item is None:
        errors.add("SKU", "unknown_sku", f"No item with SKU “{sku}”.")
    clean = {
        "item": item,
        "location": _location(errors, sandbox, data, "Location", default_location),
        "quantity": integer(errors, data, "Quantity", required=True, minimum=-MAX_QUANTITY),
        "reason_code": text(errors, data, "ReasonCode", 20, required=True),
        "reference": text(errors, data, "Reference", 100),
    }
    if clean["quantity"] == 0:
        errors.add("Quantity", "min_value", "Quantity is the change in stock and cannot be zero.")
    errors.raise_if_any()
    return clean


def _sales_order(errors, sandbox, data, key="SalesOrderID"):
    code = text(errors, data, key, 20, required=True)
    order = SalesOrder.objects.filter(sandbox=sandbox, code=code).first() if code else None
    if code and order is None:
        errors.add(key, "unknown_sales_order", f"No sales order “{code}”.")
    return order


def _currency_matches(errors, data, expected, what):
    """An optional Currency must be the document's own: TIMS does not convert."""
    currency = text(errors, data, "Currency", ORDER_MAX["Currency"])
    if currency and expected and currency.upper() != expected.upper():
        errors.add("Currency", "currency_mismatch", f"Currency {currency} is not the {what}'s currency, {expected}.")
    return currency.upper()


def clean_invoice(sandbox, data):
    """SalesOrderID, optional ShipmentID, InvoiceDate, Currency and Lines [{SKU, Quantity}] (None when absent:
    bill what remains). Quantities against what shipped and was ordered are operations.invoice's checks."""
    errors = Errors()
    order = _sales_order(errors, sandbox, data)
    clean = {"order": order, "invoice_date": date(errors, data, "InvoiceDate"), "shipment": None, "lines": None}
    shipment_code = text(errors, data, "ShipmentID", 20)
    if shipment_code:
        clean["shipment"] = Shipment.objects.filter(sandbox=sandbox, code=shipment_code).first()
        if clean["shipment"] is None or (order is not None and clean["shipment"].order_id != order.pk):
            errors.add("ShipmentID", "unknown_shipment", f"No shipment “{shipment_code}” of this sales order.")
    _currency_matches(errors, data, order.currency if order else "", "sales order")
    if data.get("Lines") is not None:
        entries = array(errors, data, "Lines", required=True)
        clean["lines"] = []
        for index, entry in enumerate(entries):
            path = f"Lines[{index}]"
            if not isinstance(entry, dict):
                errors.add(path, "invalid_type", "Each line must be an object with SKU and Quantity.")
                continue
            clean["lines"].append((text(errors, entry, "SKU", SKU_MAX, prefix=path, required=True),
                                   integer(errors, entry, "Quantity", prefix=path, required=True)))
    errors.raise_if_any()
    return clean


def clean_payment(sandbox, data):
    errors = Errors()
    code = text(errors, data, "InvoiceID", 20, required=True)
    # Locked so two payments on one invoice cannot both pass the balance check.
    invoice = Invoice.objects.select_for_update().filter(sandbox=sandbox, code=code).first() if code else None
    if code and invoice is None:
        errors.add("InvoiceID", "unknown_invoice", f"No invoice “{code}”.")
    clean = {
        "invoice": invoice,
        "amount": decimal(errors, data, "Amount", required=True, minimum=Decimal("0.01")),
        "method": text(errors, data, "Method", 30, required=True),
        "reference": text(errors, data, "Reference", 100),
        "received_at": timestamp(errors, data, "ReceivedAt"),
        "currency": _currency_matches(errors, data, invoice.currency if invoice else "", "invoice"),
    }
    if invoice is not None and clean["amount"] is not None and clean["amount"] > invoice.balance:
        errors.add("Amount", "exceeds_balance", f"Amount {clean['amount']} exceeds the balance {invoice.balance}.")
    errors.raise_if_any()
    return clean


RETURN_MAX = {"ExternalReturnID": 50, "Reason": 100}


def _money(errors, data, key, prefix=""):
    """An optional amount that may not be negative (422 negative) and has at most two places."""
    value = decimal(errors, data, key, prefix=prefix, minimum=None)
    if value is not None and value < 0:
        errors.add(_path(prefix, key), "negative", f"{key} cannot be negative.")
        return None
    return value


def returned_so_far(order):
    """{SKU: units already returned} by the order's earlier returns."""
    returned = {}
    for lines in order.returns.values_list("lines", flat=True):
        for line in lines:
            returned[line["SKU"]] = returned.get(line["SKU"], 0) + int(line.get("Quantity") or 0)
    return returned


def taken_off_bill(order):
    """{SKU: units} the order's returns took back before they were invoiced: TIMS never bills them."""
    taken = {}
    for lines in order.returns.values_list("lines", flat=True):
        for line in lines:
            if line.get("UninvoicedQuantity"):
                taken[line["SKU"]] = taken.get(line["SKU"], 0) + int(line["UninvoicedQuantity"])
    return taken


def not_yet_invoiced(order):
    """{SKU: units shipped that no invoice billed and no return took off the bill yet}."""
    left = {}
    for line in order.lines.select_related("item"):
        left[line.item.sku] = left.get(line.item.sku, 0) + line.shipped_quantity - line.invoiced_quantity
    for sku, units in taken_off_bill(order).items():
        left[sku] = left.get(sku, 0) - units
    return {sku: max(units, 0) for sku, units in left.items()}


def _unit_value(order_line):
    """What one unit of an order line bills: its price, less its discount, plus its tax, pro rata."""
    line_total = order_line.quantity * order_line.price - order_line.discount_amount + order_line.tax_amount
    return line_total / order_line.quantity if order_line.quantity else Decimal("0")


def _take_off_bill(order, lines, refund):
    """A return's units come first out of what shipped and is not invoiced yet: those are taken off the order's
    bill (Lines[].UninvoicedQuantity), and their share of the refund (the line's Amount pro rata, else what they
    would have billed) is no money back, since none was billed or collected. Returns that share."""
    left = not_yet_invoiced(order)
    order_lines = {}
    for order_line in order.lines.select_related("item").order_by("line_number"):
        order_lines.setdefault(order_line.item.sku, order_line)
    unbilled = Decimal("0")
    for line in lines:
        units = min(line["Quantity"] or 0, left.get(line["SKU"], 0))
        if units <= 0:
            continue
        left[line["SKU"]] -= units
        value = (Decimal(line["Amount"]) * units / line["Quantity"] if line["Amount"] is not None
                 else _unit_value(order_lines[line["SKU"]]) * units)
        share = min(value.quantize(Decimal("0.01"), ROUND_HALF_UP), refund - unbilled)  # never above the refund
        line["UninvoicedQuantity"], line["UninvoicedAmount"] = units, f"{share:.2f}"
        unbilled += share
    return unbilled


def refundable(order):
    """What is left to refund on an order: paid on its invoices (TotalAmount − Balance) minus already refunded."""
    paid = refunded = Decimal("0")
    for total, balance, given_back in order.invoices.values_list("total_amount", "balance", "refunded_amount"):
        paid += total - balance
        refunded += given_back
    return paid - refunded


def clean_return(sandbox, data):
    """SalesOrderID, ExternalReturnID (or ReturnID: the channel's own id), Lines [{SKU, Quantity, Reason,
    Restock, Amount?}], RefundAmount?, Currency?, ReturnDate?. Quantities are checked against what shipped minus
    what earlier returns took back, the refund against what was paid minus what was already refunded. The order
    row is locked, so two returns of one order cannot both pass these checks."""
    errors = Errors()
    code = text(errors, data, "SalesOrderID", 20, required=True)
    order = SalesOrder.objects.select_for_update().filter(sandbox=sandbox, code=code).first() if code else None
    if code and order is None:
        errors.add("SalesOrderID", "unknown_sales_order", f"No sales order “{code}”.")
    key = "ExternalReturnID" if data.get("ExternalReturnID") not in (None, "") else "ReturnID"
    external_id = text(errors, data, key, RETURN_MAX["ExternalReturnID"])
    if external_id and order is not None and order.returns.filter(external_return_id=external_id).exists():
        raise ValidationFailed([{"field": key, "code": "duplicate",
                                 "message": f"Order {order.code} already has return {external_id}; read it with "
                                            f"GET /returns?external_return_id={external_id}."}], status=409)
    entries = array(errors, data, "Lines", required=True)
    shipped, prices = {}, {}
    if order is not None:
        for line in order.lines.select_related("item"):
            shipped[line.item.sku] = shipped.get(line.item.sku, 0) + line.shipped_quantity
            prices.setdefault(line.item.sku, line.price)
    returned = returned_so_far(order) if order is not None else {}
    lines, wanted = [], {}
    for index, entry in enumerate(entries):
        path = f"Lines[{index}]"
        if not isinstance(entry, dict):
            errors.add(path, "invalid_type", "Each line must be an object.")
            continue
        sku = text(errors, entry, "SKU", SKU_MAX, prefix=path, required=True)
        quantity = integer(errors, entry, "Quantity", prefix=path, required=True)
        if order is not None and sku and sku not in shipped:
            errors.add(f"{path}.SKU", "not_on_order", f"SKU “{sku}” is not on order {order.code}.")
        elif order is not None and sku and quantity:
            wanted[sku] = wanted.get(sku, 0) + quantity
            left = shipped[sku] - returned.get(sku, 0)
            if wanted[sku] > left:
                errors.add(f"{path}.Quantity", "exceeds_shipped",
                           f"Order {order.code} has {max(left, 0)} of “{sku}” that can come back ({shipped[sku]} "
                           f"shipped, {returned.get(sku, 0)} already returned); {wanted[sku]} asked.")
        amount = _money(errors, entry, "Amount", prefix=path)
        lines.append({"SKU": sku, "Quantity": quantity,
                      "Reason": text(errors, entry, "Reason", RETURN_MAX["Reason"], prefix=path),
                      "Restock": boolean(errors, entry, "Restock", prefix=path),
                      "Amount": None if amount is None else f"{amount:.2f}"})
    refund = _money(errors, data, "RefundAmount")
    clean = {"order": order, "lines": lines, "external_return_id": external_id,
             "return_date": date(errors, data, "ReturnDate"),
             "currency": _currency_matches(errors, data, order.currency if order else "", "sales order")}
    if refund is None and "RefundAmount" not in {e["field"] for e in errors.items} and not errors.items:
        # Absent: the lines' Amounts when any line has one, else the goods at the order's unit prices.
        if any(line["Amount"] is not None for line in lines):
            refund = sum((Decimal(line["Amount"]) for line in lines if line["Amount"] is not None), Decimal("0"))
        else:
            refund = sum((prices[line["SKU"]] * line["Quantity"] for line in lines), Decimal("0"))
        refund = refund.quantize(Decimal("0.01"), ROUND_HALF_UP)
    unbilled = Decimal("0")
    if order is not None and refund is not None:
        if not errors.items:  # the lines are sound: which of their units were never billed
            unbilled = _take_off_bill(order, lines, refund)
        left = refundable(order)
        if refund - unbilled > left:
            not_billed = f" ({unbilled:.2f} of it is for goods not invoiced yet, taken off the bill)" if unbilled \
                else ""
            errors.add("RefundAmount", "exceeds_paid",
                       f"Refund {refund:.2f}{not_billed} is more than order {order.code} has left to refund: "
                       f"{max(left, 0):.2f} (paid on its invoices minus already refunded). Send RefundAmount "
                       "\"0.00\" to take goods back without a refund.")
    clean["refund_amount"] = refund
    clean["uninvoiced_amount"] = unbilled
    errors.raise_if_any()
    return clean


def clean_journal_entry(data, accounts):
    """`accounts`: {code: active} of the sandbox's chart; a line may only name an active account."""
    errors = Errors()
    entries = array(errors, data, "Lines", required=True)
    lines, debits, credits = [], Decimal("0"), Decimal("0")
    for index, entry in enumerate(entries):
        path = f"Lines[{index}]"
        if not isinstance(entry, dict):
            errors.add(path, "invalid_type", "Each line must be an object.")
            continue
        amounts = {}
        for key in ("Debit", "Credit"):
            value = decimal(errors, entry, key, prefix=path, minimum=None)
            if value is not None and value < 0:
                errors.add(f"{path}.{key}", "negative", f"{key} cannot be negative; post it on the other side.")
                value = None
            amounts[key] = value or Decimal("0")
        debit, credit = amounts["Debit"], amounts["Credit"]
        if debit and credit:
            errors.add(path, "debit_and_credit", "A line has either a Debit or a Credit, not both.")
        elif entry.get("Debit") in (None, "") and entry.get("Credit") in (None, ""):
            errors.add(path, "required", "A line needs a Debit or a Credit.")
        account = text(errors, entry, "Account", 20, prefix=path, required=True)
        if account and account not in accounts:
            errors.add(f"{path}.Account", "unknown_account", f"Account “{account}” is not in the chart of accounts.")
        elif account and not accounts[account]:
            errors.add(f"{path}.Account", "unknown_account", f"Account “{account}” is inactive; post to an active "
                       "account.")
        debits += debit
        credits += credit
        lines.append({"Account": account, "Debit": f"{debit:.2f}", "Credit": f"{credit:.2f}",
                      "Memo": text(errors, entry, "Memo", 200, prefix=path)})
    if len(entries) == 1:
        errors.add("Lines", "min_items", "A journal entry needs at least two lines.")
    if not errors.items and debits != credits:
        errors.add("Lines", "unbalanced", f"Debits ({debits:.2f}) must equal credits ({credits:.2f}).")
    clean = {"lines": lines, "date": date(errors, data, "Date") or datetime.date.today(),
             "reference": text(errors, data, "Reference", 100), "memo": text(errors, data, "Memo", 200)}
    errors.raise_if_any()
    return clean


def clean_custom_field(sandbox, data, entity_from_query):
    errors = Errors()
    entity = entity_from_query or data.get("Entity")
    if entity not in CUSTOM_FIELD_ENTITIES:
        errors.add("Entity", "invalid_choice", f"entity must be one of: {', '.join(CUSTOM_FIELD_ENTITIES)}.")
    name = text(errors, data, "Name", 40, required=True)
    if name and not NAME_PATTERN.match(name):
        errors.add("Name", "invalid_format", "Name starts with a letter and uses letters, digits and underscores.")
    clean = {"entity": entity, "name": name,
             "data_type": choice(errors, data, "DataType", CUSTOM_FIELD_TYPES, default="string"),
             "label": text(errors, data, "Label", 100)}
    errors.raise_if_any()
    if CustomFieldDefinition.objects.filter(sandbox=sandbox, entity=entity, name=name).exists():
        raise ValidationFailed([{"field": "Name", "code": "duplicate",
                                 "message": f"{entity} already has a custom field “{name}”."}], status=409)
    return clean
