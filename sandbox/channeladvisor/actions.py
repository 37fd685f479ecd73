"""What the write endpoints do: validate a JSON body, then ship, adjust, export, create or update. Views stay thin;
every bad value raises Invalid (answered 400), so bad input never reaches the database as a 500."""

import secrets
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from sandbox import core
from sandbox.channeladvisor import models as m
from sandbox.channeladvisor.resources import (
    ADDRESS_PARTS,
    PRODUCT_READ_ONLY,
    PRODUCT_WRITABLE,
    full_order_json,
)

SYSTEM = "channeladvisor"
WEBHOOK_EVENT = "order.payment_cleared"
MAX_MONEY = Decimal("99999999999")  # 11 digits: still fits 14 digits after rounding
MAX_INT32 = 2**31 - 1


class Invalid(Exception):
    """A request the client must fix (400)."""


# --- reading values out of a JSON body ---

def unwrap_value(body, required=True):
    """Action bodies are {"Value": {...}}; the flat form is accepted where `required` is False."""
    if isinstance(body, dict) and "Value" in body:
        body = body["Value"]
    elif required:
        raise Invalid("The request body must be an object with a 'Value' property.")
    if not isinstance(body, dict):
        raise Invalid("'Value' must be a JSON object.")
    return body


def text(data, name, max_length, required=False, default=""):
    value = data.get(name)
    if value is None:
        if required:
            raise Invalid(f"'{name}' is required.")
        return default
    if not isinstance(value, str):
        raise Invalid(f"'{name}' must be a string.")
    if "\x00" in value:
        raise Invalid(f"'{name}' cannot contain NUL characters.")
    if len(value) > max_length:
        raise Invalid(f"'{name}' is longer than {max_length} characters.")
    if required and not value.strip():
        raise Invalid(f"'{name}' is required.")
    return value


def decimal_value(data, name, default=None, minimum=None):
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid(f"'{name}' must be a number.")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise Invalid(f"'{name}' must be a number.") from None
    if not number.is_finite() or abs(number) > MAX_MONEY:
        raise Invalid(f"'{name}' is out of range.")
    if minimum is not None and number < minimum:
        raise Invalid(f"'{name}' must be at least {minimum}.")
    return number.quantize(Decimal("0.001"))


def int_value(data, name, default=None, minimum=None, maximum=MAX_INT32):
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise Invalid(f"'{name}' must be a whole number.")
    if (minimum is not None and value < minimum) or value > maximum:
        raise Invalid(f"'{name}' is out of range.")
    return value


def enum_value(data, name, choices, default=None):
    value = data.get(name)
    if value is None:
        if default is None:
            raise Invalid(f"'{name}' is required.")
        return default
    match = {choice.lower(): choice for choice in choices}.get(str(value).lower())
    if match is None:
        raise Invalid(f"'{value}' is not a valid value for '{name}'; use one of {', '.join(choices)}.")
    return match


def datetime_value(data, name, default=None):
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise Invalid(f"'{name}' must be an ISO 8601 date and time.")
    try:
        parsed = datetime.fromisoformat(value)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise Invalid(f"'{name}' must be an ISO 8601 date and time, not '{value[:40]}'.") from None


def list_value(data, name):
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 500:
        raise Invalid(f"'{name}' must be a list of at most 500 entries.")
    return value


# --- orders: export flag ---

def set_exported(order, application, exported):
    if exported:
        m.OrderExport.objects.get_or_create(order=order, application=application)
    else:
        m.OrderExport.objects.filter(order=order, application=application).delete()


# --- orders: shipping ---

def open_quantities(order):
    """Units per order item not yet fulfilled nor cancelled: {item: quantity}."""
    items = list(order.items.all())
    fulfilled = dict(m.FulfillmentItem.objects.filter(order_item__order=order)
                     .values_list("order_item").annotate(total=Sum("quantity")))
    cancelled = dict(m.Adjustment.objects.filter(order=order, type="Cancellation", order_item__isnull=False)
                     .values_list("order_item").annotate(total=Sum("quantity")))
    return {item: max(item.quantity - fulfilled.get(item.id, 0) - cancelled.get(item.id, 0), 0) for item in items}


