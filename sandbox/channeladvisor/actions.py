"""What the write endpoints do: validate a JSON body, then ship, adjust, export, create or update. Views stay thin;
every bad value raises Invalid (answered 400), so bad input never reaches the database as a 500."""

import secrets
from collections import Counter
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from sandbox import core
from sandbox.channeladvisor import models as m
from sandbox.channeladvisor.resources import (
    ADDRESS_PARTS,
    PRODUCT_READ_ONLY,
    PRODUCT_WRITABLE,
    adjustment_json,
    full_order_json,
    order_json,
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


# --- orders: fulfillments and shipping ---
#
# ChannelAdvisor creates every order with a default fulfillment (DeliveryStatus NoChange) holding all its units.
# A unit is in exactly one fulfillment: an open one (still to ship), a shipped one, or a canceled one. Shipping
# marks the oldest open fulfillment shipped with exactly the units sent; what it held besides goes back to an open
# fulfillment (a new one when none is left), so the fulfillment a caller read before shipping is the shipped one.

def _cancelled_units(order):
    """Units cancelled per item id: by item-level Cancellations, and in fulfillments a whole-order one canceled."""
    cancelled = Counter(dict(m.Adjustment.objects.filter(order=order, type="Cancellation", order_item__isnull=False)
                             .values_list("order_item").annotate(total=Sum("quantity"))))
    cancelled.update(dict(m.FulfillmentItem.objects.filter(fulfillment__order=order,
                                                           fulfillment__delivery_status="Canceled")
                          .values_list("order_item").annotate(total=Sum("quantity"))))
    return cancelled


def _placed_rows(order):
    return list(m.FulfillmentItem.objects.filter(fulfillment__order=order).select_related("fulfillment")
                .order_by("fulfillment_id", "id"))


def unit_counts(order):
    """(items, shipped, to_ship, cancelled): the order's items and, per item id, its units in shipped
    fulfillments, still to ship, and cancelled by adjustments."""
    items = list(order.items.all())
    shipped = Counter()
    for row in _placed_rows(order):
        if row.fulfillment.delivery_status in m.SHIPPED_DELIVERY_STATUSES:
            shipped[row.order_item_id] += row.quantity
    cancelled = _cancelled_units(order)
    to_ship = {item.id: max(item.quantity - shipped[item.id] - cancelled[item.id], 0) for item in items}
    return items, shipped, to_ship, cancelled


def open_quantities(order):
    """Units per order item still to ship (neither shipped nor cancelled): {item: quantity}."""
    items, _, to_ship, _ = unit_counts(order)
    return {item: to_ship[item.id] for item in items}


def _set_quantity(row, quantity):
    if quantity <= 0:
        row.delete()
    elif row.quantity != quantity:
        row.quantity = quantity
        row.save(update_fields=["quantity"])


def add_default_fulfillment(order, items, delivery_status="NoChange"):
    """The fulfillment ChannelAdvisor creates with every order, holding all of its units."""
    fulfillment = m.Fulfillment.objects.create(order=order, delivery_status=delivery_status)
    m.FulfillmentItem.objects.bulk_create([m.FulfillmentItem(fulfillment=fulfillment, order_item=item,
                                                             quantity=item.quantity) for item in items])
    return fulfillment


def settle(order):
    """Put the units still to ship into open fulfillments (the oldest open one takes what the others do not
    hold; one is created when none is open) and derive the order's ShippingStatus from where the units are."""
    items, shipped, to_ship, cancelled = unit_counts(order)
    rows = [row for row in _placed_rows(order) if row.fulfillment.delivery_status in m.OPEN_DELIVERY_STATUSES]
    open_fulfillments = list(order.fulfillments.filter(delivery_status__in=m.OPEN_DELIVERY_STATUSES).order_by("id"))
    primary = open_fulfillments[0] if open_fulfillments else None
    held = Counter()
    for row in rows:  # the other open fulfillments keep what they hold, up to what is still to ship
        if row.fulfillment_id != getattr(primary, "id", None):
            keep = min(row.quantity, to_ship.get(row.order_item_id, 0) - held[row.order_item_id])
            _set_quantity(row, keep)
            held[row.order_item_id] += max(keep, 0)
    rest = {item.id: to_ship[item.id] - held[item.id] for item in items}
    if primary is None and any(rest.values()):
        primary = m.Fulfillment.objects.create(order=order, delivery_status="NoChange")
    if primary is not None:
        seen = set()
        for row in rows:
            if row.fulfillment_id == primary.id:
                _set_quantity(row, 0 if row.order_item_id in seen else rest.get(row.order_item_id, 0))
                seen.add(row.order_item_id)
        m.FulfillmentItem.objects.bulk_create([m.FulfillmentItem(fulfillment=primary, order_item_id=item_id,
                                                                 quantity=quantity)
                                               for item_id, quantity in rest.items()
                                               if quantity > 0 and item_id not in seen])
    order.shipping_status = _derived_status(order.shipping_status, sum(shipped.values()), sum(to_ship.values()),
                                            sum(cancelled.values()))
    order.save(update_fields=["shipping_status", "shipping_date_utc"])


def _derived_status(current, shipped, to_ship, cancelled):
    if shipped:
        return "PartiallyShipped" if to_ship else "Shipped"
    if cancelled and not to_ship:
        return "Canceled"
    return "Unshipped" if current in ("Shipped", "PartiallyShipped") else current


def carrier_class(sandbox, carrier, shipping_class):
    """The account's spelling of a known carrier/class pair, else Invalid (ChannelAdvisor's own words)."""
    known = m.CarrierClass.objects.filter(sandbox=sandbox, carrier__iexact=carrier,
                                          shipping_class__iexact=shipping_class).first()
    if not carrier or not shipping_class or known is None:
        raise Invalid("Carrier and Class is invalid.")
    return known.carrier, known.shipping_class


def shipment_details(sandbox, value):
    """The shipment fields of an Orders(ID)/Ship Value: a known carrier/class and a DeliveryStatus that ships."""
    carrier, shipping_class = carrier_class(sandbox, text(value, "ShippingCarrier", 60),
                                            text(value, "ShippingClass", 60))
    status = enum_value(value, "DeliveryStatus", m.DELIVERY_STATUSES, default="Complete")
    if status not in m.SHIPPED_DELIVERY_STATUSES:
        raise Invalid(f"DeliveryStatus '{status}' does not ship anything; use one of "
                      f"{', '.join(sorted(m.SHIPPED_DELIVERY_STATUSES))} (cancel through Orders(ID)/Adjust).")
    return {
        "shipping_carrier": carrier, "shipping_class": shipping_class,
        "tracking_number": text(value, "TrackingNumber", m.TRACKING_NUMBER_MAX_LENGTH),
        "seller_fulfillment_id": text(value, "SellerFulfillmentID", 100),
        "delivery_status": status,
        "distribution_center_id": int_value(value, "DistributionCenterID", default=0, minimum=0),
        "shipped_date_utc": datetime_value(value, "ShippedDateUtc", default=timezone.now()),
    }


def _locked(order):
    return m.Order.objects.select_for_update().get(pk=order.pk)


def _refuse_if_canceled(order):
    if order.shipping_status == "Canceled":
        raise Invalid(f"Order {order.id} is canceled and cannot be shipped.")


def _wanted_units(order, entries, to_ship):
    """Orders(ID)/Ship 'Items' → {item: units}; each entry names an OrderItemID (or a Sku) and a Quantity."""
    if not entries:
        raise Invalid("'Items' must list at least one OrderItemID and Quantity to ship.")
    items = list(order.items.all())
    by_id = {item.id: item for item in items}
    wanted = Counter()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise Invalid("Each entry of 'Items' must be an object.")
        quantity = int_value(entry, "Quantity", minimum=-MAX_INT32)
        if quantity is not None and quantity < 1:
            raise Invalid(f"Items[{index}].Quantity must be at least 1.")
        item_id = int_value(entry, "OrderItemID", minimum=1, maximum=2**63 - 1)
        sku = text(entry, "Sku", 50)
        if quantity is None or (item_id is None and not sku):
            raise Invalid(f"Items[{index}] needs an OrderItemID (or a Sku) and a Quantity of at least 1.")
        if item_id is not None:
            item = by_id.get(item_id)
            if item is None:
                raise Invalid(f"Order item {item_id} is not on order {order.id}.")
        else:
            matches = [row for row in items if row.sku.lower() == sku.lower()]
            if not matches:
                raise Invalid(f"No item with Sku '{sku}' is on order {order.id}.")
            item = next((row for row in matches if to_ship[row.id] - wanted[row] >= quantity), matches[0])
        wanted[item] += quantity
        if wanted[item] > to_ship[item.id]:
            raise Invalid(f"Only {to_ship[item.id]} unit(s) of order item {item.id} ({item.sku}) are left to ship.")
    return dict(wanted)


@transaction.atomic
def ship_order(order, body):
    """Orders(ID)/Ship: without 'Items' every unit still to ship, with 'Items' just those (a split shipment)."""
    value = unwrap_value(body)
    order = _locked(order)
    _refuse_if_canceled(order)
    details = shipment_details(order.sandbox, value)
    settle(order)  # rows made outside the API may lack their open fulfillment
    _, _, to_ship, _ = unit_counts(order)
    if value.get("Items") is not None:
        wanted = _wanted_units(order, list_value(value, "Items"), to_ship)
    else:
        wanted = {item: to_ship[item.id] for item in order.items.all() if to_ship[item.id]}
        if not wanted:
            return None  # everything has shipped already: nothing changes
    return ship_units(order, wanted, details)


def ship_units(order, wanted, details):
    """Mark `wanted` ({item: units}, all still to ship) shipped in the oldest open fulfillment holding one of
    those items; it keeps exactly those units."""
    rows = [row for row in _placed_rows(order) if row.fulfillment.delivery_status in m.OPEN_DELIVERY_STATUSES]
    wanted_ids = {item.id for item in wanted}
    holder = next((row for row in rows if row.order_item_id in wanted_ids), None)
    target = holder.fulfillment if holder else m.Fulfillment.objects.create(order=order)
    in_target = Counter()
    for row in rows:
        if row.fulfillment_id == target.id:
            in_target[row.order_item_id] += row.quantity
    missing = {item.id: quantity - in_target[item.id] for item, quantity in wanted.items()}
    for row in rows:  # units the target lacks come out of the other open fulfillments
        if row.fulfillment_id != target.id and missing.get(row.order_item_id, 0) > 0:
            taken = min(row.quantity, missing[row.order_item_id])
            missing[row.order_item_id] -= taken
            _set_quantity(row, row.quantity - taken)
    target.items.all().delete()
    m.FulfillmentItem.objects.bulk_create([m.FulfillmentItem(fulfillment=target, order_item=item, quantity=quantity)
                                           for item, quantity in wanted.items()])
    for field, value in details.items():
        setattr(target, field, value)
    target.save()
    order.shipping_date_utc = details["shipped_date_utc"]
    settle(order)
    return target


# Fulfillment properties a write may send that the sandbox keeps, and real ones it accepts and ignores.
FULFILLMENT_WRITABLE = {"Type", "DeliveryStatus", "TrackingNumber", "ShippingCarrier", "ShippingClass",
                        "DistributionCenterID", "ShippedDateUtc", "SellerFulfillmentID"}
FULFILLMENT_IGNORED = {"ID", "ProfileID", "OrderID", "CreatedDateUtc", "UpdatedDateUtc", "TrackingUrl",
                       "ReturnTrackingNumber", "ExternalFulfillmentCenterCode", "ExternalFulfillmentStatus",
                       "ShippingCost", "InsuranceCost", "TaxCost", "ExternalFulfillmentNumber",
                       "ExternalFulfillmentReferenceNumber", "StagingLocation", "SerialShippingContainerCode"}


def _fulfillment_fields(sandbox, body):
    """The fields a Fulfillments write sets: {column: value}; carrier and class travel (and are checked) together."""
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.")
    for name in body:
        if name not in FULFILLMENT_WRITABLE | FULFILLMENT_IGNORED | {"Items"} and not name.startswith("@odata"):
            raise Invalid(f"The property '{name}' does not exist on type 'ChannelAdvisor.RestAPI.v1.Fulfillment'. "
                          f"Make sure to only use property names that are defined by the type.")
    fields = {}
    if "ShippingCarrier" in body or "ShippingClass" in body:
        fields["shipping_carrier"], fields["shipping_class"] = carrier_class(
            sandbox, text(body, "ShippingCarrier", 60), text(body, "ShippingClass", 60))
    for name, column, length in (("TrackingNumber", "tracking_number", m.TRACKING_NUMBER_MAX_LENGTH),
                                 ("SellerFulfillmentID", "seller_fulfillment_id", 100)):
        if name in body:
            fields[column] = text(body, name, length)
    if "Type" in body:
        fields["type"] = enum_value(body, "Type", m.FULFILLMENT_TYPES)
    if "DistributionCenterID" in body:
        fields["distribution_center_id"] = int_value(body, "DistributionCenterID", default=0, minimum=0)
    if body.get("ShippedDateUtc") is not None:
        fields["shipped_date_utc"] = datetime_value(body, "ShippedDateUtc")
    return fields


@transaction.atomic
def create_fulfillment(sandbox, config, body):
    """POST Fulfillments: a new, empty fulfillment on an order (ChannelAdvisor moves no items in on creation)."""
    fields = _fulfillment_fields(sandbox, body)
    if body.get("Items"):
        raise Invalid("Items cannot be set when a fulfillment is created: create it, then move items into it "
                      "(POST FulfillmentItems(ID)/Move with DestinationFulfillmentID), or ship chosen items with "
                      "POST Orders(ID)/Ship and 'Items'.")
    order_id = int_value(body, "OrderID", minimum=1, maximum=2**63 - 1)
    order = m.Order.objects.select_for_update().filter(sandbox=sandbox, pk=order_id or 0).first()
    if order is None:
        raise Invalid(f"Order {order_id} was not found.")
    profile_id = int_value(body, "ProfileID", minimum=0, maximum=2**63 - 1)
    if profile_id is not None and profile_id != config.profile_id:
        raise Invalid(f"Profile {profile_id} is not a profile this application may use.")
    _refuse_if_canceled(order)
    fields["delivery_status"] = enum_value(body, "DeliveryStatus", m.DELIVERY_STATUSES, default="NoChange")
    return m.Fulfillment.objects.create(order=order, **fields)


@transaction.atomic
def update_fulfillment(fulfillment, body):
    """PATCH/PUT Fulfillments(ID). DeliveryStatus NoChange keeps the status (a tracking correction); leaving
    DeliveryStatus out marks the fulfillment shipped, as ChannelAdvisor's documentation warns."""
    order = _locked(fulfillment.order)
    row = m.Fulfillment.objects.select_for_update().get(pk=fulfillment.pk)
    fields = _fulfillment_fields(order.sandbox, body)
    status = enum_value(body, "DeliveryStatus", m.DELIVERY_STATUSES, default="Complete")
    was_open = row.delivery_status in m.OPEN_DELIVERY_STATUSES
    if status == "NoChange":
        status = row.delivery_status
    if status == "Canceled" and row.delivery_status != "Canceled":
        raise Invalid("A fulfillment is not canceled by its DeliveryStatus; cancel units through Orders(ID)/Adjust "
                      "or OrderItems(ID)/Adjust.")
    if not was_open and status in m.OPEN_DELIVERY_STATUSES:
        raise Invalid(f"Fulfillment {row.id} has shipped; its DeliveryStatus cannot go back to '{status}'.")
    ships_now = was_open and status in m.SHIPPED_DELIVERY_STATUSES
    for column, value in fields.items():
        setattr(row, column, value)
    row.delivery_status = status
    if ships_now:
        _refuse_if_canceled(order)
        if not row.items.exists():
            raise Invalid(f"Fulfillment {row.id} holds no items to ship.")
        carrier_class(order.sandbox, row.shipping_carrier, row.shipping_class)
        row.shipped_date_utc = row.shipped_date_utc or timezone.now()
        order.shipping_date_utc = row.shipped_date_utc
    row.save()
    if ships_now:
        settle(order)


@transaction.atomic
def move_fulfillment_items(source_rows, body):
    """FulfillmentItems(ID)/Move and Fulfillments(ID)/Move: units still to ship go into another fulfillment of
    the same order (into a shipped one, they are shipped with it)."""
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.")
    first = source_rows[0]
    order = _locked(first.fulfillment.order)
    source = first.fulfillment
    destination_id = int_value(body, "DestinationFulfillmentID", minimum=1, maximum=2**63 - 1)
    destination = order.fulfillments.filter(pk=destination_id or 0).first()
    if destination is None:
        raise Invalid(f"Fulfillment {destination_id} is not a fulfillment of order {order.id}.")
    if source.delivery_status not in m.OPEN_DELIVERY_STATUSES:
        raise Invalid(f"Fulfillment {source.id} is {source.delivery_status}; only units still to ship can move.")
    if destination.id == source.id or destination.delivery_status == "Canceled":
        raise Invalid(f"Fulfillment {destination.id} cannot take these items.")
    _refuse_if_canceled(order)
    quantity = int_value(body, "Quantity", minimum=1)
    if quantity is not None and (len(source_rows) != 1 or quantity > first.quantity):
        raise Invalid(f"Quantity must be at most the {first.quantity} unit(s) of fulfillment item {first.id}.")
    for row in source_rows:
        moved = quantity or row.quantity
        target = (destination.items.filter(order_item_id=row.order_item_id).first()
                  or m.FulfillmentItem(fulfillment=destination, order_item_id=row.order_item_id, quantity=0))
        target.quantity += moved
        target.save()
        _set_quantity(row, row.quantity - moved)
    if destination.delivery_status in m.SHIPPED_DELIVERY_STATUSES:
        order.shipping_date_utc = destination.shipped_date_utc or timezone.now()
    settle(order)


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
    left = open_quantities(order).get(item, 0)
    if kind == "Cancellation" and fields["quantity"] > left:
        raise Invalid(f"Only {left} unit(s) of this item are unshipped and can be cancelled.")
    if fields["quantity"] > item.quantity:
        raise Invalid(f"Quantity cannot exceed the {item.quantity} unit(s) ordered.")
    m.Adjustment.objects.create(order=order, order_item=item, type=kind,
                                restock_status=_restock(fields["reason"], fields["quantity"]), **fields)
    if kind == "Cancellation":
        settle(order)


def cancel_whole_order(order, reason, seller_adjustment_id="", comment="", source="Api"):
    """Cancel every unit of a locked order that has shipped nothing: one order-level Cancellation for all of it,
    and its open fulfillments become Canceled (keeping their items as the record of what was cancelled)."""
    items, shipped, to_ship, _ = unit_counts(order)
    if any(shipped.values()):
        raise Invalid(f"Order {order.id} has shipped items and can no longer be canceled; refund what shipped "
                      f"through OrderItems(ID)/Adjust.")
    if order.shipping_status == "Canceled" or not any(to_ship.values()):
        raise Invalid(f"Order {order.id} is already canceled.")
    settle(order)  # every unit still to ship sits in an open fulfillment before they are canceled
    m.Adjustment.objects.create(
        order=order, type="Cancellation", reason=reason, seller_adjustment_id=seller_adjustment_id, comment=comment,
        created_source=source, quantity=sum(to_ship.values()),
        item_adjustment=sum((item.unit_price * to_ship[item.id] for item in items), Decimal(0)),
        tax_adjustment=sum((item.tax_price for item in items if to_ship[item.id]), Decimal(0)),
        shipping_adjustment=order.total_shipping_price, shipping_tax_adjustment=order.total_shipping_tax_price)
    order.fulfillments.filter(delivery_status__in=m.OPEN_DELIVERY_STATUSES).update(delivery_status="Canceled",
                                                                                 updated_date_utc=timezone.now())
    order.shipping_status = "Canceled"
    order.save(update_fields=["shipping_status"])


@transaction.atomic
def adjust_order(order, body):
    """Orders(ID)/Adjust: with no amount it cancels the whole order (refused once anything shipped); with amounts
    it is an order-level refund."""
    value = unwrap_value(body, required=False)
    fields = adjustment_fields(value)
    order = _locked(order)
    if _already_done(order, fields):
        return
    amounts = (fields["item_adjustment"], fields["tax_adjustment"], fields["shipping_adjustment"],
               fields["shipping_tax_adjustment"])
    if not any(amounts):
        cancel_whole_order(order, fields["reason"], fields["seller_adjustment_id"], fields["comment"])
        return
    m.Adjustment.objects.create(order=order, type=_kind(order, fields["reason"]), restock_status="NotRestocked",
                                **fields)


def full_order(order):
    """The order as a GET with every collection expanded shows it (for the back office)."""
    expand = {"Items": {"FulfillmentItems": {}}, "Fulfillments": {"Items": {}}, "Adjustments": {}}
    return order_json(m.Order.objects.get(pk=order.pk), expand)


@transaction.atomic
def marketplace_cancel(sandbox, order_id, reason="BuyerCancelled"):
    """The buyer cancels on the marketplace and ChannelAdvisor records it (the back office's 'buyer cancels')."""
    order = m.Order.objects.select_for_update().filter(sandbox=sandbox, pk=order_id).first()
    if order is None:
        raise Invalid(f"No order with ID {order_id} in this sandbox.")
    if reason not in m.ADJUSTMENT_REASONS:
        raise Invalid(f"'{reason}' is not an adjustment reason; use one of {', '.join(m.ADJUSTMENT_REASONS)}.")
    cancel_whole_order(order, reason, comment="Cancelled by the buyer on the marketplace.", source="Channel")
    return full_order(order)


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
    created = []
    for entry in items:
        if not isinstance(entry, dict):
            raise Invalid("Each entry of 'Items' must be an object.")
        sku = text(entry, "Sku", 50, required=True)
        quantity = int_value(entry, "Quantity", 1, minimum=1, maximum=100000)
        unit_price = decimal_value(entry, "UnitPrice", Decimal(0), minimum=0)
        product = m.Product.objects.filter(sandbox=sandbox, sku=sku).first()
        created.append(m.OrderItem.objects.create(
            order=order, sku=sku, quantity=quantity, unit_price=unit_price, product_id=product.id if product else None,
            title=text(entry, "Title", 500, default=product.title if product else sku),
            tax_price=decimal_value(entry, "TaxPrice", Decimal(0), minimum=0),
            site_order_item_id=text(entry, "SiteOrderItemID", 100)))
        subtotal += unit_price * quantity
    order.total_price = (subtotal + order.total_tax_price + order.total_shipping_price
                         - abs(order.promotion_amount))
    if abs(order.total_price) > MAX_MONEY:
        raise Invalid("The order total is out of range.")
    order.save(update_fields=["total_price"])
    # An order POSTed as Shipped (a demo shortcut) has its default fulfillment shipped already.
    add_default_fulfillment(order, created, "Complete" if order.shipping_status == "Shipped" else "NoChange")
    announce_if_paid(order)
    return order


def announce_if_paid(order):
    """Webhook subscribers hear of every new order whose payment cleared; the payload is the whole order."""
    if order.payment_status == "Cleared":
        core.queue_webhook(order.sandbox, SYSTEM, WEBHOOK_EVENT, full_order_json(order))


# --- products ---

NAVIGATION_ENDPOINTS = {
    "Images": "Images cannot be created with the product; PUT Products(ID)/Images('ITEMIMAGEURL1') with {\"Url\"}.",
    "Labels": "Labels are applied one by one: PUT Products(ID)/Labels('Name').",
    "DCQuantities": "Quantities are set with POST Products(ID)/UpdateQuantity.",
    "BundleComponents": "Bundle components are not emulated by the sandbox.",
    "Children": "Children name their parent: create or PATCH the child with ParentProductID.",
    "AliasRelationships": "Aliases name their reference: set AliasType, ReferenceProductID or ReferenceSku.",
}
ATTRIBUTE_NAME_MAX = 32  # "Name string (32)" on the developer docs' Attributes page
ATTRIBUTE_VALUE_MAX = 32000
IMAGE_URL_MAX = 255
PLACEMENT_NAME_MAX = 50
LABEL_NAME_MAX = 100


ENUM_DEFAULTS = {"Flag": "NoFlag", "BundleType": "None", "AliasType": "None", "Condition": ""}  # what null sets


def _product_value(body, name, kind, limit):
    if kind == "str":
        return text(body, name, limit or 500)
    if kind == "decimal":
        return decimal_value(body, name)
    if kind == "int":
        maximum = 2**63 - 1 if name.endswith("ProductID") else MAX_INT32
        return int_value(body, name, minimum=0, maximum=maximum)
    if kind == "datetime":
        return datetime_value(body, name)
    if kind in ("enum", "condition"):
        if body[name] is None:
            return ENUM_DEFAULTS[name]
        if not isinstance(body[name], str):
            raise Invalid(f"'{name}' must be a string: one of {', '.join(limit)}.")
        return enum_value(body, name, limit)
    value = body[name]
    if value is not None and not isinstance(value, bool):
        raise Invalid(f"'{name}' must be true or false.")
    return value if name == "IsDisplayInStore" else bool(value)


def apply_product_fields(product, body, creating=False):
    """Set the writable properties present in `body`; read-only ones are ignored, unknown ones refused. Returns the
    write-only flags sent (CopyToChildren) and the inline Attributes of a POST."""
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.")
    flags, attributes = {}, None
    for name in body:
        if name in PRODUCT_WRITABLE:
            column, kind, access, limit = PRODUCT_WRITABLE[name]
            value = _product_value(body, name, kind, None if access == "x" else limit)
            if access == "x":
                flags[name] = value
            else:
                setattr(product, column, value)
        elif name == "Attributes" and creating:
            attributes = _attribute_rows(body)
        elif name in NAVIGATION_ENDPOINTS or name == "Attributes":
            how = NAVIGATION_ENDPOINTS.get(name, "Attributes are updated one by one: PUT Products(ID)/Attributes("
                                                 "'Name') with {\"Value\"}, or POST Products(ID)/UpdateAttributes.")
            raise Invalid(f"The navigation property '{name}' cannot be written here. {how}")
        elif name not in PRODUCT_READ_ONLY and not name.startswith("@odata"):
            raise Invalid(f"The property '{name}' does not exist on type 'ChannelAdvisor.RestAPI.v1.Product'. "
                          f"Make sure to only use property names that are defined by the type.")
    if not (product.sku or "").strip():
        raise Invalid("'Sku' is required.")
    if creating and not product.condition:
        product.condition = "NEW"  # what a product created without a Condition shows (developer docs' example)
    product.update_date_utc = timezone.now()
    return flags, attributes


def _attribute_rows(body):
    rows, seen = [], set()
    for row in _objects(body, "Attributes"):
        name = text(row, "Name", ATTRIBUTE_NAME_MAX, required=True)
        value = row.get("Value")
        if value is not None and not isinstance(value, str):
            value = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
            if value is None:
                raise Invalid(f"The Value of attribute '{name}' must be a string.")
        if value is not None and len(value) > ATTRIBUTE_VALUE_MAX:
            raise Invalid(f"The Value of attribute '{name}' is longer than {ATTRIBUTE_VALUE_MAX} characters.")
        if name.lower() in seen:
            raise Invalid(f"The attribute '{name}' is listed twice.")
        seen.add(name.lower())
        rows.append((name, value or ""))
    return rows


def _objects(body, name):
    rows = list_value(body, name)
    if not all(isinstance(row, dict) for row in rows):
        raise Invalid(f"Each entry of '{name}' must be an object.")
    return rows


def _products_of(product):
    return m.Product.objects.filter(sandbox_id=product.sandbox_id)


def _check_relationships(product, before):
    """Parent/child and alias rules, checked on the product as it would be saved. Derives IsInRelationship,
    ProductType, ParentSku, ReferenceSku and the block dates."""
    others = _products_of(product).exclude(pk=product.pk) if product.pk else _products_of(product)
    if product.is_parent and product.parent_product_id is not None:
        raise Invalid("A parent product cannot have a ParentProductID; a child cannot be a parent.")
    if product.is_parent or product.parent_product_id is not None:
        product.is_in_relationship = True
        if not product.relationship_name.strip():
            raise Invalid("'RelationshipName' is required for a product in a relationship (IsParent or "
                          "ParentProductID); the parent and all its children carry the same one.")
    elif product.is_in_relationship and before.get("is_in_relationship") is False:
        raise Invalid("IsInRelationship needs IsParent (a parent) or ParentProductID (a child).")
    parent = None
    if product.parent_product_id is not None:
        parent = others.filter(pk=product.parent_product_id).first()
        if parent is None:
            raise Invalid(f"No parent product with ID {product.parent_product_id} exists.")
        if not parent.is_parent:
            raise Invalid(f"Product {parent.id} ({parent.sku}) is not a parent (IsParent is false).")
        if parent.relationship_name != product.relationship_name:
            raise Invalid(f"'RelationshipName' must be identical to the parent's ('{parent.relationship_name}'), "
                          f"not '{product.relationship_name}'.")
    if before.get("is_parent") and not product.is_parent and product.pk and \
            others.filter(parent_product_id=product.pk).exists():
        raise Invalid("The product still has children; remove them (or give them another parent) first.")
    if before.get("relationship_name") not in (None, product.relationship_name) and product.pk and \
            others.filter(parent_product_id=product.pk).exists():
        raise Invalid("The parent's RelationshipName cannot change while it has children.")
    product.parent_sku = parent.sku if parent else ""
    if product.reference_product_id is None and product.reference_sku:
        found = others.filter(sku=product.reference_sku).first()
        if found is None:
            raise Invalid(f"No product with Sku '{product.reference_sku}' exists to refer to.")
        product.reference_product_id = found.id
    if product.reference_product_id is not None:
        reference = others.filter(pk=product.reference_product_id).first()
        if reference is None:
            raise Invalid(f"No product with ID {product.reference_product_id} exists to refer to.")
        product.reference_sku = reference.sku
    else:
        product.reference_sku = ""
    if product.is_parent:
        product.product_type = "Parent"
    elif product.parent_product_id is not None:
        product.product_type = "Child"
    elif product.bundle_type in ("BundleItem", "AssemblyBundleItem"):
        product.product_type = "Bundle"
    else:
        product.product_type = "Item"
    now = timezone.now()
    if product.is_blocked != before.get("is_blocked", False):
        product.blocked_date_utc = now if product.is_blocked else None
    if product.is_blocked_from_advertising != before.get("is_blocked_from_advertising", False):
        product.blocked_from_advertising_date_utc = now if product.is_blocked_from_advertising else None


def _state(product):
    return {"is_parent": product.is_parent, "is_in_relationship": product.is_in_relationship,
            "relationship_name": product.relationship_name if product.pk else None, "is_blocked": product.is_blocked,
            "is_blocked_from_advertising": product.is_blocked_from_advertising, "sku": product.sku}


def save_product(product, before=None):
    _check_relationships(product, before or {})
    try:
        with transaction.atomic():
            product.save()
            if before and before.get("sku") != product.sku:  # children and aliases show the new Sku
                _products_of(product).filter(parent_product_id=product.pk).update(parent_sku=product.sku)
                _products_of(product).filter(reference_product_id=product.pk).update(reference_sku=product.sku)
    except IntegrityError:
        raise Invalid(f"A product with Sku '{product.sku}' already exists.") from None


@transaction.atomic
def create_product(sandbox, config, body):
    product = m.Product(sandbox=sandbox, profile_id=config.profile_id)
    _, attributes = apply_product_fields(product, body, creating=True)
    save_product(product)
    if attributes:
        m.ProductAttribute.objects.bulk_create([m.ProductAttribute(product=product, name=name, value=value)
                                                for name, value in attributes])
    return product


# Properties CopyToChildren never copies: what makes each child itself.
NOT_COPIED = {"Sku", "ParentProductID", "IsParent", "IsInRelationship", "RelationshipName", "VaryBy", "UPC", "EAN",
              "ISBN", "ASIN", "MPN", "CopyToChildren", "CopyToAliases", "AliasType", "ReferenceSku",
              "ReferenceProductID"}


@transaction.atomic
def update_product(product, body):
    """PATCH/PUT Products(ID): the properties sent change (ChannelAdvisor merges a PUT too). With CopyToChildren
    true on a parent, the same values are copied to every child (identifiers and relationship fields excepted)."""
    product = m.Product.objects.select_for_update().get(pk=product.pk)
    before = _state(product)
    flags, _ = apply_product_fields(product, body)
    save_product(product, before)
    if flags.get("CopyToChildren") and product.is_parent:
        shared = {name: value for name, value in body.items() if name in PRODUCT_WRITABLE and name not in NOT_COPIED}
        for child in _products_of(product).filter(parent_product_id=product.pk).select_for_update():
            child_before = _state(child)
            apply_product_fields(child, shared)
            save_product(child, child_before)


def delete_product(product):
    if product.is_parent and _products_of(product).filter(parent_product_id=product.pk).exists():
        raise Invalid("The product is a parent with children; delete the children or move them to another parent "
                      "first.")
    product.delete()


def touch(product):
    product.update_date_utc = timezone.now()
    product.save(update_fields=["update_date_utc"])


def set_attribute(product, name, body):
    """PUT/PATCH/POST Products(ID)/Attributes('Name') with {"Value": "..."}: add or replace one value."""
    name = _key_text(name, "attribute name", ATTRIBUTE_NAME_MAX)
    if not isinstance(body, dict) or "Value" not in body:
        raise Invalid("The request body must be an object with a 'Value' property.")
    ((_, value),) = _attribute_rows({"Attributes": [{"Name": name, "Value": body["Value"]}]})
    m.ProductAttribute.objects.update_or_create(product=product, name=name, defaults={"value": value})
    touch(product)


@transaction.atomic
def update_attributes(product, body):
    """POST Products(ID)/UpdateAttributes {"Value": {"Attributes": [{"Name", "Value"}, ...]}}: several at once."""
    rows = _attribute_rows(unwrap_value(body))
    if not rows:
        raise Invalid("'Attributes' must list at least one Name and Value.")
    for name, value in rows:
        m.ProductAttribute.objects.update_or_create(product=product, name=name, defaults={"value": value})
    touch(product)


def set_image(product, placement, body):
    """PUT/PATCH Products(ID)/Images('ITEMIMAGEURL1') with {"Url": "https://..."}."""
    placement = _key_text(placement, "placement name", PLACEMENT_NAME_MAX)
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object with a 'Url'.")
    unknown = set(body) - {"Url", "PlacementName", "ProductID", "ProfileID", "Abbreviation"}
    if unknown:
        raise Invalid(f"The property '{sorted(unknown)[0]}' does not exist on type 'ChannelAdvisor.RestAPI.v1.Image'.")
    url = text(body, "Url", IMAGE_URL_MAX, required=True)
    if not url.startswith(("http://", "https://")):
        raise Invalid("'Url' must be an http:// or https:// URL.")
    m.ProductImage.objects.update_or_create(product=product, placement_name=placement, defaults={"url": url})
    touch(product)


def set_label(product, name):
    name = _key_text(name, "label name", LABEL_NAME_MAX)
    m.ProductLabel.objects.get_or_create(product=product, name=name)
    touch(product)


def remove_related(product, rows):
    """DELETE of one attribute, image or label; False when there was none."""
    deleted, _ = rows.delete()
    if deleted:
        touch(product)
    return bool(deleted)


def _key_text(value, what, max_length):
    if not value or not value.strip():
        raise Invalid(f"The {what} is empty.")
    if "\x00" in value or len(value) > max_length:
        raise Invalid(f"The {what} must be at most {max_length} characters.")
    return value


def pending_units(product):
    """Units of the product's SKU still to ship in the account's open orders, by what they wait for:
    checkout, payment, shipment (a paid order)."""
    orders = m.Order.objects.filter(sandbox=product.sandbox, profile_id=product.profile_id,
                                    shipping_status__in=m.OPEN_SHIPPING_STATUSES, items__sku=product.sku)
    pending = {"checkout": 0, "payment": 0, "shipment": 0}
    for order in orders.distinct():
        items, _, to_ship, _ = unit_counts(order)
        units = sum(to_ship[item.id] for item in items if item.sku == product.sku)
        if order.checkout_status not in m.COMPLETED_CHECKOUT_STATUSES:
            pending["checkout"] += units
        elif order.payment_status in m.PENDING_PAYMENT_STATUSES:
            pending["payment"] += units
        else:
            pending["shipment"] += units
    return pending


def units_to_ship(product, pending_checkout_or_payment_only=False):
    """Units of the product's SKU still to ship (neither shipped nor cancelled) in the account's open orders;
    with the flag, only in those still waiting for checkout or payment (what InStock subtracts)."""
    orders = m.Order.objects.filter(sandbox=product.sandbox, profile_id=product.profile_id,
                                    shipping_status__in=m.OPEN_SHIPPING_STATUSES, items__sku=product.sku)
    if pending_checkout_or_payment_only:
        orders = orders.filter(Q(payment_status__in=m.PENDING_PAYMENT_STATUSES)
                               | ~Q(checkout_status__in=m.COMPLETED_CHECKOUT_STATUSES))
    total = 0
    for order in orders.distinct():
        items, _, to_ship, _ = unit_counts(order)
        total += sum(to_ship[item.id] for item in items if item.sku == product.sku)
    return total


def reserved_units(product, update_type):
    """What an update type subtracts from the Quantity sent. Absolute, Relative and Available subtract nothing
    (Available would subtract open auction listings, which the sandbox does not have); InStock subtracts units
    in orders pending checkout or payment; UnShipped also those paid but not shipped."""
    if update_type == "InStock":
        return units_to_ship(product, pending_checkout_or_payment_only=True)
    if update_type == "UnShipped":
        return units_to_ship(product)
    return 0


def _quantity_updates(value, update_type):
    """[(dc_id, quantity)] from UpdateQuantity's 'Updates', every entry checked before anything is written."""
    updates = list_value(value, "Updates")
    if not updates:
        raise Invalid("'Updates' must list at least one DistributionCenterID and Quantity.")
    checked = []
    for index, entry in enumerate(updates):
        if not isinstance(entry, dict):
            raise Invalid("Each entry of 'Updates' must be an object.")
        dc_id = int_value(entry, "DistributionCenterID", minimum=0)
        quantity = int_value(entry, "Quantity", minimum=-MAX_INT32 if update_type == "Relative" else 0)
        if dc_id is None or quantity is None:
            raise Invalid(f"Updates[{index}] needs a DistributionCenterID and a Quantity.")
        checked.append((dc_id, quantity))
    return checked


@transaction.atomic
def update_quantity(product, body):
    """Products(ID)/UpdateQuantity: one or several DCs in one call, all or nothing. Absolute and Available set a
    DC's available units, Relative adds to them (refused below 0); InStock and UnShipped take units on hand and
    subtract the account's own open orders (see reserved_units) — spread over the DCs in the order sent, never
    below 0. TotalAvailableQuantity is the sum over DCs, TotalQuantity adds every unit still to ship."""
    value = unwrap_value(body)
    update_type = enum_value(value, "UpdateType", m.QUANTITY_UPDATE_TYPES)
    updates = _quantity_updates(value, update_type)
    product = m.Product.objects.select_for_update().get(pk=product.pk)
    if product.is_parent:
        raise Invalid("A parent product has no quantity of its own; update the quantities of its children.")
    reserved = reserved_units(product, update_type)
    now = timezone.now()
    writes = []
    for dc_id, quantity in updates:
        row, _ = m.DCQuantity.objects.get_or_create(product=product, distribution_center_id=dc_id)
        if update_type == "Relative":
            result = row.available_quantity + quantity
            if result < 0:
                raise Invalid(f"The quantity of distribution center {dc_id} would become {result}; "
                              f"a Relative update cannot take it below 0.")
        elif update_type in ("InStock", "UnShipped"):
            result = max(quantity - reserved, 0)
            reserved = max(reserved - quantity, 0)
        else:
            result = quantity
        if result > MAX_INT32:
            raise Invalid(f"The quantity of distribution center {dc_id} would be out of range.")
        row.available_quantity = result
        row.save(update_fields=["available_quantity"])
        writes.append(m.QuantityWrite(sandbox=product.sandbox, product_id=product.id, sku=product.sku,
                                      distribution_center_id=dc_id, update_type=update_type, requested=quantity,
                                      available_quantity=result, written_at=now))
    m.QuantityWrite.objects.bulk_create(writes)
    total = product.dc_quantities.aggregate(total=Sum("available_quantity"))["total"] or 0
    pending = pending_units(product)
    product.total_available_quantity = min(total, MAX_INT32)
    product.pending_checkout_quantity = min(pending["checkout"], MAX_INT32)
    product.pending_payment_quantity = min(pending["payment"], MAX_INT32)
    product.pending_shipment_quantity = min(pending["shipment"], MAX_INT32)
    product.total_quantity = min(total + sum(pending.values()), MAX_INT32)
    product.quantity_update_date_utc = product.update_date_utc = now
    product.save(update_fields=["total_available_quantity", "total_quantity", "pending_checkout_quantity",
                                "pending_payment_quantity", "pending_shipment_quantity", "quantity_update_date_utc",
                                "update_date_utc"])


def quantity_writes(sandbox, sku=None):
    """The write log, oldest first: what UpdateQuantity wrote, per product and DC (for tests and the admin)."""
    rows = m.QuantityWrite.objects.filter(sandbox=sandbox)
    return rows.filter(sku=sku) if sku is not None else rows


# --- the back office: a buyer's return and a seller's refund (`sandbox act`) ---

CENT = Decimal("0.01")


def _share(total, part, whole):
    """`part` of `whole` units of a line whose total is `total`, to the cent."""
    return (Decimal(total) * part / whole).quantize(CENT, rounding=ROUND_HALF_UP) if whole else Decimal(0)


def _back_office_order(sandbox, order_id):
    order = m.Order.objects.select_for_update().filter(sandbox=sandbox, pk=order_id).first()
    if order is None:
        raise Invalid(f"No order with ID {order_id} in this sandbox.")
    return order


def _items_named(order, items, sku):
    named = [item for item in items if item.sku == sku] or [item for item in items if item.sku.lower() == sku.lower()]
    if not named:
        raise Invalid(f"Order {order.id} has no item with SKU '{sku}'; its SKUs are "
                      f"{', '.join(sorted({item.sku for item in items}))}.")
    return named


def _units_per_item(order, **filters):
    return Counter(dict(m.Adjustment.objects.filter(order=order, order_item__isnull=False, **filters)
                        .values_list("order_item").annotate(total=Sum("quantity"))))


def _take(order, items, available, sku, quantity, what):
    """[(item, units)]: `quantity` units of the SKU (default all available), or every available unit of the
    order; more than available is refused."""
    if quantity is not None and quantity < 1:
        raise Invalid("--quantity must be 1 or more.")
    if sku is None:
        if quantity is not None:
            raise Invalid("--quantity needs --sku.")
        wanted = [(item, available[item.id]) for item in items if available[item.id] > 0]
        if not wanted:
            raise Invalid(f"Order {order.id} has no units left to {what}.")
        return wanted
    named = _items_named(order, items, sku)
    left = sum(available[item.id] for item in named)
    quantity = left if quantity is None else quantity
    if not left or quantity > left:
        raise Invalid(f"Only {left} unit(s) of SKU '{sku}' on order {order.id} can be {what}ed; asked for "
                      f"{quantity}.")
    wanted = []
    for item in named:  # the same SKU on several lines: fill the first lines first
        units = min(quantity, available[item.id])
        if units:
            wanted.append((item, units))
            quantity -= units
    return wanted


@transaction.atomic
def buyer_return(sandbox, order_id, sku=None, quantity=None, refunded=False, tracking_number=""):
    """The buyer returns shipped units on the marketplace, which ChannelAdvisor imports as item adjustments
    (Reason CustomerReturnedItem, CreatedSource Channel, an RMA number and the marketplace's SiteAdjustmentID).
    The refund waits for the seller to receive the units (RequestStatus and RestockStatus Pending) unless
    `refunded` (the marketplace refunded at once: Complete and Restocked)."""
    order = _back_office_order(sandbox, order_id)
    items, shipped, _, _ = unit_counts(order)
    returned = _units_per_item(order, type="Refund", reason="CustomerReturnedItem")
    available = {item.id: max(shipped[item.id] - returned[item.id], 0) for item in items}
    wanted = _take(order, items, available, sku, quantity, "return")
    number = m.Adjustment.objects.filter(order=order).exclude(rma_number="").values("rma_number").distinct().count()
    rma = f"RMA-{order.site_order_id or order.id}-{number + 1}"
    site_id = secrets.token_hex(6).upper()
    created = [m.Adjustment.objects.create(
        order=order, order_item=item, type="Refund", reason="CustomerReturnedItem", quantity=units,
        comment="Returned by the buyer on the marketplace.", created_source="Channel", rma_number=rma,
        site_adjustment_id=site_id, return_tracking_number=tracking_number,
        item_adjustment=(item.unit_price * units).quantize(CENT, rounding=ROUND_HALF_UP),
        tax_adjustment=_share(item.tax_price, units, item.quantity),
        request_status="Complete" if refunded else "Pending",
        restock_status="Restocked" if refunded else "Pending") for item, units in wanted]
    return {"order": full_order(order), "adjustments": [adjustment_json(row, order.profile_id) for row in created]}


@transaction.atomic
def seller_refund(sandbox, order_id, sku=None, quantity=None, amount=None, reason="GeneralAdjustment"):
    """The seller refunds the buyer in ChannelAdvisor's UI without a return (CreatedSource UserInterface,
    RequestStatus Complete, nothing restocked): units of one SKU (their price and tax, or `amount`), or, without a
    SKU, what is left of the whole order (items, tax, shipping) or `amount` of it."""
    if reason not in m.ADJUSTMENT_REASONS:
        raise Invalid(f"'{reason}' is not an adjustment reason; use one of {', '.join(m.ADJUSTMENT_REASONS)}.")
    order = _back_office_order(sandbox, order_id)
    if order.shipping_status == "Canceled":
        raise Invalid(f"Order {order.id} is canceled; its buyer was refunded with the cancellation.")
    if amount is not None and amount <= 0:
        raise Invalid("--amount must be more than 0.")
    items, _, _, cancelled = unit_counts(order)
    common = {"order": order, "type": "Refund", "reason": reason, "created_source": "UserInterface",
              "comment": "Refunded by the seller.", "request_status": "Complete", "restock_status": "NotRestocked"}
    refunds = m.Adjustment.objects.filter(order=order, type="Refund")
    totals = refunds.aggregate(item=Sum("item_adjustment"), tax=Sum("tax_adjustment"),
                               shipping=Sum("shipping_adjustment"), shipping_tax=Sum("shipping_tax_adjustment"))
    refunded_total = sum((value or Decimal(0) for value in totals.values()), Decimal(0))
    left_total = order.total_price - refunded_total
    if sku is None and quantity is None:
        if left_total <= 0:
            raise Invalid(f"Order {order.id} is already refunded in full ({refunded_total}).")
        if amount is not None and amount > left_total:
            raise Invalid(f"Only {left_total} of order {order.id} is left to refund; asked for {amount}.")
        if amount is not None:
            fields = {"item_adjustment": amount}
        else:
            subtotal = sum((item.unit_price * item.quantity for item in items), Decimal(0))
            parts = {"item_adjustment": subtotal - (totals["item"] or 0),
                     "tax_adjustment": order.total_tax_price - (totals["tax"] or 0),
                     "shipping_adjustment": order.total_shipping_price - (totals["shipping"] or 0),
                     "shipping_tax_adjustment": order.total_shipping_tax_price - (totals["shipping_tax"] or 0)}
            fields = {name: max(value, Decimal(0)) for name, value in parts.items()}
        created = [m.Adjustment.objects.create(**common, **fields)]
    else:
        refunded = _units_per_item(order, type="Refund")
        available = {item.id: max(item.quantity - cancelled[item.id] - refunded[item.id], 0) for item in items}
        wanted = _take(order, items, available, sku, quantity, "refund")
        value = sum((item.unit_price * units + _share(item.tax_price, units, item.quantity)
                     for item, units in wanted), Decimal(0))
        if amount is not None and amount > value:
            raise Invalid(f"{amount} is more than the {value} those units cost.")
        created = []
        for item, units in wanted:
            price = (item.unit_price * units).quantize(CENT, rounding=ROUND_HALF_UP)
            tax = _share(item.tax_price, units, item.quantity)
            if amount is not None:  # the amount asked for, spread over the lines in proportion
                price, tax = _share(amount, price + tax, value), Decimal(0)
            created.append(m.Adjustment.objects.create(**common, order_item=item, quantity=units,
                                                       item_adjustment=price, tax_adjustment=tax))
    return {"order": full_order(order), "adjustments": [adjustment_json(row, order.profile_id) for row in created]}


def back_office_cancel(sandbox, order_id, reason="BuyerCancelled"):
    """marketplace_cancel, answered like the return and the refund: the order and the new adjustment."""
    known = set(m.Adjustment.objects.filter(order_id=order_id, order__sandbox=sandbox).values_list("id", flat=True))
    order = marketplace_cancel(sandbox, order_id, reason)
    return {"order": order, "adjustments": [row for row in order.get("Adjustments", []) if row["ID"] not in known]}


# The seller receives a buyer's returned units and the marketplace settles the refund (`sandbox act
# complete-refund`), or the refund fails. ChannelAdvisor's adjustments carry no update date (the public model has
# CreatedDateUtc only), so a poll by CreatedDateUtc does not list them again: a reader that holds a pending refund
# reads the order's adjustments again to see the change.
SETTLED = {"complete": ("Complete", "Restocked"), "fail": ("Failed", None)}  # RequestStatus, RestockStatus


@transaction.atomic
def settle_refund(sandbox, order_id, adjustment_id=None, outcome="complete"):
    """Move the order's pending refunds (or the one `adjustment_id` names) from RequestStatus Pending to Complete
    (RestockStatus Restocked: the units arrived) or to Failed (RestockStatus left as it was)."""
    order = _back_office_order(sandbox, order_id)
    pending = m.Adjustment.objects.select_for_update().filter(order=order, request_status="Pending")
    if adjustment_id is not None:
        named = m.Adjustment.objects.filter(order=order, pk=adjustment_id).first()
        if named is None:
            raise Invalid(f"Order {order.id} has no adjustment {adjustment_id}.")
        if named.request_status != "Pending":
            raise Invalid(f"Adjustment {adjustment_id} of order {order.id} is {named.request_status}, not Pending: "
                          "only a pending refund can complete or fail.")
        pending = pending.filter(pk=adjustment_id)
    rows = list(pending)
    if not rows:
        raise Invalid(f"Order {order.id} has no pending refund; file one with: act return --order {order.id} "
                      "(without --refunded).")
    request_status, restock_status = SETTLED[outcome]
    for row in rows:
        row.request_status = request_status
        row.restock_status = restock_status or row.restock_status
        row.save(update_fields=["request_status", "restock_status"])
    return {"order": full_order(order), "adjustments": [adjustment_json(row, order.profile_id) for row in rows]}
