"""The transform registry: small named steps applied to a mapped value, written as a chain such as
`trim | upper | truncate:64` or `lines[].unit_price.amount | decimal:4`.

Each transform takes (value, args, context) and returns the new value or raises TransformError. Chains are
parsed and checked once when a mapping is saved (a bad chain is a form error) and when it is compiled.
"""

import datetime as dt
import decimal
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import InterfaceError, OperationalError

from integrations.connectors.errors import TransientError
from mappings.errors import TransformError, UnmappedValueError
from mappings.expr import MAX_EXPONENT, MAX_STRING

MAX_CHAIN = 20


@dataclass
class Context:
    """What transforms may use besides the value: the target field's spec, value maps, injected lookups."""

    spec: object = None  # schemas.FieldSpec of the target, if known
    value_maps: dict = field(default_factory=dict)  # name -> CompiledValueMap
    resolvers: dict = field(default_factory=dict)  # lookup name -> callable(value) -> value
    warnings: list = field(default_factory=list)
    unmapped: list = field(default_factory=list)  # (map name, value) seen without an entry


@dataclass(frozen=True)
class Transform:
    name: str
    run: object  # callable(value, args, context)
    min_args: int = 0
    max_args: int = 0
    check: object = None  # callable(args) -> reason or None
    help: str = ""
    whole_argument: bool = False  # the argument is everything after the first ':' (may itself contain ':')


def _empty(value):
    return value is None or value == ""


def _as_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, Decimal, float)):
        return str(value)
    raise TransformError(f"{_show(value)} is not text")


def _show(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _as_decimal(value):
    if isinstance(value, bool):
        raise TransformError(f"{_show(value)} is not a number")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else repr(value) if isinstance(value, float)
                         else value)
    except (decimal.InvalidOperation, TypeError, ValueError):
        raise TransformError(f"{_show(value)} is not a number") from None
    if not number.is_finite() or abs(number.adjusted()) > MAX_EXPONENT:
        raise TransformError(f"{_show(value)} is not a usable number")
    return number


def _int_arg(args, index, default):
    return int(args[index]) if len(args) > index and args[index] != "" else default


def _check_int(low, high):
    def check(args):
        for arg in args:
            if not arg.isdigit() or not low <= int(arg) <= high:
                return f"expects a whole number from {low} to {high}, not “{arg}”"
        return None
    return check


def _text_case(method):
    def run(value, args, context):
        return value if _empty(value) else getattr(_as_text(value), method)()
    return run


QUANTUMS = [Decimal(1).scaleb(-places) for places in range(13)]
QUANTIZE_CONTEXT = decimal.Context(prec=60)


def _quantize(number, places):
    try:
        return number.quantize(QUANTUMS[places], rounding=decimal.ROUND_HALF_UP, context=QUANTIZE_CONTEXT)
    except decimal.InvalidOperation:
        raise TransformError(f"{number} is too large for {places} decimal places") from None


def t_decimal(value, args, context):
    """A decimal string; with a scale, rounded half-up to that many places ("12.5" | decimal:2 → "12.50")."""
    if _empty(value):
        return None
    number = _as_decimal(value)
    if args and args[0] != "":
        number = _quantize(number, int(args[0]))
    elif number == number.to_integral_value() and number.adjusted() < 28:
        number = number.quantize(Decimal(1))
    else:
        number = number.normalize()
    return format(number, "f")


def t_round(value, args, context):
    if _empty(value):
        return None
    return format(_quantize(_as_decimal(value), _int_arg(args, 0, 0)), "f")


def t_integer(value, args, context):
    """A whole number; "2.000" → 2, "2.5" is an error (quantities are not silently rounded)."""
    if _empty(value):
        return None
    number = _as_decimal(value)
    if number != number.to_integral_value():
        raise TransformError(f"{_show(value)} is not a whole number")
    return int(number)


def _zone(name):
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise TransformError(f"“{name}” is not a time zone") from None


def _check_zones(args):
    for name in args:
        if name:
            try:
                zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                return f"“{name}” is not a time zone; use an IANA name such as Europe/Paris"
    return None


