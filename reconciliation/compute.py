"""Reconcile one integration's day: the channel orders placed that day against what TIMS has for them — sales
orders, invoices, payments and GL journal entries — and every difference, in words, with the records that explain it.

Reads only: the portal's own records and links, and TIMS through a handful of list calls over a date window (an
old day, past WINDOW_DAYS, asks per sales order instead, so one call never lists months of documents).
"""

import zoneinfo
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db.models import TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone

from integrations.models import Link, RecordStatus, SyncRecord

ZERO = Decimal("0")
CENT = Decimal("0.01")
FULLY_SHIPPED = {"Fulfilled", "Invoiced", "Closed"}  # TIMS order statuses once the last part has shipped
CANCELLED = {"Cancelled"}
WINDOW_DAYS = 31
CASH_FLOWS = ("invoices", "payments", "journal")
LEFT_OUT = {RecordStatus.DISCARDED, RecordStatus.SKIPPED}  # staff (or a rule) decided: not an order to import

RECORD_STATE = {
    RecordStatus.DEAD: "is a dead letter", RecordStatus.PENDING: "waits to run", RecordStatus.RUNNING: "is running",
    RecordStatus.RETRYING: "waits to retry", RecordStatus.HELD: "is held by a business rule",
    RecordStatus.SUCCEEDED: "succeeded but kept no link to TIMS", RecordStatus.SUPERSEDED: "was superseded",
}

# kind: (title, what to do) — the page, the CSV and docs/reconciliation.md use the same words.
KINDS = {
    "no_sales_order": ("Order without a TIMS sales order",
                       "Open the order's record: fix and retry its dead letter, or wait for the retry it is due."),
    "sales_order_total": ("TIMS total differs from the channel",
                          "Compare the order lines and shipping in both systems; correct the TIMS sales order or "
                          "the mapping (then re-run the order)."),
    "invoiced_total": ("Invoiced differs from the order",
                       "Check the order's invoices in TIMS: a missing invoice (see the invoice record), a duplicate, "
                       "or a price changed after the order."),
    "paid_total": ("Paid differs from invoiced",
                   "Open the payment record: refund or write off the difference in TIMS, or chase the buyer."),
    "not_posted": ("Document without a GL journal entry",
                   "Open the journal record and retry it; if there is none, retry the invoice or payment record "
                   "that should have made it."),
    "unbalanced": ("Unbalanced journal entry",
                   "Correct the entry in TIMS (debits must equal credits), then reconcile the day again."),
    "posted_amount": ("Journal entry amount differs from its document",
                      "Check the posting rules and the entry in TIMS; reverse and re-post the entry."),
    "dead_letter": ("Dead letter in the cash flows",
                    "Open the record: it says what failed and how to fix it; retry it once fixed."),
}


@dataclass
class Column:
    label: str
    count: int = 0
    total: Decimal = ZERO


@dataclass
class RecordLink:
    pk: int
    label: str
    url: str


@dataclass
class Difference:
    kind: str
    order_id: str
    reference: str
    sentence: str
    amounts: dict  # {label: "12.50 EUR"}, side by side
    records: list[RecordLink] = field(default_factory=list)

    @property
    def title(self):
        return KINDS[self.kind][0]

    @property
    def what_to_do(self):
        return KINDS[self.kind][1]

    def to_dict(self):
        # pairs, not an object: PostgreSQL's jsonb would reorder the keys, and the amounts go side by side
        return {**asdict(self), "amounts": [[k, v] for k, v in self.amounts.items()], "title": self.title,
                "what_to_do": self.what_to_do}


@dataclass
class DayReport:
    integration_id: int
    day: date
    time_zone: str
    currency: str = ""
    orders: Column = field(default_factory=lambda: Column("Channel orders"))
    sales_orders: Column = field(default_factory=lambda: Column("TIMS sales orders"))
    invoices: Column = field(default_factory=lambda: Column("Invoiced"))
    payments: Column = field(default_factory=lambda: Column("Paid"))
    journal: Column = field(default_factory=lambda: Column("Posted to the GL"))
    posted_payments: Decimal = ZERO  # cash the payment entries posted (the invoice entries are journal.total)
    differences: list[Difference] = field(default_factory=list)
    in_progress: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    api_calls: int = 0

    @property
    def ok(self):
        return not self.differences

    @property
    def columns(self):
        return [self.orders, self.sales_orders, self.invoices, self.payments, self.journal]

    @property
    def summary(self):
        if not self.orders.count:
            return "No channel orders that day: nothing to reconcile."
        gross = money(self.orders.total, self.currency)
        if self.differences:
            return (f"{plural(len(self.differences), 'difference')} in {plural(self.orders.count, 'order')} "
                    f"(gross {gross}).")
        if self.in_progress:
            return (f"No differences: {plural(self.orders.count, 'order')}, gross {gross}; "
                    f"{len(self.in_progress)} still in progress (not fully shipped and invoiced yet), "
                    "the rest invoiced, paid and posted.")
        return f"No differences: {plural(self.orders.count, 'order')}, gross {gross}, all invoiced, paid and posted."


def plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def money(amount, currency=""):
    return f"{Decimal(amount).quantize(CENT)} {currency}".strip()


def zone_of(integration):
    """The day's time zone: the shop's own zone when its connection has one (PrestaShop), else the portal's."""
    name = (integration.channel_connection.settings or {}).get("timezone") or settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def record_link(record, label=""):
    return RecordLink(record.pk, label or f"{record.flow} record {record.source_id}",
                      reverse("admin:integrations_syncrecord_change", args=[record.pk]))


def _amount(value):
    try:
        return Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return ZERO


def _parse(moment):
    try:
        value = datetime.fromisoformat(str(moment))
    except ValueError:
        return None
    return value if value.tzinfo else None


class _Counted:
    """The TIMS client, counting the calls the run makes (the report says how many)."""

    def __init__(self, client):
        self.client, self.calls = client, 0

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def call(*args, **kwargs):
            self.calls += 1
            return method(*args, **kwargs)
        return call


# --- the cohort: the channel orders of the day ----------------------------------------------------------------

def cohort(integration, start, end):
    """{channel order id: its latest live order record} for the orders placed in [start, end)."""
    # ISO strings compare as text only within one offset: take a day either side, then compare exactly.
    low, high = (start - timedelta(days=1)).date().isoformat(), (end + timedelta(days=2)).date().isoformat()
    rows = (SyncRecord.objects.filter(integration=integration, flow="orders", entity_type="order", shadow=False)
            # Cast: a key's text compared as text on every database (SQLite's JSON lookups would read "2026-12-03"
            # as JSON and refuse it).
            .annotate(ordered=Cast(KT("source_payload__ordered_at"), TextField()))
            .filter(ordered__gte=low, ordered__lt=high)
            .order_by("source_id", "-pk"))
    latest = {}
    for record in rows:
        latest.setdefault(record.source_id, record)
    return {order_id: record for order_id, record in latest.items()
            if (moment := _parse((record.source_payload or {}).get("ordered_at"))) and start <= moment < end}


def _portal_key(order):
    fields = (order.extra or {}).get("CustomFields") or {}
    if isinstance(fields, list):
        fields = {item.get("Name"): item.get("Value") for item in fields if isinstance(item, dict)}
    return str(fields.get("PortalOrderKey") or "")


# --- the run --------------------------------------------------------------------------------------------------

def reconcile(integration, day, *, tims=None, progress=None, today=None):
    """The DayReport of `integration` for `day` (a date in zone_of(integration)). `tims`: a client to use instead
    of the connection's (tests pass a fake). Connector errors go up: the caller stores a failed report."""
    zone = zone_of(integration)
    start = datetime.combine(day, time.min, zone)
    end = datetime.combine(day + timedelta(days=1), time.min, zone)
    report = DayReport(integration.pk, day, str(zone))
    today = today or timezone.localdate(timezone=zone)
    windowed = (today - day).days <= WINDOW_DAYS
    since = day - timedelta(days=1)  # nothing of these orders predates the day (one day for other zones' dates)
    step = progress.advance if progress is not None else (lambda n=1: None)

    orders = cohort(integration, start, end)
    links = dict(Link.objects.filter(integration=integration, entity_type="order", source_id__in=list(orders))
                 .values_list("source_id", "target_id"))
    left_out = [oid for oid, record in orders.items() if record.status in LEFT_OUT and oid not in links]
    for oid in left_out:
        orders.pop(oid)
    if left_out:
        report.notes.append(f"{plural(len(left_out), 'order')} discarded or skipped in the portal, not counted: "
                            + ", ".join(sorted(left_out)[:20]) + ".")
    currencies = Counter(_currency(record) for record in orders.values())
    report.currency = currencies.most_common(1)[0][0] if currencies else ""
    if len(currencies) > 1:
        report.notes.append("Orders in " + ", ".join(sorted(c for c in currencies if c != report.currency))
                            + " are compared one by one but left out of the totals, which are in "
                            + f"{report.currency}.")
    step()
    if tims is None:
        from integrations.connectors.checks import client_for

        tims = client_for(integration.tims_connection, lane="low")
    tims = _Counted(tims)
    try:
        _compare(integration, report, orders, links, tims, windowed, since, end, step)
    finally:
        report.api_calls = tims.calls
    return report


