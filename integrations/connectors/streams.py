"""Streams a connector can be polled for, as pages of items with the position after each page.

The poller is generic: it asks `read(client, stream, position)` for pages and `set_aside(client, stream, ids)` to
stop a feed from listing what the portal keeps already. Each system's own ways live in its client; this module only
names them per (kind, stream).
"""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Item:
    source_id: str
    version: str = ""  # one record per version; "" for feeds that list work still to do
    reference: str = ""
    payload: dict | None = None
    event: str = ""  # for feeds of several event types
    business_key: str = ""
    owner: str = ""  # the target id of the entity it belongs to (a shipment's sales order), for routing


@dataclass
class Unreadable:
    """An item the source served but we could not read: it becomes a dead letter of its own."""

    source_id: str
    version: str
    raw: object
    message: str
    field: str = ""
    event: str = ""


@dataclass
class Page:
    items: list = field(default_factory=list)
    position: datetime | str | None = None  # the watermark or cursor once this page is committed


def unreadable_or(convert, raw, source_id, version):
    """convert(raw), or a streams.Unreadable naming the field whose value could not be read."""
    try:
        return convert(raw)
    except (ValueError, TypeError, KeyError, ArithmeticError, AttributeError) as exc:
        message = str(exc) or exc.__class__.__name__
        field = exc.args[0] if isinstance(exc, KeyError) and exc.args else _quoted_field(raw, message)
        return Unreadable(source_id=source_id or "?", version=version or "", raw=raw, message=message,
                          field=str(field))


def _quoted_field(raw, message):
    """The field whose value the error message quotes (the parsers quote what they cannot read: “abc”)."""
    if not isinstance(raw, dict):
        return ""
    values = [(key, str(value)) for key, value in raw.items() if isinstance(value, str | int) and str(value)]
    quoted = [key for key, text in values if f"“{text}”" in message]
    if quoted:
        return quoted[0]
    inside = sorted((key for key, text in values if text in message), key=lambda k: -len(str(raw[k])))
    return inside[0] if inside else ""


def readable_or_refused(item, system):
    """A canonical record, or a permanent error naming the field the source served that we cannot read."""
    if isinstance(item, Unreadable):
        from integrations.connectors.errors import ValidationFailed

        where = f"field {item.field}" if item.field else "a field"
        raise ValidationFailed(f"{system} served record {item.source_id} with a value we cannot read ({where}): "
                               f"{item.message}", system=system, field_errors=[f"{item.field or '?'}: {item.message}"])
    return item


def _orders(items):
    return [item if isinstance(item, Unreadable) else Item(
        source_id=item.source_id, version=item.updated_at.isoformat() if item.updated_at else "",
        reference=item.number or item.source_id, payload=item.to_dict()) for item in items]


def prestashop_orders(client, since):
    for raw_page, newest in client.changed_orders_raw(since):
        yield Page(_orders(client.to_canonical_orders(raw_page, per_item=True)), newest)


def channeladvisor_orders(client, _position):
    for orders in client.new_orders(per_item=True):
        yield Page([_unversioned(item) for item in _orders(orders)], None)


def _unversioned(item):
    if isinstance(item, Item):
        item.version = ""  # exported=false lists work still to do: one record per order
    return item


# Events that name one thing that happens once: (its id field, the field naming the sales order it belongs to).
# Their records are unversioned, so the same shipment read twice (a re-read page, a re-sent event) is one record.
TIMS_EVENT_IDS = {
    "shipment.created": ("ShipmentID", "SalesOrderID"),
    "sales_order.cancelled": ("SalesOrderID", "SalesOrderID"),
}


# Versioned events about one thing: the field naming it (its records' source id), so each change is one record.
TIMS_EVENT_SUBJECTS = {"item.updated": "SKU"}


def tims_event(event):
    data = event.get("Data") if isinstance(event.get("Data"), dict) else {}
    kind, seq = str(event.get("Type") or ""), str(event.get("Seq") or "")
    id_field, owner_field = TIMS_EVENT_IDS.get(kind, ("", ""))
    subject = TIMS_EVENT_SUBJECTS.get(kind)
    if subject:
        if not str(data.get(subject) or "").strip():
            return Unreadable(source_id=f"seq:{seq}", version=seq, raw=event, field=f"Data.{subject}",
                              message=f"A {kind} event without its {subject}.", event=kind)
        return Item(source_id=str(data[subject])[:100], version=seq, event=kind, payload=event,
                    reference=str(data[subject])[:100])
    if id_field and not str(data.get(id_field) or "").strip():
        return Unreadable(source_id=f"seq:{seq}", version=seq, raw=event, field=f"Data.{id_field}",
                          message=f"A {kind} event without its {id_field}.", event=kind)
    source_id = str(data.get(id_field) if id_field else data.get("ID") or seq)
    return Item(source_id=source_id[:100], version="" if id_field else seq, event=kind, payload=event,
                reference=str(data.get("ExternalOrderID") or data.get(owner_field) or source_id)[:100],
                owner=str(data.get(owner_field) or "") if owner_field else "")


