"""Corrupt data on demand: a raw value (or a missing field) the PrestaShop and ChannelAdvisor sandboxes serve for one
field of one order, whatever the database holds. Filters and sorting still use the stored value."""

from sandbox.models import Corruption

SYSTEMS = ("prestashop", "channeladvisor")
REMOVED = object()  # the field is left out of the answer


def order_fields(system):
    """The order fields a system serves, which are the ones that can be corrupted."""
    if system == "prestashop":
        from sandbox.prestashop.resources import ORDERS

        return [spec.name for spec in ORDERS.fields if spec.name != "id"]
    from sandbox.channeladvisor.resources import ORDER_PROPERTIES

    return [name for name in ORDER_PROPERTIES if name != "ID"]


def _order_exists(sandbox, system, order_id):
    if system == "prestashop":
        from sandbox.prestashop.models import Order
    else:
        from sandbox.channeladvisor.models import Order
    return Order.objects.filter(sandbox=sandbox, pk=order_id).exists()


def corrupt(sandbox, system, order_id, field, value=None, removed=False):
    """From now on serve `value` (or nothing, if `removed`) for that field of that order."""
    if system not in SYSTEMS:
        raise ValueError(f"Only {' and '.join(SYSTEMS)} orders can be corrupted, not {system}.")
    fields = order_fields(system)
    if field not in fields:
        raise ValueError(f"{system} orders have no field “{field}”; choose one of {', '.join(fields)}.")
    if not _order_exists(sandbox, system, order_id):
        raise ValueError(f"The {system} sandbox “{sandbox.slug}” has no order {order_id}.")
    row, _ = Corruption.objects.update_or_create(
        sandbox=sandbox, system=system, order_id=order_id, field=field,
        defaults={"value": None if removed else value, "removed": removed})
    return row


def clear(sandbox, system=None, order_id=None, field=None):
    """Serve the stored values again; returns how many corruptions were removed."""
    rows = Corruption.objects.filter(sandbox=sandbox)
    for name, wanted in (("system", system), ("order_id", order_id), ("field", field)):
        if wanted is not None:
            rows = rows.filter(**{name: wanted})
    return rows.delete()[0]


def describe(sandbox, system=None):
    rows = Corruption.objects.filter(sandbox=sandbox)
    if system:
        rows = rows.filter(system=system)
    return [{"system": row.system, "order": row.order_id, "field": row.field,
             **({"removed": True} if row.removed else {"value": row.value})} for row in rows]


def overrides(sandbox, system):
    """{order id: {field: raw value or REMOVED}}; one small query per request that serves orders."""
    found = {}
    for row in Corruption.objects.filter(sandbox=sandbox, system=system):
        found.setdefault(row.order_id, {})[row.field] = REMOVED if row.removed else row.value
    return found


def apply(record, changes):
    """A JSON record (dict) with the corrupt values put in; `changes` may be None."""
    for field, value in (changes or {}).items():
        if value is REMOVED:
            record.pop(field, None)
        elif field in record:
            record[field] = value
    return record
