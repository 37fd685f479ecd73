"""Business steps of the mapping app as plain functions: defaults, versions and rollback, compile with a cache,
map and preview, value map edits and CSV, unmapped values, suggestions, custom fields.

The pipeline calls: compiled_mapping(), map_record(), preview(), note_unmapped(), translate().
"""

import csv
import difflib
import io
import threading
from collections import OrderedDict

from django.db import transaction
from django.db.models import F, Q

from mappings import schemas, templates
from mappings.engine import CompiledMapping
from mappings.errors import UnmappedValueError
from mappings.models import FieldMapping, MappingSet, Rule, UnmappedValue, ValueMap, ValueMapEntry, Version
from mappings.transforms import Context, value_maps_used

FIELD_ATTRS = ("position", "target", "source", "transforms", "condition", "required", "active")
RULE_ATTRS = ("position", "name", "kind", "target", "value", "transforms", "condition", "mode", "active")
SET_ATTRS = ("name", "flow", "source", "target", "description", "active")
MAP_ATTRS = ("name", "description", "default", "strict")


# ---- snapshots and versions -------------------------------------------------------------------------------------

def snapshot_mapping_set(mapping_set):
    return {
        **{attr: getattr(mapping_set, attr) for attr in SET_ATTRS},
        "fields": [{attr: getattr(item, attr) for attr in FIELD_ATTRS} for item in mapping_set.fields.all()],
        "rules": [{attr: getattr(item, attr) for attr in RULE_ATTRS} for item in mapping_set.rules.all()],
    }


def snapshot_value_map(value_map):
    return {
        **{attr: getattr(value_map, attr) for attr in MAP_ATTRS},
        "entries": {entry.source: entry.target for entry in value_map.entries.all()},
    }


