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
    GlAccount,
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
from sandbox.tims.validation import taken_off_bill

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


def status_event(order, previous_status):
    """`sales_order.status_changed` after the order is saved, only when its status really moved."""
    if order.status != previous_status:
        emit(order.sandbox, "sales_order.status_changed", serializers.status_change(order, previous_status))


def change_status(order, status):
    """A status change asked by a client (PATCH): checked, saved and announced. Cancelling goes through cancel()."""
    if status == "Cancelled":
        return cancel(order)
    allowed_from = CLIENT_TRANSITIONS.get(status)
    if allowed_from is None:
        raise ActionRefused("invalid_transition", f"{status} is set by TIMS itself (allocate, ship, invoice), "
                            "not through the API.", status=422, field="OrderStatus")
    if order.status not in allowed_from:
        raise ActionRefused("invalid_transition", f"An order that is {order.status} cannot become {status}.",
                            status=422, field="OrderStatus")
    previous = order.status
    order.status = status
    touch(order)
    status_event(order, previous)
    return order


def cancel(order):
    """Cancel an order before anything ships (API PATCH and back office alike): allocations are released."""
    if order.status == "Cancelled":
        raise ActionRefused("already_cancelled", f"Order {order.code} is already cancelled.", status=422,
                            field="OrderStatus")
    if order.status in ("PartiallyShipped", "Fulfilled") or order.lines.filter(shipped_quantity__gt=0).exists():
        raise ActionRefused("not_cancellable", f"Order {order.code} is {order.status}: goods have shipped, so it "
                            "can no longer be cancelled; record a return (POST /returns) instead.", status=422,
                            field="OrderStatus")
    if order.status in ("Invoiced", "Closed") or order.invoices.exists():
        raise ActionRefused("not_cancellable", f"Order {order.code} is {order.status} and has been billed, so it "
                            "can no longer be cancelled; record a return or a credit instead.", status=422,
                            field="OrderStatus")
    previous = order.status
    release(order)
    order.status = "Cancelled"
    touch(order)
    emit(order.sandbox, "sales_order.cancelled", serializers.cancellation(order, previous))
    status_event(order, previous)
    return order


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
    previous = order.status
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
    status_event(order, previous)
    return reserved


SHIPMENT_TEXT_MAX = {"Carrier": 40, "ShippingClass": 40, "TrackingNumber": 60}  # the Shipment columns


def _check_shipment_text(carrier, shipping_class, tracking_number):
    for field, value in (("Carrier", carrier), ("ShippingClass", shipping_class),
                         ("TrackingNumber", tracking_number)):
        if "\x00" in value:
            raise ActionRefused("invalid_characters", f"{field} contains a NUL character.", status=422, field=field)
        if len(value) > SHIPMENT_TEXT_MAX[field]:
            raise ActionRefused("max_length", f"{field} is {len(value)} characters long; the maximum is "
                                f"{SHIPMENT_TEXT_MAX[field]}.", status=422, field=field)
    if not carrier.strip():
        raise ActionRefused("required", "Carrier is required.", status=422, field="Carrier")