def shipment_details(sandbox, value):
    carrier = text(value, "ShippingCarrier", 60)
    shipping_class = text(value, "ShippingClass", 60)
    known = m.CarrierClass.objects.filter(sandbox=sandbox, carrier__iexact=carrier,
                                          shipping_class__iexact=shipping_class).first()
    if not carrier or not shipping_class or known is None:
        raise Invalid("Carrier and Class is invalid.")
    return {
        "shipping_carrier": known.carrier, "shipping_class": known.shipping_class,
        "tracking_number": text(value, "TrackingNumber", 100),
        "delivery_status": enum_value(value, "DeliveryStatus", m.DELIVERY_STATUSES, default="Complete"),
        "distribution_center_id": int_value(value, "DistributionCenterID", default=0, minimum=0),
        "shipped_date_utc": datetime_value(value, "ShippedDateUtc", default=timezone.now()),
    }


@transaction.atomic
def ship_order(order, body):
    """Orders(ID)/Ship: one fulfillment for every unit still open; the order becomes Shipped."""
    value = unwrap_value(body)
    details = shipment_details(order.sandbox, value)
    order = m.Order.objects.select_for_update().get(pk=order.pk)
    if order.shipping_status == "Canceled":
        raise Invalid("The order is canceled and cannot be shipped.")
    remaining = {item: qty for item, qty in open_quantities(order).items() if qty > 0}
    if remaining:
        fulfillment = m.Fulfillment.objects.create(order=order, type="Ship", **details)
        m.FulfillmentItem.objects.bulk_create([m.FulfillmentItem(fulfillment=fulfillment, order_item=item, quantity=qty)
                                               for item, qty in remaining.items()])
    order.shipping_status = "Shipped"
    order.shipping_date_utc = details["shipped_date_utc"]
    order.save(update_fields=["shipping_status", "shipping_date_utc"])


@transaction.atomic
def create_fulfillment(sandbox, body):
    """POST Fulfillments: a (partial) shipment of chosen lines; the order becomes PartiallyShipped or Shipped."""
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.")
    order_id = int_value(body, "OrderID", minimum=1, maximum=2**63 - 1)
    order = m.Order.objects.select_for_update().filter(sandbox=sandbox, pk=order_id or 0).first()
    if order is None:
        raise Invalid(f"Order {order_id} was not found.")
    details = shipment_details(sandbox, body)
    details["type"] = enum_value(body, "Type", m.FULFILLMENT_TYPES, default="Ship")
    remaining = {item.id: (item, qty) for item, qty in open_quantities(order).items()}
    lines = []
    for entry in list_value(body, "Items"):
        if not isinstance(entry, dict):
            raise Invalid("Each entry of 'Items' must be an object.")
        item_id = int_value(entry, "OrderItemID", minimum=1, maximum=2**63 - 1)
        quantity = int_value(entry, "Quantity", minimum=1)
        if item_id not in remaining or quantity is None:
            raise Invalid(f"Order item {item_id} is not an open line of order {order.id}.")
        item, left = remaining[item_id]
        if quantity > left:
            raise Invalid(f"Only {left} unit(s) of order item {item_id} are left to fulfill.")
        remaining[item_id] = (item, left - quantity)
        lines.append(m.FulfillmentItem(order_item=item, quantity=quantity))
    if not lines:
        raise Invalid("'Items' must name at least one order item and quantity.")
    fulfillment = m.Fulfillment.objects.create(order=order, **details)
    for line in lines:
        line.fulfillment = fulfillment
    m.FulfillmentItem.objects.bulk_create(lines)
    left_over = any(left for _, left in remaining.values())
    order.shipping_status = "PartiallyShipped" if left_over else "Shipped"
    order.shipping_date_utc = details["shipped_date_utc"]
    order.save(update_fields=["shipping_status", "shipping_date_utc"])
    return fulfillment


# --- orders: refunds and cancellations ---

