"""List parameters — display, filter[...], sort, limit, date — parsed and applied to a Django queryset the way
PrestaShop's WebserviceRequest reads them, with its error codes."""

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db.models import F, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Lower

from sandbox.prestashop import clock
from sandbox.prestashop.errors import ApiError, did_you_mean

DATE_FIELDS = ("date_add", "date_upd")
ZERO_DATES = ("0000-00-00", "0000-00-00 00:00:00")
RANGE_VALUE = re.compile(r"^[\d.:\- ]+$")
MATCH_NOTHING = Q(pk__in=[])


@dataclass
class Display:
    """Which fields a list shows: ids only (the default), everything, or a chosen set."""

    mode: str = "ids"  # ids, full, fields
    fields: list = field(default_factory=list)
    associations: dict = field(default_factory=dict)  # name -> [subfields] or None for all

    def shows_association(self, name):
        return self.mode == "full" or name in self.associations

    def association_fields(self, association):
        chosen = None if self.mode == "full" else self.associations.get(association.name)
        if not chosen:
            return list(association.fields)
        return [f for f in association.fields if f.name in chosen or f.name == "id"]


@dataclass
class ListQuery:
    where: Q
    order_by: list
    offset: int = 0
    count: int | None = None
    display: Display = field(default_factory=Display)


def parse(params, resource, languages):
    """ListQuery from the query string, or ApiError (32, 33, 35, 36, 37, 38, 39)."""
    date_mode = params.get("date") not in (None, "", "0")
    fields = resource.field_map
    filterable = [name for name in fields if date_mode or name not in DATE_FIELDS]
    where = Q()
    for key, value in params.items():
        match = re.fullmatch(r"filter\[(.+)\]", key)
        if not match:
            continue
        name = match.group(1)
        if name not in filterable:
            raise ApiError(400, 32, "This filter does not exist." + did_you_mean(name, filterable))
        if value == "":
            raise ApiError(400, 33, f'The filter "{name}" is malformed.')
        where &= filter_q(fields[name], value, languages)
    display = parse_display(params.get("display"), resource) if "display" in params else Display()
    order_by = parse_sort(params["sort"], fields, filterable, languages) if params.get("sort") else ["id"]
    offset, count = parse_limit(params.get("limit"))
    return ListQuery(where, order_by, offset, count, display)


def filter_q(spec, raw, languages):
    """One filter value: [a|b], [a,b] range, [x], [x]% / %[x] / %[x]% LIKE, >[x], <[x], ![a|b], or a bare value."""
    match = re.fullmatch(r"(.*?)\[(.*)\](.*)", raw, re.DOTALL)
    if not match:
        return _equals(spec, [raw], languages)
    before, inner, after = match.groups()
    if before == "%" or after == "%":
        return _like(spec, inner, starts=before != "%", ends=after != "%", languages=languages)
    if before == "" and after == "":
        if "|" in inner:
            return _equals(spec, inner.split("|"), languages)
        parts = inner.split(",")
        if len(parts) == 2 and all(RANGE_VALUE.match(p) for p in parts):
            return _compare(spec, "gte", parts[0], languages) & _compare(spec, "lte", parts[1], languages)
        return _equals(spec, [inner], languages)
    if before == ">" and after == "":
        return _compare(spec, "gt", inner, languages)
    if before == "<" and after == "":
        return _compare(spec, "lt", inner, languages)
    if before == "!" and after == "":
        return ~_equals(spec, inner.split("|"), languages)
    return MATCH_NOTHING


def coerce(spec, text):
    """The filter text as a value of the field's type; None when it cannot be one (that filter matches nothing)."""
    text = text.strip()
    if "\x00" in text:
        return None  # PostgreSQL refuses NUL in text; no stored value can contain it
    try:
        if spec.type in ("id", "int"):
            number = int(text)
            return number if abs(number) < 2**63 else None
        if spec.type == "bool":
            return {"1": True, "0": False, "true": True, "false": False}.get(text.lower())
        if spec.type in ("price", "float"):
            number = Decimal(text)
            return number if number.is_finite() and abs(number) < 10**13 else None
        if spec.type == "datetime":
            return clock.parse(text)
        if spec.type == "date":
            parsed = clock.parse(text)
            return parsed.date() if parsed else None
    except (ValueError, InvalidOperation):
        return None
    return text


def _lang_keys(spec, languages, suffix):
    return [f"{spec.name}__{language.iso_code}__{suffix}" for language in languages]


