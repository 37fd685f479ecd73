"""Returns and refunds, channel → TIMS: a ChannelAdvisor adjustment or a PrestaShop credit slip becomes one TIMS
return (goods back on the shelf once, money back against what was paid), and its refund posts a journal entry.

Polled from the channel (adjustments / credit slips by date) → read again from the channel when it runs (a pending
refund waits) → the order's TIMS sales order → the reason map says TIMS's Reason and whether to restock → look the
return up in TIMS by the channel's id → create with an Idempotency-Key → link → the refund's entry follows.
"""

from datetime import timedelta

from integrations import canonical as c
from integrations.connectors import errors
from integrations.connectors.checks import client_for
from integrations.flows import registry
from integrations.flows.fulfillment import ORDER
from integrations.pipeline import records
from integrations.pipeline.outcomes import Hold, Rejected, Skipped

RESTOCK = {"restock": True, "no-restock": False}  # "channel": as the channel's own restock flag says
NO_REASON = "refund"  # a credit slip names none
PENDING_RECHECK = timedelta(minutes=60)
CENT = c.decimal("0.01")


def bring_back(record):
    """One channel return → one TIMS return, found before it is ever created twice."""
    integration = record.integration
    ret = current_return(record)
    records.save_fields(record, reference=f"order {ret.order_id} return {ret.source_id}"[:100])
    if ret.status == "pending":
        raise Hold(f"Return {ret.source_id} of order {ret.order_id} waits for the channel to complete its refund.",
                   recheck_after=PENDING_RECHECK, fix="Nothing to do: it is checked again by itself.")
    if ret.status == "cancelled":
        return cancel_before_shipping(record, ret)
    if ret.status == "failed":
        raise Skipped(f"The channel's return {ret.source_id} is {ret.status}: nothing comes back.")
    sales_order_id = records.linked_target(record, entity_type=ORDER, source_id=ret.order_id)
    if not sales_order_id:
        raise Rejected(f"Return {ret.source_id} is for channel order {ret.order_id}, which the portal never put "
                       "into TIMS.", fix="Import the order first (find its record, fix and retry it), then retry this "
                       "one; or book the return in TIMS by hand and discard this record.")
    lines = [mapped_line(integration, line, record) for line in ret.lines]
    if not lines and not (ret.refund and ret.refund.amount):
        raise Skipped(f"Return {ret.source_id} gives back neither goods nor money.")
    if not lines:  # TIMS takes a return only with the goods that come back (Lines is required): never send it
        raise Rejected(f"Return {ret.source_id} of order {ret.order_id} gives back money only "
                       f"({ret.refund.amount} {ret.refund.currency}, an order-level refund), and TIMS records a "
                       "return only with the goods that come back.",
                       fix="Book the refund in TIMS by hand (a credit against the order's invoice), then discard this "
                           "record; or, if it refunds goods, edit the stored payload to name them, then retry.")
    for_tims = c.Return(source=ret.source, source_id=ret.source_id, order_id=sales_order_id, lines=lines,
                        refund=ret.refund, created_at=ret.created_at)
    if record.shadow:
        records.save_fields(record, notes="Shadow mode: would return " + describe(for_tims) + ".")
        return
    tims = client_for(integration.tims_connection, lane=RETURNS.lane)
    found = tims.find_returns(sales_order_id=sales_order_id, external_return_id=ret.source_id)
    if found:
        made, what = found[0], "was already in TIMS"
    else:
        order = tims.get_sales_order(sales_order_id)
        if order.status == "Cancelled":  # TIMS cancels only what never shipped nor was billed
            raise Skipped(f"TIMS sales order {sales_order_id} is cancelled: its goods never shipped and nothing was "
                          f"billed, so return {ret.source_id} of channel order {ret.order_id} takes nothing back and "
                          "refunds nothing in TIMS.")
        records.mark_sent(record)
        try:
            made = tims.create_return(for_tims, key=f"return:{integration.pk}:{record.source_id}")
        except errors.ValidationFailed as exc:
            raise refused(exc, ret, sales_order_id, order, record) from exc
        what = "created"
    records.link(record, made.source_id)
    refunded, parts = given_back(made, ret.extra.get("refund_parts") or {})
    record.produced = [{"return": made.to_dict(), "parts": parts, "refunded": str(refunded),
                        "order_id": ret.order_id}]
    unbilled = c.decimal(made.extra.get("UninvoicedAmount") or "0")
    off_bill = (f"; {unbilled} of it was for goods not invoiced yet, which TIMS takes off the order's bill "
                "instead of giving money back") if unbilled else ""
    records.save_fields(record, notes=f"Return {made.source_id} {what} for TIMS sales order {sales_order_id}: "
                                      f"{describe(for_tims)}{off_bill}."[:2000])


