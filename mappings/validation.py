"""Validate a mapped record against its target schema before anything is sent: field-level messages
such as "LineItems[2].SKU: longer than 64 characters" (list positions count from 0, like the output)."""

import datetime as dt
import decimal
from decimal import Decimal


def _empty(value):
    return value is None or value == "" or value == [] or value == {}


def _decimal_problem(value, scale):
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        return "not a decimal number"
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except decimal.InvalidOperation:
        return f"“{value}” is not a decimal number"
    if not number.is_finite():
        return f"“{value}” is not a decimal number"
    exponent = number.as_tuple().exponent
    if scale is not None and isinstance(exponent, int) and -exponent > scale:
        return f"more than {scale} decimal places"
    return None


def _datetime_problem(value, date_only):
    if not isinstance(value, str):
        return "not a date" if date_only else "not an ISO 8601 timestamp"
    try:
        if date_only:
            dt.date.fromisoformat(value)
        else:
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                return "timestamp has no time zone (add the datetime transform)"
    except ValueError:
        return f"“{value}” is not an ISO 8601 {'date' if date_only else 'timestamp'}"
    return None


def check_value(spec, value):
    """A plain-words problem with one leaf value, or None."""
    kind = spec.type
    if kind in ("string", "enum"):
        if not isinstance(value, str):
            return "must be text"
        if kind == "enum" and value not in spec.choices:
            return f"“{value}” is not one of {', '.join(spec.choices)}"
        if spec.max_length and len(value) > spec.max_length:
            return f"longer than {spec.max_length} characters"
        return None
    if kind == "decimal":
        return _decimal_problem(value, spec.scale)
    if kind == "integer":
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be a whole number"
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind in ("datetime", "date"):
        return _datetime_problem(value, kind == "date")
    return None


def validate(schema, record, prefix=""):
    """Every problem of `record` against `schema`, as ["Field.Path: message", ...]."""
    messages = []
    if not isinstance(record, dict):
        return [f"{prefix.rstrip('.') or 'record'}: must be an object"]
    for name in record:
        if name not in schema:
            messages.append(f"{prefix}{name}: not a field of this target")
    for name, spec in schema.items():
        path = f"{prefix}{name}"
        value = record.get(name)
        if _empty(value):
            if spec.required:
                messages.append(f"{path}: required")
            continue
        if spec.type == "object":
            messages += validate(spec.fields, value, f"{path}.")
        elif spec.type == "list":
            if not isinstance(value, list):
                messages.append(f"{path}: must be a list")
                continue
            if len(value) < spec.min_items:
                messages.append(f"{path}: needs at least {spec.min_items}")
            for index, item in enumerate(value):
                messages += validate(spec.fields, item, f"{path}[{index}].")
        elif spec.type == "map":
            if not isinstance(value, dict):
                messages.append(f"{path}: must be an object of name → value")
                continue
            for key, item in value.items():
                if not key or len(key) > 64:
                    messages.append(f"{path}: custom field name “{key[:70]}” must be 1 to 64 characters")
                elif item is not None and not isinstance(item, str):
                    messages.append(f"{path}.{key}: must be text")
                elif item and spec.max_length and len(item) > spec.max_length:
                    messages.append(f"{path}.{key}: longer than {spec.max_length} characters")
        else:
            problem = check_value(spec, value)
            if problem:
                messages.append(f"{path}: {problem}")
    return messages
