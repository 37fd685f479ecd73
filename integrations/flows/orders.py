"""Order-to-cash, first step: a channel order becomes exactly one TIMS sales order (and later updates its status).

Read the order back from the channel (webhooks are hints) → import rules → find or create the TIMS customer →
map and validate → look up, then create with an Idempotency-Key → link in its own commit → tell the channel.
"""

import hashlib
import json
from datetime import timedelta

from django.utils import timezone

from integrations.canonical import Order
from integrations.connectors import errors
from integrations.connectors.cache import BoundedTTLCache
from integrations.connectors.checks import client_for
from integrations.flows import registry
from integrations.flows.customers import NEW_CUSTOMER, buyer_of, forget_customer, keep_in_step, resolve_customer
from integrations.pipeline import records
from integrations.pipeline.outcomes import Hold, Rejected

ORDER_KEY_FIELD = "PortalOrderKey"  # custom field naming the integration and channel order a TIMS order is for


def import_order(record):
    integration = record.integration
    channel = client_for(integration.channel_connection, lane=ORDERS.lane)
    tims = client_for(integration.tims_connection, lane=ORDERS.lane)
    shadow = record.shadow

    order = read_order(channel, record)
    source = order.to_dict()
    records.save_fields(record, source_payload=source, reference=(order.number or order.source_id)[:100])

    target_id = records.linked_target(record)
    if target_id is not None and records.is_echo(integration, record.entity_type, record.source_id, source):
        records.save_fields(record, notes="This change was the portal's own write, read back: nothing to do.")
        return
    if target_id is None:
        apply_import_rules(integration, order, record)
    customer_id = resolve_customer(tims, integration, order, record, create=not shadow)
    mapped = map_order(integration, record, source, customer_id)
    if shadow:
        records.save_fields(record, notes=shadow_note(order, customer_id, target_id))
        return

    if target_id is None:
        keep_in_step(tims, integration, record, buyer_of(order), customer_id,
                     source=f"{integration.channel_connection.get_kind_display()} order {record.reference}")
        mapped = sales_order_body(integration, record, mapped)
        existing = find_ours(tims, integration, record, mapped) if records.ever_sent(record) else None
        if existing is not None:
            target_id = existing
        else:
            ensure_custom_fields(tims, integration)
            records.mark_sent(record)  # committed before the POST: from now on TIMS is always asked first
            target_id = create_sales_order(tims, integration, order, mapped)
        records.link(record, target_id)  # committed now: a crash after this cannot make a second order
    else:
        update_status(tims, record, target_id, mapped)
    channel.order_imported(order.source_id)


def shadow_note(order, customer_id, target_id):
    """What going live would write for this order, in words (shadow mode writes nothing)."""
    if target_id is not None:
        return "Shadow mode: read and mapped; going live would update the status of the TIMS order it is linked to."
    buyer = order.customer.email if order.customer and order.customer.email else ""
    customer = (f"create a TIMS customer for {buyer} and " if customer_id == NEW_CUSTOMER
                else f"book it to TIMS customer {customer_id} and ")
    return f"Shadow mode: read and mapped; nothing was written. Going live would {customer}create the sales order."


def sales_order_body(integration, record, mapped):
    """The sales order POSTed to TIMS for a new order: the mapping's output, carrying the key that says it is ours,
    in a status TIMS starts orders in. A shadow run's report shows the same body."""
    body = {**mapped, "CustomFields": {**(mapped.get("CustomFields") or {}),
                                       ORDER_KEY_FIELD: order_key(integration, record)}}
    if body.get("OrderStatus") not in CREATE_STATUSES:
        body["OrderStatus"] = "Open"
    return body


FRESH_PAYLOAD = timedelta(minutes=5)


def read_order(channel, record):
    """A poller's payload read moments ago is used as is, and so is a payload a person edited; a webhook's hint
    (or an old payload) is read back from the channel."""
    payload = record.source_payload or {}
    if "unreadable" in payload:  # what the source served raw: read it again (it may have been corrected)
        return channel.read_order(record.source_id)
    if record.payload_edited_at:
        return Order.from_dict(payload)
    fresh = record.attempts == 1 and timezone.now() - record.created_at < FRESH_PAYLOAD
    if payload and fresh:
        return Order.from_dict(payload)
    return channel.read_order(record.source_id)


