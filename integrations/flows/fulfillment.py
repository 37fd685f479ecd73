"""Order-to-cash, back to the channel: TIMS shipments become tracking and "shipped" there, TIMS cancellations
cancel the channel order.

Read from TIMS's event feed (its webhooks ring the poll) → the integration whose link made the sales order → map
the carrier → the channel connector looks up what it has, then writes once → a link per shipment in its own commit.
"""

from integrations.connectors import errors
from integrations.connectors.checks import client_for
from integrations.connectors.tims import parsers as tims_parsers
from integrations.flows import registry
from integrations.flows.orders import ORDER_KEY_FIELD
from integrations.models import Link
from integrations.pipeline import records
from integrations.pipeline.outcomes import Rejected, Skipped

ORDER = "order"  # the link entity of a channel order → its TIMS sales order


def ship_to_channel(record):
    """One TIMS shipment → one fulfillment on the channel order (tracking number, carrier, its lines)."""
    integration = record.integration
    shipment = read_shipment(record)
    order_id = channel_order_for(record, shipment.order_id)
    records.save_fields(record, reference=(shipment.extra.get("ExternalOrderID") or shipment.order_id)[:100])
    done = records.linked_target(record)
    if done is not None:
        records.save_fields(record, notes=f"Already on the channel (fulfillment {done}): nothing to do.")
        return
    if not shipment.lines:
        raise Rejected(f"TIMS shipment {shipment.source_id} has no lines: there is nothing to tell the channel.",
                       fix="Correct the shipment in TIMS (or edit the stored payload here), then retry.",
                       details={"field_errors": ["Lines: a shipment needs at least one line."]})
    carrier, shipping_class = map_carrier(integration, shipment, record)
    if record.shadow:
        records.save_fields(record, notes=f"Shadow mode: would send tracking {shipment.tracking_number} "
                                          f"({carrier} {shipping_class}".rstrip() + f") to order {order_id}.")
        return
    channel = client_for(integration.channel_connection, lane=SHIPMENTS.lane)
    records.mark_sent(record)  # from now on the channel is asked what it has before anything is written
    try:
        fulfillment = channel.ship(order_id, shipment, carrier=carrier, shipping_class=shipping_class,
                                   notify=bool(integration.option("notify_buyer")),
                                   shipped_state=integration.option("shipped_state") or "Shipped")
    except errors.ValidationFailed as exc:
        raise refused(exc, integration, shipment, order_id) from exc
    # A shipment without a tracking number may leave no row of its own to name: link it to the order.
    records.link(record, fulfillment.source_id or f"order {order_id}: {shipment.source_id}")
    if fulfillment.state:
        records.note_written(integration, ORDER, order_id, {"status": fulfillment.state})
    what = "was already there" if fulfillment.already else "sent"
    records.save_fields(record, notes=f"Tracking {shipment.tracking_number} ({carrier} {shipping_class}".rstrip()
                        + f") {what}: order {order_id} fulfillment {fulfillment.source_id}"
                        + (f", order now “{fulfillment.state}”." if fulfillment.state else "."))


def cancel_in_channel(record):
    """A TIMS order cancelled before anything shipped → the channel order is cancelled too."""
    integration = record.integration
    order_id = channel_order_for(record, record.source_id)
    if record.shadow:
        records.save_fields(record, notes=f"Shadow mode: would cancel order {order_id} in the channel.")
        return
    channel = client_for(integration.channel_connection, lane=CANCELLATIONS.lane)
    state = integration.option("cancelled_state") or "Canceled"
    records.note_written(integration, ORDER, order_id, {"status": state})  # before: the poll may read it at once
    try:
        outcome = channel.cancel(order_id, reference=f"tims-cancel:{record.source_id}",
                                 notify=bool(integration.option("notify_buyer")), cancelled_state=state)
    except errors.ValidationFailed as exc:
        if exc.has_code("already_shipped"):
            raise Rejected(f"TIMS cancelled sales order {record.source_id}, but channel order {order_id} has "
                           f"already shipped there: {exc}", fix="A person decides: refund or return it in the "
                           "channel (or ship it in TIMS after all), then discard this record.",
                           error_class="business_hold") from exc
        raise
    records.link(record, order_id)
    records.save_fields(record, notes=f"Order {order_id} cancelled in the channel." if outcome != "already"
                        else f"Order {order_id} was already cancelled in the channel: nothing to do.")


def read_shipment(record):
    """The shipment as TIMS's event said it (the feed is read by us, so it is trusted; a person may have edited
    the stored payload), else read again from TIMS."""
    payload = record.source_payload or {}
    data = payload.get("Data") if isinstance(payload.get("Data"), dict) else None
    if data and data.get("ShipmentID") and data.get("SalesOrderID"):
        try:
            return tims_parsers.shipment(data)
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise Rejected(f"TIMS shipment {record.source_id} has a value we cannot read: {exc}",
                           fix="Edit the stored payload here (or correct it in TIMS), then retry.") from exc
    tims = client_for(record.integration.tims_connection, lane=SHIPMENTS.lane)
    return tims.get_shipment(record.source_id)


