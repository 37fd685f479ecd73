"""The ledger builder: pure functions that turn an invoice, a payment or a payout line into a balanced journal
entry. Decimal only, no database, no I/O, so the flows can call them anywhere and the tests can prove them.

Amounts with more than two decimals are refused, never rounded: a third decimal is bad input upstream."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from integrations import canonical as c

CENT = Decimal("0.01")
ZERO = Decimal("0")
DEBIT, CREDIT = "debit", "credit"


class PostingError(Exception):
    """A document that cannot be posted: `message` says what, `fix` what to do, `rule` which rule (kind/key)."""

    def __init__(self, message, fix="", rule=None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.rule = rule or {}

    def __str__(self):
        return f"{self.message} {self.fix}".strip()


@dataclass(frozen=True)
class Rules:
    """An immutable snapshot of an integration's posting rules: rows of (kind, key, account)."""

    rows: tuple = ()
    version: int = 0
    integration_id: int | None = None

    def account(self, kind, *keys):
        """The most specific account for `kind`: the first key that has a rule, then the blank rule."""
        by_key = {key.casefold(): account for row_kind, key, account in self.rows if row_kind == kind}
        for key in keys:
            if key and str(key).casefold() in by_key:
                return by_key[str(key).casefold()]
        if "" in by_key:
            return by_key[""]
        wanted = ", ".join(repr(str(key)) for key in keys if key) or "(none)"
        raise PostingError(
            f"No posting rule for {kind} (keys tried: {wanted}).",
            fix=f"Add a {kind} rule for one of these keys, or a blank-key {kind} rule, in the integration's "
                "posting rules.",
            rule={"kind": kind, "key": next((str(key) for key in keys if key), "")})


def cents(value) -> Decimal:
    """`value` as a Decimal of cents; more than two decimals is an error, not something to round."""
    if value is None:
        return ZERO
    if isinstance(value, c.Money):
        value = value.amount
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        exact = amount.quantize(CENT)
    except (InvalidOperation, ValueError) as error:
        raise PostingError(f"Not an amount: {value!r}.", fix="Send amounts as decimal numbers.") from error
    if exact != amount:
        raise PostingError(f"The amount {value} has more than two decimals.",
                           fix="Amounts must be in cents; correct the source document and retry.")
    return exact


class _Lines:
    """Lines being gathered: one per account and side, in the order they first appear."""

    def __init__(self):
        self.amounts, self.memos = {}, {}

    def add(self, account, side, amount, memo):
        if amount < 0:  # a negative amount is the other side (a credit line on an invoice, a refund)
            side, amount = (CREDIT if side == DEBIT else DEBIT), -amount
        key = (account, side)
        self.amounts[key] = self.amounts.get(key, ZERO) + amount
        self.memos.setdefault(key, memo)

    def lines(self):
        return [c.JournalLine(account=account, debit=amount if side == DEBIT else ZERO,
                              credit=amount if side == CREDIT else ZERO, memo=self.memos[(account, side)])
                for (account, side), amount in self.amounts.items() if amount]


def check_balanced(entry: c.JournalEntry) -> c.JournalEntry:
    """Refuse an entry whose debits and credits differ, or with an amount that is negative or not in cents."""
    for line in entry.lines:
        for amount in (line.debit, line.credit):
            cents(amount)
            if amount < 0:
                raise PostingError(f"Entry {entry.reference}: account {line.account} has a negative amount {amount}.",
                                   fix="This is a bug in the ledger builder; report it.")
    if not entry.lines:
        raise PostingError(f"Entry {entry.reference} has no lines (nothing to post).",
                           fix="Check that the document has a non-zero amount.")
    if entry.debits != entry.credits:
        raise PostingError(f"Entry {entry.reference} does not balance: debits {entry.debits}, "
                           f"credits {entry.credits}.", fix="This is a bug in the ledger builder; report it.")
    return entry


def _day(value):
    return value.date() if isinstance(value, datetime) else value if isinstance(value, date) else None


def invoice_entry(rules: Rules, invoice: c.Invoice, *, channel_kind, country="", tax_code_of=None) -> c.JournalEntry:
    """Revenue recognition: Dr receivables (total) and discounts; Cr revenue, tax per tax account, shipping.

    The tax account is looked up by the line's tax code (`tax_code_of(line)`, by default `extra["TaxCode"]`), then
    the country, then the blank rule. A difference between the total and its parts of at most one cent per line
    is posted to the rounding account; more than that is refused."""
    ref = invoice.source_id
    revenue, discounts, taxes = ZERO, ZERO, {}
    for line in invoice.lines:
        revenue += cents(line.unit_price) * line.quantity
        discounts += cents(line.discount)
        code = tax_code_of(line) if tax_code_of else (line.extra or {}).get("TaxCode", "")
        account = rules.account("tax", code, country) if line.tax is not None and cents(line.tax) else None
        if account:
            taxes[account] = taxes.get(account, ZERO) + cents(line.tax)
    shipping = cents(invoice.shipping)
    parts = revenue - discounts + sum(taxes.values(), ZERO) + shipping
    total = cents(invoice.total) if invoice.total is not None else parts
    difference = total - parts
    tolerance = CENT * max(len(invoice.lines), 1)
    if abs(difference) > tolerance:
        raise PostingError(
            f"Invoice {ref}: the total {total} differs from its lines, tax and freight ({parts}) by {difference}.",
            fix="Check the invoice in TIMS (lines, tax, freight) and retry.", rule={"kind": "rounding", "key": ""})
    lines = _Lines()
    lines.add(rules.account("receivables"), DEBIT, total, f"Receivable {ref}")
    lines.add(rules.account("discounts", channel_kind), DEBIT, discounts, f"Discounts {ref}")
    lines.add(rules.account("revenue", channel_kind), CREDIT, revenue, f"Sales {ref}")
    for account, amount in taxes.items():
        lines.add(account, CREDIT, amount, f"Tax {account} {ref}")
    lines.add(rules.account("shipping", channel_kind), CREDIT, shipping, f"Shipping {ref}")
    if difference:  # receivable above the parts: a credit to rounding; below: a debit
        lines.add(rules.account("rounding"), CREDIT, difference, f"Rounding {ref}")
    order = f", order {invoice.order_id}" if invoice.order_id else ""
    return check_balanced(c.JournalEntry(
        reference=ref, entry_date=_day(invoice.invoice_date), lines=lines.lines(),
        memo=f"Invoice {ref}{order}", extra={"kind": "invoice", "rules_version": rules.version}))