def _parse_datetime(value, assume_zone):
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = _as_text(value).strip()
        if len(text) > 40:
            raise TransformError(f"{_show(value)} is not a date")
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise TransformError(f"{_show(value)} is not an ISO 8601 date or time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=assume_zone)  # naive: local time of the source (e.g. the shop's zone)
    return moment  # aware (the canonical model's ISO strings carry an offset): the offset wins, the zone is unused


def t_datetime(value, args, context):
    """ISO 8601 in the zone of the first argument (default UTC); naive inputs are read in the second (default UTC)."""
    if _empty(value):
        return None
    target = _zone(args[0] if args else "UTC")
    moment = _parse_datetime(value, _zone(args[1] if len(args) > 1 else "UTC"))
    try:
        text = moment.astimezone(target).isoformat()
    except (OverflowError, ValueError):
        raise TransformError(f"{_show(value)} is out of range") from None
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def t_date(value, args, context):
    """The calendar date (YYYY-MM-DD) in the zone of the first argument; naive inputs read in the second."""
    if _empty(value):
        return None
    target = _zone(args[0] if args else "UTC")
    moment = _parse_datetime(value, _zone(args[1] if len(args) > 1 else "UTC"))
    try:
        return moment.astimezone(target).date().isoformat()
    except (OverflowError, ValueError):
        raise TransformError(f"{_show(value)} is out of range") from None


def t_truncate(value, args, context):
    """Cut text to N characters, or to the target field's max length when no N is given."""
    if _empty(value):
        return value
    limit = _int_arg(args, 0, getattr(context.spec, "max_length", None) or 0)
    if not limit:
        raise TransformError("truncate needs a length here: the target field has no max length")
    text = _as_text(value)
    if len(text) > limit:
        context.warnings.append(f"cut to {limit} characters (was {len(text)})")
        return text[:limit]
    return text


def t_split_name(value, args, context):
    """Split a full name: `split_name:first` → all but the last word, `split_name:last` → the last word."""
    if _empty(value):
        return value
    words = _as_text(value).split()
    if not words:
        return ""
    if len(words) == 1:
        return words[0] if args[0] == "last" else ""
    return " ".join(words[:-1]) if args[0] == "first" else words[-1]


def t_join(value, args, context):
    """Join a list into text, skipping empty parts; the separator defaults to one space."""
    separator = args[0] if args else " "
    parts = value if isinstance(value, list) else [value]
    text = separator.join(_as_text(part).strip() for part in parts if not _empty(part) and _as_text(part).strip())
    if len(text) > MAX_STRING:
        raise TransformError("joined text is too long")
    return text


def t_default(value, args, context):
    """Use this value when the source is missing or empty (`default:Open`)."""
    return args[0] if _empty(value) else value


def t_text(value, args, context):
    return value if value is None else _as_text(value)


def t_boolean(value, args, context):
    if _empty(value):
        return None
    text = _as_text(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off"):
        return False
    raise TransformError(f"{_show(value)} is not yes or no")


def t_value_map(value, args, context):
    """Translate through a named value map (strict maps fail on values they do not know)."""
    value_map = context.value_maps.get(args[0])
    if value_map is None:
        raise TransformError(f"there is no value map named “{args[0]}”")
    return value_map.translate(value, context)


# What a lookup lets through untouched, so the pipeline retries: connector TransientError (RateLimited, CircuitOpen
# included) and our own database going away (the pipeline runner treats those as transient too).
RETRYABLE = (TransientError, OperationalError, InterfaceError)


def t_lookup(value, args, context):
    """Ask an injected resolver (e.g. tims_customer_by_email) for the target's value."""
    if _empty(value):
        return None
    resolver = context.resolvers.get(args[0])
    if resolver is None:
        context.warnings.append(f"lookup “{args[0]}” is not available here; the value was kept as is")
        return value
    try:
        return resolver(value)
    except RETRYABLE:
        raise  # a transient failure (network, open circuit, our database restarting) must reach the pipeline to retry
    except Exception as error:  # noqa: BLE001 - a resolver's failure is reported on the field, not raised through
        raise TransformError(f"lookup “{args[0]}” failed: {error}") from None


def _check_split(args):
    return None if args[0] in ("first", "last") else "expects first or last"


def _check_name(args):
    return None if args[0].strip() else "needs a name"


REGISTRY = {t.name: t for t in [
    Transform("trim", _text_case("strip"), help="Remove spaces at both ends."),
    Transform("upper", _text_case("upper"), help="UPPER CASE."),
    Transform("lower", _text_case("lower"), help="lower case."),
    Transform("text", t_text, help="Turn numbers and booleans into text."),
    Transform("decimal", t_decimal, 0, 1, _check_int(0, 12), "Decimal string, optionally with a fixed scale."),
    Transform("round", t_round, 0, 1, _check_int(0, 12), "Round half-up to N places (default 0)."),
    Transform("integer", t_integer, help="A whole number; fractions are an error."),
    Transform("datetime", t_datetime, 0, 2, _check_zones, "ISO timestamp in a zone (datetime:UTC:Europe/Paris)."),
    Transform("date", t_date, 0, 2, _check_zones, "Calendar date in a zone (date:Europe/Paris)."),
    Transform("truncate", t_truncate, 0, 1, _check_int(1, MAX_STRING), "Cut to N or to the target's max length."),
    Transform("split_name", t_split_name, 1, 1, _check_split, "first or last part of a full name."),
    Transform("join", t_join, 0, 1, None, "Join a list with a separator (default space).", whole_argument=True),
    Transform("default", t_default, 1, 1, None, "Value when empty.", whole_argument=True),
    Transform("boolean", t_boolean, help="yes/no, 1/0, true/false → true or false."),
    Transform("value_map", t_value_map, 1, 1, _check_name, "Translate through a named value map.",
              whole_argument=True),
    Transform("lookup", t_lookup, 1, 1, _check_name, "Injected lookup, e.g. lookup:tims_customer_by_email.",
              whole_argument=True),
]}


def parse_chain(text):
    """'trim | truncate:64' -> [('trim', ()), ('truncate', ('64',))]; raise TransformError with a reason."""
    if text is None or not text.strip():
        return []
    steps = []
    for raw in text.split("|"):
        step = raw.strip()
        if not step:
            raise TransformError("empty step in the transform chain (two | in a row?)")
        name, _, rest = step.partition(":")
        name = name.strip()
        transform = REGISTRY.get(name)
        if transform is None:
            raise TransformError(f"unknown transform “{name}”; known: {', '.join(sorted(REGISTRY))}")
        if not _:
            args = ()
        elif transform.whole_argument:
            args = (_unquote(rest.strip()),)
        else:
            args = tuple(part.strip() for part in rest.split(":"))
        if not transform.min_args <= len(args) <= transform.max_args:
            raise TransformError(f"{name} takes {transform.min_args} to {transform.max_args} arguments")
        problem = transform.check(args) if transform.check and args else None
        if problem:
            raise TransformError(f"{name}: {problem}")
        steps.append((name, args))
        if len(steps) > MAX_CHAIN:
            raise TransformError(f"more than {MAX_CHAIN} transforms in one chain")
    return steps


def _unquote(text):
    """Arguments may be quoted to keep spaces: join:', ' or default:' '."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def check_chain(text):
    """None if the chain is valid, else the reason (for form validation)."""
    try:
        parse_chain(text)
    except TransformError as error:
        return str(error)
    return None


def value_maps_used(text):
    return [args[0] for name, args in parse_chain(text) if name == "value_map"]


def run_chain(steps, value, context):
    for name, args in steps:
        value = REGISTRY[name].run(value, args, context)
    return value


class CompiledValueMap:
    """A value map ready for lookups: exact match first, then ignoring case and surrounding spaces."""

    def __init__(self, name, entries, default="", strict=False, pk=None, version=0):
        self.name = name
        self.entries = dict(entries)
        self.folded = {str(source).strip().casefold(): target for source, target in self.entries.items()}
        self.default = default
        self.strict = strict
        self.pk = pk
        self.version = version

    def translate(self, value, context):
        if value is None or value == "":
            return value  # missing is not unmapped: a required target reports it as empty, an optional one is left out
        key = value if isinstance(value, str) else _as_text(value)
        if key in self.entries:
            return self.entries[key]
        folded = key.strip().casefold()
        if folded in self.folded:
            return self.folded[folded]
        context.unmapped.append((self.name, key))
        if self.strict:
            raise UnmappedValueError(self.name, key, self.pk)
        if self.default != "":
            return self.default
        return value
