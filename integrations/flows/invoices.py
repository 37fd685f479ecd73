"""Order-to-cash, the bill: what TIMS shipped (or, for channels that collect at checkout, what was ordered) becomes
exactly one TIMS invoice.

Chained after the shipment sent to the channel (or the order imported) → the integration's invoicing policy → look
TIMS up by sales order and shipment → create with an Idempotency-Key → link in its own commit. A partly shipped
order gets one invoice per shipment; TIMS prices each part pro rata, so the parts add up to the order.
"""

from integrations.connectors import errors
from integrations.connectors.checks import client_for
from integrations.flows import registry
from integrations.flows.fulfillment import ORDER
from integrations.models import Link
from integrations.pipeline import records
from integrations.pipeline.outcomes import Rejected, Skipped

POLICIES = {
    "shipment": "on each shipment, for what it shipped",
    "fully_shipped": "once the order has fully shipped",
    "import": "when the order is imported (channels that collect at checkout)",
}
ORDER_INVOICE = "order:"  # the source id prefix of an invoice of the whole order (no shipment)


def policy_of(integration):
    policy = integration.option("invoice_on") or "shipment"
    if policy not in POLICIES:
        raise Rejected(f"The integration's invoicing policy “{policy}” is not one the portal knows.",
                       fix="Set the option invoice_on to one of: " + ", ".join(POLICIES) + "; then retry.")
    return policy


def invoice(record):
    """One shipment (or one whole order) → one TIMS invoice, found before it is ever created twice."""
    integration = record.integration
    payload = record.source_payload or {}
    sales_order_id = str(payload.get("sales_order_id") or "")
    shipment_id = str(payload.get("shipment_id") or "")
    if not sales_order_id:
        raise Rejected("This invoice record names no TIMS sales order.",
                       fix="Edit the stored payload (sales_order_id), then retry; or discard it.")
    records.save_fields(record, reference=str(payload.get("reference") or sales_order_id)[:100])
    tims = client_for(integration.tims_connection, lane=INVOICES.lane)
    found = ours(tims.find_invoices(sales_order_id=sales_order_id), shipment_id)
    if found is None and not shipment_id:
        if payload.get("when") == "fully_shipped" and not fully_shipped(tims, sales_order_id):
            raise Skipped(f"TIMS sales order {sales_order_id} has not fully shipped yet: the shipment that "
                          "completes it invoices it.")
    if found is None and record.shadow:
        what = f"shipment {shipment_id}" if shipment_id else "the whole order"
        records.save_fields(record, notes=f"Shadow mode: would invoice {what} of TIMS sales order "
                                          f"{sales_order_id}.")
        return
    if found is None:
        records.mark_sent(record)  # from now on TIMS is asked first
        try:
            found = tims.create_invoice(sales_order_id, shipment_id=shipment_id,
                                        currency=payload.get("currency") or "",
                                        key=f"invoice:{integration.pk}:{record.source_id}")
        except errors.ValidationFailed as exc:
            if not exc.has_code("nothing_to_invoice"):
                raise
            # What shipped came back before it was billed: TIMS took it off the order's bill.
            what = f"shipment {shipment_id}" if shipment_id else "the order"
            raise Skipped(f"TIMS has nothing left to invoice for {what} of sales order {sales_order_id}: {exc}") \
                from exc
        what = "created"
    else:
        what = "was already in TIMS"
    records.link(record, found.source_id)
    produced(record, found, payload)
    records.save_fields(record, notes=f"Invoice {found.source_id} {what}: {found.total.amount} "
                                      f"{found.total.currency} for " + (f"shipment {shipment_id}" if shipment_id
                                                                        else "the order") +
                                      f" of TIMS sales order {sales_order_id}.")


def ours(invoices, shipment_id):
    """The invoice this record is for: the shipment's, or (for a whole-order invoice) any of the order's."""
    for found in invoices:
        if (found.shipment_id or "") == shipment_id or not shipment_id:
            return found
    return None


def fully_shipped(tims, sales_order_id):
    order = tims.get_sales_order(sales_order_id)
    shipped = {}
    for shipment in tims.shipments_for(sales_order_id):
        for line in shipment.lines:
            shipped[line.sku] = shipped.get(line.sku, 0) + line.quantity
    ordered = {}
    for line in order.lines:
        ordered[line.sku] = ordered.get(line.sku, 0) + line.quantity
    return all(shipped.get(sku, 0) >= quantity for sku, quantity in ordered.items())


def produced(record, found, payload):
    """What the chained flows (payments, journal entries) need of this invoice, kept on the record in memory."""
    record.produced = getattr(record, "produced", []) + [{
        "invoice": found.to_dict(), "order_id": payload.get("order_id") or "",
        "country": payload.get("country") or "", "reference": payload.get("reference") or ""}]


# --- what follows which record --------------------------------------------------------------------------------

def order_context(integration, sales_order_id):
    """The channel order a TIMS sales order was made for, and what an invoice needs of it (currency, country)."""
    link = (Link.objects.filter(integration=integration, entity_type=ORDER, target_id=str(sales_order_id))
            .select_related("record").first())
    if link is None:
        return {"order_id": "", "currency": "", "country": "", "reference": ""}
    source = (link.record.source_payload if link.record else None) or {}
    address = source.get("shipping_address") or source.get("billing_address") or {}
    return {"order_id": link.source_id, "currency": source.get("currency") or "",
            "country": address.get("country") or "", "reference": source.get("number") or link.source_id}


def after_shipment(record):
    """A shipment told to the channel: invoice it (policy "shipment"), or see whether the order is now complete."""
    policy = policy_of(record.integration)
    data = (record.source_payload or {}).get("Data") or {}
    sales_order_id = str(data.get("SalesOrderID") or "")
    if policy == "import" or not sales_order_id:
        return []
    context = order_context(record.integration, sales_order_id)
    payload = {**context, "sales_order_id": sales_order_id}
    if policy == "shipment":
        return [{"source_id": record.source_id, "reference": context["reference"],
                 "payload": {**payload, "shipment_id": record.source_id}}]
    return [{"source_id": ORDER_INVOICE + sales_order_id, "source_version": f"after {record.source_id}",
             "reference": context["reference"], "payload": {**payload, "when": "fully_shipped"}}]


def after_import(record):
    """An order imported: invoice it at once when the integration bills at checkout."""
    if not record.target_id or record.shadow or policy_of(record.integration) != "import":
        return []
    context = order_context(record.integration, record.target_id)
    return [{"source_id": ORDER_INVOICE + record.target_id, "reference": context["reference"],
             "payload": {**context, "sales_order_id": record.target_id}}]


INVOICES = registry.declare(registry.Flow(
    name="invoices", label="Invoices in TIMS", source=registry.TIMS, target=registry.TIMS, entity_type="invoice",
    triggers=(registry.Chained(after="shipments", follow=after_shipment),
              registry.Chained(after="orders", follow=after_import)),
    step=invoice, lane="normal",
    templates={"prestashop_tims": True, "channeladvisor_tims": True},
))