def _requested_quantities(order, order_lines, lines, levels):
    """{SKU: units to ship} from (SKU, quantity) pairs, checked against the order and the stock; None means all
    that can ship now. Errors name the pair as Lines[i] (0-based), like the API's field paths."""
    unshipped, reserved = {}, {}
    for line in order_lines:
        unshipped[line.item.sku] = unshipped.get(line.item.sku, 0) + line.quantity - line.shipped_quantity
        reserved[line.item.sku] = reserved.get(line.item.sku, 0) + line.allocated_quantity
    if lines is None:
        wanted = {sku: min(left, reserved[sku] + max(levels[sku].available, 0)) for sku, left in unshipped.items()}
        wanted = {sku: units for sku, units in wanted.items() if units > 0}
        if not wanted:
            left = "nothing left to ship" if not any(unshipped.values()) else "no stock available to ship"
            raise ActionRefused("nothing_to_ship", f"Order {order.code} has {left}.")
        return wanted
    if not lines:
        raise ActionRefused("required", "Name at least one line (SKU and quantity) to ship.", status=422,
                            field="Lines")
    wanted = {}
    for index, entry in enumerate(lines):
        path = f"Lines[{index}]"
        try:
            sku, quantity = entry
        except (TypeError, ValueError):
            raise ActionRefused("invalid_type", f"{path} must be a SKU and a quantity.", status=422,
                                field=path) from None
        if not isinstance(sku, str):
            raise ActionRefused("invalid_type", f"{path}: the SKU must be text.", status=422, field=f"{path}.SKU")
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise ActionRefused("invalid_integer", f"{path}: the quantity must be a whole number.", status=422,
                                field=f"{path}.Quantity")
        if quantity <= 0:
            raise ActionRefused("min_value", f"{path}: the quantity must be at least 1, not {quantity}.",
                                status=422, field=f"{path}.Quantity")
        if sku not in unshipped:
            raise ActionRefused("not_on_order", f"SKU “{sku}” is not on order {order.code}.", status=422,
                                field=f"{path}.SKU")
        wanted[sku] = wanted.get(sku, 0) + quantity
        if wanted[sku] > unshipped[sku]:
            raise ActionRefused("exceeds_unshipped", f"Only {unshipped[sku]} of “{sku}” are still to ship on "
                                f"{order.code}; {wanted[sku]} asked.", status=422, field=f"{path}.Quantity")
        can_ship = reserved[sku] + max(levels[sku].available, 0)
        if wanted[sku] > can_ship:
            raise ActionRefused("insufficient_stock", f"{sku} has {can_ship} available to ship at "
                                f"{order.location.code} ({reserved[sku]} reserved for this order); "
                                f"{wanted[sku]} asked.", status=422, field=f"{path}.Quantity")
    return wanted


def ship(order, carrier="UPS", tracking_number="", shipping_class="Ground", lines=None):
    """Ship `lines` — (SKU, quantity) pairs — or, when None, everything that stock allows. Units come out of the
    order's own reservation first, then out of what is available; OnHand drops by what ships."""
    if order.status in ("Cancelled", "OnHold", "Closed"):
        raise ActionRefused("invalid_status", f"Order {order.code} is {order.status} and cannot be shipped.",
                            field="OrderStatus")
    _check_shipment_text(carrier, shipping_class, tracking_number)
    previous = order.status
    order_lines = list(order.lines.select_related("item").order_by("line_number"))
    levels = {}
    for line in order_lines:
        if line.item.sku not in levels:
            levels[line.item.sku] = level_for(line.item, order.location)
    wanted = _requested_quantities(order, order_lines, lines, levels)
    for sku, units in wanted.items():
        level, left = levels[sku], units
        for line in (line for line in order_lines if line.item.sku == sku):
            take = min(left, line.quantity - line.shipped_quantity)
            if take <= 0:
                continue
            from_reservation = min(take, line.allocated_quantity)
            line.shipped_quantity += take
            line.allocated_quantity -= from_reservation
            line.save(update_fields=["shipped_quantity", "allocated_quantity"])
            level.on_hand -= take
            level.allocated -= from_reservation
            left -= take
        stock_changed(level)
    code = next_code(order.sandbox, "shipment")
    shipment = Shipment.objects.create(
        sandbox=order.sandbox, code=code, order=order, carrier=carrier, shipping_class=shipping_class,
        tracking_number=tracking_number or f"1Z{order.sandbox_id:03d}{code[2:]}{len(wanted):02d}",
        shipped_at=timezone.now(), lines=[{"SKU": sku, "Quantity": units} for sku, units in wanted.items()])
    complete = all(line.shipped_quantity >= line.quantity for line in order_lines)
    if order.status != "Invoiced":  # billed before shipping (pre-billing) stays Invoiced
        order.status = "Fulfilled" if complete else "PartiallyShipped"
    touch(order)
    emit(order.sandbox, "shipment.created", serializers.shipment(shipment))
    status_event(order, previous)
    return shipment