def _currency(record):
    payload = record.source_payload or {}
    return str(payload.get("currency") or (payload.get("total") or {}).get("currency") or "")


def _counts(report, column, currency, amount, n=1):
    if currency == report.currency:
        column.count += n
        column.total += amount


def _compare(integration, report, orders, links, tims, windowed, since, end, step):
    wanted = {links[oid] for oid in orders if oid in links}
    sales = _sales_orders(integration, tims, wanted, since, windowed)
    step()
    invoices = _invoices(tims, wanted, since, windowed)  # {SalesOrderID: [Invoice]}
    invoice_ids = {i.source_id for found in invoices.values() for i in found}
    payments = _payments(tims, invoice_ids, since, windowed)  # {InvoiceID: [Payment]}
    step()
    references = invoice_ids | {p.source_id for found in payments.values() for p in found}
    entries = _entries(tims, references, since, windowed)  # {reference: [JournalEntry]}
    step()
    records = _cash_records(integration, orders, wanted, invoice_ids, references)
    receivables = _receivables_account(integration)

    for oid, record in sorted(orders.items()):
        payload = record.source_payload or {}
        currency = _currency(record)
        gross = _amount((payload.get("total") or {}).get("amount"))
        label = str(record.reference or payload.get("number") or oid)
        _counts(report, report.orders, currency, gross)
        order_link = record_link(record, f"order {label}")

        def found(kind, sentence, amounts, extra=(), oid=oid, label=label, order_link=order_link):
            report.differences.append(Difference(kind, oid, label, sentence, amounts, [order_link, *extra]))

        sales_order_id = links.get(oid)
        if not sales_order_id and record.status == RecordStatus.HELD:  # unpaid, say: it waits by a rule, on time
            report.in_progress.append(f"Order {label} ({money(gross, currency)}) waits in the portal, held by a "
                                      f"business rule: {(record.error_message or 'no reason recorded')[:200]}")
            continue
        if not sales_order_id:
            state = RECORD_STATE.get(record.status, record.status)
            found("no_sales_order", f"Channel order {label} ({money(gross, currency)}) has no TIMS sales order; its "
                                    f"record {state}.", {"channel": money(gross, currency), "TIMS": "—"})
            continue
        sales_order = sales.get(sales_order_id)
        if sales_order is None:
            found("no_sales_order", f"Channel order {label} is linked to TIMS sales order {sales_order_id}, which "
                                    "TIMS does not have (or it belongs to another channel order).",
                  {"channel": money(gross, currency), "TIMS": "—"})
            continue
        tims_total = sales_order.total.amount
        _counts(report, report.sales_orders, currency, tims_total)
        if tims_total != gross:
            found("sales_order_total", f"TIMS sales order {sales_order_id} totals {money(tims_total, currency)}, "
                                       f"the channel order {label} {money(gross, currency)} "
                                       f"({_signed(tims_total - gross, currency)}).",
                  {"channel": money(gross, currency), "TIMS": money(tims_total, currency)})
        billed = invoices.get(sales_order_id, [])
        invoiced = sum((i.total.amount for i in billed if i.total), ZERO)
        _counts(report, report.invoices, currency, invoiced, len(billed))
        paid_on = [p for i in billed for p in payments.get(i.source_id, [])]
        paid = sum((p.amount.amount for p in paid_on), ZERO)
        _counts(report, report.payments, currency, paid, len(paid_on))
        invoice_links = [record_link(records["invoice"][i.source_id], f"invoice {i.source_id}")
                         for i in billed if i.source_id in records["invoice"]]
        payment_links = [record_link(r, f"payments of {label}") for r in records["payments"].get(oid, [])[:1]]

        status = sales_order.status or ""
        complete = invoiced == tims_total or status in FULLY_SHIPPED
        if status in CANCELLED and not billed:
            report.notes.append(f"Order {label} is cancelled in TIMS: nothing to invoice.")
        elif invoiced > tims_total or (complete and invoiced != tims_total):
            what = "more" if invoiced > tims_total else "less"
            found("invoiced_total", f"TIMS invoiced {money(invoiced, currency)} for sales order {sales_order_id}, "
                                    f"{what} than its total {money(tims_total, currency)} "
                                    f"(status {status or 'unknown'}, {plural(len(billed), 'invoice')}).",
                  {"order": money(tims_total, currency), "invoiced": money(invoiced, currency)}, invoice_links)
        elif not complete:
            report.in_progress.append(
                f"Order {label} (TIMS {sales_order_id}, {status or 'open'}): {money(invoiced, currency)} of "
                f"{money(tims_total, currency)} invoiced so far — not fully shipped yet, not a difference.")
        if complete and billed and paid != invoiced:
            what = "over-paid" if paid > invoiced else "under-paid"
            found("paid_total", f"Order {label} is {what}: {money(paid, currency)} applied in TIMS against "
                                f"{money(invoiced, currency)} invoiced ({_signed(paid - invoiced, currency)}).",
                  {"invoiced": money(invoiced, currency), "paid": money(paid, currency)},
                  payment_links + invoice_links)

        documents = [("invoice", i.source_id, i.total.amount if i.total else ZERO) for i in billed]
        documents += [("payment", p.source_id, p.amount.amount) for p in paid_on]
        for kind, document_id, amount in documents:
            explain = [record_link(records["journal"][f"{kind}:{document_id}"], f"journal of {document_id}")] \
                if f"{kind}:{document_id}" in records["journal"] else (
                    invoice_links if kind == "invoice" else payment_links)
            posted = entries.get(document_id) or []
            if not posted:
                found("not_posted", f"{kind.capitalize()} {document_id} ({money(amount, currency)}) of order {label} "
                                    "has no journal entry in TIMS.",
                      {kind: money(amount, currency), "posted": "—"}, explain)
                continue
            entry = posted[0]
            entry_id = entry.source_id or document_id
            report.journal.count += 1
            on_receivables = _on_receivables(entry, kind, receivables)
            if kind == "invoice":
                _counts(report, report.journal, currency, on_receivables, 0)
            elif currency == report.currency:
                report.posted_payments += on_receivables
            if entry.debits != entry.credits:
                found("unbalanced", f"Journal entry {entry_id} for {kind} {document_id} does not balance: debits "
                                    f"{money(entry.debits)} ≠ credits {money(entry.credits)}.",
                      {"debits": money(entry.debits), "credits": money(entry.credits)}, explain)
            if on_receivables != amount:
                found("posted_amount", f"Journal entry {entry_id} posts {money(on_receivables, currency)} to "
                                       f"receivables for {kind} {document_id} of {money(amount, currency)}.",
                      {kind: money(amount, currency), "posted": money(on_receivables, currency)}, explain)

        for dead in records["dead"].get(oid, []):
            found("dead_letter", f"The {dead.flow} record {dead.source_id} of order {label} is a dead letter: "
                                 f"{(dead.error_message or 'no reason recorded')[:300]}",
                  {}, [record_link(dead, f"{dead.flow} {dead.source_id}")])
    step()