def adjustment_fields(value):
    return {
        "reason": enum_value(value, "Reason", m.ADJUSTMENT_REASONS),
        "seller_adjustment_id": text(value, "SellerAdjustmentID", 100),
        "comment": text(value, "Comment", 500),
        "quantity": int_value(value, "Quantity", default=0, minimum=0),
        "item_adjustment": decimal_value(value, "ItemAdjustment", Decimal(0), minimum=0),
        "tax_adjustment": decimal_value(value, "TaxAdjustment", Decimal(0), minimum=0),
        "shipping_adjustment": decimal_value(value, "ShippingAdjustment", Decimal(0), minimum=0),
        "shipping_tax_adjustment": decimal_value(value, "ShippingTaxAdjustment", Decimal(0), minimum=0),
    }


def _already_done(order, fields):
    """A repeated SellerAdjustmentID is the same adjustment sent again: nothing new happens."""
    return bool(fields["seller_adjustment_id"]) and m.Adjustment.objects.filter(
        order=order, seller_adjustment_id=fields["seller_adjustment_id"]).exists()


def _kind(order, reason):
    return "Cancellation" if reason in m.CANCEL_REASONS and order.shipping_status != "Shipped" else "Refund"


def _restock(reason, quantity):
    return "Restocked" if reason == "CustomerReturnedItem" and quantity else "NotRestocked"


def _cancel_if_nothing_left(order):
    if not any(open_quantities(order).values()) and not order.fulfillments.exists():
        order.shipping_status = "Canceled"
        order.save(update_fields=["shipping_status"])


@transaction.atomic
def adjust_item(item, body):
    """OrderItems(ID)/Adjust."""
    value = unwrap_value(body, required=False)
    fields = adjustment_fields(value)
    order = m.Order.objects.select_for_update().get(pk=item.order_id)
    if _already_done(order, fields):
        return
    amounts = (fields["item_adjustment"], fields["tax_adjustment"], fields["shipping_adjustment"],
               fields["shipping_tax_adjustment"])
    if not fields["quantity"] and not any(amounts):
        raise Invalid("An adjustment needs a Quantity or an amount.")
    kind = _kind(order, fields["reason"])
    if kind == "Cancellation" and fields["quantity"] > open_quantities(order).get(item, 0):
        raise Invalid(f"Only {open_quantities(order).get(item, 0)} unit(s) of this item can be cancelled.")
    if fields["quantity"] > item.quantity:
        raise Invalid(f"Quantity cannot exceed the {item.quantity} unit(s) ordered.")
    m.Adjustment.objects.create(order=order, order_item=item, type=kind,
                                restock_status=_restock(fields["reason"], fields["quantity"]), **fields)
    if kind == "Cancellation":
        _cancel_if_nothing_left(order)


@transaction.atomic
def adjust_order(order, body):
    """Orders(ID)/Adjust: a cancellation reason with no amounts cancels every open unit; otherwise an
    order-level refund of the amounts given."""
    value = unwrap_value(body, required=False)
    fields = adjustment_fields(value)
    order = m.Order.objects.select_for_update().get(pk=order.pk)
    if _already_done(order, fields):
        return
    amounts = (fields["item_adjustment"], fields["tax_adjustment"], fields["shipping_adjustment"],
               fields["shipping_tax_adjustment"])
    kind = _kind(order, fields["reason"])
    if kind == "Cancellation" and not any(amounts):
        for item, quantity in open_quantities(order).items():
            if quantity:
                m.Adjustment.objects.create(order=order, order_item=item, type=kind, reason=fields["reason"],
                                            seller_adjustment_id=fields["seller_adjustment_id"],
                                            comment=fields["comment"], quantity=quantity,
                                            item_adjustment=item.unit_price * quantity,
                                            tax_adjustment=item.tax_price)
        _cancel_if_nothing_left(order)
        return
    if not any(amounts):
        raise Invalid("An order adjustment needs an amount (ItemAdjustment, TaxAdjustment or ShippingAdjustment).")
    m.Adjustment.objects.create(order=order, type=kind, restock_status="NotRestocked", **fields)


# --- orders: creation (for demos and tests; ChannelAdvisor imports them from marketplaces) ---

def address_from(data, prefix):
    return {part: text(data, prefix + part, 200) for part in ADDRESS_PARTS if data.get(prefix + part) is not None}


