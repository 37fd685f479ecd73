"""TIMS business actions on the database: numbering, stock moves, the two feeds, and order life-cycle steps.

Views (API writes), back-office functions (admin and CLI) and provision.generate all go through here, so every
change to stock writes an inventory-feed row and an `inventory.changed` event in the same transaction.
Callers run these inside transaction.atomic().
"""

from decimal import ROUND_HALF_UP, Decimal

from django.db.models import F
from django.utils import timezone

from sandbox import core
from sandbox.tims import serializers
from sandbox.tims.models import (
    Counter,
    Customer,
    Event,
    InventoryAdjustment,
    InventoryChange,
    InventoryLevel,
    Invoice,
    JournalEntry,
    Location,
    Payment,
    Return,
    SalesOrder,
    SalesOrderLine,
    Shipment,
    TimsConfig,
)

CODE_FORMATS = {"customer": "C{:06d}", "sales_order": "SO{:06d}", "shipment": "SH{:06d}", "invoice": "IN{:06d}",
                "payment": "PM{:06d}", "return": "RT{:06d}", "journal_entry": "JE{:06d}", "adjustment": "AD{:06d}"}

# Statuses a client may set with PATCH, and the statuses each may come from. The others (Allocated,
# PartiallyShipped, Fulfilled, Invoiced) only TIMS itself sets, by allocating, shipping and invoicing.
CLIENT_TRANSITIONS = {
    "Open": {"Open", "Processing", "OnHold"},
    "Processing": {"Open", "Processing", "OnHold"},
    "OnHold": {"Open", "Processing", "Allocated", "OnHold"},
    "Cancelled": {"Open", "Processing", "Allocated", "OnHold"},
    "Closed": {"Fulfilled", "Invoiced", "Closed"},
}


class ActionRefused(Exception):
    """A business rule says no (ship a cancelled order, invoice twice...). `status` is the HTTP status to use."""

    def __init__(self, code, message, status=409, field=None):
        super().__init__(message)
        self.code, self.message, self.status, self.field = code, message, status, field


def config(sandbox):
    row, _ = TimsConfig.objects.get_or_create(sandbox=sandbox)
    return row


def next_number(sandbox, name):
    """The next value of a per-sandbox sequence; the counter row stays locked until the caller commits."""
    updated = Counter.objects.filter(sandbox=sandbox, name=name).update(value=F("value") + 1)
    if not updated:
        Counter.objects.get_or_create(sandbox=sandbox, name=name)
        Counter.objects.filter(sandbox=sandbox, name=name).update(value=F("value") + 1)
    return Counter.objects.get(sandbox=sandbox, name=name).value


def next_code(sandbox, kind):
    return CODE_FORMATS[kind].format(next_number(sandbox, kind))


def free_customer_code(sandbox):
    """The next C000123-style code not already taken by a code a client chose itself."""
    while True:
        code = next_code(sandbox, "customer")
        if not Customer.objects.filter(sandbox=sandbox, code=code).exists():
            return code


def emit(sandbox, event_type, data):
    """Append to the events feed and queue signed webhooks for subscribers (sent after commit)."""
    event = Event.objects.create(sandbox=sandbox, seq=next_number(sandbox, "event"), type=event_type, data=data)
    core.queue_webhook(sandbox, "tims", event_type, serializers.event(event))
    return event


# --- stock ---

def level_for(item, location, lock=True):
    rows = InventoryLevel.objects.select_related("item", "location")
    if lock:
        rows = rows.select_for_update(of=("self",))
    level = rows.filter(item=item, location=location).first()
    if level is None:
        InventoryLevel.objects.get_or_create(sandbox=item.sandbox, item=item, location=location)
        level = rows.get(item=item, location=location)
    return level


def stock_changed(level):
    """Save a level and publish it on the inventory feed and the events feed."""
    level.save()
    change = InventoryChange.objects.create(sandbox=level.sandbox, seq=next_number(level.sandbox, "inventory"),
                                            sku=level.item.sku, location=level.location.code,
                                            available=level.available, changed_at=timezone.now())
    emit(level.sandbox, "inventory.changed", serializers.inventory_level(level) | {"FeedSeq": change.seq})
    return change


def set_on_hand(item, location, quantity):
    level = level_for(item, location)
    level.on_hand = quantity
    stock_changed(level)
    return level


