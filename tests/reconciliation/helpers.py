"""A fake TIMS with the reconciliation's read methods, and builders for the portal's records of one order."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from integrations import canonical as c
from integrations.connectors.errors import NotFound
from integrations.models import Link, RecordStatus, SyncRecord

PARIS = ZoneInfo("Europe/Paris")


def money(amount):
    return c.Money(Decimal(str(amount)), "EUR")


class FakeTims:
    def __init__(self):
        self.orders, self.invoices, self.payments, self.entries, self.calls = {}, [], [], [], []

    def sales_orders_between(self, date_from, date_to):
        self.calls.append(("sales_orders_between", date_from, date_to))
        return list(self.orders.values())

    def get_sales_order(self, sales_order_id):
        self.calls.append(("get_sales_order", sales_order_id))
        if sales_order_id not in self.orders:
            raise NotFound(f"No sales order {sales_order_id}", status=404, system="tims")
        return self.orders[sales_order_id]

    def find_invoices(self, *, sales_order_id="", shipment_id="", date_from=None, date_to=None):
        self.calls.append(("find_invoices", sales_order_id, date_from))
        return [i for i in self.invoices if not sales_order_id or i.order_id == sales_order_id]

    def find_payments(self, *, invoice_id="", reference="", date_from=None, date_to=None):
        self.calls.append(("find_payments", invoice_id, date_from))
        return [p for p in self.payments if (not invoice_id or p.invoice_id == invoice_id)
                and (not reference or p.reference == reference)]

    def find_journal_entries(self, *, reference="", date_from=None, date_to=None):
        self.calls.append(("find_journal_entries", reference, date_from))
        return [e for e in self.entries if not reference or e.reference == reference]

    # --- building TIMS's side ---

    def sales_order(self, integration, order_id, sales_order_id, total, status="Invoiced"):
        self.orders[sales_order_id] = c.Order(
            source="tims", source_id=sales_order_id, currency="EUR", total=money(total), status=status,
            extra={"CustomFields": {"PortalOrderKey": f"{integration.pk}:{order_id}"}})

    def invoice(self, invoice_id, sales_order_id, total, *, posted=None):
        self.invoices.append(c.Invoice(source="tims", source_id=invoice_id, order_id=sales_order_id,
                                       total=money(total), balance=money(0)))
        self.entry(invoice_id, debit=total if posted is None else posted, account="1100", other="4000")

    def payment(self, payment_id, invoice_id, amount, *, posted=None, reference="TXN"):
        self.payments.append(c.Payment(source="tims", source_id=payment_id, amount=money(amount),
                                       invoice_id=invoice_id, reference=reference))
        amount = amount if posted is None else posted
        self.entry(payment_id, debit=amount, account="1150", other="1100", receivable_side="credit")

    def entry(self, reference, *, debit, account, other, receivable_side="debit", credit=None):
        debit, credit = Decimal(str(debit)), Decimal(str(credit if credit is not None else debit))
        self.entries.append(c.JournalEntry(reference=reference, source_id=f"JE-{reference}", lines=[
            c.JournalLine(account=account, debit=debit), c.JournalLine(account=other, credit=credit)]))

    def drop_entry(self, reference):
        self.entries = [e for e in self.entries if e.reference != reference]


def order_record(integration, order_id, total, *, at=None, sales_order_id="", status=RecordStatus.SUCCEEDED,
                 shadow=False):
    at = at or datetime(2026, 3, 2, 10, 0, tzinfo=PARIS)
    record = SyncRecord.objects.create(
        organization=integration.organization, integration=integration, flow="orders", entity_type="order",
        source_system="prestashop", source_id=order_id, business_key=f"{integration.pk}:order:{order_id}",
        status=status, reference=f"R{order_id}", shadow=shadow, target_id=sales_order_id,
        error_message="Unknown SKU X-1." if status == RecordStatus.DEAD else "",
        source_payload={"ordered_at": at.isoformat(), "currency": "EUR", "number": f"R{order_id}",
                        "total": {"amount": str(total), "currency": "EUR"}})
    if sales_order_id:
        Link.objects.create(integration=integration, entity_type="order", source_id=order_id,
                            target_id=sales_order_id, record=record)
    return record


def cash_record(integration, flow, source_id, *, payload=None, status=RecordStatus.SUCCEEDED, target_id=""):
    entity = {"invoices": "invoice", "payments": "payment", "journal": "journal"}[flow]
    record = SyncRecord.objects.create(
        organization=integration.organization, integration=integration, flow=flow, entity_type=entity,
        source_system="tims", source_id=source_id, business_key=f"{integration.pk}:{flow}:{source_id}",
        status=status, source_payload=payload or {}, target_id=target_id,
        error_message="TIMS refused the payment: the invoice is closed." if status == RecordStatus.DEAD else "")
    if target_id:
        Link.objects.create(integration=integration, entity_type=entity, source_id=source_id, target_id=target_id,
                            record=record)
    return record


def clean_order(fake, integration, n, total=100, at=None):
    """Channel order n, its TIMS sales order, invoice, payment and both journal entries, all as they should be."""
    order_id, sales_order_id, invoice_id, payment_id = str(n), f"SO{n}", f"INV{n}", f"PAY{n}"
    record = order_record(integration, order_id, total, sales_order_id=sales_order_id, at=at)
    fake.sales_order(integration, order_id, sales_order_id, total)
    fake.invoice(invoice_id, sales_order_id, total)
    fake.payment(payment_id, invoice_id, total, reference=f"TXN{n}")
    cash_record(integration, "invoices", f"order:{sales_order_id}", target_id=invoice_id,
                payload={"sales_order_id": sales_order_id, "order_id": order_id})
    cash_record(integration, "payments", order_id, target_id=payment_id)
    cash_record(integration, "journal", f"invoice:{invoice_id}", target_id=f"JE-{invoice_id}",
                payload={"document": "invoice", "order_id": order_id})
    cash_record(integration, "journal", f"payment:{payment_id}", target_id=f"JE-{payment_id}",
                payload={"document": "payment", "order_id": order_id})
    return record
