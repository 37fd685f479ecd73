"""PrestaShop's XML and JSON envelopes: records, lists, schemas, the resource index and errors."""

import json
from dataclasses import dataclass, field

from sandbox import corruption
from sandbox.prestashop import clock
from sandbox.prestashop.resources import ALL_METHODS, RESOURCES

XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<prestashop xmlns:xlink="http://www.w3.org/1999/xlink">\n'
XML_TAIL = "</prestashop>\n"


@dataclass
class Context:
    api_base: str  # ".../api/", for xlink:href
    languages: list  # Language rows, the default first
    json: bool = False
    corrupted: dict = field(default_factory=dict)  # {record id: {field: raw value}}, see sandbox.corruption
    version: str = "8"  # the shop's PrestaShop version (what is required differs between 1.7 and 8)


def text_value(spec, value):
    """A scalar as PrestaShop prints it (JSON carries the same strings)."""
    if spec.type == "bool":
        return "1" if value else "0"
    if spec.type in ("price", "float"):
        return f"{value:.6f}"
    if spec.type == "datetime":
        return clock.show(value)
    if spec.type == "date":
        return value.strftime("%Y-%m-%d") if value else "0000-00-00"
    return "" if value is None else str(value)


def cdata(text):
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def attr(text):
    return str(text).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


# --- XML ---

def xml_field(ctx, spec, value, pad):
    if spec.lang:
        parts = [f'<language id="{lang.id}" xlink:href="{ctx.api_base}languages/{lang.id}">'
                 f"{cdata(value.get(lang.iso_code, ''))}</language>" for lang in ctx.languages]
        return f"{pad}<{spec.name}>{''.join(parts)}</{spec.name}>\n"
    href = f' xlink:href="{ctx.api_base}{spec.fk}/{value}"' if spec.fk and value else ""
    return f"{pad}<{spec.name}{href}>{cdata(text_value(spec, value))}</{spec.name}>\n"


def xml_record(ctx, resource, obj, fields, associations, pad="\t"):
    """One <order>...</order>; `associations` maps association name -> (Association, rows, fields)."""
    out = [f"{pad}<{resource.singular}>\n"]
    inner = pad + "\t"
    changes = ctx.corrupted.get(obj.id, {})
    for spec in fields:
        if spec.name in changes:
            out.append(_corrupt_xml_field(spec, changes[spec.name], inner))
        else:
            out.append(xml_field(ctx, spec, getattr(obj, spec.name), inner))
    if associations:
        out.append(f"{inner}<associations>\n")
        for association, rows, row_fields in associations.values():
            kind = 'virtualEntity="true"' if association.virtual_entity else f'api="{association.api}"'
            out.append(f'{inner}\t<{association.name} nodeType="{association.node_type}" {kind}>\n')
            for row in rows:
                row_id = getattr(row, association.id_column)
                href = "" if association.virtual_entity else f' xlink:href="{ctx.api_base}{association.api}/{row_id}"'
                out.append(f"{inner}\t\t<{association.node_type}{href}>\n")
                for spec in row_fields:
                    out.append(xml_field(ctx, spec, row_value(association, row, spec), inner + "\t\t\t"))
                out.append(f"{inner}\t\t</{association.node_type}>\n")
            out.append(f"{inner}\t</{association.name}>\n")
        out.append(f"{inner}</associations>\n")
    out.append(f"{pad}</{resource.singular}>\n")
    return "".join(out)


def row_value(association, row, spec):
    """An association row's field; its `id` is the linked record's (a category's, a feature's) for link tables."""
    return getattr(row, association.id_column if spec.name == "id" else spec.name)


def _corrupt_xml_field(spec, value, pad):
    if value is corruption.REMOVED:
        return ""
    text = value if isinstance(value, str) else "" if value is None else json.dumps(value)
    return f"{pad}<{spec.name}>{cdata(text)}</{spec.name}>\n"


def xml_list(ctx, resource, items):
    """`items`: [(obj, fields, associations)], or [(obj, None, None)] for the id-only list."""
    out = [XML_HEAD, f"<{resource.list_node}>\n"]
    for obj, fields, associations in items:
        if fields is None:
            out.append(f'\t<{resource.singular} id="{obj.id}" xlink:href="{ctx.api_base}{resource.name}/{obj.id}"/>\n')
        else:
            out.append(xml_record(ctx, resource, obj, fields, associations))
    out.append(f"</{resource.list_node}>\n{XML_TAIL}")
    return "".join(out)


def xml_single(ctx, resource, obj, fields, associations):
    return XML_HEAD + xml_record(ctx, resource, obj, fields, associations, pad="") + XML_TAIL


def xml_many(ctx, resource, items):
    """Several records in detail view, one after the other under <prestashop> (no list element around them)."""
    return XML_HEAD + "".join(xml_record(ctx, resource, obj, fields, associations, pad="")
                              for obj, fields, associations in items) + XML_TAIL


# --- JSON ---