def apply_import_rules(integration, order, record):
    """Import only what the rules allow: skipped states are discarded, unpaid orders wait (then dead-letter)."""
    if order.status in (integration.option("skip_states") or []):
        raise Rejected(f"Order {order.number or order.source_id} is “{order.status}”: not imported.",
                       fix="Nothing to do if that is right; discard the record.", error_class="business_hold")
    cutover = integration.cutover_at
    if cutover and order.ordered_at and order.ordered_at < cutover:
        raise Rejected(f"Order {order.number or order.source_id} was placed before the integration went live "
                       f"({cutover:%Y-%m-%d %H:%M} UTC): not imported.",
                       fix="Nothing to do if that is right; retry it to import it anyway after changing the "
                       "integration's “import orders from” time.", error_class="business_hold")
    if not integration.option("paid_only"):
        return
    paid_statuses = integration.option("paid_statuses")
    if paid_statuses:  # the channel says whether it is paid (ChannelAdvisor's PaymentStatus)
        unpaid = order.payment_status not in paid_statuses
        what = f"payment status “{order.payment_status}”"
    else:  # the order's state says it (PrestaShop's "Awaiting ... payment")
        unpaid = order.status in (integration.option("unpaid_states") or [])
        what = f"state “{order.status}”"
    if unpaid:
        days = integration.option("hold_days") or 7
        raise Hold(f"Order {order.number or order.source_id} is not paid yet ({what}); only paid orders are "
                   f"imported. It is checked again until it is paid, for {days} days.",
                   recheck_after=timedelta(minutes=15), give_up_at=record.created_at + timedelta(days=days),
                   fix="Wait for the payment, or retry once the order is paid in the channel.")


def map_order(integration, record, source, customer_id):
    from mappings.errors import MappingFailed, UnmappedValueError
    from mappings.services import map_record

    mapping_set = integration.mapping_sets.filter(template_key="order_to_tims", active=True).first()
    if mapping_set is None:
        raise Rejected("This integration has no active order mapping.",
                       fix="Create it in Mappings › Mapping sets (or run manage.py mappings_defaults).")
    result = map_record(mapping_set, source, resolvers={"tims_customer_by_email": lambda email: customer_id},
                        example=record.reference)
    records.save_fields(record, mapped_payload=result.output, mapping_version=str(result.version or ""))
    try:
        result.raise_for_errors()
    except UnmappedValueError as exc:
        raise Rejected(str(exc), error_class="unmapped_value",
                       fix=f"Add “{exc.value}” to the value map “{exc.map_name}”, then retry.",
                       details={"value_map": {"name": exc.map_name, "value": exc.value, "url": exc.admin_url}}) from exc
    except MappingFailed as exc:
        raise Rejected(f"The mapped sales order is not valid: {exc}",
                       fix="Fix the mapping or the order data named above, then retry.",
                       details={"field_errors": exc.messages}) from exc
    return result.output


_defined_fields = BoundedTTLCache(max_items=1000, ttl_seconds=3600)  # (TIMS connection, mapping set, version)


def ensure_custom_fields(tims, integration):
    """TIMS refuses custom fields it does not define: create the ones the order mapping writes, once."""
    from mappings.services import ensure_custom_fields as missing_created

    mapping_set = integration.mapping_sets.filter(template_key="order_to_tims", active=True).first()
    key = (integration.tims_connection_id, mapping_set.pk, mapping_set.version)
    if _defined_fields.get(key):
        return
    existing = tims.custom_field_names("sales_order")

    def create(entity, name):
        try:
            tims.create_custom_field(entity, name)
        except errors.Conflict:
            pass  # another worker created it meanwhile

    missing_created(mapping_set, existing, create)
    if ORDER_KEY_FIELD not in existing:
        create("sales_order", ORDER_KEY_FIELD)
    _defined_fields.set(key, True)


def forget_custom_fields(tims, integration):
    """TIMS no longer defines a field we thought it did (someone deleted it): ask again instead of failing until
    the workers restart."""
    _defined_fields.discard_where(lambda key: key[0] == integration.tims_connection_id)
    tims.forget_custom_fields()


def order_key(integration, record):
    return f"{integration.pk}:{record.source_id}"[:100]


def find_ours(tims, integration, record, mapped):
    """The TIMS order an earlier attempt made for this channel order, if any. The ExternalOrderID alone is not
    enough: another channel (or marketplace) may use the same order number, so the order must carry our key."""
    key = order_key(integration, record)
    for found in tims.find_sales_orders(mapped["ExternalOrderID"]):
        custom = found.extra.get("CustomFields") or {}
        if custom.get(ORDER_KEY_FIELD) == key or (
                ORDER_KEY_FIELD not in custom and str(custom.get("ChannelOrderID")) == record.source_id):
            return found.source_id  # ours (or made before orders carried the key, by the same channel order id)
    return None