def given_back(made, parts):
    """(money TIMS gave back, its goods/tax/shipping parts): the refund less its share for goods that were never
    invoiced (TIMS bills them no more, so no money goes back and no revenue is reversed). That share comes off the
    goods and their tax, in proportion; shipping refunded stays."""
    refund = made.refund.amount if made.refund else c.decimal("0")
    unbilled = min(c.decimal(made.extra.get("UninvoicedAmount") or "0"), refund)
    if not unbilled or not parts:
        return refund - unbilled, parts
    left = {name: c.decimal(parts.get(name) or "0") for name in ("goods", "tax", "shipping")}
    share = left["goods"] + left["tax"]
    tax_first = min((unbilled * left["tax"] / share).quantize(CENT), left["tax"]) if share else c.decimal("0")
    rest = unbilled
    for name, most in (("tax", tax_first), ("goods", rest), ("tax", rest), ("shipping", rest)):
        off = min(most, rest, left[name])
        left[name] -= off
        rest -= off
    return refund - unbilled, {**parts, **{name: str(value) for name, value in left.items()}}


FIXES = {
    "exceeds_shipped": "The channel takes back goods TIMS never shipped (a refund of what was still to ship): a "
                       "person decides — cancel those lines of the TIMS order, or ship them — then retry; or edit "
                       "the stored payload to the goods that did ship and retry.",
    "exceeds_paid": "The channel gives back more than was paid in TIMS (the order is not fully invoiced or paid "
                    "yet?): once it is, retry; or book the difference in TIMS by hand and discard this record.",
    "not_on_order": "The channel returns a SKU the TIMS order does not have: check the order mapping's SKUs, edit "
                    "the stored payload, then retry.",
}


NOTHING_SHIPPED = ("Open", "Processing", "OnHold", "Allocated")
CANCEL_WAIT = timedelta(minutes=15)
CANCEL_GIVE_UP = timedelta(days=1)


def refused(exc, ret, sales_order_id, order, record):
    """TIMS's refusal as a dead letter that says what to do for the code it names. A refund of an order TIMS has
    shipped nothing of is most often the channel's cancellation, which reaches TIMS by the order: it waits a while."""
    code = next((f.code for f in exc.fields if f.code in FIXES), "")
    if code == "exceeds_shipped" and order.status in NOTHING_SHIPPED:
        raise Hold(f"The channel refunds goods of order {ret.order_id} that TIMS has not shipped (sales order "
                   f"{sales_order_id} is {order.status}): if the channel cancelled the order, TIMS cancels it too "
                   "and this return then has nothing to do.", recheck_after=CANCEL_WAIT,
                   give_up_at=record.created_at + CANCEL_GIVE_UP, fix=FIXES[code])
    return Rejected(f"TIMS refused return {ret.source_id} of sales order {sales_order_id}: {exc}",
                    fix=FIXES.get(code, "Fix the value named above, then retry."),
                    details={"field_errors": list(exc.field_errors)})


