"""Step 3 of the wizard: the mapping sets and value maps the template made, and the values the customer's own recent
orders hold that no map covers yet, each with a target suggested by similarity.

The channel's recent orders are read through the same stream readers the pollers use (a job, since a big shop
takes a while); for each value map, the source expression (and the transforms before `value_map:`) of every
mapping line that uses it is evaluated on each order, so the values are exactly what the map would be asked."""

from collections import Counter
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from rapidfuzz import fuzz, process

from integrations.connectors import streams
from integrations.connectors.checks import client_for
from integrations.flows import registry
from integrations.pipeline import actions
from jobs import work
from jobs.models import Job, JobStatus
from mappings import services as mapping_services
from mappings.errors import TransformError
from mappings.expr import ExprError, Expression, Scope, truthy
from mappings.models import MappingSet, UnmappedValue
from mappings.transforms import Context, parse_chain, run_chain

SAMPLE_JOB = "setup.sample_values"
SAMPLE_DAYS = 30
SAMPLE_LIMIT = 500  # orders read at most: enough to see a shop's states, carriers and countries
GOOD_SCORE = 80  # "accept all above" starts here


# ---- which source values each value map is asked ---------------------------------------------------------------

def map_lines(integration):
    """{value map name: [(mapping set, line label, expression, steps before the map, condition or None)]}."""
    found = {}
    for mapping_set in integration.mapping_sets.filter(active=True).prefetch_related("fields", "rules"):
        lines = [(f.target, f.source, f.transforms, f.condition) for f in mapping_set.fields.all() if f.active]
        lines += [(r.target, r.value, r.transforms, r.condition) for r in mapping_set.rules.all() if r.active]
        for target, source, chain, condition in lines:
            try:
                steps = parse_chain(chain or "")
            except TransformError:
                continue
            for index, (name, args) in enumerate(steps):
                if name != "value_map" or not args:
                    continue
                try:
                    expression = Expression(source)
                    when = Expression(condition) if condition else None
                except ExprError:
                    continue  # a line that does not parse is the mapping page's to report
                found.setdefault(args[0], []).append((mapping_set, target, expression, steps[:index], when))
    return found


def values_in(orders, lines):
    """Counter of the values the map would be asked for these canonical orders (what its lines feed it)."""
    seen = Counter()
    for order in orders:
        for _, _, expression, before, when in lines:
            try:
                if when is not None and not truthy(when.run(Scope(order))):
                    continue
                value = expression.run(Scope(order))
                values = value if isinstance(value, list) else [value]
                for item in values:
                    item = run_chain(before, item, Context()) if before else item
                    if item not in (None, "") and not isinstance(item, dict | list):
                        seen[str(item)[:200]] += 1
            except (ExprError, TransformError, ValueError, TypeError, ArithmeticError):
                continue  # data a line cannot read: the shadow run reports it per order
    return seen


def read_recent_orders(integration, days=SAMPLE_DAYS, limit=SAMPLE_LIMIT, progress=None):
    """Canonical orders (dicts) placed in the last `days`, read from the channel by the stream the orders flow polls
    (read only: nothing is set aside or exported)."""
    since = timezone.now() - timedelta(days=days)
    trigger = next((t for flow in registry.all_flows() if flow.offered_to(integration.template)
                    for t in flow.triggers_of(registry.Poll) if t.system == registry.CHANNEL
                    and registry.applies(t, integration) and flow.entity_type == "order"), None)
    if trigger is None:
        return []
    client = client_for(integration.channel_connection, lane="low")
    orders = []
    for page in streams.read(client, trigger.stream, since if trigger.position == "watermark" else None):
        for item in page.items:
            if isinstance(item, streams.Item) and item.payload and _placed_since(item.payload, since):
                orders.append(item.payload)
        if progress is not None:
            progress.advance(len(page.items))
        if len(orders) >= limit:
            break
    return orders[:limit]


def _placed_since(payload, since):
    from integrations.pipeline.golive import _placed_at

    placed = _placed_at(payload.get("ordered_at"))
    return placed is None or placed >= since


def sample(integration, days=SAMPLE_DAYS, progress=None):
    """{value map name: {value: times seen}} in the channel's recent orders, and how many orders were read."""
    orders = read_recent_orders(integration, days=days, progress=progress)
    lines = map_lines(integration)
    return {name: dict(values_in(orders, map_lines_)) for name, map_lines_ in lines.items()}, len(orders)


@work.kind(SAMPLE_JOB)
def sample_job(job, progress):
    from integrations.models import Integration

    integration = Integration.objects.select_related("channel_connection", "tims_connection").get(
        pk=job.arguments["integration"])
    seen, count = sample(integration, days=job.arguments.get("days", SAMPLE_DAYS), progress=progress)
    Job.objects.filter(pk=job.pk).update(arguments={**job.arguments, "seen": seen, "orders": count})
    return f"Read {count} orders of the last {job.arguments.get('days', SAMPLE_DAYS)} days."


def start_sample(integration, actor, days=SAMPLE_DAYS):
    return work.start(SAMPLE_JOB, f"Values in the recent orders of {integration.name}", user=actor,
                      organization=integration.organization, integration=integration.pk, days=days)


