"""Reading a settlement file: UTF-8 text (a BOM and CRLF line ends are fine), a header row, then one line per
payout entry. A bad line is refused with its reason; the others go on."""

import csv
import io
import re
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime
from decimal import Decimal

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
PREVIEW_ROWS = 5
DELIMITERS = (",", ";", "\t", "|")


class FileRefused(Exception):
    """The whole file cannot be read; the message says why and what to do."""


@dataclass
class Row:
    number: int
    raw: dict
    reference: str = ""
    amount: Decimal | None = None
    fee: Decimal | None = None
    date: Date | None = None
    currency: str = ""
    payout_id: str = ""
    refusal: str = ""  # why the line cannot be used, in plain words; empty when it can


def read_text(data: bytes, name="the file") -> str:
    if len(data) > MAX_BYTES:
        raise FileRefused(f"{name} is {len(data) / 1024 / 1024:.1f} MB; at most {MAX_BYTES // 1024 // 1024} MB is "
                          "read at once. Split it into smaller files and upload each.")
    try:
        text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        raise FileRefused(f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start}). Save "
                          "it as “CSV UTF-8” (Excel: File › Save As › CSV UTF-8) and upload it again.") from None
    if not text.strip():
        raise FileRefused(f"{name} is empty.")
    return text


def sniff_delimiter(text: str) -> str:
    """The delimiter the header line uses most (a guess for a first upload; the mapping page can change it)."""
    header = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    return max(DELIMITERS, key=header.count) if any(d in header for d in DELIMITERS) else ","


def _reader(text, delimiter):
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def headers(text: str, delimiter: str) -> list[str]:
    for cells in _reader(text, delimiter):
        named = [cell.strip() for cell in cells]
        if any(named):
            return named
    return []


def rows(text: str, mapping: dict):
    """Each line under the header as a Row, refused or not. Row numbers are those a spreadsheet shows (header = 1);
    blank lines are skipped. More than MAX_ROWS lines: FileRefused before any is read."""
    reader = _reader(text, mapping.get("delimiter") or ",")
    names = None
    found = []
    for cells in reader:
        if names is None:
            if any(cell.strip() for cell in cells):
                names = [cell.strip() for cell in cells]
                _check_columns(names, mapping)
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(found) >= MAX_ROWS:
            raise FileRefused(f"The file has more than {MAX_ROWS} lines; split it into smaller files.")
        raw = {name or f"column {i + 1}": cells[i] if i < len(cells) else "" for i, name in enumerate(names)}
        for i in range(len(names), len(cells)):
            raw[f"column {i + 1}"] = cells[i]
        found.append((reader.line_num, raw))
    if names is None:
        raise FileRefused("The file has no header line.")
    return [read_row(number, raw, mapping) for number, raw in found]


def _check_columns(names, mapping):
    for field in ("reference_column", "amount_column", "fee_column", "date_column", "currency_column",
                  "payout_column"):
        column = mapping.get(field) or ""
        if column and column not in names:
            raise FileRefused(f"The file has no column “{column}” (chosen as {field.replace('_column', '')}); its "
                              f"headers are {', '.join(names)}. Choose the columns again.")


def read_row(number, raw, mapping) -> Row:
    def cell(field):
        column = mapping.get(field) or ""
        return str(raw.get(column) or "").strip() if column else ""

    row = Row(number=number, raw=raw, reference=cell("reference_column")[:100],
              currency=cell("currency_column").upper(), payout_id=cell("payout_column")[:100])
    comma = bool(mapping.get("decimal_comma"))
    problems = []
    if not row.reference:
        problems.append("no order reference")
    row.amount, problem = money(cell("amount_column"), "amount", comma)
    problems += [problem] if problem else []
    row.fee, problem = money(cell("fee_column"), "fee", comma, blank_is_zero=True)
    problems += [problem] if problem else []
    if row.fee is not None and row.fee < 0:
        problems.append(f"negative fee {row.fee}")
    elif row.fee is not None and row.amount is not None and row.fee > row.amount:
        problems.append(f"fee {row.fee} is greater than the amount {row.amount}")
    row.date, problem = day(cell("date_column"), mapping.get("date_format") or "%Y-%m-%d")
    problems += [problem] if problem else []
    if row.currency and (len(row.currency) != 3 or not row.currency.isalpha()):
        problems.append(f"currency “{row.currency}” is not a three-letter code such as USD")
    row.refusal = "; ".join(problems)
    return row


def money(text, label, decimal_comma=False, blank_is_zero=False):
    """(Decimal or None, problem or ""). Thousands separators and spaces are taken out."""
    if not text:
        return (Decimal("0.00"), "") if blank_is_zero else (None, f"no {label}")
    cleaned = text.replace(" ", "").replace("\u00a0", "")
    thousands, point = (".", ",") if decimal_comma else (",", ".")
    whole = cleaned.split(point)[0]
    if thousands in whole and not re.fullmatch(r"[-+]?\d{1,3}(" + re.escape(thousands) + r"\d{3})+", whole):
        # "12,50" read with a decimal point (or "12.50" with a decimal comma) would be 1250: say so instead
        other = "comma" if decimal_comma else "point"
        return None, f"{label} “{text}” is not a number written with a decimal {other}; check “decimal comma”"
    cleaned = cleaned.replace(thousands, "").replace(point, ".")
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)", cleaned):  # no exponents, NaN or currency signs
        return None, f"{label} “{text}” is not a number"
    value = Decimal(cleaned)
    if value.as_tuple().exponent < -2:
        return None, f"{label} “{text}” has more than 2 decimals"
    if abs(value) >= Decimal("1e12"):
        return None, f"{label} “{text}” is too large"
    return value.quantize(Decimal("0.01")), ""


def day(text, date_format):
    if not text:
        return None, "no date"
    try:
        return datetime.strptime(text, date_format).date(), ""
    except ValueError:
        pass
    try:  # marketplaces' own exports often write ISO times whatever the format chosen
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date(), ""
    except ValueError:
        example = datetime(2026, 12, 31).strftime(date_format)
        return None, f"date “{text}” is not a date like {example}"