def adjust(sandbox, item, location, quantity, reason_code, reference=""):
    """A stock adjustment (count, damage, receipt...): OnHand changes by `quantity`, which may be negative."""
    level = level_for(item, location)
    if level.on_hand + quantity < 0:
        raise ActionRefused("insufficient_stock", f"{item.sku} has {level.on_hand} on hand at {location.code}; "
                            f"an adjustment of {quantity} would make it negative.", status=422, field="Quantity")
    level.on_hand += quantity
    stock_changed(level)
    adjustment = InventoryAdjustment.objects.create(
        sandbox=sandbox, code=next_code(sandbox, "adjustment"), sku=item.sku, location=location.code,
        quantity=quantity, reason_code=reason_code, reference=reference)
    return adjustment, level


# --- sales orders ---

def create_sales_order(sandbox, clean):
    """Enter an order from validated values (validation.clean_sales_order). TIMS does not de-duplicate."""
    order = SalesOrder.objects.create(
        sandbox=sandbox, code=next_code(sandbox, "sales_order"), external_order_id=clean["external_order_id"],
        customer=clean["customer"], order_date=clean["order_date"] or timezone.now(), status=clean["status"],
        payment_status=clean["payment_status"], currency=clean["currency"].upper(),
        shipping_method=clean["shipping_method"], shipping_amount=clean["shipping_amount"],
        shipping_address=clean["shipping_address"], billing_address=clean["billing_address"],
        total_amount=clean["total_amount"], cost_center=clean["cost_center"], project_code=clean["project_code"],
        location=clean["location"], custom_fields=clean["custom_fields"])
    SalesOrderLine.objects.bulk_create([
        SalesOrderLine(order=order, line_number=index + 1, item=line["item"], quantity=line["quantity"],
                       price=line["price"], tax_amount=line["tax_amount"], discount_amount=line["discount_amount"])
        for index, line in enumerate(clean["lines"])])
    return order


def locked_order(sandbox, code):
    order = SalesOrder.objects.select_for_update().filter(sandbox=sandbox, code=code).first()
    if order is None:
        raise ActionRefused("not_found", f"No sales order “{code}”.", status=404)
    return order


def touch(order):
    order.version += 1
    order.save()


def change_status(order, status):
    """A status change asked by a client; cancelling releases the stock the order holds."""
    allowed_from = CLIENT_TRANSITIONS.get(status)
    if allowed_from is None:
        raise ActionRefused("invalid_transition", f"{status} is set by TIMS itself (allocate, ship, invoice), "
                            "not through the API.", status=422, field="OrderStatus")
    if order.status not in allowed_from:
        raise ActionRefused("invalid_transition", f"An order that is {order.status} cannot become {status}.",
                            status=422, field="OrderStatus")
    if status == "Cancelled":
        release(order)
    order.status = status


def release(order):
    for line in order.lines.select_related("item").filter(allocated_quantity__gt=0):
        level = level_for(line.item, order.location)
        level.allocated -= line.allocated_quantity
        stock_changed(level)
        line.allocated_quantity = 0
        line.save(update_fields=["allocated_quantity"])


def allocate(order):
    """Reserve what is available for every line not yet shipped or reserved. Returns the units reserved."""
    if order.status in ("Cancelled", "Closed", "OnHold", "Fulfilled"):
        raise ActionRefused("invalid_status", f"Order {order.code} is {order.status} and cannot be allocated.")
    reserved = 0
    outstanding = 0
    for line in order.lines.select_related("item").order_by("line_number"):
        needed = line.quantity - line.shipped_quantity - line.allocated_quantity
        if needed <= 0:
            continue
        level = level_for(line.item, order.location)
        take = max(0, min(needed, level.available))
        outstanding += needed - take
        if take:
            level.allocated += take
            stock_changed(level)
            line.allocated_quantity += take
            line.save(update_fields=["allocated_quantity"])
            reserved += take
    if order.status in ("Open", "Processing", "Allocated"):
        order.status = "Allocated" if outstanding == 0 else "Processing"
    touch(order)
    return reserved