def _equals(spec, texts, languages):
    q = Q()
    for text in texts:
        if "\x00" in text:
            continue
        if spec.type == "lang":
            for key in _lang_keys(spec, languages, "iexact"):
                q |= Q(**{key: text})
        elif spec.type == "string":
            q |= Q(**{f"{spec.name}__iexact": text})
        elif spec.type in ("datetime", "date") and text.strip() in ZERO_DATES:
            q |= Q(**{f"{spec.name}__isnull": True})  # "0000-00-00 00:00:00" is stored as no date
        else:
            value = coerce(spec, text)
            q |= Q(**{spec.name: value}) if value is not None else MATCH_NOTHING
    return q if q else MATCH_NOTHING


def _like(spec, text, starts, ends, languages):
    if "\x00" in text:
        return MATCH_NOTHING
    lookup = "iexact" if starts and ends else "istartswith" if starts else "iendswith" if ends else "icontains"
    if spec.type == "lang":
        q = Q()
        for key in _lang_keys(spec, languages, lookup):
            q |= Q(**{key: text})
        return q
    return Q(**{f"{spec.name}__{lookup}": text})


def _compare(spec, op, text, languages):
    if spec.type == "lang":
        return Q(**{_lang_keys(spec, languages[:1], op)[0]: text}) if "\x00" not in text else MATCH_NOTHING
    value = coerce(spec, text)
    if value is None:
        return MATCH_NOTHING
    return Q(**{f"{spec.name}__{op}": value})


def _split_top_level(text):
    """Split on commas outside brackets: 'id,order_rows[a,b]' -> ['id', 'order_rows[a,b]']."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "["
        depth -= char == "]"
        current += char
    if current:
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_display(raw, resource):
    available = ", ".join(resource.field_map)
    if raw == "full":
        return Display("full")
    if raw in ("minimum", ""):
        return Display("ids")
    match = re.fullmatch(r"\[(.*)\]", raw or "", re.DOTALL)
    if not match:
        raise ApiError(400, 36, "The 'display' syntax is wrong. You can set 'full' or "
                                f"'[field_1,field_2,field_3,...]'. These are available: {available}")
    display = Display("fields")
    for part in _split_top_level(match.group(1)):
        name, _, rest = part.partition("[")
        name = name.strip()
        if not rest:
            if name not in resource.field_map:
                raise ApiError(400, 35, f'Unable to display this field "{name}". However, these are available: '
                                        f"{available}")
            display.fields.append(name)
            continue
        inner = rest[:-1] if rest.endswith("]") else rest
        # Both `order_rows[product_id]` and `associations[order_rows[product_id]]` name association subfields.
        nested = _split_top_level(inner) if name == "associations" else [f"{name}[{inner}]"]
        for item in nested:
            assoc_name, _, sub = item.partition("[")
            association = resource.association(assoc_name.strip())
            subfields = [s.strip() for s in sub.rstrip("]").split(",") if s.strip()]
            known = {f.name for f in association.fields} if association else set()
            if association is None or any(s not in known for s in subfields):
                raise ApiError(400, 35, f'Unable to display this field "{assoc_name}" (details : {subfields}). '
                                        f"However, these are available: {available}")
            display.associations[association.name] = subfields
    return display


def parse_sort(raw, fields, filterable, languages):
    match = re.fullmatch(r"\[(.*)\]", raw)
    items = match.group(1).split(",") if match else [raw]
    order_by = []
    for item in items:
        name, _, direction = item.strip().rpartition("_")
        if not name or direction.upper() not in ("ASC", "DESC"):
            raise ApiError(400, 37, 'The "sort" value has to be formed as this example: "field_ASC" or '
                                    '\'[field_1_DESC,field_2_ASC,field_3_ASC,...]\' ("field" has to be an available '
                                    "field)")
        if name not in filterable:
            raise ApiError(400, 38, "Unable to filter by this field. However, these are available: "
                                    + ", ".join(filterable))
        spec = fields[name]
        if spec.lang:
            expression = Lower(KT(f"{name}__{languages[0].iso_code}"))
        else:
            expression = Lower(name) if spec.type == "string" else F(name)
        order_by.append(expression.desc() if direction.upper() == "DESC" else expression.asc())
    return [*order_by, "id"]


def parse_limit(raw):
    if raw in (None, ""):
        return 0, None
    parts = raw.split(",")
    if len(parts) > 2 or not all(re.fullmatch(r"\s*[0-9]{1,9}\s*", p) for p in parts):
        raise ApiError(400, 39, 'The "limit" value has to be formed as this example: "5,25" or "10"')
    numbers = [int(p) for p in parts]
    return (0, numbers[0]) if len(numbers) == 1 else (numbers[0], numbers[1])


def apply(queryset, list_query):
    queryset = queryset.filter(list_query.where).order_by(*list_query.order_by)
    end = None if list_query.count is None else list_query.offset + list_query.count
    return queryset[list_query.offset:end]