def tims_events(client, cursor):
    from integrations.flows import registry

    types = registry.events_of_stream("events")  # shipments need not page through every stock change
    while True:
        events, next_cursor = client.events(cursor or "", types=types)
        yield Page([tims_event(e) for e in events if isinstance(e, dict)], next_cursor)
        if not events or next_cursor == cursor:
            return
        cursor = next_cursor


def stock_change(raw):
    """One row of TIMS's inventory change feed; a change we cannot read is an Unreadable of its own."""
    seq = raw.get("Seq")
    sku = str(raw.get("SKU") or "").strip()

    def convert(raw):
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise ValueError(f"Seq “{seq}” is not a feed position")
        if not sku or len(sku) > 100:
            raise ValueError(f"SKU “{sku[:120]}” is empty or longer than 100 characters")
        available = raw.get("Available")
        if isinstance(available, bool) or not isinstance(available, int | str) or not str(available).lstrip(
                "-").isdigit():
            raise ValueError(f"Available “{available}” is not a whole number of units")
        location = str(raw.get("Location") or "")
        if len(location) > 40:
            raise ValueError(f"Location “{location[:60]}” is longer than 40 characters")
        payload = {"SKU": sku, "Location": location, "Available": int(available), "Seq": seq,
                   "ChangedAt": raw.get("ChangedAt")}
        return Item(source_id=sku, version=str(seq), reference=sku, payload=payload)

    return unreadable_or(convert, raw, sku[:100] or f"seq:{seq}", str(seq))


def tims_inventory(client, cursor):
    while True:
        changes, next_cursor = client.inventory_changes_raw(cursor or "")
        yield Page([stock_change(raw) if isinstance(raw, dict) else Unreadable(
            "?", "", raw, "A change that is not an object.") for raw in changes], next_cursor)
        if not changes or next_cursor == cursor:
            return
        cursor = next_cursor


def _returns(returns, since):
    """Returns (a credit slip, an adjustment) as items, one record each: they happen once. The position is the
    newest seen, never back (the clients read a little overlap, which the records' keys fold away)."""
    items, newest = [], since
    for ret in returns:
        if isinstance(ret, Unreadable):
            items.append(ret)
            continue
        items.append(Item(source_id=ret.source_id, reference=f"{ret.extra.get('order_reference') or ret.order_id}"
                          f" return {ret.source_id}"[:100], payload=ret.to_dict()))
        if ret.created_at and (newest is None or ret.created_at > newest):
            newest = ret.created_at
    return Page(items, newest)


def prestashop_credit_slips(client, since):
    yield _returns(client.credit_slips(since), since)


def channeladvisor_adjustments(client, since):
    yield _returns(client.adjustments(since), since)


def prestashop_customers(client, since):
    """Each change of a customer (their record or an address) is one record, versioned by when it happened."""
    customers = client.changed_customers(since)
    items = [Item(source_id=c.source_id, version=c.updated_at.isoformat() if c.updated_at else "",
                  reference=f"{c.first_name} {c.last_name} <{c.email}>"[:100]) for c in customers]
    newest = max([c.updated_at for c in customers if c.updated_at] + ([since] if since else []), default=since)
    yield Page(items, newest)


READERS = {
    ("prestashop", "orders"): prestashop_orders,
    ("prestashop", "credit_slips"): prestashop_credit_slips,
    ("prestashop", "customers"): prestashop_customers,
    ("channeladvisor", "adjustments"): channeladvisor_adjustments,
    ("channeladvisor", "orders"): channeladvisor_orders,
    ("tims", "events"): tims_events,
    ("tims", "inventory"): tims_inventory,
}


def read(client, stream, position):
    return READERS[(client.connection.kind, stream)](client, position)


def set_aside(client, stream, ids):
    """Tell a feed the portal has these (ChannelAdvisor: exported), so polls stop re-reading them."""
    method = getattr(client, "set_aside", None)
    if method is not None and ids:
        method(stream, ids)