def _describe(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _keyed(rows, key):
    """Rows by their name; a second row with the same target (another condition) is 'Location #2'."""
    keyed, seen = {}, {}
    for row in rows:
        seen[row[key]] = seen.get(row[key], 0) + 1
        keyed[row[key] if seen[row[key]] == 1 else f"{row[key]} #{seen[row[key]]}"] = row
    return keyed


def _diff_rows(old_rows, new_rows, key, label):
    changes = []
    old_by_key, new_by_key = _keyed(old_rows, key), _keyed(new_rows, key)
    for name, row in new_by_key.items():
        if name not in old_by_key:
            changes.append(f"added {label} {name}")
            continue
        for attr, value in row.items():
            if old_by_key[name].get(attr) != value:
                changes.append(f"{label} {name}: {attr} {_describe(old_by_key[name].get(attr))} → {_describe(value)}")
    changes += [f"removed {label} {name}" for name in old_by_key if name not in new_by_key]
    return changes


def diff_snapshots(old, new):
    """Plain-words list of what changed between two snapshots (of the same kind)."""
    old = old or {}
    changes = [f"{attr}: {_describe(old.get(attr))} → {_describe(value)}"
               for attr, value in new.items() if attr not in ("fields", "rules", "entries") and old.get(attr) != value]
    if "fields" in new:
        changes += _diff_rows(old.get("fields", []), new["fields"], "target", "field")
        changes += _diff_rows(old.get("rules", []), new["rules"], "name", "rule")
    if "entries" in new:
        old_entries = old.get("entries", {})
        for source, target in new["entries"].items():
            if source not in old_entries:
                changes.append(f"added {source!r} → {target!r}")
            elif old_entries[source] != target:
                changes.append(f"{source!r}: {old_entries[source]!r} → {target!r}")
        changes += [f"removed {source!r}" for source in old_entries if source not in new["entries"]]
    return changes


def record_version(subject, user=None, comment=""):
    """Snapshot a mapping set or value map after a change; None when nothing changed since the last version."""
    is_set = isinstance(subject, MappingSet)
    snapshot = snapshot_mapping_set(subject) if is_set else snapshot_value_map(subject)
    with transaction.atomic():
        model = type(subject)
        locked = model.objects.select_for_update().get(pk=subject.pk)  # one version number per change
        previous = locked.versions.order_by("-number").first()
        if previous is not None and previous.snapshot == snapshot:
            return None
        changes = diff_snapshots(previous.snapshot if previous else None, snapshot)
        if previous is None:
            changes = ["created"]
        number = (previous.number if previous else 0) + 1
        version = Version.objects.create(
            mapping_set=subject if is_set else None, value_map=None if is_set else subject, number=number,
            snapshot=snapshot, changes=changes, comment=comment[:200],
            created_by=user if user is not None and user.is_authenticated else None,
        )
        model.objects.filter(pk=subject.pk).update(version=number)
    subject.version = number
    return version


def rollback(version, user=None):
    """Restore a version's snapshot; the restore itself becomes a new version (history is never rewritten)."""
    snapshot = version.snapshot
    with transaction.atomic():
        if version.mapping_set_id:
            subject = version.mapping_set
            for attr in SET_ATTRS:
                setattr(subject, attr, snapshot[attr])
            subject.save()
            subject.fields.all().delete()
            subject.rules.all().delete()
            FieldMapping.objects.bulk_create(FieldMapping(mapping_set=subject, **row) for row in snapshot["fields"])
            Rule.objects.bulk_create(Rule(mapping_set=subject, **row) for row in snapshot["rules"])
        else:
            subject = version.value_map
            for attr in MAP_ATTRS:
                setattr(subject, attr, snapshot[attr])
            subject.save()
            subject.entries.all().delete()
            ValueMapEntry.objects.bulk_create(
                ValueMapEntry(value_map=subject, source=source, target=target)
                for source, target in snapshot["entries"].items())
        return record_version(subject, user, comment=f"Rolled back to version {version.number}")


# ---- value maps -------------------------------------------------------------------------------------------------

def value_maps_for(organization_id, names):
    """{name: ValueMap}: the organization's own map first, else the global template of that name."""
    found = {}
    candidates = ValueMap.objects.filter(Q(organization_id=organization_id) | Q(organization__isnull=True),
                                         name__in=list(names))
    for value_map in candidates.order_by(F("organization_id").asc(nulls_last=True)):
        found.setdefault(value_map.name, value_map)
    return found


def ensure_global_value_maps():
    """Create the shipped global templates that do not exist yet (never overwrites staff edits)."""
    for name, (description, strict, default, entries) in templates.VALUE_MAPS.items():
        value_map, created = ValueMap.objects.get_or_create(
            organization=None, name=name, defaults={"description": description, "strict": strict, "default": default})
        if created:
            ValueMapEntry.objects.bulk_create(ValueMapEntry(value_map=value_map, source=source, target=target)
                                              for source, target in entries.items())
            record_version(value_map, comment="Shipped template")


def copy_value_map(template, organization, user=None):
    """An organization's own copy of a global map, so it can edit entries without touching other customers."""
    value_map, created = ValueMap.objects.get_or_create(
        organization=organization, name=template.name,
        defaults={"description": template.description, "strict": template.strict, "default": template.default})
    if created:
        ValueMapEntry.objects.bulk_create(ValueMapEntry(value_map=value_map, source=entry.source, target=entry.target)
                                          for entry in template.entries.all())
        record_version(value_map, user, comment="Copied from the global template")
    return value_map


def set_entry(value_map, source, target, user=None):
    ValueMapEntry.objects.update_or_create(value_map=value_map, source=source, defaults={"target": target})
    UnmappedValue.objects.filter(value_map=value_map, value=source).delete()  # it is mapped now
    return record_version(value_map, user, comment=f"Set {source!r}")


def valid_targets(value_map):
    """What an entry of this map may point to: the choices of the target fields it feeds (TIMS's OrderStatus, say),
    else the targets this map and its global template already use, so staff pick rather than type."""
    lines = [(target, chain, code) for model in (FieldMapping, Rule) for target, chain, code in model.objects.filter(
        mapping_set__integration__organization_id=value_map.organization_id,
        transforms__contains=f"value_map:{value_map.name}").values_list("target", "transforms", "mapping_set__target")]
    choices = set()
    for target, chain, code in lines:
        if value_map.name not in value_maps_used(chain) or code not in schemas.TARGET_SCHEMAS:
            continue
        try:
            choices.update(schemas.field_spec(schemas.schema_for(code), target).choices)
        except (ValueError, KeyError):
            continue  # a line that no longer fits its schema names no choices
    if choices:
        return sorted(choices)
    used = ValueMapEntry.objects.filter(Q(value_map=value_map) | Q(value_map__organization__isnull=True,
                                                                   value_map__name=value_map.name))
    return sorted(set(used.exclude(target="").values_list("target", flat=True)))


def export_csv(value_map):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["source", "target"])
    for entry in value_map.entries.all():
        writer.writerow([entry.source, entry.target])
    return out.getvalue()