INVOICE_BLOCKED = ("Cancelled", "OnHold")
CENT = Decimal("0.01")
FREIGHT_SKU = "FREIGHT"
ADJUSTMENT_SKU = "ADJUSTMENT"  # what makes an order's invoices add up to its total


def _cents(value):
    return value.quantize(CENT, ROUND_HALF_UP)


def _taken_off_lines(order_lines, taken):
    """{line number: units} a return took back before they were billed, spread over the SKU's lines first lines
    first (each at most what it has not billed), so a line is complete once invoiced + taken off = ordered."""
    left, per_line = dict(taken), {}
    for line in order_lines:
        units = min(left.get(line.item.sku, 0), line.quantity - line.invoiced_quantity)
        if units > 0:
            per_line[line.line_number] = units
            left[line.item.sku] -= units
    return per_line


def fully_billed(order, order_lines=None):
    """Every unit of the order invoiced, or taken off its bill by a return before it was invoiced."""
    order_lines = order_lines if order_lines is not None else list(order.lines.select_related("item"))
    off = _taken_off_lines(order_lines, taken_off_bill(order))
    return all(line.invoiced_quantity + off.get(line.line_number, 0) >= line.quantity for line in order_lines)


def _billable(total, order_line, off):
    """A line amount less the share of the units taken off the bill, to the cent."""
    return total - _cents(total * off / order_line.quantity) if off else total


def _billed_so_far(order):
    """{line number: {"ExtendedPrice", "TaxAmount", "DiscountAmount"}} already billed by the order's invoices."""
    billed = {}
    for lines in order.invoices.values_list("lines", flat=True):
        for line in lines:
            if line.get("LineNumber") is None:  # freight and adjustments bill no order line
                continue
            sums = billed.setdefault(line["LineNumber"], dict.fromkeys(
                ("ExtendedPrice", "TaxAmount", "DiscountAmount"), Decimal("0")))
            for key in sums:
                sums[key] += Decimal(line.get(key) or "0")
    return billed


def _share(total, billed, quantity, order_line, completes):
    """Pro rata by quantity, rounded half-up to cents; the invoice that completes the line takes the remainder,
    so an order's invoices add up exactly to its line amounts."""
    if completes:
        return total - billed
    return _cents(total * quantity / order_line.quantity)


def _adjust_to_order_total(order, total, invoice_lines, unbilled=Decimal("0")):
    """The invoice that completes an order bills what its total (kept as the channel sent it: rounding, fees or
    discounts TIMS does not itemise, less what returns took off the bill) differs from the lines, on an ADJUSTMENT
    line, so the invoices add up to it."""
    billed = sum(order.invoices.values_list("total_amount", flat=True), Decimal("0")) + total
    difference = _cents(order.total_amount - unbilled - billed)
    if difference:
        invoice_lines.append({"LineNumber": None, "SKU": ADJUSTMENT_SKU, "Quantity": 1,
                              "Price": serializers.money(difference), "ExtendedPrice": serializers.money(difference),
                              "TaxAmount": "0.00", "DiscountAmount": "0.00",
                              "LineTotal": serializers.money(difference)})
    return difference


def _shipment_left(shipment):
    """{SKU: units of the shipment not yet billed by invoices of that shipment}."""
    left = {}
    for line in shipment.lines:
        left[line["SKU"]] = left.get(line["SKU"], 0) + line["Quantity"]
    for lines in shipment.invoices.values_list("lines", flat=True):
        for line in lines:
            if line.get("SKU") in left:
                left[line["SKU"]] -= line["Quantity"]
    return left


def _refuse_lines(problems):
    """Several line problems at once, as the API reports every problem of a body."""
    first = problems[0]
    error = ActionRefused(first[1], first[2], status=422, field=first[0])
    error.problems = problems
    raise error


