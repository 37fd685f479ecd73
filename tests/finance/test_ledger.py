"""The ledger builder, exact lines, no database."""

from datetime import date
from decimal import Decimal as D

import pytest

from finance.ledger import PostingError, Rules, cents, check_balanced, invoice_entry, payment_entry, payout_entry
from integrations import canonical as c
from tests.finance.helpers import RULES, as_tuples, invoice, line, money

Z = D("0")


def test_most_specific_rule_wins_then_blank():
    assert RULES.account("revenue", "channeladvisor") == "4010"
    assert RULES.account("revenue", "other") == "4000"
    assert RULES.account("tax", "", "fr") == "2210"  # a country, any case
    assert RULES.account("tax", "T1", "FR") == "2210"
    assert RULES.account("clearing", "PayPal") == "1152"


def test_missing_rule_names_kind_and_key():
    rules = Rules(rows=(("revenue", "prestashop", "4000"),))
    with pytest.raises(PostingError) as error:
        rules.account("revenue", "channeladvisor")
    assert "revenue" in error.value.message and "'channeladvisor'" in error.value.message
    assert error.value.rule == {"kind": "revenue", "key": "channeladvisor"}
    assert "Add a revenue rule" in error.value.fix


def test_cents_refuses_three_decimals():
    assert cents(D("1.50")) == D("1.50") and cents(D("2")) == D("2.00") and cents(D("1.230")) == D("1.23")
    with pytest.raises(PostingError, match="more than two decimals"):
        cents(D("1.005"))


def test_invoice_entry_exact_lines():
    inv = invoice([line("A", 2, "10.00", tax="3.60", discount="2.00", TaxCode="FR"),
                   line("B", 1, "5.50", tax="1.10")], total="33.20", shipping="5.00")
    entry = invoice_entry(RULES, inv, channel_kind="prestashop")
    assert as_tuples(entry) == [("1100", D("33.20"), Z), ("4200", D("2.00"), Z), ("4000", Z, D("25.50")),
                                ("2210", Z, D("3.60")), ("2200", Z, D("1.10")), ("4100", Z, D("5.00"))]
    assert entry.reference == "INV000012" and entry.entry_date == date(2026, 12, 1)
    assert "INV000012" in entry.memo and "SO000007" in entry.memo
    assert [x.memo for x in entry.lines][2] == "Sales INV000012"
    assert entry.lines[3].memo.startswith("Tax 2210")


def test_invoice_lines_of_one_account_are_summed_and_zero_lines_dropped():
    inv = invoice([line("A", 1, "10.00", tax="2.00"), line("B", 3, "1.00", tax="0.60", discount="0")], total="15.60")
    entry = invoice_entry(RULES, inv, channel_kind="channeladvisor")
    assert as_tuples(entry) == [("1100", D("15.60"), Z), ("4010", Z, D("13.00")), ("2200", Z, D("2.60"))]


def test_tax_code_of_and_country():
    inv = invoice([line("A", 1, "10.00", tax="2.00")], total="12.00")
    assert as_tuples(invoice_entry(RULES, inv, channel_kind="prestashop", country="FR"))[2] == ("2210", Z, D("2.00"))
    assert as_tuples(invoice_entry(RULES, inv, channel_kind="prestashop",
                                   tax_code_of=lambda _line: "fr"))[2] == ("2210", Z, D("2.00"))


def test_cent_differences_go_to_rounding():
    inv = invoice([line("A", 1, "10.00", tax="2.00"), line("B", 1, "1.00")], total="13.02")
    entry = invoice_entry(RULES, inv, channel_kind="prestashop")
    assert ("6900", Z, D("0.02")) in as_tuples(entry)
    below = invoice_entry(RULES, invoice([line("A", 1, "10.00")], total="9.99"), channel_kind="prestashop")
    assert ("6900", D("0.01"), Z) in as_tuples(below)


def test_bigger_difference_is_refused_with_both_amounts():
    with pytest.raises(PostingError) as error:
        invoice_entry(RULES, invoice([line("A", 1, "10.00")], total="10.02"), channel_kind="prestashop")
    assert "10.02" in error.value.message and "10.00" in error.value.message


def test_three_decimals_are_refused():
    with pytest.raises(PostingError, match="more than two decimals"):
        invoice_entry(RULES, invoice([line("A", 1, "10.005")], total="10.01"), channel_kind="prestashop")


def test_payment_entry():
    payment = c.Payment(source="prestashop", source_id="77", amount=money("23.20"), method="PayPal",
                        invoice_id="INV000012")
    entry = payment_entry(RULES, payment, channel_kind="prestashop", reference="PAY000003")
    assert as_tuples(entry) == [("1152", D("23.20"), Z), ("1100", Z, D("23.20"))]
    assert entry.reference == "PAY000003"
    card = payment_entry(RULES, c.Payment(source="x", source_id="1", amount=money("5"), method="card"),
                         channel_kind="prestashop", reference="TX-1")
    assert as_tuples(card)[0] == ("1150", D("5.00"), Z)


def test_payout_entry():
    entry = payout_entry(RULES, reference="SET-1", entry_date=date(2026, 12, 2), amount=D("100.00"),
                         fee=D("12.50"), channel_kind="channeladvisor")
    assert as_tuples(entry) == [("1000", D("87.50"), Z), ("6100", D("12.50"), Z), ("1150", Z, D("100.00"))]


def test_payout_bad_fees():
    with pytest.raises(PostingError, match="a fee cannot be negative: -1.00"):
        payout_entry(RULES, reference="S", entry_date=None, amount=D("10"), fee=D("-1.00"), channel_kind="x")
    with pytest.raises(PostingError, match="greater than the amount"):
        payout_entry(RULES, reference="S", entry_date=None, amount=D("10"), fee=D("11"), channel_kind="x")


def test_check_balanced_refuses():
    unbalanced = c.JournalEntry(reference="X", lines=[c.JournalLine("1000", debit=D("1.00")),
                                                      c.JournalLine("4000", credit=D("0.99"))])
    with pytest.raises(PostingError, match="debits 1.00, credits 0.99"):
        check_balanced(unbalanced)
    with pytest.raises(PostingError, match="more than two decimals"):
        check_balanced(c.JournalEntry(reference="X", lines=[c.JournalLine("1000", debit=D("1.001")),
                                                            c.JournalLine("4000", credit=D("1.001"))]))
    with pytest.raises(PostingError, match="negative"):
        check_balanced(c.JournalEntry(reference="X", lines=[c.JournalLine("1000", debit=D("-1")),
                                                            c.JournalLine("4000", credit=D("-1"))]))
