"""Order-to-cash, the money: what the buyer paid on the channel becomes TIMS payments applied to the order's
invoices, once per channel transaction and invoice (TIMS payment Reference = the transaction id).

Chained after the order (a new payment may come with any update) and after each invoice (money waiting for a bill).
Each run reads the channel's payments and TIMS's invoices and payments, applies what is not applied yet, oldest
transaction to oldest invoice, and never more than an invoice's balance. Whatever cannot be applied once the order is
fully invoiced (paid more or less than billed) is a dead letter with the amounts side by side, and nothing more is
applied: nothing is forced.
"""

from decimal import Decimal

from integrations import canonical as c
from integrations.connectors.checks import client_for
from integrations.flows import registry
from integrations.flows.fulfillment import ORDER
from integrations.models import RecordStatus, SyncRecord
from integrations.pipeline import records
from integrations.pipeline.outcomes import Rejected, Skipped

CENT = Decimal("0.01")


def apply_payments(record):
    integration = record.integration
    order_id = record.source_id
    sales_order_id = records.linked_target(record, entity_type=ORDER, source_id=order_id)
    if not sales_order_id:
        raise Skipped(f"Channel order {order_id} has no TIMS sales order: there is nothing to apply a payment to.")
    channel = client_for(integration.channel_connection, lane=PAYMENTS.lane)
    paid = [p for p in channel.order_payments(order_id) if p.amount.amount > 0]  # refunds are returns' business
    if not paid:
        raise Skipped(f"The channel has no cleared payment for order {order_id} yet.")
    tims = client_for(integration.tims_connection, lane=PAYMENTS.lane)
    order = tims.get_sales_order(sales_order_id)
    check_payments(paid, order, order_id)
    invoices = sorted(tims.find_invoices(sales_order_id=sales_order_id), key=lambda i: i.source_id)
    if not invoices:
        raise Skipped(f"TIMS has not invoiced sales order {sales_order_id} yet: the payment is applied when it does.")
    applied = {p.reference: [found for found in tims.find_payments(reference=p.reference)
                             if found.invoice_id in {i.source_id for i in invoices}] for p in paid}
    difference(paid, invoices, order, applied)  # a mismatch is for a person: nothing more is applied
    plan = allocate(paid, invoices, applied)
    if record.shadow:
        records.save_fields(record, notes="Shadow mode: would apply " + (", ".join(
            f"{amount} of {txn} to {invoice_id}" for txn, invoice_id, amount in plan) or "nothing") + ".")
        return
    by_reference = {p.reference: p for p in paid}
    for reference, invoice_id, amount in plan:
        payment = by_reference[reference]
        records.mark_sent(record)
        made = tims.create_payment(c.Payment(
            source=payment.source, source_id=payment.source_id, amount=c.Money(amount, payment.amount.currency),
            invoice_id=invoice_id, method=payment.method or "Other", reference=reference,
            received_at=payment.received_at), key=f"payment:{integration.pk}:{reference}:{invoice_id}")
        applied[reference].append(made)
    links, produced = [], []
    for reference, made in applied.items():
        for payment in made:
            records.link(record, payment.source_id, entity_type="payment",
                         source_id=f"{order_id}:{reference}:{payment.invoice_id}"[:100])
            links.append(payment)
            produced.append({"payment": payment.to_dict(), "order_id": order_id,
                             "method": by_reference[reference].method})
    record.produced = produced
    notes = f"{len(plan)} payment(s) applied now, {len(links) - len(plan)} already in TIMS: " + ", ".join(
        f"{p.source_id} {p.amount.amount} ({p.reference} → {p.invoice_id})" for p in links) + "."
    records.save_fields(record, notes=notes[:2000])