def payment_entry(rules: Rules, payment: c.Payment, *, channel_kind, reference) -> c.JournalEntry:
    """Cash received: Dr clearing (by payment method, then blank) / Cr receivables, the payment amount.
    `reference` is the TIMS PaymentID, or the channel's transaction reference before it exists."""
    amount = cents(payment.amount)
    lines = _Lines()
    lines.add(rules.account("clearing", payment.method), DEBIT, amount,
              f"Payment {reference}" + (f" ({payment.method})" if payment.method else ""))
    lines.add(rules.account("receivables"), CREDIT, amount, f"Receivable settled {reference}")
    invoice = f" for invoice {payment.invoice_id}" if payment.invoice_id else ""
    return check_balanced(c.JournalEntry(
        reference=reference, entry_date=_day(payment.received_at), lines=lines.lines(),
        memo=f"Payment {reference}{invoice}", extra={"kind": "payment", "rules_version": rules.version}))


def payout_entry(rules: Rules, *, reference, entry_date, amount, fee, method="", channel_kind) -> c.JournalEntry:
    """One marketplace settlement line: Dr bank (amount − fee), Dr fees (fee), Cr clearing (amount)."""
    amount, fee = cents(amount), cents(fee)
    if fee < 0:
        raise PostingError(f"Payout {reference}: a fee cannot be negative: {fee}.",
                           fix="Check the settlement line in the channel; a refunded fee is its own line.")
    if amount < 0:
        raise PostingError(f"Payout {reference}: a payout amount cannot be negative: {amount}.",
                           fix="Check the settlement line in the channel.")
    if fee > amount:
        raise PostingError(f"Payout {reference}: the fee {fee} is greater than the amount {amount}.",
                           fix="Check the settlement line in the channel.")
    lines = _Lines()
    lines.add(rules.account("bank"), DEBIT, amount - fee, f"Payout {reference}")
    lines.add(rules.account("fees", channel_kind), DEBIT, fee, f"Fees {reference}")
    lines.add(rules.account("clearing", method), CREDIT, amount, f"Clearing {reference}")
    return check_balanced(c.JournalEntry(
        reference=reference, entry_date=_day(entry_date), lines=lines.lines(),
        memo=f"Payout {reference}", extra={"kind": "payout", "rules_version": rules.version}))


def refund_entry(rules: Rules, *, reference, entry_date, goods, tax, shipping, refund, method="", channel_kind,
                 country="") -> c.JournalEntry:
    """Money back to the buyer (a return's credit): the revenue, tax and shipping it refunds are reversed, Dr, and
    the refund leaves the clearing account of the payment method, Cr. A difference of at most a cent between the
    refund and its parts goes to rounding; more is refused."""
    goods, tax, shipping, refund = cents(goods), cents(tax), cents(shipping), cents(refund)
    for label, amount in (("goods", goods), ("tax", tax), ("shipping", shipping), ("refund", refund)):
        if amount < 0:
            raise PostingError(f"Refund {reference}: the {label} amount cannot be negative: {amount}.",
                               fix="Check the return or credit slip in the channel.")
    if not refund:
        raise PostingError(f"Refund {reference}: nothing was refunded, so there is nothing to post.",
                           fix="A return without money back posts no entry: discard this record.")
    parts = goods + tax + shipping
    difference = refund - parts
    if abs(difference) > CENT:
        raise PostingError(f"Refund {reference}: the refund {refund} differs from the goods, tax and shipping it "
                           f"refunds ({parts}) by {difference}.",
                           fix="Check the return or credit slip in the channel, correct the stored payload, retry.",
                           rule={"kind": "rounding", "key": ""})
    lines = _Lines()
    lines.add(rules.account("revenue", channel_kind), DEBIT, goods, f"Sales returned {reference}")
    if tax:
        lines.add(rules.account("tax", country), DEBIT, tax, f"Tax refunded {reference}")
    lines.add(rules.account("shipping", channel_kind), DEBIT, shipping, f"Shipping refunded {reference}")
    if difference:  # the refund above its parts: a debit to rounding; below: a credit
        lines.add(rules.account("rounding"), DEBIT, difference, f"Rounding {reference}")
    lines.add(rules.account("clearing", method), CREDIT, refund, f"Refund paid {reference}")
    return check_balanced(c.JournalEntry(
        reference=reference, entry_date=_day(entry_date), lines=lines.lines(), memo=f"Refund {reference}",
        extra={"kind": "refund", "rules_version": rules.version}))