def _wanted_quantities(order, order_lines, shipment, lines, off):
    """{SKU: units to bill} from the request's (SKU, quantity) pairs, or, when None, what remains: of the
    shipment when one is named, else of the whole order. Checked against what shipped and what was ordered;
    units a return took off the bill (`off`, per line number) are never billed."""
    uninvoiced = {}
    for line in order_lines:
        uninvoiced[line.item.sku] = (uninvoiced.get(line.item.sku, 0) + line.quantity - line.invoiced_quantity
                                     - off.get(line.line_number, 0))
    shipment_left = _shipment_left(shipment) if shipment is not None else None
    if lines is None:
        wanted = dict(uninvoiced) if shipment_left is None else {
            sku: min(units, uninvoiced.get(sku, 0)) for sku, units in shipment_left.items()}
        wanted = {sku: units for sku, units in wanted.items() if units > 0}
        if not wanted:
            what = f"shipment {shipment.code}" if shipment is not None else f"order {order.code}"
            raise ActionRefused("nothing_to_invoice", f"Everything on {what} is already invoiced, or came back "
                                "before it was invoiced.", status=422)
        return wanted
    if not lines:
        raise ActionRefused("required", "Name at least one line (SKU and quantity) to invoice, or leave Lines "
                            "out to invoice what remains.", status=422, field="Lines")
    wanted, problems = {}, []
    for index, (sku, quantity) in enumerate(lines):
        path = f"Lines[{index}]"
        if sku not in uninvoiced:
            problems.append((f"{path}.SKU", "not_on_order", f"SKU “{sku}” is not on order {order.code}."))
            continue
        wanted[sku] = wanted.get(sku, 0) + quantity
        if shipment_left is not None and wanted[sku] > shipment_left.get(sku, 0):
            problems.append((f"{path}.Quantity", "exceeds_shipped",
                             f"Shipment {shipment.code} has {max(shipment_left.get(sku, 0), 0)} of “{sku}” left "
                             f"to invoice (shipped minus already invoiced); {wanted[sku]} asked."))
        if wanted[sku] > uninvoiced[sku]:
            problems.append((f"{path}.Quantity", "exceeds_ordered",
                             f"Order {order.code} has {uninvoiced[sku]} of “{sku}” left to invoice (ordered minus "
                             f"already invoiced and returned before invoicing); {wanted[sku]} asked."))
    if problems:
        _refuse_lines(problems)
    return wanted


def invoice(order, invoice_date=None, shipment=None, lines=None):
    """Bill part of an order: `lines` ((SKU, quantity) pairs), or, when None, what remains of `shipment` (when
    given) or of the whole order. Each line's price, tax and discount are the order line's, pro rata; freight
    goes on the order's first invoice. The order becomes Invoiced once every unit is billed."""
    if order.status in INVOICE_BLOCKED:
        raise ActionRefused("invalid_status", f"Order {order.code} is {order.status} and cannot be invoiced.",
                            status=422, field="SalesOrderID")
    if shipment is not None and shipment.order_id != order.pk:
        raise ActionRefused("unknown_shipment", f"Shipment {shipment.code} belongs to another sales order.",
                            status=422, field="ShipmentID")
    order_lines = list(order.lines.select_for_update().select_related("item").order_by("line_number"))
    off = _taken_off_lines(order_lines, taken_off_bill(order))
    wanted = _wanted_quantities(order, order_lines, shipment, lines, off)
    billed = _billed_so_far(order)
    invoice_lines, total, unbilled = [], Decimal("0"), Decimal("0")
    for order_line in order_lines:
        line_off = off.get(order_line.line_number, 0)
        full = {"ExtendedPrice": _cents(order_line.quantity * order_line.price),
                "TaxAmount": order_line.tax_amount, "DiscountAmount": order_line.discount_amount}
        billable = {key: _billable(value, order_line, line_off) for key, value in full.items()}
        unbilled += sum(full[key] - billable[key] for key in ("ExtendedPrice", "TaxAmount")) - (
            full["DiscountAmount"] - billable["DiscountAmount"])
        left = order_line.quantity - order_line.invoiced_quantity - line_off
        take = min(wanted.get(order_line.item.sku, 0), left)
        if take <= 0:
            continue
        wanted[order_line.item.sku] -= take
        completes = take == left
        so_far = billed.get(order_line.line_number, {})
        # Pro rata of the whole line per unit; the invoice completing it takes what is left of its billable part.
        amounts = {key: billable[key] - so_far.get(key, Decimal("0")) if completes
                   else _share(full[key], Decimal("0"), take, order_line, False)
                   for key in ("ExtendedPrice", "TaxAmount", "DiscountAmount")}
        line_total = amounts["ExtendedPrice"] - amounts["DiscountAmount"] + amounts["TaxAmount"]
        total += line_total
        invoice_lines.append({"LineNumber": order_line.line_number, "SKU": order_line.item.sku, "Quantity": take,
                              "Price": serializers.price(order_line.price),
                              **{key: serializers.money(value) for key, value in amounts.items()},
                              "LineTotal": serializers.money(line_total)})
        order_line.invoiced_quantity += take
        order_line.save(update_fields=["invoiced_quantity"])
    freight = Decimal("0")
    if order.shipping_amount and not order.invoices.exists():
        freight = order.shipping_amount
        total += freight
        invoice_lines.append({"LineNumber": None, "SKU": FREIGHT_SKU, "Quantity": 1,
                              "Price": serializers.money(freight), "ExtendedPrice": serializers.money(freight),
                              "TaxAmount": "0.00", "DiscountAmount": "0.00", "LineTotal": serializers.money(freight)})
    completes = all(line.invoiced_quantity + off.get(line.line_number, 0) >= line.quantity for line in order_lines)
    if completes:
        total += _adjust_to_order_total(order, total, invoice_lines, unbilled)
    previous = order.status
    row = Invoice.objects.create(
        sandbox=order.sandbox, code=next_code(order.sandbox, "invoice"), order=order, shipment=shipment,
        customer=order.customer, invoice_date=invoice_date or timezone.now().date(), currency=order.currency,
        lines=invoice_lines, shipping_amount=freight, total_amount=total, balance=total,
        status="Paid" if total == 0 else "Open")
    if order.status != "Closed" and completes:
        order.status = "Invoiced"
    touch(order)
    emit(order.sandbox, "invoice.created", serializers.invoice(row))
    status_event(order, previous)
    return row