def ship(order, carrier="UPS", tracking_number="", shipping_class="Ground"):
    """Allocate what is possible, then ship everything allocated: OnHand and Allocated drop together."""
    allocate(order)
    lines = []
    for line in order.lines.select_related("item").filter(allocated_quantity__gt=0).order_by("line_number"):
        level = level_for(line.item, order.location)
        level.on_hand -= line.allocated_quantity
        level.allocated -= line.allocated_quantity
        stock_changed(level)
        lines.append({"SKU": line.item.sku, "Quantity": line.allocated_quantity})
        line.shipped_quantity += line.allocated_quantity
        line.allocated_quantity = 0
        line.save(update_fields=["shipped_quantity", "allocated_quantity"])
    if not lines:
        raise ActionRefused("nothing_to_ship", f"Order {order.code} has no stock available to ship.")
    code = next_code(order.sandbox, "shipment")
    shipment = Shipment.objects.create(
        sandbox=order.sandbox, code=code, order=order, carrier=carrier, shipping_class=shipping_class,
        tracking_number=tracking_number or f"1Z{order.sandbox_id:03d}{code[2:]}{len(lines):02d}",
        shipped_at=timezone.now(), lines=lines)
    complete = all(line.shipped_quantity >= line.quantity for line in order.lines.all())
    if order.status != "Invoiced":  # billed before shipping (pre-billing) stays Invoiced
        order.status = "Fulfilled" if complete else "PartiallyShipped"
    touch(order)
    emit(order.sandbox, "shipment.created", serializers.shipment(shipment))
    return shipment


def invoice(order, invoice_date=None):
    """Bill the order in full (lines, tax, discounts and shipping): one invoice per order."""
    if order.status in ("Cancelled", "OnHold"):
        raise ActionRefused("invalid_status", f"Order {order.code} is {order.status} and cannot be invoiced.")
    if order.invoices.exists():
        raise ActionRefused("already_invoiced", f"Order {order.code} is already invoiced "
                            f"({order.invoices.first().code}).")
    lines = [{"SKU": line.item.sku, "Quantity": line.quantity, "Price": serializers.price(line.price),
              "TaxAmount": serializers.money(line.tax_amount),
              "DiscountAmount": serializers.money(line.discount_amount)}
             for line in order.lines.select_related("item").order_by("line_number")]
    if order.shipping_amount:
        lines.append({"SKU": "FREIGHT", "Quantity": 1, "Price": serializers.money(order.shipping_amount),
                      "TaxAmount": "0.00", "DiscountAmount": "0.00"})
    paid = order.payment_status == "Paid"
    row = Invoice.objects.create(
        sandbox=order.sandbox, code=next_code(order.sandbox, "invoice"), order=order, customer=order.customer,
        invoice_date=invoice_date or timezone.now().date(), lines=lines, total_amount=order.total_amount,
        balance=0 if paid else order.total_amount, status="Paid" if paid else "Open")
    if order.status != "Closed":
        order.status = "Invoiced"
    touch(order)
    emit(order.sandbox, "invoice.created", serializers.invoice(row))
    return row


def record_payment(sandbox, clean):
    invoice_row = clean["invoice"]
    invoice_row.balance -= clean["amount"]
    invoice_row.status = "Paid" if invoice_row.balance == 0 else "PartiallyPaid"
    invoice_row.save()
    order = invoice_row.order
    order.payment_status = "Paid" if invoice_row.balance == 0 else "PartiallyPaid"
    touch(order)
    return Payment.objects.create(sandbox=sandbox, code=next_code(sandbox, "payment"), invoice=invoice_row,
                                  amount=clean["amount"], method=clean["method"], reference=clean["reference"],
                                  received_at=clean["received_at"] or timezone.now())


def record_return(sandbox, clean):
    """Take goods back; restocked lines go back on hand at the order's location."""
    order = clean["order"]
    prices = {line.item.sku: line for line in order.lines.select_related("item")}
    refund = clean["refund_amount"]
    if refund is None:
        refund = sum((prices[line["SKU"]].price * line["Quantity"] for line in clean["lines"]), Decimal("0"))
        refund = refund.quantize(Decimal("0.01"), ROUND_HALF_UP)
    for line in clean["lines"]:
        if line["Restock"]:
            level = level_for(prices[line["SKU"]].item, order.location)
            level.on_hand += line["Quantity"]
            stock_changed(level)
    return Return.objects.create(sandbox=sandbox, code=next_code(sandbox, "return"), order=order,
                                 lines=clean["lines"], refund_amount=refund)


def create_journal_entry(sandbox, clean):
    return JournalEntry.objects.create(sandbox=sandbox, code=next_code(sandbox, "journal_entry"), date=clean["date"],
                                       reference=clean["reference"], lines=clean["lines"])


def item_changed(item):
    item.version += 1
    item.save()
    emit(item.sandbox, "item.updated", serializers.item(item))


def default_location(sandbox):
    return Location.objects.get(sandbox=sandbox, code=config(sandbox).default_location)
