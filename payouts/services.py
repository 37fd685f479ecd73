"""Business actions on payout files, shared by the admin's pages and the REST API: choose the columns of a file
(the remembered ones, else guesses from its headers, each checked against the file) and start reading it."""

import csv
import io

from django.db import transaction

from payouts import forms, jobs, parsing
from payouts.models import MAPPING_FIELDS, PayoutUpload, SettlementFormat

COLUMN_FIELDS = ("reference_column", "amount_column", "fee_column", "date_column", "currency_column",
                 "payout_column")
REQUIRED_COLUMNS = ("reference_column", "amount_column", "fee_column", "date_column")


class MappingRefused(Exception):
    """The columns chosen cannot read the file: `problems` says which field and why, in words."""

    def __init__(self, problems):
        super().__init__("; ".join(f"{name}: {text}" for name, text in problems.items()))
        self.problems = problems


def start_reading(upload, mapping, user):
    """Remember the mapping for the integration, keep it on the upload and queue its job (one transaction: the
    worker is rung after commit). Returns the job."""
    chosen = {name: mapping[name] for name in MAPPING_FIELDS}
    actor = user if getattr(user, "pk", None) else None
    with transaction.atomic():
        SettlementFormat.objects.update_or_create(integration=upload.integration,
                                                  defaults={**chosen, "updated_by": actor})
        PayoutUpload.objects.filter(pk=upload.pk).update(mapping=chosen)
        upload.mapping = chosen
        return jobs.start(upload, actor)


def choose_mapping(text, given=None, remembered=None):
    """The mapping a file is read with: what is `given` (any of MAPPING_FIELDS), the rest from the remembered
    format where the file has its columns, else guessed from the headers. MappingRefused says what is missing or
    named wrong."""
    given = {name: value for name, value in (given or {}).items() if name in MAPPING_FIELDS and value is not None}
    if given.get("delimiter") and given["delimiter"] not in parsing.DELIMITERS:
        raise MappingRefused({"delimiter": "The delimiter is a comma, a semicolon, a tab or a pipe."})
    remembered_mapping = remembered.mapping() if remembered else None
    delimiter = given.get("delimiter") or (remembered.delimiter if remembered else parsing.sniff_delimiter(text))
    headers = parsing.headers(text, delimiter)
    mapping = {name: "" for name in COLUMN_FIELDS}
    mapping.update(forms.initial_mapping(headers, remembered_mapping, delimiter))
    mapping.update(given)
    mapping["delimiter"] = delimiter
    names = ", ".join(h for h in headers if h) or "none"
    problems = {}
    for name in COLUMN_FIELDS:
        column = mapping.get(name) or ""
        label = name.replace("_column", "").replace("payout", "payout id").replace("reference", "order reference")
        if not column and name in REQUIRED_COLUMNS:
            problems[name] = f"No column is chosen for the {label}, and no header looks like one; the file's " \
                             f"headers are: {names}."
        elif column and column not in headers:
            problems[name] = f"The file has no column “{column}”; its headers are: {names}."
    form = forms.MappingForm({**mapping, "decimal_comma": bool(mapping.get("decimal_comma"))}, headers=headers)
    if not form.is_valid():
        for name, errors in form.errors.items():
            if name not in problems:
                problems["columns" if name == "__all__" else name] = " ".join(errors)
    if problems:
        raise MappingRefused(problems)
    return {name: form.cleaned_data[name] for name in MAPPING_FIELDS}


def count_lines(text, delimiter):
    """Lines under the header (blank ones not counted), so a file over MAX_ROWS is refused before it is kept."""
    count = sum(1 for cells in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
                if any(cell.strip() for cell in cells))
    return max(count - 1, 0)


def upload_file(integration, file_name, data, user, given=None):
    """A settlement file received whole (the API): refused like the admin's (UTF-8, size, lines, columns), else
    kept, its mapping remembered and its job started. Returns (upload, job); raises parsing.FileRefused or
    MappingRefused."""
    text = parsing.read_text(data, name=f"“{file_name}”")
    if "\x00" in text:  # PostgreSQL cannot keep it, and no settlement report holds one
        raise parsing.FileRefused(f"“{file_name}” holds a NUL character: it is not a CSV text file.")
    remembered = SettlementFormat.objects.filter(integration=integration).first()
    try:
        mapping = choose_mapping(text, given, remembered)
        if count_lines(text, mapping["delimiter"]) > parsing.MAX_ROWS:
            raise parsing.FileRefused(f"The file has more than {parsing.MAX_ROWS} lines; split it into smaller "
                                      "files.")
        head = "".join(text.splitlines(keepends=True)[:parsing.PREVIEW_ROWS + 21])
        parsing.rows(head, mapping)  # what the admin's preview would refuse (no header line) is refused here too
    except csv.Error as exc:
        raise parsing.FileRefused(f"“{file_name}” cannot be read as CSV: {exc}.") from None
    actor = user if getattr(user, "pk", None) else None
    with transaction.atomic():
        upload = PayoutUpload.objects.create(integration=integration, file_name=file_name[:255], content=text,
                                             mapping=mapping, uploaded_by=actor)
        job = start_reading(upload, mapping, actor)
    upload.refresh_from_db()
    return upload, job
