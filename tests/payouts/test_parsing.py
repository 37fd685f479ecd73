"""Reading settlement files: BOM, CRLF, delimiters, decimal commas; every bad line refused with its reason while
the others are read; files that cannot be read at all say why and what to do."""

from datetime import date
from decimal import Decimal

import pytest

from payouts import parsing
from tests.payouts.conftest import MAPPING


def test_a_bom_crlf_semicolon_decimal_comma_file_reads():
    data = ("\ufeffRef;Gross;Commission;Settled;Cur\r\n1001;1.234,56;12,30;31/12/2026;eur\r\n\r\n"
            "1002;5;0;01/01/2027;EUR\r\n")
    text = parsing.read_text(data.encode("utf-8"))
    assert parsing.sniff_delimiter(text) == ";"
    assert parsing.headers(text, ";") == ["Ref", "Gross", "Commission", "Settled", "Cur"]
    rows = parsing.rows(text, {"reference_column": "Ref", "amount_column": "Gross", "fee_column": "Commission",
                               "date_column": "Settled", "currency_column": "Cur", "delimiter": ";",
                               "date_format": "%d/%m/%Y", "decimal_comma": True})
    assert [(r.number, r.reference, r.amount, r.fee, r.date, r.currency, r.refusal) for r in rows] == [
        (2, "1001", Decimal("1234.56"), Decimal("12.30"), date(2026, 12, 31), "EUR", ""),
        (4, "1002", Decimal("5.00"), Decimal("0.00"), date(2027, 1, 1), "EUR", "")]  # row 3 is blank


def test_tabs_and_quoted_commas():
    text = 'Order reference\tAmount\tFee\tDate\n"A,1"\t"1,000.00"\t1.50\t2026-12-01T10:00:00Z\n'
    (row,) = parsing.rows(text, {**MAPPING, "delimiter": "\t"})
    assert (row.reference, row.amount, row.fee, row.date, row.refusal) == (
        "A,1", Decimal("1000.00"), Decimal("1.50"), date(2026, 12, 1), "")


@pytest.mark.parametrize("line, reason", [
    ("X1,abc,1,2026-12-01", "amount “abc” is not a number"),
    ("X1,1e3,1,2026-12-01", "amount “1e3” is not a number"),
    ("X1,10.123,1,2026-12-01", "amount “10.123” has more than 2 decimals"),
    ("X1,10,0.005,2026-12-01", "fee “0.005” has more than 2 decimals"),
    ("X1,10,-1,2026-12-01", "negative fee -1.00"),
    ("X1,10,11,2026-12-01", "fee 11.00 is greater than the amount 10.00"),
    (",10,1,2026-12-01", "no order reference"),
    ("X1,10,1,31/12/2026", "date “31/12/2026” is not a date like 2026-12-31"),
    ("X1,12,50,2026-12-01", None),  # an unquoted decimal comma shifts the cells: the fee is 50 > 12
    ("X1,,1,2026-12-01", "no amount"),
])
def test_each_bad_line_is_refused_with_its_reason_and_the_others_are_read(line, reason):
    text = "Order reference,Amount,Fee,Date\n" + line + "\nGOOD,10,1,2026-12-01\n"
    bad, good = parsing.rows(text, MAPPING)
    assert bad.refusal and (reason is None or reason in bad.refusal)
    assert good.refusal == "" and good.amount == Decimal("10.00")


def test_a_decimal_comma_read_as_a_point_is_refused_not_read_as_hundreds():
    text = 'Order reference,Amount,Fee,Date\nX1,"12,50",0,2026-12-01\n'
    (row,) = parsing.rows(text, MAPPING)
    assert "check “decimal comma”" in row.refusal and row.amount is None


def test_a_file_that_is_not_utf8_says_how_to_save_it():
    with pytest.raises(parsing.FileRefused, match="not UTF-8.*CSV UTF-8"):
        parsing.read_text("Référence,Montant\n".encode("latin-1"))


def test_too_big_and_too_many_rows(monkeypatch):
    with pytest.raises(parsing.FileRefused, match="at most 10 MB"):
        parsing.read_text(b"x" * (parsing.MAX_BYTES + 1))
    monkeypatch.setattr(parsing, "MAX_ROWS", 2)
    with pytest.raises(parsing.FileRefused, match="more than 2 lines"):
        parsing.rows("Order reference,Amount,Fee,Date\n" + "A,1,0,2026-12-01\n" * 3, MAPPING)


def test_a_chosen_column_the_file_lacks_names_the_headers_it_has():
    with pytest.raises(parsing.FileRefused, match="no column “Order reference” .chosen as reference.; its headers "
                                                  "are Ref, Gross"):
        parsing.rows("Ref,Gross\nA,1\n", MAPPING)
