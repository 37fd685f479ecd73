"""What TIMS staff do by hand in the ERP, as plain functions the admin actions and `manage.py tims_backoffice`
share. Each runs in its own transaction, returns a JSON-able dict and raises operations.ActionRefused when a
business rule says no."""

import re
from decimal import Decimal, InvalidOperation

from django.db import transaction

from sandbox.tims import operations, serializers
from sandbox.tims.models import InventoryLevel, Item, Location, SalesOrder
from sandbox.tims.operations import ActionRefused

SIGNED_WHOLE_NUMBER = re.compile(r"-?[0-9]+")  # negative and zero parse, so ship() refuses them by name


def _order_json(sandbox, code):
    order = (SalesOrder.objects.select_related("customer", "location").prefetch_related("lines__item")
             .get(sandbox=sandbox, code=code))
    return serializers.sales_order(order)


@transaction.atomic
def allocate(sandbox, order_code):
    order = operations.locked_order(sandbox, order_code)
    reserved = operations.allocate(order)
    return {"reserved": reserved, "order": _order_json(sandbox, order_code)}


@transaction.atomic
def ship(sandbox, order_code, carrier="UPS", tracking_number="", shipping_class="Ground", lines=None):
    """Ship `lines` ((SKU, quantity) pairs) or, when None, all that stock allows: a shipment with carrier and
    tracking number; OnHand and Allocated drop; events."""
    order = operations.locked_order(sandbox, order_code)
    shipment = operations.ship(order, carrier=carrier, tracking_number=tracking_number,
                               shipping_class=shipping_class, lines=lines)
    return {"shipment": serializers.shipment(shipment), "order": _order_json(sandbox, order_code)}


@transaction.atomic
def cancel(sandbox, order_code):
    """Cancel an order that has not shipped; its reserved stock becomes available again."""
    order = operations.locked_order(sandbox, order_code)
    operations.cancel(order)
    return {"order": _order_json(sandbox, order_code)}


def parse_lines(text):
    """`SKU:QTY[,SKU:QTY]` (the CLI's --lines) → [(SKU, quantity)]; ActionRefused on anything else."""
    lines = []
    for index, part in enumerate(text.split(",")):
        sku, _, quantity = part.strip().rpartition(":")
        if not sku.strip() or not SIGNED_WHOLE_NUMBER.fullmatch(quantity.strip()):
            raise ActionRefused("invalid_lines", f"Line {index + 1} (“{part.strip()}”) is not SKU:QUANTITY, "
                                "such as WLD-00001:2.", status=422, field=f"Lines[{index}]")
        lines.append((sku.strip(), int(quantity.strip())))
    return lines


@transaction.atomic
def invoice(sandbox, order_code):
    """Bill what remains of the order (every ordered unit not yet invoiced), as POST /invoices without Lines."""
    order = operations.locked_order(sandbox, order_code)
    row = operations.invoice(order)
    return {"invoice": serializers.invoice(row), "order": _order_json(sandbox, order_code)}


@transaction.atomic
def set_stock(sandbox, sku, quantity, location_code=None):
    """A stock count: OnHand becomes `quantity` at the location (default MAIN)."""
    item = Item.objects.filter(sandbox=sandbox, sku=sku).first()
    if item is None:
        raise ActionRefused("unknown_sku", f"No item with SKU “{sku}”.", status=404)
    location_code = location_code or operations.config(sandbox).default_location
    location = Location.objects.filter(sandbox=sandbox, code=location_code).first()
    if location is None:
        raise ActionRefused("unknown_location", f"No location “{location_code}”.", status=404)
    if quantity < 0:
        raise ActionRefused("min_value", "A stock count cannot be negative.", status=422)
    level = operations.set_on_hand(item, location, quantity)
    return {"inventory": serializers.inventory_level(level)}


@transaction.atomic
def change_stock_by(level_id, delta):
    """Add (or remove) units on one inventory row, as an admin action does."""
    level = InventoryLevel.objects.select_related("item", "location").get(pk=level_id)
    level = operations.level_for(level.item, level.location)
    level.on_hand = max(0, level.on_hand + delta)
    operations.stock_changed(level)
    return {"inventory": serializers.inventory_level(level)}


@transaction.atomic
def update_item(sandbox, sku, unit_price=None, description=None, active=None):
    """A price or catalog change made in TIMS; emits item.updated."""
    item = Item.objects.select_for_update().filter(sandbox=sandbox, sku=sku).first()
    if item is None:
        raise ActionRefused("unknown_sku", f"No item with SKU “{sku}”.", status=404)
    if unit_price is not None:
        try:
            item.unit_price = Decimal(str(unit_price)).quantize(Decimal("0.01"))
        except InvalidOperation:
            raise ActionRefused("invalid_decimal", f"“{unit_price}” is not a price.", status=422) from None
    if description is not None:
        item.description = description[:200]
    if active is not None:
        item.active = active
    operations.item_changed(item)
    return {"item": serializers.item(item)}


@transaction.atomic
def set_token_lifetime(sandbox, seconds):
    """How long new access tokens live; tests use 1–2 seconds."""
    if seconds < 1:
        raise ActionRefused("min_value", "A token lives at least one second.", status=422)
    config = operations.config(sandbox)
    config.token_lifetime_seconds = seconds
    config.save(update_fields=["token_lifetime_seconds"])
    return {"token_lifetime_seconds": seconds}
