from datetime import UTC, datetime
from decimal import Decimal

from finance.ledger import Rules
from finance.rules import DEFAULT_RULES
from integrations import canonical as c

RULES = Rules(rows=tuple(DEFAULT_RULES) + (("tax", "FR", "2210"), ("clearing", "paypal", "1152")), version=3)


def money(amount):
    return c.Money(Decimal(str(amount)), "EUR")


def line(sku, quantity, price, tax=None, discount=None, **extra):
    return c.OrderLine(sku=sku, quantity=quantity, unit_price=money(price),
                       tax=money(tax) if tax is not None else None,
                       discount=money(discount) if discount is not None else None, extra=extra)


def invoice(lines, total, shipping=None, source_id="INV000012"):
    return c.Invoice(source="tims", source_id=source_id, order_id="SO000007",
                     invoice_date=datetime(2026, 12, 1, 9, 30, tzinfo=UTC), lines=lines,
                     total=money(total), shipping=money(shipping) if shipping is not None else None)


def as_tuples(entry):
    return [(x.account, x.debit, x.credit) for x in entry.lines]


def net(entry, account):
    return sum((x.debit - x.credit for x in entry.lines if x.account == account), Decimal("0"))