def channel_order_for(record, sales_order_id):
    """The channel order a TIMS sales order was made for: this integration's link, else the key the portal wrote
    on the TIMS order (a link still in flight). An order the portal did not make for this integration is skipped."""
    integration = record.integration
    linked = (Link.objects.filter(integration=integration, entity_type=ORDER, target_id=str(sales_order_id))
              .values_list("source_id", flat=True).first())
    if linked:
        return linked
    tims = client_for(integration.tims_connection, lane=SHIPMENTS.lane)
    try:
        order = tims.get_sales_order(sales_order_id)
    except errors.NotFound:
        raise Skipped(f"TIMS has no sales order {sales_order_id}: nothing to send to the channel.") from None
    key = str((order.extra.get("CustomFields") or {}).get(ORDER_KEY_FIELD) or "")
    owner, _, channel_order_id = key.partition(":")
    if owner == str(integration.pk) and channel_order_id:
        return channel_order_id
    whose = f" (it was made by integration #{owner})" if owner.isdigit() else ""
    raise Skipped(f"TIMS sales order {sales_order_id} was not created by this integration{whose}: it has no "
                  f"{integration.channel_connection.get_kind_display()} order to update.")


def carrier_map(integration):
    return SHIPMENTS.value_maps.get(integration.channel_connection.kind, ("",))[0]


def map_carrier(integration, shipment, record):
    """TIMS Carrier + ShippingClass → the channel's carrier (and class), through the value map staff edit.
    Targets read "Carrier|Class" (ChannelAdvisor) or just the carrier (PrestaShop's carrier name)."""
    from mappings.errors import UnmappedValueError
    from mappings.services import MissingValueMap, translate

    name = carrier_map(integration)
    value = carrier_key(shipment)
    try:
        target = translate(integration.organization_id, name, value, example=record.reference or record.source_id)
    except UnmappedValueError as exc:
        raise Rejected(f"TIMS shipped {shipment.source_id} with carrier “{value}”, which the value map “{name}” does "
                       "not map to a carrier of the channel.", error_class="unmapped_value",
                       fix=f"Add “{value}” to the value map “{name}”, then retry.",
                       details={"value_map": {"name": name, "value": value, "url": exc.admin_url}}) from exc
    except MissingValueMap as exc:
        raise Rejected(str(exc), fix="Create the integration's default mappings, then retry.") from exc
    carrier, _, shipping_class = str(target).partition("|")
    return carrier.strip(), shipping_class.strip()


def carrier_key(shipment):
    return f"{shipment.carrier}|{shipment.shipping_class}" if shipment.shipping_class else shipment.carrier


FIXES = {
    "invalid_carrier": "Change the entry for “{key}” in the value map “{map}” to a carrier the channel has, then "
                       "retry.",
    "order_cancelled": "The buyer's order is cancelled in the channel but TIMS shipped it: a person decides (call "
                       "the buyer, refund, or recall the parcel), then discards this record.",
    "max_length": "Correct the tracking number in TIMS (or edit it in the stored payload here), then retry.",
    "invalid": "Correct the tracking number in TIMS (or edit it in the stored payload here), then retry.",
    "unknown_sku": "The TIMS order and the channel order disagree: check the order mapping's SKUs, correct the "
                   "shipment (edit the stored payload here), then retry.",
    "quantity_exceeds": "The shipment ships more than the channel order has open: check for an earlier shipment "
                        "of the same goods, correct the payload here if needed, then retry.",
    "required": "Correct the shipment in TIMS (or edit the stored payload here), then retry.",
}


def refused(exc, integration, shipment, order_id):
    """The channel's refusal as a dead letter that names the field and what to do."""
    code = next((f.code for f in exc.fields if f.code in FIXES), "")
    name, key = carrier_map(integration), carrier_key(shipment)
    fix = FIXES.get(code, "Fix the value named above, then retry.").format(key=key, map=name)
    details = {"field_errors": list(exc.field_errors), "order": order_id}
    if code == "invalid_carrier":
        from mappings.errors import UnmappedValueError
        from mappings.services import value_maps_for

        value_map = value_maps_for(integration.organization_id, [name]).get(name)
        url = UnmappedValueError(name, key, value_map.pk if value_map else None).admin_url
        details["value_map"] = {"name": name, "value": key, "url": url}
    return Rejected(f"{exc.system or 'The channel'} refused shipment {shipment.source_id} for order {order_id}: "
                    f"{exc}", fix=fix, error_class="unmapped_value" if code == "invalid_carrier" else "permanent",
                    details=details)


SHIPMENTS = registry.declare(registry.Flow(
    name="shipments", label="Shipments to the channel", source=registry.TIMS, target=registry.CHANNEL,
    entity_type="shipment",
    triggers=(registry.Poll("events", position="cursor", system=registry.TIMS, events=("shipment.created",),
                            route=ORDER),),
    step=ship_to_channel, lane="high",
    value_maps={"prestashop": ("tims_carrier_to_prestashop",), "channeladvisor": ("tims_carrier_to_channeladvisor",)},
    templates={"prestashop_tims": True, "channeladvisor_tims": True},
))

CANCELLATIONS = registry.declare(registry.Flow(
    name="cancellations", label="TIMS cancellations to the channel", source=registry.TIMS,
    target=registry.CHANNEL, entity_type="cancellation",
    triggers=(registry.Poll("events", position="cursor", system=registry.TIMS, events=("sales_order.cancelled",),
                            route=ORDER),),
    step=cancel_in_channel, lane="high",
    templates={"prestashop_tims": True, "channeladvisor_tims": True},
))