@transaction.atomic
def create_order(sandbox, config, body):
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.")
    now = timezone.now()
    payment_status = enum_value(body, "PaymentStatus", m.PAYMENT_STATUSES, default="Cleared")
    order = m.Order.objects.create(
        sandbox=sandbox, profile_id=config.profile_id, site_id=int_value(body, "SiteID", 0, minimum=0),
        site_name=text(body, "SiteName", 100, default="ChannelAdvisor Sandbox"),
        site_order_id=text(body, "SiteOrderID", 100) or f"SB-{secrets.token_hex(5).upper()}",
        secondary_site_order_id=text(body, "SecondarySiteOrderID", 100),
        seller_order_id=text(body, "SellerOrderID", 100), currency=text(body, "Currency", 3, default="USD"),
        import_date_utc=now, created_date_utc=datetime_value(body, "CreatedDateUtc", now),
        checkout_date_utc=datetime_value(body, "CheckoutDateUtc", now),
        payment_date_utc=datetime_value(body, "PaymentDateUtc", now if payment_status == "Cleared" else None),
        total_tax_price=decimal_value(body, "TotalTaxPrice", Decimal(0), minimum=0),
        total_shipping_price=decimal_value(body, "TotalShippingPrice", Decimal(0), minimum=0),
        promotion_code=text(body, "PromotionCode", 100),
        promotion_amount=decimal_value(body, "PromotionAmount", Decimal(0)),
        checkout_status=enum_value(body, "CheckoutStatus", m.CHECKOUT_STATUSES, default="Completed"),
        payment_status=payment_status,
        shipping_status=enum_value(body, "ShippingStatus", m.SHIPPING_STATUSES, default="Unshipped"),
        buyer_user_id=text(body, "BuyerUserId", 100), buyer_email_address=text(body, "BuyerEmailAddress", 200),
        payment_method=text(body, "PaymentMethod", 50), payment_transaction_id=text(body, "PaymentTransactionID", 100),
        shipping=address_from(body, "Shipping"), billing=address_from(body, "Billing"),
    )
    items = list_value(body, "Items")
    if not items:
        raise Invalid("An order needs at least one entry in 'Items'.")
    subtotal = Decimal(0)
    for entry in items:
        if not isinstance(entry, dict):
            raise Invalid("Each entry of 'Items' must be an object.")
        sku = text(entry, "Sku", 50, required=True)
        quantity = int_value(entry, "Quantity", 1, minimum=1, maximum=100000)
        unit_price = decimal_value(entry, "UnitPrice", Decimal(0), minimum=0)
        product = m.Product.objects.filter(sandbox=sandbox, sku=sku).first()
        m.OrderItem.objects.create(order=order, sku=sku, quantity=quantity, unit_price=unit_price,
                                   product_id=product.id if product else None,
                                   title=text(entry, "Title", 500, default=product.title if product else sku),
                                   tax_price=decimal_value(entry, "TaxPrice", Decimal(0), minimum=0),
                                   site_order_item_id=text(entry, "SiteOrderItemID", 100))
        subtotal += unit_price * quantity
    order.total_price = (subtotal + order.total_tax_price + order.total_shipping_price
                         - abs(order.promotion_amount))
    if abs(order.total_price) > MAX_MONEY:
        raise Invalid("The order total is out of range.")
    order.save(update_fields=["total_price"])
    announce_if_paid(order)
    return order


def announce_if_paid(order):
    """Webhook subscribers hear of every new order whose payment cleared; the payload is the whole order."""
    if order.payment_status == "Cleared":
        core.queue_webhook(order.sandbox, SYSTEM, WEBHOOK_EVENT, full_order_json(order))


# --- products ---