def idempotency_key(integration, order, body):
    """Per order and body: a replay answers the first create; a corrected body after a refusal is a new request."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"sales-order:{integration.pk}:{order.source}:{order.source_id}:{digest}"


# TIMS starts an order in one of these; later statuses (Allocated, Fulfilled...) come from TIMS's own work.
CREATE_STATUSES = ("Open", "Processing", "OnHold")


def create_sales_order(tims, integration, order, mapped, *, again=True):
    if mapped.get("OrderStatus") not in CREATE_STATUSES:
        mapped = {**mapped, "OrderStatus": "Open"}
    try:
        created = tims.write("POST", "sales-orders", mapped, key=idempotency_key(integration, order, mapped))
    except errors.ValidationFailed as exc:
        if again and exc.has_code(errors.UNKNOWN_CUSTOM_FIELD):
            forget_custom_fields(tims, integration)
            ensure_custom_fields(tims, integration)
            return create_sales_order(tims, integration, order, mapped, again=False)
        if exc.has_code(errors.UNKNOWN_CUSTOMER):
            forget_customer(integration, mapped.get("CustomerID"))
        lines = mapped.get("LineItems") or []
        unknown = [lines[f.index]["SKU"] for f in exc.fields_with_code(errors.UNKNOWN_SKU)
                   if f.index is not None and f.index < len(lines)]
        if unknown:
            skus = ", ".join(unknown)
            raise Rejected(f"SKU {skus} in order {mapped['ExternalOrderID']} does not exist in TIMS: create the item "
                           "or map the SKU.", fix="Create the item in TIMS, or map the channel's SKU to a TIMS SKU "
                           "in the order mapping, then retry.", details={"field_errors": exc.field_errors,
                                                                          "unknown_skus": unknown}) from exc
        raise
    return str(created["SalesOrderID"])


# A TIMS order's life cycle; the channel may only move it forward, and only into the statuses a channel decides.
LIFE_CYCLE = {"Open": 0, "Processing": 1, "OnHold": 1, "Allocated": 2, "PartiallyShipped": 3, "Fulfilled": 4,
              "Invoiced": 5, "Closed": 6}
CHANNEL_SETS = ("Open", "Processing", "OnHold", "Cancelled")
CANCELLABLE_UNTIL = 2  # once anything shipped, a cancellation is a return, not a status


def update_status(tims, record, sales_order_id, mapped):
    """A later change in the channel (status, cancellation) moves the TIMS order forward, never back: an order TIMS
    has shipped or invoiced is not set back because the channel says Processing, and our own writes coming back
    from the channel change nothing."""
    current = tims.get_sales_order(sales_order_id)
    wanted = mapped.get("OrderStatus")
    if not wanted or current.status == wanted:
        return
    reason = status_move_refused(current.status, wanted)
    if reason and wanted == "Cancelled" and mapped.get("PaymentStatus") == "Refunded":
        # A refund after shipping is money back (and maybe goods back), not a cancellation: the returns flow
        # brings it to TIMS. Only a refund before anything shipped cancels the TIMS order.
        records.save_fields(record, notes=f"Refunded in the channel after TIMS order {sales_order_id} shipped "
                                          f"(“{current.status}”): not a cancellation; the refund reaches TIMS as a "
                                          "return.")
        return
    if reason and wanted == "Cancelled" and current.status != "Cancelled":
        raise Rejected(f"Order {record.reference or record.source_id} was cancelled in the channel, but TIMS order "
                       f"{sales_order_id} is “{current.status}”: {reason} Nothing was changed in TIMS.",
                       fix="A person decides: stop the parcel or take it back as a return, refund the buyer in the "
                       "channel, then discard this record.", error_class="business_hold")
    if reason:
        records.save_fields(record, notes=f"TIMS order {sales_order_id} stays “{current.status}”: {reason}")
        return
    tims.update_sales_order(sales_order_id, {"OrderStatus": wanted}, version=current.version)


def status_move_refused(current, wanted):
    """Why a channel's status must not be written over TIMS's, or "" when it may."""
    if current == "Cancelled":
        return "it is cancelled in TIMS."
    if wanted not in CHANNEL_SETS:
        return f"“{wanted}” is set by TIMS itself."
    if wanted == "Cancelled":
        return "" if LIFE_CYCLE.get(current, 0) <= CANCELLABLE_UNTIL else (
            "it has shipped; a cancellation after shipping is a return.")
    if LIFE_CYCLE.get(wanted, 0) < LIFE_CYCLE.get(current, 0):
        return f"the channel's “{wanted}” would move it back."
    return ""


ORDERS = registry.declare(registry.Flow(
    name="orders", label="Orders into TIMS", source=registry.CHANNEL, target=registry.TIMS, entity_type="order",
    triggers=(
        registry.Poll("orders", position="watermark", kinds=("prestashop",)),
        registry.Poll("orders", position="feed", kinds=("channeladvisor",)),
        registry.Webhook("id_order", kinds=("prestashop",)),
        registry.Webhook("ID", kinds=("channeladvisor",)),
    ),
    step=import_order, lane="high", mapping="order_to_tims",
    templates={"prestashop_tims": True, "channeladvisor_tims": True},
))
