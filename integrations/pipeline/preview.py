"""Preview a stored record through the current mapping, and show what would change against what was sent."""

import json
from dataclasses import dataclass, field


@dataclass
class RecordPreview:
    problem: str = ""
    output: dict | None = None
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    changes: list = field(default_factory=list)  # (path, before, after)
    version: object = None

    @property
    def output_json(self):
        return json.dumps(self.output, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def preview_record(record):
    from integrations.flows import registry
    from mappings.services import preview

    if not record.source_payload:
        return RecordPreview(problem="This record has no stored source payload yet (it was never read).")
    mapping_set = record.integration.mapping_sets.filter(
        template_key=getattr(registry.get(record.flow), "mapping", "") or "-", active=True).first()
    if mapping_set is None:
        return RecordPreview(problem=f"The integration has no active mapping for the {record.flow} flow.")
    result = preview(mapping_set, record.source_payload)
    changes = diff(record.mapped_payload or {}, result.output) if record.mapped_payload else []
    return RecordPreview(output=result.output, errors=list(result.errors), warnings=list(result.warnings),
                         changes=changes, version=result.version)


def flatten(value, prefix=""):
    if isinstance(value, dict):
        items = {}
        for key, inner in value.items():
            items.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return items
    if isinstance(value, list):
        items = {}
        for index, inner in enumerate(value):
            items.update(flatten(inner, f"{prefix}[{index}]"))
        return items
    return {prefix: value}


def diff(before, after):
    """[(path, before, after)] for every leaf that differs; '—' marks a side where the field is absent."""
    old, new = flatten(before), flatten(after)
    return [(path, old.get(path, "—"), new.get(path, "—")) for path in sorted(old.keys() | new.keys())
            if old.get(path, "—") != new.get(path, "—")]