def latest_sample(integration):
    return (Job.objects.filter(kind=SAMPLE_JOB, organization=integration.organization,
                               arguments__integration=integration.pk).order_by("-pk").first())


# ---- suggestions ------------------------------------------------------------------------------------------------

def suggest(value, entries, targets):
    """(target, score 0-100, why) for a value no entry covers: the target of the most alike source the map already
    has, or the most alike valid target itself, whichever scores higher; (None, 0, "") when nothing is alike."""
    best = (None, 0.0, "")
    folded = value.casefold()
    if entries:
        sources = list(entries)
        match = process.extractOne(folded, [s.casefold() for s in sources], scorer=fuzz.WRatio)
        if match:
            source = sources[match[2]]
            best = (entries[source], match[1], f"like “{source}”")
    if targets:
        match = process.extractOne(folded, [t.casefold() for t in targets], scorer=fuzz.WRatio)
        if match and match[1] > best[1]:
            best = (targets[match[2]], match[1], "alike in name")
    target, score, why = best
    return (target, round(score), why) if target is not None and score >= 50 else (None, 0, "")


def review(integration):
    """What step 3 shows: the mapping sets, and per value map its entries and the values no entry covers (from the
    last sample of recent orders and from the values the pipeline noted), with suggestions."""
    job = latest_sample(integration)
    seen = (job.arguments.get("seen") or {}) if job and job.status == JobStatus.DONE else {}
    lines = map_lines(integration)
    names = sorted(set(lines) | set(registry.value_maps_of(integration)))
    maps = mapping_services.value_maps_for(integration.organization_id, names)
    noted = {}
    for row in UnmappedValue.objects.filter(value_map__in=list(maps.values())).order_by("-times_seen"):
        noted.setdefault(row.value_map_id, {})[row.value] = row.times_seen
    result = []
    for name in names:
        value_map = maps.get(name)
        if value_map is None:
            result.append({"name": name, "missing": True})
            continue
        compiled = value_map.compiled()
        entries = compiled.entries
        targets = mapping_services.valid_targets(value_map)
        uncovered = {}
        for value, times in (seen.get(name) or {}).items():
            if not _covered(compiled, value):
                uncovered[value] = {"value": value, "in_orders": times, "noted": 0}
        for value, times in noted.get(value_map.pk, {}).items():
            if not _covered(compiled, value):
                uncovered.setdefault(value, {"value": value, "in_orders": 0, "noted": 0})["noted"] = times
        rows = []
        for index, row in enumerate(sorted(uncovered.values(), key=lambda r: (-(r["in_orders"] + r["noted"]),
                                                                                r["value"]))):
            target, score, why = suggest(row["value"], entries, targets)
            rows.append({**row, "index": index, "suggestion": target or "", "score": score, "why": why})
        result.append({"name": name, "map": value_map, "own": value_map.organization_id is not None,
                       "strict": value_map.strict, "default": value_map.default, "entries": len(entries),
                       "targets": targets, "rows": rows,
                       "fed_by": sorted({f"{ms.name}: {target}" for ms, target, *_ in lines.get(name, [])}),
                       "seen": sum((seen.get(name) or {}).values())})
    return {"job": job, "orders": job.arguments.get("orders") if job and job.status == JobStatus.DONE else None,
            "mapping_sets": MappingSet.objects.filter(integration=integration).order_by("name"), "maps": result}


def _covered(compiled, value):
    folded = value.strip().casefold()
    return value in compiled.entries or folded in compiled.folded


# ---- saving entries ---------------------------------------------------------------------------------------------

MAX_TEXT = 200


def accept(integration, choices, actor):
    """Write entries {value map name: {source value: target}} into the organization's own maps (copying the global
    template first), one version per map change, audited. Returns how many entries were written."""
    problems = []
    for name, pairs in choices.items():
        for source, target in pairs.items():
            if not source.strip() or len(source) > MAX_TEXT:
                problems.append(f"{name}: a value must be 1 to {MAX_TEXT} characters.")
            if not target.strip() or len(target) > MAX_TEXT:
                problems.append(f"{name}: choose a target for “{source[:60]}” (1 to {MAX_TEXT} characters).")
    allowed = {name for name in set(map_lines(integration)) | set(registry.value_maps_of(integration))}
    problems += [f"“{name[:60]}” is not a value map of this integration." for name in choices if name not in allowed]
    if problems:
        raise ValueError(" ".join(dict.fromkeys(problems)))
    written = 0
    with transaction.atomic():
        maps = mapping_services.value_maps_for(integration.organization_id, list(choices))
        for name, pairs in choices.items():
            value_map = maps.get(name)
            if value_map is None:
                raise ValueError(f"There is no value map “{name}”.")
            if value_map.organization_id is None:
                value_map = mapping_services.copy_value_map(value_map, integration.organization, actor)
            before = {source: target for source, target in value_map.entries.filter(
                source__in=list(pairs)).values_list("source", "target")}
            for source, target in pairs.items():
                mapping_services.set_entry(value_map, source.strip(), target.strip(), actor)
                written += 1
            actions.audit(actor, "value_map_entries", organization=integration.organization,
                          before={"value_map": value_map.pk, "entries": before},
                          after={"value_map": value_map.pk, "name": name, "entries": pairs,
                                 "integration": integration.pk})
    return written
