"""Order-to-cash, first step: a channel order becomes exactly one TIMS sales order (and later updates its status).

Read the order back from the channel (webhooks are hints) → import rules → find or create the TIMS customer →
map and validate → look up, then create with an Idempotency-Key → link in its own commit → tell the channel.
"""

import hashlib
import json
import re
import threading
import time
from datetime import timedelta

from django.db import IntegrityError
from django.utils import timezone

from integrations.canonical import Order
from integrations.connectors import errors
from integrations.connectors.checks import client_for
from integrations.flows import handles
from integrations.models import IntegrationState, SyncRecord
from integrations.pipeline import records
from integrations.pipeline.outcomes import Hold, Rejected

CUSTOMER_CACHE_SECONDS = 600
CUSTOMER = "customer"  # the link from a buyer's email to the TIMS customer code


@handles("orders", "order")
def import_order(record):
    integration = record.integration
    channel = client_for(integration.channel_connection, lane="high")
    tims = client_for(integration.tims_connection, lane="high")
    shadow = integration.state == IntegrationState.SHADOW

    order = read_order(channel, record)
    source = order.to_dict()
    record.reference = (order.number or order.source_id)[:100]
    SyncRecord.objects.filter(pk=record.pk).update(source_payload=source, reference=record.reference)

    target_id = records.linked_target(record)
    if target_id is None:
        apply_import_rules(integration, order, record)
    customer_id = resolve_customer(tims, integration, order, record, create=not shadow)
    mapped = map_order(integration, record, source, customer_id)
    if shadow:
        SyncRecord.objects.filter(pk=record.pk).update(
            notes="Shadow mode: read and mapped; nothing was written to TIMS or the channel.")
        return

    if target_id is None:
        existing = None if first_try_ever(record) else tims.find_sales_order(mapped["ExternalOrderID"])
        if existing is not None:
            target_id = existing.source_id
        else:
            ensure_custom_fields(tims, integration)
            target_id = create_sales_order(tims, integration, order, mapped)
        records.link(record, target_id)  # committed now: a crash after this cannot make a second order
    else:
        update_status(tims, target_id, mapped)
    after_import(channel, integration, order)


FRESH_PAYLOAD = timedelta(minutes=5)


def read_order(channel, record):
    """A poller's payload read moments ago is used as is; a webhook's hint (or an old payload) is read back."""
    if record.source_payload and record.attempts == 1 and timezone.now() - record.created_at < FRESH_PAYLOAD:
        return Order.from_dict(record.source_payload)
    if record.source_system == "prestashop":
        found = channel.read_orders([record.source_id])
        if not found:
            raise errors.NotFound(f"PrestaShop has no order {record.source_id}.", system="PrestaShop")
        return found[0]
    return channel.get_order(record.source_id)


def apply_import_rules(integration, order, record):
    """Import only what the rules allow: skipped states are discarded, unpaid orders wait (then dead-letter)."""
    if order.status in (integration.option("skip_states") or []):
        raise Rejected(f"Order {order.number or order.source_id} is “{order.status}”: not imported.",
                       fix="Nothing to do if that is right; discard the record.", error_class="business_hold")
    if not integration.option("paid_only"):
        return
    if integration.template == "channeladvisor_tims":
        unpaid = order.payment_status not in (integration.option("paid_statuses") or [])
        what = f"payment status “{order.payment_status}”"
    else:
        unpaid = order.status in (integration.option("unpaid_states") or [])
        what = f"state “{order.status}”"
    if unpaid:
        days = integration.option("hold_days") or 7
        raise Hold(f"Order {order.number or order.source_id} is not paid yet ({what}); only paid orders are "
                   f"imported. It is checked again until it is paid, for {days} days.",
                   recheck_after=timedelta(minutes=15), give_up_at=record.created_at + timedelta(days=days),
                   fix="Wait for the payment, or retry once the order is paid in the channel.")


_customers = {}
_customers_lock = threading.Lock()


def resolve_customer(tims, integration, order, record, create=True):
    """The TIMS customer: the one linked to this email, else found by email, else created once; guest checkouts
    go to the connection's default customer code. Every worker shares the link, so TIMS is asked once per email."""
    buyer = order.customer
    default_code = integration.tims_connection.settings.get("default_customer_code")
    is_guest = buyer is None or not buyer.email or str(buyer.extra.get("is_guest", "0")) == "1"
    if is_guest and default_code:
        return default_code
    if buyer is None or not buyer.email:
        raise Rejected(f"Order {order.number or order.source_id} has no customer email and the TIMS connection has "
                       "no default customer code.", fix="Set a default customer code on the TIMS connection.")
    email = buyer.email.strip().lower()
    cache_key = (integration.pk, email)
    with _customers_lock:
        cached = _customers.get(cache_key)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    customer_id = records.linked_target(record, CUSTOMER, source_id=customer_key(email))
    if customer_id is None:
        found = tims.find_customer(email)
        if found is None and not create:
            return "<new customer>"
        if found is None:
            found = tims.create_customer(buyer, key=f"customer:{integration.tims_connection_id}:{email}")
        else:
            note_differences(record, buyer, found)
        customer_id = found.source_id
        if integration.state != IntegrationState.SHADOW:
            try:
                records.link(record, customer_id, CUSTOMER, source_id=customer_key(email))
            except IntegrityError:
                pass  # TIMS has this customer under another email too: keep asking TIMS for this one
    with _customers_lock:
        _customers[cache_key] = (customer_id, time.monotonic() + CUSTOMER_CACHE_SECONDS)
    return customer_id