def apply_product_fields(product, body):
    """Set the writable properties present in `body`; read-only ones are ignored, unknown ones refused."""
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.")
    for name in body:
        if name in PRODUCT_WRITABLE:
            column, kind, max_length = PRODUCT_WRITABLE[name]
            if kind == "str":
                value = text(body, name, max_length)
            elif kind == "decimal":
                value = decimal_value(body, name)
            elif kind == "int":
                value = int_value(body, name, minimum=0, maximum=2**63 - 1)
            else:
                value = body[name]
                if value is not None and not isinstance(value, bool):
                    raise Invalid(f"'{name}' must be true or false.")
                value = bool(value)
            setattr(product, column, value)
        elif name == "Attributes":
            product.attributes = [{"Name": text(row, "Name", 200, required=True), "Value": text(row, "Value", 4000)}
                                  for row in _objects(body, name)]
        elif name == "Images":
            product.images = [{"PlacementName": text(row, "PlacementName", 50, required=True),
                               "Url": text(row, "Url", 2000, required=True)} for row in _objects(body, name)]
        elif name == "Labels":
            labels = list_value(body, name)
            if not all(isinstance(label, str) and 0 < len(label) <= 100 and "\x00" not in label for label in labels):
                raise Invalid("'Labels' must be a list of names.")
            product.labels = labels
        elif name not in PRODUCT_READ_ONLY and not name.startswith("@odata"):
            raise Invalid(f"The property '{name}' does not exist on type 'ChannelAdvisor.RestAPI.v1.Product'. "
                          f"Make sure to only use property names that are defined by the type.")
    if not (product.sku or "").strip():
        raise Invalid("'Sku' is required.")
    product.update_date_utc = timezone.now()


def _objects(body, name):
    rows = list_value(body, name)
    if not all(isinstance(row, dict) for row in rows):
        raise Invalid(f"Each entry of '{name}' must be an object.")
    return rows


def save_product(product):
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError:
        raise Invalid(f"A product with Sku '{product.sku}' already exists.") from None


def create_product(sandbox, config, body):
    product = m.Product(sandbox=sandbox, profile_id=config.profile_id)
    apply_product_fields(product, body)
    save_product(product)
    return product


def open_order_units(product):
    """Units of the product's SKU in orders not yet shipped or cancelled."""
    return (m.OrderItem.objects.filter(order__sandbox=product.sandbox, sku=product.sku,
                                       order__shipping_status__in=["Unshipped", "PendingShipment",
                                                                   "PartiallyShipped"])
            .aggregate(total=Sum("quantity"))["total"] or 0)


@transaction.atomic
def update_quantity(product, body):
    """Products(ID)/UpdateQuantity. Absolute and Available set a DC's available units, Relative adds to them;
    InStock and UnShipped give units on hand, of which those in open orders are not available."""
    value = unwrap_value(body)
    update_type = enum_value(value, "UpdateType", m.QUANTITY_UPDATE_TYPES)
    updates = list_value(value, "Updates")
    if not updates:
        raise Invalid("'Updates' must list at least one DistributionCenterID and Quantity.")
    product = m.Product.objects.select_for_update().get(pk=product.pk)
    reserved = open_order_units(product) if update_type in ("InStock", "UnShipped") else 0
    for entry in updates:
        if not isinstance(entry, dict):
            raise Invalid("Each entry of 'Updates' must be an object.")
        dc_id = int_value(entry, "DistributionCenterID", minimum=0)
        quantity = int_value(entry, "Quantity", minimum=-MAX_INT32 if update_type == "Relative" else 0)
        if dc_id is None or quantity is None:
            raise Invalid("Each update needs a DistributionCenterID and a Quantity.")
        row, _ = m.DCQuantity.objects.get_or_create(product=product, distribution_center_id=dc_id)
        if update_type == "Relative":
            row.available_quantity = max(row.available_quantity + quantity, 0)
        elif update_type in ("InStock", "UnShipped"):
            row.available_quantity = max(quantity - reserved, 0)
            reserved = max(reserved - quantity, 0)
        else:
            row.available_quantity = quantity
        row.available_quantity = min(row.available_quantity, MAX_INT32)
        row.save()
    total = product.dc_quantities.aggregate(total=Sum("available_quantity"))["total"] or 0
    product.total_available_quantity = min(total, MAX_INT32)
    product.total_quantity = min(total + open_order_units(product), MAX_INT32)
    product.quantity_update_date_utc = product.update_date_utc = timezone.now()
    product.save()