class CsvProblem(ValueError):
    pass


def import_csv(value_map, text, user=None, replace=False):
    """Add or update entries from CSV (header source,target); with replace, entries not in the file go.
    Returns (added or changed count, removed count). All or nothing: a bad row changes nothing."""
    rows = list(csv.reader(io.StringIO(text)))
    if rows and [cell.strip().lower() for cell in rows[0][:2]] == ["source", "target"]:
        rows = rows[1:]
    entries = {}
    for number, row in enumerate(rows, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != 2:
            raise CsvProblem(f"line {number}: expected 2 columns (source,target), found {len(row)}")
        source, target = row[0].strip(), row[1].strip()
        if not source or len(source) > 200 or len(target) > 200:
            raise CsvProblem(f"line {number}: source must be 1 to 200 characters, target at most 200")
        entries[source] = target
    with transaction.atomic():
        existing = {entry.source: entry for entry in value_map.entries.all()}
        changed = 0
        for source, target in entries.items():
            if source not in existing:
                ValueMapEntry.objects.create(value_map=value_map, source=source, target=target)
                changed += 1
            elif existing[source].target != target:
                ValueMapEntry.objects.filter(pk=existing[source].pk).update(target=target)
                changed += 1
        removed = 0
        if replace:
            removed, _ = value_map.entries.exclude(source__in=list(entries)).delete()
        UnmappedValue.objects.filter(value_map=value_map, value__in=list(entries)).delete()
        record_version(value_map, user, comment="CSV import")
    return changed, removed


def note_unmapped(value_map, value, example=""):
    """Record a value a map did not cover (called by the pipeline), counted so staff see what matters most."""
    value = str(value)[:200]
    updated = UnmappedValue.objects.filter(value_map=value_map, value=value).update(
        times_seen=F("times_seen") + 1, example=example[:200] or F("example"))
    if not updated:
        UnmappedValue.objects.get_or_create(value_map=value_map, value=value, defaults={"example": example[:200]})


class MissingValueMap(LookupError):
    """A flow looks values up in a map that does not exist (for the organization, nor as a global template)."""


def translate(organization_id, map_name, value, example=""):
    """One value through the organization's value map (or the global template): the flows that map single values
    (a carrier) use the same maps, strictness and "unmapped values" list as the mappings do."""
    value_map = value_maps_for(organization_id, [map_name]).get(map_name)
    if value_map is None:
        raise MissingValueMap(f"There is no value map “{map_name}”; create it in Mappings › Value maps (or run "
                              "manage.py mapping_defaults).")
    context = Context()
    try:
        result = value_map.compiled().translate(value, context)
    except UnmappedValueError:
        note_unmapped(value_map, value, example)
        raise
    if context.unmapped:
        note_unmapped(value_map, value, example)
    return result


# ---- defaults for integrations ----------------------------------------------------------------------------------

def create_defaults(integration, user=None, reset=False):
    """Give an integration its template's mapping sets and value maps, and its GL posting rules. Existing sets are
    kept unless reset; posting rules that exist are always kept (reset is about mappings only)."""
    channel_settings = integration.channel_connection.settings or {}
    tims_settings = integration.tims_connection.settings or {}
    definitions = templates.mapping_sets_for(
        integration.template, shop_timezone=channel_settings.get("timezone") or "UTC",
        default_location=tims_settings.get("default_location") or "")
    ensure_global_value_maps()
    from finance.rules import ensure_default_rules
    from integrations.flows import registry

    used = {name for definition in definitions for row in definition["fields"] + definition["rules"]
            for name in value_maps_used(row.get("transforms") or "")} | registry.value_maps_of(integration)
    made = []
    with transaction.atomic():
        for template in ValueMap.objects.filter(organization__isnull=True, name__in=sorted(used)):
            copy_value_map(template, integration.organization, user)
        for definition in definitions:
            existing = integration.mapping_sets.filter(template_key=definition["key"]).first()
            if existing and not reset:
                continue
            mapping_set = existing or MappingSet(integration=integration, template_key=definition["key"])
            mapping_set.name = definition["name"]
            mapping_set.flow = definition["flow"]
            mapping_set.source = definition["source"]
            mapping_set.target = definition["target"]
            mapping_set.active = True
            mapping_set.save()
            mapping_set.fields.all().delete()
            mapping_set.rules.all().delete()
            FieldMapping.objects.bulk_create(
                FieldMapping(mapping_set=mapping_set, position=index * 10, **{k: v for k, v in row.items()})
                for index, row in enumerate(definition["fields"]))
            Rule.objects.bulk_create(
                Rule(mapping_set=mapping_set, position=index * 10, **row)
                for index, row in enumerate(definition["rules"]))
            record_version(mapping_set, user, comment="Reset to the template" if existing else "Created from template")
            made.append(mapping_set)
        ensure_default_rules(integration, user if user is not None and user.is_authenticated else None)
    return made


# ---- compile, map, preview --------------------------------------------------------------------------------------

def definition_of(mapping_set):
    return {
        "name": mapping_set.name, "target": mapping_set.target, "version": mapping_set.version,
        "fields": [{attr: getattr(item, attr) for attr in FIELD_ATTRS} for item in mapping_set.fields.all()],
        "rules": [{attr: getattr(item, attr) for attr in RULE_ATTRS} for item in mapping_set.rules.all()],
    }


_cache = OrderedDict()
_cache_lock = threading.Lock()
CACHE_SIZE = 256


def compiled_mapping(mapping_set):
    """The compiled mapping for the set's current version, compiled once per (set version, value map versions).

    Costs one small query per call (which value maps apply, at which version), so map edits show up at once."""
    with _cache_lock:
        entry = _cache.get((mapping_set.pk, mapping_set.version))
    if entry is not None:
        compiled, organization_id = entry
        current = value_maps_for(organization_id, compiled.value_maps_used)
        if _map_versions(current.values()) == _map_versions(compiled.value_maps.values()):
            return compiled
    compiled = _compile(mapping_set)
    with _cache_lock:
        _cache[(mapping_set.pk, mapping_set.version)] = (compiled, mapping_set.integration.organization_id)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def _map_versions(value_maps):
    return {(value_map.name, value_map.pk, value_map.version) for value_map in value_maps}


def _compile(mapping_set):
    definition = definition_of(mapping_set)
    names = {step.split(":", 1)[1].strip() for row in definition["fields"] + definition["rules"]
             for step in (row["transforms"] or "").split("|") if step.strip().startswith("value_map:")}
    value_maps = value_maps_for(mapping_set.integration.organization_id, names)
    return CompiledMapping(definition, [vm.compiled() for vm in value_maps.values()])


def map_record(mapping_set, record, resolvers=None, example=""):
    """Map one source record for the pipeline; unmapped values are noted for staff. Check result.ok or call
    result.raise_for_errors() to get the permanent error to dead-letter."""
    compiled = compiled_mapping(mapping_set)
    result = compiled.apply(record, resolvers)
    for name, value in set(result.unmapped):
        value_map = compiled.value_maps.get(name)
        if value_map is not None and value_map.pk:
            note_unmapped(ValueMap(pk=value_map.pk, name=name), value, example)
    return result


def preview(mapping_set, source_dict, resolvers=None):
    """Map a pasted (or stored) record without side effects: output, validation messages, warnings, version.
    Lookups without a resolver are shown as placeholders so the rest of the record can still be checked."""
    compiled = _compile(mapping_set)  # the current rows, even if a cached compile exists
    resolvers = dict(resolvers or {})
    asked = []

    def placeholder(name):
        def resolve(value):
            asked.append(f"lookup {name} was not run in the preview; the pipeline asks it for {value!r}")
            return PREVIEW_PLACEHOLDER
        return resolve

    for name in _lookups_used(compiled):
        resolvers.setdefault(name, placeholder(name))
    result = compiled.apply(source_dict, resolvers)
    result.warnings += asked
    return result


PREVIEW_PLACEHOLDER = "<lookup>"


def _lookups_used(compiled):
    return sorted({args[0] for item in compiled.fields + compiled.rules for name, args in item.steps
                   if name == "lookup"})


# ---- suggestions and custom fields ------------------------------------------------------------------------------

def _words(path):
    return path.replace("[]", "").replace(".", " ").replace("_", " ").lower()


def _split_camel(name):
    out = ""
    for index, char in enumerate(name):
        if char.isupper() and index and not name[index - 1].isupper():
            out += " "
        out += char
    return out.lower()


def suggestions(mapping_set, limit=3, threshold=0.5):
    """For target fields without a mapping: likely source fields by name similarity, with a confidence 0..1."""
    mapped = set(mapping_set.fields.values_list("target", flat=True)) | set(
        mapping_set.rules.values_list("target", flat=True))
    sources = schemas.CANONICAL_SOURCES.get(mapping_set.source, ("", []))[1]
    found = []
    for target in schemas.leaf_paths(schemas.schema_for(mapping_set.target)):
        if target in mapped:
            continue
        in_list = "[]" in target
        target_words = _split_camel(target.split(".")[-1].replace("[]", ""))
        target_full = " ".join(_split_camel(part.replace("[]", "")) for part in target.split("."))
        scored = []
        for source in sources:
            if in_list != ("[]" in source):
                continue
            # The field's own name counts most; the full path breaks ties (ShippingAddress.City → shipping_...).
            score = 0.6 * difflib.SequenceMatcher(None, target_words, _words(source.split(".")[-1])).ratio() + \
                0.4 * difflib.SequenceMatcher(None, target_full, _words(source)).ratio()
            if score >= threshold:
                scored.append((round(score, 2), source))
        scored.sort(key=lambda pair: (-pair[0], pair[1]))
        if scored:
            found.append({"target": target, "sources": [{"source": s, "confidence": c} for c, s in scored[:limit]]})
    return found


def unused_extra_fields(mapping_set, record):
    """extra.* keys of a sample record that no mapping reads: candidates for CustomFields.<name>."""
    extra = record.get("extra") if isinstance(record, dict) else None
    if not isinstance(extra, dict):
        return []
    used = " ".join(mapping_set.fields.values_list("source", flat=True)) + " " + " ".join(
        mapping_set.fields.values_list("condition", flat=True))
    return [{"source": f"extra.{key}", "target": f"CustomFields.{key[:64]}"}
            for key in extra if f"extra.{key}" not in used and f'extra["{key}"]' not in used]


def custom_fields_used(mapping_set):
    """Names of the TIMS custom fields this set writes (CustomFields.<name>)."""
    return sorted({target.split(".", 1)[1] for target in mapping_set.fields.filter(
        target__startswith="CustomFields.", active=True).values_list("target", flat=True)})


def ensure_custom_fields(mapping_set, existing_names, create_field):
    """Extension point: create in TIMS the custom fields this set writes but TIMS lacks.

    `existing_names` comes from TIMS (GET /custom-fields?entity=...), `create_field(entity, name)` from the TIMS
    connector (POST /custom-fields). Kept here so the mapping decides what is needed and the connector how."""
    entity = {"tims_sales_order": "sales_order", "tims_customer": "customer"}.get(mapping_set.target)
    if entity is None:
        return []
    missing = [name for name in custom_fields_used(mapping_set) if name not in set(existing_names)]
    for name in missing:
        create_field(entity, name)
    return missing