def customer_key(email):
    """Links hold up to 100 characters; a longer email is linked by its digest."""
    return email if len(email) <= 100 else "sha256:" + hashlib.sha256(email.encode()).hexdigest()


def note_differences(record, buyer, found):
    """Same email, other details: TIMS's data wins; the difference is noted on the record for staff."""
    theirs = " ".join(filter(None, [buyer.first_name, buyer.last_name])).strip()
    if theirs and found.first_name + found.last_name and theirs.lower() not in (
            f"{found.first_name} {found.last_name}".strip().lower(), (found.company or "").lower()):
        note = (f"TIMS customer {found.source_id} has this email under the name “{found.first_name} "
                f"{found.last_name}”; the order says “{theirs}”. TIMS's data was kept.")
        SyncRecord.objects.filter(pk=record.pk).update(notes=note)


def map_order(integration, record, source, customer_id):
    from mappings.errors import MappingFailed, UnmappedValueError
    from mappings.services import map_record

    mapping_set = integration.mapping_sets.filter(template_key="order_to_tims", active=True).first()
    if mapping_set is None:
        raise Rejected("This integration has no active order mapping.",
                       fix="Create it in Mappings › Mapping sets (or run manage.py mappings_defaults).")
    result = map_record(mapping_set, source, resolvers={"tims_customer_by_email": lambda email: customer_id},
                        example=record.reference)
    SyncRecord.objects.filter(pk=record.pk).update(mapped_payload=result.output,
                                                   mapping_version=str(result.version or ""))
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


_defined_fields = set()  # (TIMS connection id, mapping set version) already checked in this process
_defined_lock = threading.Lock()


def ensure_custom_fields(tims, integration):
    """TIMS refuses custom fields it does not define: create the ones the order mapping writes, once."""
    from mappings.services import ensure_custom_fields as missing_created

    mapping_set = integration.mapping_sets.filter(template_key="order_to_tims", active=True).first()
    key = (integration.tims_connection_id, mapping_set.pk, mapping_set.version)
    with _defined_lock:
        if key in _defined_fields:
            return
    existing = tims.custom_field_names("sales_order")

    def create(entity, name):
        try:
            tims.create_custom_field(entity, name)
        except errors.Conflict:
            pass  # another worker created it meanwhile

    missing_created(mapping_set, existing, create)
    with _defined_lock:
        _defined_fields.add(key)


def first_try_ever(record):
    """True when no earlier attempt at this order could have created it in TIMS, so the look-up can be skipped."""
    return record.attempts == 1 and not SyncRecord.objects.filter(
        business_key=record.business_key, attempts__gt=0).exclude(pk=record.pk).exists()


def idempotency_key(integration, order, body):
    """Per order and body: a replay answers the first create; a corrected body after a refusal is a new request."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"sales-order:{integration.pk}:{order.source}:{order.source_id}:{digest}"


UNKNOWN_SKU = re.compile(r"LineItems\[(\d+)\]\.SKU:.*\(unknown_sku\)")


# TIMS starts an order in one of these; later statuses (Allocated, Fulfilled...) come from TIMS's own work.
CREATE_STATUSES = ("Open", "Processing", "OnHold")


def create_sales_order(tims, integration, order, mapped):
    if mapped.get("OrderStatus") not in CREATE_STATUSES:
        mapped = {**mapped, "OrderStatus": "Open"}
    try:
        created = tims.write("POST", "sales-orders", mapped, key=idempotency_key(integration, order, mapped))
    except errors.ValidationFailed as exc:
        unknown = [mapped["LineItems"][int(m.group(1))]["SKU"] for m in map(UNKNOWN_SKU.search, exc.field_errors)
                   if m and int(m.group(1)) < len(mapped.get("LineItems") or [])]
        if unknown:
            skus = ", ".join(unknown)
            raise Rejected(f"SKU {skus} in order {mapped['ExternalOrderID']} does not exist in TIMS: create the item "
                           "or map the SKU.", fix="Create the item in TIMS, or map the channel's SKU to a TIMS SKU "
                           "in the order mapping, then retry.", details={"field_errors": exc.field_errors,
                                                                          "unknown_skus": unknown}) from exc
        raise
    return str(created["SalesOrderID"])


def update_status(tims, sales_order_id, mapped):
    """A later change in the channel (status, cancellation) updates the TIMS order's status."""
    current = tims.get_sales_order(sales_order_id)
    wanted = mapped.get("OrderStatus")
    if wanted and current.status != wanted:
        tims.update_sales_order(sales_order_id, {"OrderStatus": wanted}, version=current.version)


def after_import(channel, integration, order):
    """ChannelAdvisor: mark the order exported (for this application) once TIMS has it."""
    if integration.template == "channeladvisor_tims":
        channel.export(order.source_id)

