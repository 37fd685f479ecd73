"""Request bodies: always XML (also as a form field `xml=`), parsed with defusedxml, checked and turned into
model values with PrestaShop's codes (41 missing, 85 invalid, 93 read-only, 127 unparsable)."""

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from sandbox.prestashop import clock
from sandbox.prestashop.errors import ApiError

MAX_BODY_BYTES = 1_000_000
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
# Validate::isTrackingNumber: ASCII letters, digits, space and ~:#,%&_=()[].?+-@/ (run on non-empty values only).
TRACKING_NUMBER = re.compile(r"[~:#,%&_=()\[\].? +\-@/a-zA-Z0-9]+")
ZERO_DATES = ("", "0000-00-00", "0000-00-00 00:00:00")
# classes/Validate.php, as PrestaShop 1.7/8 has them (PS_ALLOW_ACCENTED_CHARS_URL off). They judge non-empty values
# only (ObjectModel::validateField), and only fields whose spec names its validator are checked.
PATTERNS = {
    "isCatalogName": r"[^<>;=#{}]*", "isGenericName": r"[^<>={}]*", "isReference": r"[^<>;={}]*",
    "isLinkRewrite": r"[_a-zA-Z0-9\-]+", "isEan13": r"[0-9]{0,13}", "isUpc": r"[0-9]{0,12}", "isIsbn": r"[0-9-]{0,32}",
    "isColor": r"(#[0-9a-fA-F]{6}|[a-zA-Z0-9-]*)", "isReductionType": r"amount|percentage",
    "isPrice": r"[0-9]{1,10}(\.[0-9]{1,9})?", "isNegativePrice": r"-?[0-9]{1,10}(\.[0-9]{1,9})?",
}
# Validate::isCleanHtml: no <script>, no on…= event handlers, no "script:" URLs; iframes, forms, inputs, embeds and
# objects only with PS_ALLOW_HTML_IFRAME (off by default).
HTML_EVENTS = re.compile(r"\bon[a-z]+[\s]*=", re.IGNORECASE)
HTML_SCRIPT = re.compile(r"<[\s]*script|script\:", re.IGNORECASE)
HTML_IFRAME = re.compile(r"<[\s]*(i?frame|form|input|embed|object)", re.IGNORECASE)


def valid_text(validator, text):
    if validator == "isCleanHtml":
        return not (HTML_SCRIPT.search(text) or HTML_EVENTS.search(text) or HTML_IFRAME.search(text))
    pattern = PATTERNS.get(validator)
    return pattern is None or re.fullmatch(pattern, text) is not None


@dataclass
class Body:
    values: dict  # field name -> text, or {language id: text} for multi-language fields sent per language
    associations: dict = field(default_factory=dict)  # name -> [ {field: text} ]


def xml_bytes(request_body, content_type):
    """The XML out of a raw body or a form-encoded `xml=` field."""
    if len(request_body) > MAX_BODY_BYTES:
        raise ApiError(413, 127, f"The XML body is larger than {MAX_BODY_BYTES} bytes.")
    if "application/x-www-form-urlencoded" in (content_type or ""):
        form = parse_qs(request_body.decode("utf-8", errors="replace"))
        return (form.get("xml") or [""])[0].encode("utf-8")
    return request_body


def parse(raw, resource):
    """The first (usually the only) record of a write body."""
    return parse_all(raw, resource)[0]


def parse_all(raw, resource):
    """Every record of a write body: PrestaShop's PUT and PATCH take several `<stock_available>` (each with its id)
    under one `<prestashop>` and save them in turn."""
    if not raw.strip():
        raise ApiError(400, 127, "HTTP XML response is not parsable: the body is empty")
    try:
        root = SafeET.fromstring(raw.strip())
    except DefusedXmlException as exc:
        # Entities and DTDs (billion laughs, external entities) are refused outright.
        raise ApiError(400, 127, f"XML entities and DTDs are not accepted: {type(exc).__name__}") from None
    except SafeET.ParseError as exc:
        # What PrestaShop itself answers for a broken body: a 500 with code 127.
        raise ApiError(500, 127, f"HTTP XML response is not parsable: {exc}") from None
    nodes = root.findall(resource.singular) if root.tag == "prestashop" else []
    if not nodes:
        raise ApiError(400, 127, f"HTTP XML response is not parsable: expected <prestashop><{resource.singular}>")
    return [_body(node, resource) for node in nodes]