def cancel_before_shipping(record, ret):
    """A ChannelAdvisor Cancellation of the whole order (nothing shipped: ChannelAdvisor refuses it after) cancels
    the TIMS sales order, which releases its reservations: nothing was on its way, so nothing is restocked, and
    nothing was billed, so nothing is refunded. The order flow never sees it: a cancelled order is not listed as new."""
    if ret.lines:
        raise Skipped(f"The channel cancelled units of order {ret.order_id} ({describe_lines(ret.lines)}) before "
                      "they shipped: TIMS lines are not cancelled one by one, so check the TIMS order before it "
                      "ships.")
    sales_order_id = records.linked_target(record, entity_type=ORDER, source_id=ret.order_id)
    if not sales_order_id:
        raise Skipped(f"The channel cancelled order {ret.order_id}, which the portal never put into TIMS: nothing "
                      "to cancel.")
    tims = client_for(record.integration.tims_connection, lane=RETURNS.lane)
    order = tims.get_sales_order(sales_order_id)
    if order.status == "Cancelled":
        raise Skipped(f"The channel cancelled order {ret.order_id}; TIMS sales order {sales_order_id} is cancelled "
                      "already.")
    if order.status not in NOTHING_SHIPPED:
        raise Rejected(f"The channel cancelled order {ret.order_id}, but TIMS sales order {sales_order_id} is "
                       f"{order.status}: nothing was changed in TIMS.", error_class="business_hold",
                       fix="A person decides: stop the parcel or book it as a return, refund the buyer in the "
                           "channel, then discard this record.")
    if record.shadow:
        records.save_fields(record, notes=f"Shadow mode: would cancel TIMS sales order {sales_order_id}.")
        return
    records.mark_sent(record)
    try:
        tims.update_sales_order(sales_order_id, {"OrderStatus": "Cancelled"}, version=order.version)
    except errors.ValidationFailed as exc:  # billed already (invoiced at import): a return, not a cancellation
        raise Rejected(f"The channel cancelled order {ret.order_id}, but TIMS refused to cancel sales order "
                       f"{sales_order_id}: {exc}", fix="A person decides: book a credit for what was billed in "
                       "TIMS (or cancel it there by hand), then discard this record.") from exc
    records.save_fields(record, notes=f"The channel cancelled order {ret.order_id} before it shipped: TIMS sales "
                                      f"order {sales_order_id} is cancelled (nothing restocked, nothing refunded).")


def describe_lines(lines):
    return ", ".join(f"{line.quantity} × {line.sku}" for line in lines)


def current_return(record):
    """The return as the channel has it now (a refund may have completed since the poll), else as it was read."""
    stored = c.Return.from_dict(record.source_payload)
    channel = client_for(record.integration.channel_connection, lane=RETURNS.lane)
    for ret in channel.returns_of_order(stored.order_id):
        if ret.source_id == stored.source_id:
            return ret
    return stored


def mapped_line(integration, line, record):
    """A channel line with TIMS's Reason and the restock decision from the reason map staff edit."""
    from mappings.errors import UnmappedValueError
    from mappings.services import MissingValueMap, translate

    name = reason_map(integration)
    reason = line.reason or NO_REASON
    try:
        target = str(translate(integration.organization_id, name, reason, example=record.reference))
    except UnmappedValueError as exc:
        raise Rejected(f"The channel gave the reason “{reason}” for returning {line.sku}, which the value map "
                       f"“{name}” does not cover.", error_class="unmapped_value",
                       fix=f"Add “{reason}” to the value map “{name}” (a TIMS reason, then |restock, |no-restock or "
                           "|channel), then retry.",
                       details={"value_map": {"name": name, "value": reason, "url": exc.admin_url}}) from exc
    except MissingValueMap as exc:
        raise Rejected(str(exc), fix="Create the integration's default mappings, then retry.") from exc
    tims_reason, _, restock = target.partition("|")
    restock = restock.strip().lower() or "no-restock"
    if restock not in (*RESTOCK, "channel"):
        raise Rejected(f"The value map “{name}” sends “{reason}” to “{target}”: after the | it must say restock, "
                       "no-restock or channel.", fix=f"Correct the entry for “{reason}” in “{name}”, then retry.")
    return c.ReturnLine(sku=line.sku, quantity=line.quantity, reason=tims_reason.strip() or reason,
                        restock=line.restock if restock == "channel" else RESTOCK[restock], amount=line.amount,
                        source_id=line.source_id)


def reason_map(integration):
    return RETURNS.value_maps.get(integration.channel_connection.kind, ("",))[0]


def describe(ret):
    goods = ", ".join(f"{line.quantity} × {line.sku} ({line.reason}" + (", restocked" if line.restock else "")
                      + ")" for line in ret.lines) or "no goods"
    money = f"{ret.refund.amount} {ret.refund.currency}".strip() if ret.refund else "no money"
    return f"{goods}; refund {money}"


RETURNS = registry.declare(registry.Flow(
    name="returns", label="Returns and refunds into TIMS", source=registry.CHANNEL, target=registry.TIMS,
    entity_type="return",
    triggers=(registry.Poll("credit_slips", position="watermark", kinds=("prestashop",)),
              registry.Poll("adjustments", position="watermark", kinds=("channeladvisor",))),
    step=bring_back, lane="normal",
    value_maps={"prestashop": ("prestashop_return_reason",), "channeladvisor": ("channeladvisor_return_reason",)},
    templates={"prestashop_tims": True, "channeladvisor_tims": True},
))