def json_field(ctx, spec, value):
    if spec.lang:
        if len(ctx.languages) == 1:
            return value.get(ctx.languages[0].iso_code, "")
        return [{"id": str(lang.id), "value": value.get(lang.iso_code, "")} for lang in ctx.languages]
    if spec.name == "id":
        return value
    return text_value(spec, value)


def json_record(ctx, obj, fields, associations):
    record = {spec.name: json_field(ctx, spec, getattr(obj, spec.name)) for spec in fields}
    corruption.apply(record, ctx.corrupted.get(obj.id))
    if associations:
        record["associations"] = {
            association.name: [{spec.name: (str(row_value(association, row, spec)) if spec.name == "id" else
                                            json_field(ctx, spec, row_value(association, row, spec)))
                                for spec in row_fields}
                               for row in rows]
            for association, rows, row_fields in associations.values()}
    return record


def json_list(ctx, resource, items):
    if not items:
        return "[]"  # PrestaShop's quirk: an empty list is a bare array, not {"orders": []}
    records = [{"id": obj.id} if fields is None else json_record(ctx, obj, fields, associations)
               for obj, fields, associations in items]
    return json.dumps({resource.list_node: records}, ensure_ascii=False)


def json_single(ctx, resource, obj, fields, associations):
    return json.dumps({resource.singular: json_record(ctx, obj, fields, associations)}, ensure_ascii=False)


# --- schemas ---

def _schema_attrs(spec, synopsis, version="8"):
    if not synopsis:
        return ""
    out = f' format="{spec.validator}"'
    if spec.required and not (spec.optional_in_8 and not version.startswith("1.")):
        out += ' required="true"'
    if spec.max_length:
        out += f' maxSize="{spec.max_length}"'
    if spec.read_only:
        out += ' read_only="true"'
    return out


def schema(ctx, resource, synopsis):
    if ctx.json:
        return json.dumps({resource.singular: _json_schema(ctx, resource)}, ensure_ascii=False)
    out = [XML_HEAD, f"<{resource.singular}>\n"]
    for spec in resource.fields:
        attrs = _schema_attrs(spec, synopsis, ctx.version)
        if spec.lang:
            langs = "".join(f'<language id="{lang.id}"></language>' for lang in ctx.languages)
            out.append(f"\t<{spec.name}{attrs}>{langs}</{spec.name}>\n")
        else:
            out.append(f"\t<{spec.name}{attrs}></{spec.name}>\n")
    if resource.associations:
        out.append("\t<associations>\n")
        for association in resource.associations:
            kind = 'virtualEntity="true"' if association.virtual_entity else f'api="{association.api}"'
            out.append(f'\t\t<{association.name} nodeType="{association.node_type}" {kind}>\n'
                       f"\t\t\t<{association.node_type}>\n")
            for spec in association.fields:
                out.append(f"\t\t\t\t<{spec.name}{_schema_attrs(spec, synopsis)}></{spec.name}>\n")
            out.append(f"\t\t\t</{association.node_type}>\n\t\t</{association.name}>\n")
        out.append("\t</associations>\n")
    out.append(f"</{resource.singular}>\n{XML_TAIL}")
    return "".join(out)


def _json_schema(ctx, resource):
    blank = {}
    for spec in resource.fields:
        blank[spec.name] = ([{"id": str(lang.id), "value": ""} for lang in ctx.languages]
                            if spec.lang and len(ctx.languages) > 1 else "")
    if resource.associations:
        blank["associations"] = {a.name: [{f.name: "" for f in a.fields}] for a in resource.associations}
    return blank


# --- the index and errors ---

def index(ctx, shop_name, grants):
    """GET /api/: every resource the key may use, with "true"/"false" per method. `grants`: {name: methods}."""
    def flags(name):
        return {method.lower(): "true" if method in grants[name] else "false" for method in ALL_METHODS}

    if ctx.json:
        return json.dumps({"api": {name: {"description": RESOURCES[name].description, **flags(name)}
                                   for name in grants}}, ensure_ascii=False)
    out = [XML_HEAD, f'<api shopName="{attr(shop_name)}">\n']
    for name in grants:
        methods = " ".join(f'{method}="{value}"' for method, value in flags(name).items())
        href = f"{ctx.api_base}{name}"
        out.append(f'<{name} xlink:href="{href}" {methods}><description xlink:href="{href}" {methods}>'
                   f"{RESOURCES[name].description}</description>"
                   f'<schema xlink:href="{href}?schema=blank" type="blank"/>'
                   f'<schema xlink:href="{href}?schema=synopsis" type="synopsis"/></{name}>\n')
    out.append(f"</api>\n{XML_TAIL}")
    return "".join(out)


def errors(errors_list, as_json):
    """[(code, message)] in the error envelope."""
    if as_json:
        return json.dumps({"errors": [{"code": code, "message": message} for code, message in errors_list]},
                          ensure_ascii=False)
    items = "".join(f"<error>\n<code>{cdata(code)}</code>\n<message>{cdata(message)}</message>\n</error>\n"
                    for code, message in errors_list)
    return f"{XML_HEAD}<errors>\n{items}</errors>\n{XML_TAIL}"
