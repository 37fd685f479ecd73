"""An order's story across systems, for its record page: channel order → TIMS sales order → each shipment → the
channel's fulfillment (or cancellation) → what followed (invoices, payments, journal entries), each with its time
and the record that did it.

Everything about one channel order shares its business key (the order's own records, and the TIMS shipments and
cancellations routed to it), so the story is one query on that key plus the order's link.
"""

from dataclasses import dataclass
from datetime import datetime

from integrations.models import Link, RecordStatus, SyncRecord

ORDER = "order"


@dataclass
class Step:
    at: datetime | None
    system: str
    what: str
    record: SyncRecord | None = None
    problem: bool = False


def order_key(record):
    """(business keys of the order's work, channel order id, TIMS sales order id) for any record of its story."""
    prefix = f"{record.integration_id}:{ORDER}"
    order_id = sales_order_id = ""
    if record.entity_type == ORDER:
        order_id = record.source_id
    elif record.business_key.startswith(prefix + ":"):
        order_id = record.business_key[len(prefix) + 1:]
    elif record.business_key.startswith(prefix + "-target:"):
        sales_order_id = record.business_key[len(prefix) + 8:]
    links = Link.objects.filter(integration_id=record.integration_id, entity_type=ORDER)
    if order_id:
        sales_order_id = links.filter(source_id=order_id).values_list("target_id", flat=True).first() or ""
    elif sales_order_id:
        order_id = links.filter(target_id=sales_order_id).values_list("source_id", flat=True).first() or ""
    keys = [f"{prefix}:{order_id}"] if order_id else []
    keys += [f"{prefix}-target:{sales_order_id}"] if sales_order_id else []
    return keys, order_id, sales_order_id


def timeline(record):
    """[Step] in the order they happened; empty for a record that belongs to no order."""
    keys, order_id, sales_order_id = order_key(record)
    if not keys:
        return []
    integration = record.integration
    channel = integration.channel_connection.get_kind_display()
    story = list(SyncRecord.objects.filter(integration=integration, business_key__in=keys).order_by("created_at",
                                                                                                   "pk")[:200])
    steps = []
    orders = [r for r in story if r.entity_type == ORDER]
    if orders:
        first = orders[0]
        placed = (first.source_payload or {}).get("ordered_at") if isinstance(first.source_payload, dict) else None
        steps.append(Step(_when(placed) or first.created_at, channel,
                          f"Order {first.reference or order_id} placed; the portal read it", first))
    link = Link.objects.filter(integration=integration, entity_type=ORDER, source_id=order_id).first() \
        if order_id else None
    if link:
        steps.append(Step(link.created_at, "TIMS", f"Sales order {link.target_id} created", link.record))
    elif orders and orders[-1].status == RecordStatus.DEAD:
        steps.append(Step(orders[-1].updated_at, "TIMS", f"Not created: {orders[-1].error_message}", orders[-1],
                          problem=True))
    for item in story:
        if item.entity_type == "shipment":
            steps += _shipment_steps(item, channel)
        elif item.entity_type == "cancellation":
            steps.append(Step(item.created_at, "TIMS", f"Sales order {item.source_id} cancelled", item))
            steps.append(_outcome(item, channel, "Order cancelled" if item.target_id else ""))
        elif item.entity_type != ORDER:  # what followed (invoices, payments, journal entries): the step's own words
            steps.append(_outcome(item, _target_system(item, channel), item.notes if item.target_id else ""))
    return steps  # in the order things happened: TIMS's clock (ShippedAt, to the second) may run behind ours


def _shipment_steps(item, channel):
    data = (item.source_payload or {}).get("Data") if isinstance(item.source_payload, dict) else None
    data = data if isinstance(data, dict) else {}
    lines = ", ".join(f"{line.get('Quantity')} × {line.get('SKU')}" for line in data.get("Lines") or []
                      if isinstance(line, dict))
    carrier = " ".join(filter(None, [str(data.get("Carrier") or ""), str(data.get("ShippingClass") or "")]))
    shipped = Step(_when(data.get("ShippedAt")) or item.created_at, "TIMS",
                   f"Shipment {item.source_id} ({carrier}, tracking {data.get('TrackingNumber') or '—'}): {lines}",
                   item)
    done = (item.notes or f"Tracking {data.get('TrackingNumber')} on the order (fulfillment {item.target_id})") \
        if item.target_id else ""
    return [shipped, _outcome(item, channel, done)]


def _outcome(item, channel, done):
    if done:
        return Step(item.finished_at or item.updated_at, channel, done, item)
    if item.status == RecordStatus.SKIPPED:
        return Step(item.finished_at or item.updated_at, channel, f"Skipped: {item.notes}", item)
    if item.status == RecordStatus.DEAD:
        return Step(item.updated_at, channel, f"Not sent: {item.error_message}", item, problem=True)
    if item.status == RecordStatus.SUCCEEDED:
        return Step(item.finished_at or item.updated_at, channel, item.notes or "Done", item)
    return Step(None, channel, f"Not sent yet ({item.get_status_display().lower()})", item)


def _target_system(item, channel):
    from integrations.flows import registry

    flow = registry.get(item.flow)
    return channel if flow and flow.target == registry.CHANNEL else "TIMS"


def _when(text):
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
