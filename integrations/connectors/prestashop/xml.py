"""PrestaShop's XML, read with defusedxml (no DTDs, no entities, no external references) and written back."""

import xml.etree.ElementTree as ET

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from integrations.connectors.errors import TransientError, UnsafeContent

XLINK = "http://www.w3.org/1999/xlink"


def parse(content: bytes, system="PrestaShop") -> ET.Element:
    """The document's root element; an unsafe document is a PermanentError, a malformed one transient."""
    try:
        return SafeET.fromstring(content, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeContent(
            f"{system} sent XML with a DTD, entity or external reference ({type(exc).__name__}); we refuse to parse it "
            "because such documents can exhaust memory or read local files. Check the shop for a hostile module or "
            "proxy.", system=system) from None
    except ET.ParseError as exc:
        raise TransientError(f"{system} sent XML that could not be read ({exc}).", system=system) from None


def to_value(element: ET.Element):
    """An element as plain data: text, a dict of children, a language list, or a list (associations)."""
    children = list(element)
    if not children:
        return element.text or ""
    if all(child.tag == "language" for child in children):
        return [{"id": child.get("id", ""), "value": child.text or ""} for child in children]
    return {child.tag: (_association(child) if child.tag == "associations" else to_value(child))
            for child in children}


def _association(element):
    return {child.tag: [to_value(item) for item in child] for child in element}


def records(root: ET.Element) -> list[dict]:
    """The records of a list answer (`<prestashop><orders><order>...`) or of a single one (`<prestashop><order>`)."""
    children = list(root)
    if not children:
        return []
    top = children[0]
    items = list(top)
    # A list element holds several elements of the same (singular) tag; a single record holds its fields.
    if top.tag.endswith("s") and (not items or all(item.tag == items[0].tag for item in items) and
                                  items[0].tag != "id"):
        return [to_value(item) if list(item) else {"id": item.get("id", "")} for item in items]
    return [to_value(top)]


def errors(root: ET.Element) -> list[tuple[str, str]]:
    return [((e.findtext("code") or "").strip(), (e.findtext("message") or "").strip())
            for e in root.iter("error")]


def resources(root: ET.Element) -> dict[str, set[str]]:
    """GET /api/: resource name → the HTTP methods this key may use on it."""
    api = root.find("api")
    out = {}
    for element in (api if api is not None else []):
        out[element.tag] = {m.upper() for m in ("get", "put", "post", "patch", "delete", "head")
                            if element.get(m) == "true"}
    return out


def document(singular: str, fields: dict) -> bytes:
    """`<prestashop><order_history><id_order>1</id_order>...</order_history></prestashop>` from a flat dict."""
    return documents(singular, [fields])


def documents(singular: str, records: list[dict]) -> bytes:
    """One body holding several records one after the other, as PrestaShop's multi-record PUT / PATCH reads it."""
    root = ET.Element("prestashop", {"xmlns:xlink": XLINK})
    for fields in records:
        record = ET.SubElement(root, singular)
        for name, value in fields.items():
            child = ET.SubElement(record, name)
            if isinstance(value, dict):  # multi-language: {language id: text}
                for language_id, text in value.items():
                    ET.SubElement(child, "language", {"id": str(language_id)}).text = str(text)
            else:
                child.text = "" if value is None else str(value)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def apply_changes(root: ET.Element, changes: dict, read_only=()) -> bytes:
    """Change fields of a full record fetched as XML and return the body for a PUT."""
    record = list(root)[0]
    for name in read_only:
        for element in record.findall(name):
            record.remove(element)
    for name, value in changes.items():
        element = record.find(name)
        if element is None:
            element = ET.SubElement(record, name)
        languages = element.findall("language")
        if languages:
            for language in languages:
                if not isinstance(value, dict):
                    language.text = str(value)
                elif language.get("id") in {str(k) for k in value}:
                    language.text = str({str(k): v for k, v in value.items()}[language.get("id")])
        else:
            element.text = "" if value is None else str(value)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