def _signed(amount, currency):
    return ("+" if amount > 0 else "") + money(amount, currency)


def _on_receivables(entry, kind, account):
    """What the entry put on receivables: debited for an invoice, credited for a payment. Without posting rules,
    the largest line on that side (the receivable is the whole document; discounts and fees are parts of it)."""
    side = "debit" if kind == "invoice" else "credit"
    lines = [line for line in entry.lines if account and line.account == account]
    if lines:
        return sum((getattr(line, side) for line in lines), ZERO)
    return max((getattr(line, side) for line in entry.lines), default=ZERO)


def _receivables_account(integration):
    try:
        from finance.rules import rules_for

        return rules_for(integration).account("receivables")
    except Exception:  # no posting rules (yet): fall back to the largest line
        return ""


# --- TIMS reads, grouped ---------------------------------------------------------------------------------------

def _sales_orders(integration, tims, wanted, since, windowed):
    """{SalesOrderID: Order} of the wanted ones that are this integration's: one list call over the window, then
    one read for each the window missed (an order dated in TIMS later than it was placed)."""
    found = {}
    if wanted and windowed:
        for order in tims.sales_orders_between(since, since + timedelta(days=2)):  # TIMS dates are UTC days
            if order.source_id in wanted:
                found[order.source_id] = order
    from integrations.connectors.errors import NotFound

    for sales_order_id in sorted(wanted - set(found)):
        try:
            found[sales_order_id] = tims.get_sales_order(sales_order_id)
        except NotFound:
            continue
    prefix = f"{integration.pk}:"
    return {sid: order for sid, order in found.items()
            if not _portal_key(order) or _portal_key(order).startswith(prefix)}