def check_payments(paid, order, order_id):
    """Bad money from the channel is a dead letter before anything is applied."""
    for payment in paid:
        amount = payment.amount.amount
        if amount != amount.quantize(CENT):
            raise Rejected(f"The channel's payment {payment.reference} for order {order_id} is {amount}: an "
                           "amount with more than two decimals cannot be booked.",
                           fix="Correct the payment in the channel (or book it in TIMS by hand), then retry or "
                               "discard this record.")
        currency = payment.amount.currency
        if currency and order.currency and currency != order.currency:
            raise Rejected(f"The channel's payment {payment.reference} for order {order_id} is in {currency}, but "
                           f"the TIMS sales order is in {order.currency}.",
                           fix="Book the payment in TIMS by hand at the right rate, then discard this record.",
                           details={"amounts": {"payment": f"{amount} {currency}",
                                                "order": f"{order.total.amount} {order.currency}"}})


def allocate(paid, invoices, applied):
    """[(transaction reference, invoice id, amount)] still to apply: oldest transaction first, each invoice at most
    its balance, each transaction at most what it has left."""
    balances = {i.source_id: i.balance.amount for i in invoices}
    plan = []
    for payment in sorted(paid, key=lambda p: (p.received_at is None, p.received_at, p.reference)):
        left = payment.amount.amount - sum((p.amount.amount for p in applied[payment.reference]), Decimal("0"))
        done_on = {p.invoice_id for p in applied[payment.reference]}
        for found in invoices:
            if left <= 0:
                break
            if found.source_id in done_on or balances[found.source_id] <= 0:
                continue
            amount = min(left, balances[found.source_id])
            plan.append((payment.reference, found.source_id, amount))
            balances[found.source_id] -= amount
            left -= amount
    return plan


def difference(paid, invoices, order, applied):
    """Once the order is billed in full, what the buyer paid must equal what was billed."""
    billed = sum((i.total.amount for i in invoices), Decimal("0"))
    if billed < order.total.amount:
        return  # more invoices are to come; money left over waits for them
    received = sum((p.amount.amount for p in paid), Decimal("0"))
    if received == billed:
        return
    applied_total = sum((p.amount.amount for made in applied.values() for p in made), Decimal("0"))
    what = "more" if received > billed else "less"
    raise Rejected(f"The buyer paid {received} {order.currency} on the channel, {what} than the {billed} "
                   f"{order.currency} TIMS invoiced for sales order {order.source_id}; {applied_total} of it is "
                   "applied and the rest is left for a person.",
                   error_class="business_hold",
                   fix="A person decides: refund or write off the difference in TIMS (or correct the invoice), then "
                       "discard this record.",
                   details={"amounts": {"paid on the channel": str(received), "invoiced in TIMS": str(billed),
                                        "applied in TIMS": str(applied_total)}})


# --- what follows which record --------------------------------------------------------------------------------

def after_order(record):
    """An update of an order TIMS has already invoiced may bring a payment that came late (unpaid statuses make
    nothing; before the first invoice, that invoice's own follow-up applies the money)."""
    if not record.target_id or not invoiced(record.integration, record.source_id):
        return []
    status = str((record.source_payload or {}).get("payment_status") or "")
    paid_statuses = record.integration.option("paid_statuses") or []
    if status and paid_statuses and status not in paid_statuses:
        return []
    return [{"source_id": record.source_id, "source_version": f"order {record.source_version}".strip(),
             "reference": record.reference}]


def invoiced(integration, order_id):
    return SyncRecord.objects.filter(integration=integration, flow="invoices", status=RecordStatus.SUCCEEDED,
                                     source_payload__order_id=str(order_id)).exists()


def after_invoice(record):
    """A new invoice: money the buyer paid may have been waiting for it."""
    made = getattr(record, "produced", [])
    return [{"source_id": item["order_id"], "source_version": f"invoice {item['invoice']['source_id']}",
             "reference": item.get("reference") or ""} for item in made if item.get("order_id")]


PAYMENTS = registry.declare(registry.Flow(
    name="payments", label="Payments in TIMS", source=registry.CHANNEL, target=registry.TIMS, entity_type="payment",
    triggers=(registry.Chained(after="orders", follow=after_order),
              registry.Chained(after="invoices", follow=after_invoice)),
    step=apply_payments, lane="normal",
    templates={"prestashop_tims": True, "channeladvisor_tims": True},
))