def record_payment(sandbox, clean):
    """Apply a payment to one invoice; the order is Paid once it is fully invoiced and nothing is owed."""
    invoice_row = clean["invoice"]
    invoice_row.balance -= clean["amount"]
    invoice_row.status = "Paid" if invoice_row.balance == 0 else "PartiallyPaid"
    invoice_row.save()
    order = SalesOrder.objects.select_for_update().get(pk=invoice_row.order_id)
    order.payment_status = payment_status(order)
    touch(order)
    return Payment.objects.create(sandbox=sandbox, code=next_code(sandbox, "payment"), invoice=invoice_row,
                                  amount=clean["amount"], method=clean["method"], reference=clean["reference"],
                                  received_at=clean["received_at"] or timezone.now())


def payment_status(order):
    """The order's PaymentStatus from its invoices: Refunded once every paid amount went back, PartiallyPaid after
    part of it did; otherwise Paid once it is fully invoiced and nothing is owed, else PartiallyPaid."""
    owed = paid = refunded = Decimal("0")
    for total, balance, given_back in order.invoices.values_list("total_amount", "balance", "refunded_amount"):
        owed += balance
        paid += total - balance
        refunded += given_back
    if refunded > 0:
        return "Refunded" if refunded >= paid else "PartiallyPaid"
    fully_invoiced = not order.lines.filter(invoiced_quantity__lt=F("quantity")).exists() or fully_billed(order)
    return "Paid" if owed == 0 and fully_invoiced else "PartiallyPaid"


RETURN_REASON = "RETURN"  # the ReasonCode of the adjustment a restocked line makes


def _give_back(order, refund):
    """Spread a refund over the order's invoices, oldest first, each at most what was paid on it minus what it
    already gave back; returns [{"InvoiceID", "Amount"}]. validation.clean_return checked the whole fits."""
    credits, left = [], refund
    for row in order.invoices.select_for_update().order_by("id"):
        if left <= 0:
            break
        take = min(left, row.total_amount - row.balance - row.refunded_amount)
        if take <= 0:
            continue
        row.refunded_amount += take
        row.save(update_fields=["refunded_amount", "updated_at"])
        credits.append({"InvoiceID": row.code, "Amount": serializers.money(take)})
        left -= take
    if left > 0:  # clean_return refuses this (exceeds_paid); never give back money that was not paid
        raise ActionRefused("exceeds_paid", f"Refund {refund} is more than order {order.code} has left to refund.",
                            status=422, field="RefundAmount")
    return credits