def _body(node, resource):
    fields = resource.field_map
    body = Body({})
    for child in node:
        if child.tag == "associations":
            for association_node in child:
                association = resource.association(association_node.tag)
                if association is not None:
                    body.associations[association.name] = [
                        {leaf.tag: (leaf.text or "") for leaf in row} for row in association_node]
            continue
        spec = fields.get(child.tag)
        if spec is None:
            continue  # PrestaShop ignores nodes it does not know
        languages = child.findall("language") if spec.lang else []
        if languages:
            body.values[spec.name] = {lang.get("id", ""): (lang.text or "") for lang in languages}
        else:  # a multi-language field sent as plain text sets the default language
            body.values[spec.name] = child.text or ""
    return body


def convert(spec, text, model_name):
    """Text -> a model value, or ApiError 85 naming the property as PrestaShop does."""
    def invalid(reason="is not valid"):
        return ApiError(400, 85, f'Validation error: "Property {model_name}->{spec.name} {reason}"')

    stripped = text.strip()
    if spec.type in ("id", "int"):
        if stripped == "":
            return 0
        if not re.fullmatch(r"-?[0-9]{1,18}", stripped) or (spec.type == "id" and stripped.startswith("-")):
            raise invalid()
        if spec.format in ("isUnsignedInt", "isUnsignedId") and stripped.startswith("-"):
            raise invalid()
        return int(stripped)
    if spec.type == "bool":
        value = {"": False, "0": False, "1": True, "false": False, "true": True}.get(stripped.lower())
        if value is None:
            raise invalid()
        return value
    if spec.type in ("price", "float"):
        if stripped == "":
            return Decimal(0)
        if spec.validator in ("isPrice", "isNegativePrice") and not valid_text(spec.validator, stripped):
            raise invalid()  # "1e3", "12,50", " 12 abc": Validate::isPrice is a pattern, not a number parse
        try:
            value = Decimal(stripped)
        except InvalidOperation:
            raise invalid() from None
        if not value.is_finite() or abs(value) >= 10**13:
            raise invalid()
        if spec.validator in ("isPrice", "isUnsignedFloat") and value < 0:
            raise invalid()
        return value
    if spec.type in ("datetime", "date"):
        if stripped in ZERO_DATES:
            return None
        parsed = clock.parse(stripped)
        if parsed is None:
            raise invalid()
        return parsed.date() if spec.type == "date" else parsed
    if spec.max_length and len(text) > spec.max_length:
        # ObjectModel::validateField's wording; the size is checked before the validator, as there.
        raise ApiError(400, 85, f'Validation error: "The length of property {model_name}->{spec.name} is currently '
                                f'{len(text)} chars. It must be between 0 and {spec.max_length} chars."')
    if spec.values and text not in spec.values:
        if not text:
            return spec.values[0]  # an empty value takes the field's default, before the values are checked
        raise ApiError(400, 85, f'Validation error: "Property {model_name}->{spec.name} has a bad value (allowed '
                                f'values are: {", ".join(spec.values)})."')
    if spec.format and text and not valid_text(spec.format, text):
        raise invalid()
    if spec.validator == "isEmail" and text and not EMAIL.match(text):
        raise invalid()
    if spec.validator == "isTrackingNumber" and text and not TRACKING_NUMBER.fullmatch(text):
        raise invalid()
    return text


def convert_lang(spec, by_language_id, languages, model_name, current=None, required=None):
    """{language id: text} -> {iso: text}; languages the body leaves out keep their current text. A required field
    must be filled in the default language (the first) only, as ObjectModel::validateField checks it."""
    result = dict(current or {})
    text_spec = spec.__class__(spec.name, max_length=spec.max_length, format=spec.format)
    for language in languages:
        if str(language.id) in by_language_id:
            result[language.iso_code] = convert(text_spec, by_language_id[str(language.id)], model_name)
    if (spec.required if required is None else required) and not result.get(languages[0].iso_code, "").strip():
        raise ApiError(400, 85, f'Validation error: "Property {model_name}->{spec.name} is empty."')
    return result
