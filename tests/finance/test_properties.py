"""Property-based: any order lines make an invoice entry that balances to the cent; partial invoices of the same
lines add up to the whole order's; payments, payouts and refunds balance."""

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from finance.ledger import PostingError, invoice_entry, payment_entry, payout_entry, refund_entry
from integrations import canonical as c
from tests.finance.helpers import RULES, invoice, line, net

CENT = Decimal("0.01")
amounts = st.integers(min_value=1, max_value=999999).map(lambda n: Decimal(n) / 100)
FAST = settings(max_examples=200, deadline=None)


@st.composite
def order_lines(draw):
    lines = []
    for index in range(draw(st.integers(min_value=1, max_value=8))):
        quantity = draw(st.integers(min_value=1, max_value=50))
        price = draw(amounts)
        discount = Decimal(draw(st.integers(min_value=0, max_value=int(price * quantity * 100)))) / 100
        tax = Decimal(draw(st.integers(min_value=0, max_value=int((price * quantity - discount) * 30)))) / 100
        code = draw(st.sampled_from(["", "FR", "T1"]))
        lines.append(line(f"SKU{index}", quantity, price, tax=tax, discount=discount, TaxCode=code))
    return lines


def total_of(lines, shipping):
    return sum((x.unit_price.amount * x.quantity - x.discount.amount + x.tax.amount for x in lines),
               Decimal("0")) + shipping


def share(value, part, whole):
    return (value * part / whole).quantize(CENT, rounding=ROUND_HALF_UP)


def split(lines, parts):
    """The lines over `parts` partial invoices: quantities split, tax and discount pro rata (half up), the last
    part of a line taking the remainder."""
    invoices = [[] for _ in range(parts)]
    for x in lines:
        quantities = [x.quantity // parts + (1 if i < x.quantity % parts else 0) for i in range(parts)]
        used = [i for i, q in enumerate(quantities) if q]
        tax_left, discount_left = x.tax.amount, x.discount.amount
        for i in used:
            last = i == used[-1]
            tax = tax_left if last else share(x.tax.amount, quantities[i], x.quantity)
            discount = discount_left if last else share(x.discount.amount, quantities[i], x.quantity)
            tax_left, discount_left = tax_left - tax, discount_left - discount
            invoices[i].append(line(x.sku, quantities[i], x.unit_price.amount, tax=tax, discount=discount,
                                    **x.extra))
    return [lines for lines in invoices if lines]


def balanced(entry):
    assert entry.debits == entry.credits
    assert all(x.debit >= 0 and x.credit >= 0 and x.debit == x.debit.quantize(CENT) for x in entry.lines)


@FAST
@given(order_lines(), st.integers(min_value=0, max_value=5000).map(lambda n: Decimal(n) / 100),
       st.sampled_from(["prestashop", "channeladvisor"]))
def test_any_invoice_balances_and_debits_its_total(lines, shipping, channel_kind):
    total = total_of(lines, shipping)
    entry = invoice_entry(RULES, invoice(lines, total, shipping=shipping), channel_kind=channel_kind)
    balanced(entry)
    assert net(entry, "1100") == total


@FAST
@given(order_lines(), st.integers(min_value=0, max_value=5000).map(lambda n: Decimal(n) / 100),
       st.integers(min_value=2, max_value=4))
def test_partial_invoices_add_up_to_the_order(lines, shipping, parts):
    whole = invoice_entry(RULES, invoice(lines, total_of(lines, shipping), shipping=shipping),
                          channel_kind="prestashop")
    entries = []
    for number, part in enumerate(split(lines, parts)):
        freight = shipping if number == 0 else Decimal("0")  # the first shipment bills the freight
        entries.append(invoice_entry(RULES, invoice(part, total_of(part, freight), shipping=freight,
                                                    source_id=f"INV{number}"), channel_kind="prestashop"))
    for entry in entries:
        balanced(entry)
    for account in {x.account for entry in entries + [whole] for x in entry.lines}:
        assert sum(net(entry, account) for entry in entries) == net(whole, account), account


@FAST
@given(amounts, st.sampled_from(["", "PayPal", "card", "paypal"]))
def test_payments_balance(amount, method):
    payment = c.Payment(source="x", source_id="1", amount=c.Money(amount, "EUR"), method=method)
    entry = payment_entry(RULES, payment, channel_kind="prestashop", reference="TX")
    balanced(entry)
    assert net(entry, "1100") == -amount


@FAST
@given(amounts, st.data())
def test_payouts_balance(amount, data):
    fee = Decimal(data.draw(st.integers(min_value=0, max_value=int(amount * 100)))) / 100
    entry = payout_entry(RULES, reference="S", entry_date=None, amount=amount, fee=fee,
                         channel_kind="channeladvisor")
    balanced(entry)
    assert net(entry, "1000") == amount - fee and net(entry, "1150") == -amount


@FAST
@given(amounts, st.integers(min_value=0, max_value=99999).map(lambda n: Decimal(n) / 100),
       st.integers(min_value=0, max_value=5000).map(lambda n: Decimal(n) / 100), st.integers(-2, 2),
       st.sampled_from(["", "PayPal"]), st.sampled_from(["prestashop", "channeladvisor"]))
def test_refunds_balance_and_reverse_exactly_what_they_refund(goods, tax, shipping, cents_off, method, channel_kind):
    refund = goods + tax + shipping + Decimal(cents_off) / 100
    assume(refund >= 0)
    try:
        entry = refund_entry(RULES, reference="RET1", entry_date=None, goods=goods, tax=tax, shipping=shipping,
                             refund=refund, method=method, channel_kind=channel_kind)
    except PostingError as refused:
        assert (abs(cents_off) > 1 and "differs from the goods, tax and shipping" in refused.message) or (
            refund == 0 and "nothing was refunded" in refused.message)
        return
    balanced(entry)
    clearing = RULES.account("clearing", method)
    assert [x.credit for x in entry.lines if x.account == clearing] == [refund]  # the money that left, only that
    debits = {x.account: x.debit for x in entry.lines if x.debit}
    assert debits.get(RULES.account("revenue", channel_kind)) == goods