def record_return(sandbox, clean):
    """Take goods back and give money back, in the caller's transaction. Each Restock line goes back on hand at
    the order's location once, as an inventory adjustment (ReasonCode RETURN, Reference the ReturnID), so the
    inventory feed and `inventory.changed` show it; lines without Restock leave stock alone. The refund is paid
    money given back: it is recorded on the order's invoices (RefundedAmount; Balance, what is still owed, does
    not move) and the order's PaymentStatus follows. Units that shipped but were not invoiced yet are taken off
    the order's bill instead (validation marked them UninvoicedQuantity): their share of the refund gives nothing
    back, since nothing was billed for them. Emits `return.created`."""
    order = clean["order"]
    items = {line.item.sku: line.item for line in order.lines.select_related("item")}
    code = next_code(sandbox, "return")
    for line in clean["lines"]:
        if line["Restock"]:
            adjust(sandbox, items[line["SKU"]], order.location, line["Quantity"], RETURN_REASON, reference=code)
    refund = clean["refund_amount"]
    unbilled = clean.get("uninvoiced_amount") or Decimal("0")
    credits = _give_back(order, refund - unbilled) if refund > unbilled else []
    row = Return.objects.create(sandbox=sandbox, code=code, order=order,
                                external_return_id=clean.get("external_return_id", ""),
                                return_date=clean.get("return_date") or timezone.now().date(),
                                currency=order.currency, lines=clean["lines"], refund_amount=refund,
                                credits=credits)
    previous = order.status
    if order.status != "Closed" and order.invoices.exists() and fully_billed(order):
        order.status = "Invoiced"  # the rest of what shipped came back before its invoice: nothing is left to bill
    if credits or order.status != previous:
        order.payment_status = payment_status(order)
    touch(order)
    emit(sandbox, "return.created", serializers.return_(row))
    status_event(order, previous)
    return row


# The chart every sandbox starts with: what a distributor selling through a web shop and marketplaces books to.
CHART_OF_ACCOUNTS = [
    ("1000", "Bank", "Asset"),
    ("1100", "Accounts receivable", "Asset"),
    ("1150", "Payment clearing", "Asset"),
    ("1151", "Card clearing", "Asset"),
    ("1152", "PayPal clearing", "Asset"),
    ("1160", "Marketplace clearing", "Asset"),
    ("2200", "Sales tax payable", "Liability"),
    ("2210", "VAT payable", "Liability"),
    ("4000", "Sales — web shop", "Revenue"),
    ("4010", "Sales — marketplaces", "Revenue"),
    ("4100", "Shipping income", "Revenue"),
    ("4200", "Sales discounts", "Revenue"),
    ("6100", "Marketplace fees", "Expense"),
    ("6900", "Rounding differences", "Expense"),
]


def chart_of_accounts(sandbox):
    """The sandbox's GL accounts, made on first use for sandboxes created before the chart existed."""
    rows = GlAccount.objects.filter(sandbox=sandbox)
    if not rows.exists():
        GlAccount.objects.bulk_create([GlAccount(sandbox=sandbox, account=account, name=name, type=kind)
                                       for account, name, kind in CHART_OF_ACCOUNTS], ignore_conflicts=True)
    return rows.order_by("account")


def create_journal_entry(sandbox, clean):
    return JournalEntry.objects.create(sandbox=sandbox, code=next_code(sandbox, "journal_entry"), date=clean["date"],
                                       reference=clean["reference"], memo=clean["memo"], lines=clean["lines"])


def item_changed(item):
    item.version += 1
    item.save()
    emit(item.sandbox, "item.updated", serializers.item(item))


def default_location(sandbox):
    return Location.objects.get(sandbox=sandbox, code=config(sandbox).default_location)