def _invoices(tims, wanted, since, windowed):
    by_order = {}
    if windowed:
        listed = tims.find_invoices(date_from=since) if wanted else []
    else:
        listed = [i for sid in sorted(wanted) for i in tims.find_invoices(sales_order_id=sid)]
    for invoice in listed:
        if invoice.order_id in wanted:
            by_order.setdefault(invoice.order_id, []).append(invoice)
    return {sid: sorted(found, key=lambda i: i.source_id) for sid, found in by_order.items()}


def _payments(tims, invoice_ids, since, windowed):
    by_invoice = {}
    if windowed:
        listed = tims.find_payments(date_from=since) if invoice_ids else []
    else:
        listed = [p for iid in sorted(invoice_ids) for p in tims.find_payments(invoice_id=iid)]
    seen = set()
    for payment in listed:
        if payment.invoice_id in invoice_ids and payment.source_id not in seen:
            seen.add(payment.source_id)
            by_invoice.setdefault(payment.invoice_id, []).append(payment)
    return by_invoice


def _entries(tims, references, since, windowed):
    by_reference = {}
    if windowed and references:
        for entry in tims.find_journal_entries(date_from=since):
            if entry.reference in references:
                by_reference.setdefault(entry.reference, []).append(entry)
    for reference in sorted(references - set(by_reference)):  # dated before the window, or really missing
        found = tims.find_journal_entries(reference=reference)
        if found:
            by_reference[reference] = found
    return by_reference


# --- the portal's records that explain a difference ------------------------------------------------------------

def _cash_records(integration, orders, sales_order_ids, invoice_ids, references):
    """The invoice, payment, journal and dead-letter records of these orders, each found in one query."""
    invoice_records = {link.target_id: link.record for link in Link.objects.filter(
        integration=integration, entity_type="invoice", target_id__in=list(invoice_ids), record__isnull=False)
        .select_related("record")}
    order_of_sales_order = {sid: oid for oid, sid in Link.objects.filter(
        integration=integration, entity_type="order", target_id__in=list(sales_order_ids))
        .values_list("source_id", "target_id")}
    payments = {}
    for record in SyncRecord.objects.filter(integration=integration, flow="payments",
                                            source_id__in=list(orders)).order_by("-pk"):
        payments.setdefault(record.source_id, []).append(record)
    journal_keys = [f"{kind}:{ref}" for ref in references for kind in ("invoice", "payment")]
    journal = {}
    for record in SyncRecord.objects.filter(integration=integration, flow="journal",
                                            source_id__in=journal_keys).order_by("-pk"):
        journal.setdefault(record.source_id, record)
    dead = {}
    invoice_order = {}  # InvoiceID → channel order id, for journal dead letters that name only their document
    for invoice_id, record in invoice_records.items():
        sid = str((record.source_payload or {}).get("sales_order_id") or "")
        if sid in order_of_sales_order:
            invoice_order[invoice_id] = order_of_sales_order[sid]
    first = min((record.created_at for record in orders.values()), default=None)
    dead_rows = SyncRecord.objects.filter(integration=integration, flow__in=CASH_FLOWS, status=RecordStatus.DEAD,
                                          shadow=False, created_at__gte=first) if first else []
    for record in dead_rows:
        oid = _order_of(record, order_of_sales_order, invoice_order)
        if oid in orders:
            dead.setdefault(oid, []).append(record)
    return {"invoice": invoice_records, "payments": payments, "journal": journal, "dead": dead}


def _order_of(record, order_of_sales_order, invoice_order):
    payload = record.source_payload or {}
    if payload.get("order_id"):
        return str(payload["order_id"])
    if record.flow == "payments":
        return record.source_id.split(":")[0]
    if payload.get("sales_order_id"):
        return order_of_sales_order.get(str(payload["sales_order_id"]), "")
    if record.flow == "journal" and record.source_id.startswith("invoice:"):
        return invoice_order.get(record.source_id.split(":", 1)[1], "")
    return ""
