"""The mapping engine: compile a mapping definition once, then map many records. Pure: no database,
no network; lookups come in as resolver callables, value maps as plain data.

A definition is a plain dict (the database models produce one, and so do the templates):

    {"name": ..., "target": "tims_sales_order", "version": 3,
     "fields": [{"target": "LineItems[].SKU", "source": "lines[].sku", "transforms": "trim | truncate",
                 "condition": "", "required": True}, ...],
     "rules":  [{"name": ..., "condition": "shipping_address.country == 'DE'", "target": "Location",
                 "value": "'BER'", "transforms": "", "mode": "default"}, ...]}

Per-line targets (LineItems[].X) are filled once per element of the source list their expressions
iterate (lines[]); inside such a mapping `lines[].sku` means the current line's SKU.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from mappings import schemas, transforms
from mappings.errors import CompileError, MappingError, MappingFailed, UnmappedValueError
from mappings.expr import ExprError, Expression
from mappings.validation import validate


@dataclass
class MapResult:
    output: dict
    errors: list = field(default_factory=list)  # "Field.Path: message"
    warnings: list = field(default_factory=list)
    unmapped: list = field(default_factory=list)  # (value map name, value)
    version: int | None = None  # the mapping set version that produced the output
    value_map_versions: dict = field(default_factory=dict)
    unmapped_errors: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.errors

    def raise_for_errors(self):
        """Raise the permanent error the pipeline dead-letters: an unmapped strict value first, else MappingFailed."""
        if self.unmapped_errors:
            raise self.unmapped_errors[0]
        if self.errors:
            raise MappingFailed(self.errors)
        return self


@dataclass
class CompiledField:
    label: str  # what messages call it
    target_parts: list  # e.g. ["LineItems[]", "SKU"]
    spec: object
    source: Expression | None
    condition: Expression | None
    steps: list
    required: bool = False
    mode: str = "set"  # rules: "set" overwrites, "default" fills only an empty target
    list_name: str | None = None  # "LineItems" for per-line targets

    def __post_init__(self):
        first = self.target_parts[0]
        self.list_name = first[:-2] if first.endswith("[]") else None
        self.line_label = ".".join(self.target_parts[1:])


def _compile_field(schema, item, label):
    target = (item.get("target") or "").strip()
    try:
        spec = schemas.field_spec(schema, target)
    except ValueError as error:
        raise CompileError(f"{label}: {error}") from None
    try:
        source_text = (item.get("source") if "source" in item else item.get("value")) or ""
        source = Expression(source_text) if source_text.strip() else None
        condition_text = item.get("condition") or ""
        condition = Expression(condition_text) if condition_text.strip() else None
        steps = transforms.parse_chain(item.get("transforms") or "")
    except (ExprError, MappingError) as error:
        raise CompileError(f"{label}: {error}") from None
    return CompiledField(label, schemas.split_target(target), spec, source, condition, steps,
                         bool(item.get("required")), item.get("mode") or "set")


class CompiledMapping:
    def __init__(self, definition, value_maps=None):
        self.name = definition.get("name", "mapping")
        self.target = definition["target"]
        if self.target not in schemas.TARGET_SCHEMAS:
            raise CompileError(f"unknown target “{self.target}”")
        self.schema = schemas.schema_for(self.target)
        self.version = definition.get("version")
        self.value_maps = {vm.name: vm for vm in (value_maps or [])}
        self.fields = [_compile_field(self.schema, item, item.get("target") or "(no target)")
                       for item in definition.get("fields", []) if item.get("active", True)]
        self.rules = [_compile_field(self.schema, item, f"rule “{item.get('name') or item.get('target')}”")
                      for item in definition.get("rules", []) if item.get("active", True)]
        self.list_sources = self._pair_lists()

    def _pair_lists(self):
        """Which source list each target list iterates: {"LineItems": ("lines",)}."""
        pairs = {}
        for compiled in self.fields + self.rules:
            if not compiled.list_name:
                continue
            found = []
            for expression in (compiled.source, compiled.condition):
                if expression is not None:
                    found += [path for path in expression.list_paths() if path not in found]
            if found:
                known = pairs.setdefault(compiled.list_name, found[0])
                if known != found[0]:
                    raise CompileError(f"{compiled.label}: {compiled.list_name}[] already iterates "
                                       f"{'.'.join(known)}[], not {'.'.join(found[0])}[]")
        for compiled in self.fields + self.rules:
            if compiled.list_name and compiled.list_name not in pairs:
                raise CompileError(f"{compiled.label}: say which source list it iterates, e.g. lines[].sku")
        return pairs

    @property
    def value_maps_used(self):
        return sorted({args[0] for compiled in self.fields + self.rules for name, args in compiled.steps
                       if name == "value_map"})

    def apply(self, record, resolvers=None, validate_output=True):
        """Map one source record; never raises for bad data: problems land in result.errors."""
        result = MapResult(output={}, version=self.version,
                           value_map_versions={name: vm.version for name, vm in self.value_maps.items()})
        context = transforms.Context(value_maps=self.value_maps, resolvers=resolvers or {})
        record = record if isinstance(record, dict) else {}
        for compiled in self.fields:
            self._apply_one(compiled, record, result, context, is_rule=False)
        for compiled in self.rules:
            self._apply_one(compiled, record, result, context, is_rule=True)
        result.warnings += context.warnings
        result.unmapped = context.unmapped
        if validate_output:
            result.errors += [message for message in validate(self.schema, result.output)
                              if message not in result.errors and not _already_reported(message, result.errors)]
        return result

    def _apply_one(self, compiled, record, result, context, is_rule):
        if compiled.list_name is None:
            self._map_value(compiled, record, {}, result.output, compiled.target_parts, compiled.label,
                            result, context, is_rule)
            return
        source_list = _source_list(record, self.list_sources[compiled.list_name])
        items = result.output.setdefault(compiled.list_name, [])
        while len(items) < len(source_list):
            items.append({})
        source_key = self.list_sources[compiled.list_name]
        parts = compiled.target_parts[1:]
        for index, element in enumerate(source_list):
            label = (compiled.list_name, index, compiled.line_label)  # formatted only if a message needs it
            self._map_value(compiled, record, {source_key: element}, items[index], parts, label,
                            result, context, is_rule)

    def _map_value(self, compiled, record, current, container, parts, label, result, context, is_rule):
        if isinstance(label, tuple):
            label = _LineLabel(*label)
        context.spec = compiled.spec
        warnings_before = len(context.warnings)
        try:
            if compiled.condition is not None and not _truthy(compiled.condition.evaluate(record, current)):
                return
            if is_rule and compiled.mode == "default" and not _is_empty(_get_path(container, parts)):
                return
            value = compiled.source.evaluate(record, current) if compiled.source is not None else None
            value = transforms.run_chain(compiled.steps, value, context)
        except UnmappedValueError as error:
            result.unmapped_errors.append(error)
            result.errors.append(f"{label}: {error}")
            return
        except (ExprError, MappingError) as error:
            result.errors.append(f"{label}: {error}")
            return
        finally:
            for position in range(warnings_before, len(context.warnings)):
                context.warnings[position] = f"{label}: {context.warnings[position]}"
        value = _json_safe(value)
        if _is_empty(value):
            if compiled.required:
                result.errors.append(f"{label}: required, but the source gave nothing")
            if is_rule and value is None:
                _set_path(container, parts, None, remove=True)
            return
        _set_path(container, parts, value)


class _LineLabel:
    """'LineItems[2].SKU', built only when a message mentions it (most lines never need one)."""

    __slots__ = ("list_name", "index", "field")

    def __init__(self, list_name, index, field):
        self.list_name, self.index, self.field = list_name, index, field

    def __str__(self):
        return f"{self.list_name}[{self.index}].{self.field}"


def _already_reported(message, errors):
    field_path = message.split(":", 1)[0]
    return any(error.split(":", 1)[0] == field_path for error in errors)


def _source_list(record, prefix):
    value = record
    for key in prefix:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, list) else []


def _truthy(value):
    return value != 0 if isinstance(value, Decimal) else bool(value)


def _is_empty(value):
    return value is None or value == "" or value == []


def _json_safe(value):
    if isinstance(value, Decimal):
        return format(value, "f") if abs(value.adjusted()) < 40 else str(value)
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    return value


def _get_path(container, parts):
    value = container
    for part in parts:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _set_path(container, parts, value, remove=False):
    for part in parts[:-1]:
        container = container.setdefault(part, {})
    if remove:
        container.pop(parts[-1], None)
    else:
        container[parts[-1]] = value


def compile_mapping(definition, value_maps=None):
    return CompiledMapping(definition, value_maps)
