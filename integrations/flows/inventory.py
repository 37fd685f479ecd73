"""Inventory broadcast: TIMS's stock, published to every channel of its organization.

TIMS's change feed is read once per TIMS connection: each page's changes update the portal's copy of TIMS's levels
(`StockLevel`, newest Seq wins) in the commit that moves the cursor, and make one record per SKU and change for
every integration with this flow on. Records of one SKU supersede each other (ten changes in a second send one
value), records of one integration are sent together in batches, and each value sent is computed afresh from the
levels under the channel's rules, so the latest value is what goes out. A value is written only when it is newer
(by TIMS seq) than what that channel was last sent for the SKU and differs from it (`PublishedStock`). A SKU the
channel cannot take is listed once (`SkuIssue`), not a dead letter per change. Reconciliation (below) reads what
the channels show and corrects drift through the same records, so each SKU still has one writer.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from integrations.connectors import errors, streams
from integrations.connectors.checks import client_for
from integrations.flows import registry
from integrations.models import ItemStatus, PublishedStock, SkuIssue, StockLevel, StockReport
from integrations.pipeline import records
from integrations.pipeline.outcomes import Skipped
from jobs.work import Cancelled, kind

ENTITY = "stock"

# --- TIMS's levels, as the feed says them -------------------------------------------------------------------


def remember_levels(connection_id, items):
    """Keep the newest Available per SKU and location from a page of the change feed (its own transaction is the
    poll page's): an older change read again never overwrites a newer one."""
    latest = {}
    for item in items:
        if isinstance(item, streams.Item) and item.payload:
            change = item.payload
            key = (change["SKU"], change["Location"])
            if key not in latest or change["Seq"] > latest[key]["Seq"]:
                latest[key] = change
    if not latest:
        return
    skus = {sku for sku, _ in latest}
    known = {(row.sku, row.location): row for row in StockLevel.objects.filter(connection_id=connection_id,
                                                                                 sku__in=skus)}
    new = []
    for key, change in latest.items():
        row = known.get(key)
        values = dict(available=change["Available"], seq=change["Seq"], changed_at=change.get("ChangedAt"))
        if row is None:
            new.append(StockLevel(connection_id=connection_id, sku=key[0], location=key[1], **values))
        elif change["Seq"] > row.seq:
            StockLevel.objects.filter(pk=row.pk, seq__lt=change["Seq"]).update(**values)
    StockLevel.objects.bulk_create(new, ignore_conflicts=True)
    for row in new:  # a concurrent poll (a taken-over lease) may have inserted an older one first
        StockLevel.objects.filter(connection_id=connection_id, sku=row.sku, location=row.location,
                                  seq__lt=row.seq).update(available=row.available, seq=row.seq,
                                                          changed_at=row.changed_at)


def remember_items(connection_id, items):
    """Keep TIMS's Active flag per SKU from item.updated events (the newest event wins)."""
    for item in items:
        if not (isinstance(item, streams.Item) and item.event == "item.updated"):
            continue
        data, seq = (item.payload or {}).get("Data") or {}, int((item.payload or {}).get("Seq") or 0)
        if not isinstance(data.get("Active"), bool):
            continue
        row, created = ItemStatus.objects.get_or_create(connection_id=connection_id, sku=item.source_id,
                                                        defaults={"active": data["Active"], "seq": seq})
        if not created:
            ItemStatus.objects.filter(pk=row.pk, seq__lt=seq).update(active=data["Active"], seq=seq)


def inactive_of(connection_id, skus):
    return set(ItemStatus.objects.filter(connection_id=connection_id, sku__in=list(skus), active=False)
               .values_list("sku", flat=True))


def levels_of(connection_id, skus):
    """{sku: {location: (available, seq)}}."""
    found = {}
    for row in StockLevel.objects.filter(connection_id=connection_id, sku__in=list(skus)):
        found.setdefault(row.sku, {})[row.location] = (row.available, row.seq)
    return found


# --- the channel's rules -----------------------------------------------------------------------------------

DEFAULT_RULES = {"locations": [], "buffer": 0, "share": 100, "cap": None, "distribution_centers": {},
                 "overrides": []}
RULE_KEYS = ("locations", "buffer", "share", "cap", "publish")


@dataclass(frozen=True)
class Rule:
    locations: tuple = ()  # empty: every location
    buffer: int = 0
    share: float = 100.0  # percent of what is left after the buffer
    cap: int | None = None
    publish: bool = True  # False: the item is not for sale on this channel (sends 0)


def rules_of(integration):
    return {**DEFAULT_RULES, **(integration.option("stock_rules") or {})}


def rule_for(rules, sku):
    """The channel's rule for one SKU: an override for the SKU itself, else the longest matching prefix ("GLV-*"),
    over the channel's defaults."""
    base = {key: rules.get(key) for key in RULE_KEYS if rules.get(key) is not None}
    best, best_length = None, -1
    for override in rules.get("overrides") or []:
        match = str(override.get("match") or "")
        if match == sku:
            best, best_length = override, math.inf
        elif match.endswith("*") and sku.startswith(match[:-1]) and len(match) > best_length:
            best, best_length = override, len(match)
    chosen = {**base, **{key: best[key] for key in RULE_KEYS if best and key in best}}
    return Rule(locations=tuple(chosen.get("locations") or ()), buffer=int(chosen.get("buffer") or 0),
                share=float(100 if chosen.get("share") is None else chosen["share"]), cap=chosen.get("cap"),
                publish=bool(chosen.get("publish", True)))


def rules_problems(rules):
    """Plain sentences for rules that cannot be applied (the integration form shows them)."""
    if not isinstance(rules, dict):
        return ["Stock rules must be an object such as {\"buffer\": 2, \"share\": 50}."]
    problems = [f"Stock rules: unknown setting “{key}” (use {', '.join(DEFAULT_RULES)})."
                for key in rules if key not in DEFAULT_RULES]
    overrides = rules.get("overrides") or []
    if not isinstance(overrides, list):
        return problems + ["Stock rules: “overrides” must be a list of {\"match\": \"SKU or PREFIX*\", ...}."]
    for where, rule in [("", rules)] + [(f" (override {i + 1})", o) for i, o in enumerate(overrides)]:
        if not isinstance(rule, dict):
            problems.append(f"Stock rules{where}: each override is an object with “match”.")
            continue
        if where and not str(rule.get("match") or "").strip():
            problems.append(f"Stock rules{where}: “match” names a SKU, or a prefix ending in * (GLV-*).")
        for key in ("buffer", "cap"):
            value = rule.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                problems.append(f"Stock rules{where}: “{key}” must be a whole number of units, 0 or more.")
        share = rule.get("share")
        if share is not None and (isinstance(share, bool) or not isinstance(share, int | float)
                                  or not 0 <= share <= 100):
            problems.append(f"Stock rules{where}: “share” is a percentage from 0 to 100; a channel is never "
                            "offered more than TIMS has.")
        locations = rule.get("locations")
        if locations is not None and (not isinstance(locations, list)
                                      or not all(isinstance(x, str) and x for x in locations)):
            problems.append(f"Stock rules{where}: “locations” is a list of TIMS location codes such as [\"MAIN\"].")
    centers = rules.get("distribution_centers") or {}
    if not isinstance(centers, dict) or not all(isinstance(dc, int) and not isinstance(dc, bool) and dc >= 0
                                                for dc in centers.values()):
        problems.append("Stock rules: “distribution_centers” maps TIMS locations to ChannelAdvisor distribution "
                        "center ids: {\"MAIN\": 0, \"EAST\": 2}.")
    return problems


def quantities_for(rule, levels, *, centers=None, default_center=""):
    """{bucket: quantity} a channel should show from {location: (available, seq)}: a ChannelAdvisor bucket is a
    distribution center id (as text), a shop's is "". Buffer, share and cap apply per bucket; never below zero nor
    above what TIMS has there."""
    totals = {}
    for location, (available, _) in levels.items():
        if rule.locations and location not in rule.locations:
            continue
        bucket = str(centers.get(location, default_center)) if centers is not None else ""
        totals[bucket] = totals.get(bucket, 0) + max(int(available), 0)
    if centers is not None and not totals:
        totals[str(default_center)] = 0
    if not totals:
        totals[""] = 0
    result = {}
    for bucket, available in totals.items():
        quantity = 0 if not rule.publish else math.floor(max(available - rule.buffer, 0) * rule.share / 100)
        if rule.cap is not None:
            quantity = min(quantity, int(rule.cap))
        result[bucket] = max(0, min(quantity, available))
    return result


# --- the SKU map --------------------------------------------------------------------------------------------


def sku_map_name(integration):
    return INVENTORY.value_maps.get(integration.channel_connection.kind, ("",))[0]


def sku_map(integration):
    """({TIMS SKU: channel SKU} for the SKUs mapped explicitly, {channel SKU: [TIMS SKUs]} claimed twice). A SKU
    without an entry is the same on both sides."""
    from mappings.models import ValueMapEntry
    from mappings.services import value_maps_for

    value_map = value_maps_for(integration.organization_id, [sku_map_name(integration)]).get(
        sku_map_name(integration))
    entries = dict(ValueMapEntry.objects.filter(value_map=value_map).values_list("source", "target")) \
        if value_map else {}
    claimed = {}
    for tims_sku, channel_sku in entries.items():
        claimed.setdefault(channel_sku, []).append(tims_sku)
    return entries, {sku: sorted(by) for sku, by in claimed.items() if len(by) > 1}


# --- the batch step ------------------------------------------------------------------------------------------


@dataclass
class Plan:
    record: object
    sku: str
    channel_sku: str
    quantities: dict
    seq: int
    notes: str = ""


def publish(batch):
    """Send the latest value of each SKU in the batch to the integration's channel in as few calls as the channel
    allows. Returns {record pk: None (done) or why not}."""
    integration = batch[0].integration
    results, plans = {}, []
    rules, entries_and_twice = rules_of(integration), sku_map(integration)
    levels = levels_of(integration.tims_connection_id, {r.source_id for r in batch})
    inactive = inactive_of(integration.tims_connection_id, {r.source_id for r in batch})
    published = {p.sku: p for p in PublishedStock.objects.filter(integration=integration,
                                                                 sku__in=[r.source_id for r in batch])}
    listed_skus = set(SkuIssue.objects.filter(integration=integration, resolved_at__isnull=True,
                                              sku__in=[r.source_id for r in batch]).values_list("sku", flat=True))
    for record in batch:
        if record.source_id in listed_skus and not (record.source_payload or {}).get("reconcile"):
            results[record.pk] = still_listed(integration, record.source_id)
            continue
        outcome = plan_for(record, integration, rules, entries_and_twice, levels.get(record.source_id, {}),
                           published.get(record.source_id), active=record.source_id not in inactive)
        if isinstance(outcome, Plan):
            plans.append(outcome)
        else:
            results[record.pk] = outcome
    if not plans:
        return results
    if integration.state == "shadow":
        for plan in plans:
            records.save_fields(plan.record, notes=f"Shadow mode: would send {describe(plan)}.")
            results[plan.record.pk] = None
        return results
    channel = client_for(integration.channel_connection, lane=INVENTORY.lane)
    # From now on the channel may show the new value even if its answer is lost: what was last sent is unknown until
    # settle() says, so a later value (even the old one back) is always sent.
    PublishedStock.objects.filter(integration=integration, sku__in=[plan.sku for plan in plans]).update(quantities={})
    for plan in plans:
        records.mark_sent(plan.record)
    answers = channel.publish_quantities([(plan.channel_sku, plan.quantities) for plan in plans])
    for plan in plans:
        results[plan.record.pk] = settle(integration, plan, answers.get(plan.channel_sku))
    return results


def plan_for(record, integration, rules, sku_map_parts, levels, last, active=True):
    """What to send for one record, or why nothing is sent (a Skipped, or None when there is simply nothing new)."""
    entries, twice = sku_map_parts
    sku = record.source_id
    channel_sku = entries.get(sku, sku)
    if channel_sku in twice:
        return listed(integration, sku, channel_sku, "ambiguous_sku",
                      f"The SKU map “{sku_map_name(integration)}” sends TIMS SKUs {', '.join(twice[channel_sku])} "
                      f"all to channel SKU “{channel_sku}”: its stock would be one of theirs at random.",
                      f"Keep one entry for “{channel_sku}” in the value map “{sku_map_name(integration)}”.")
    if not levels:
        return Skipped(f"The portal has no TIMS stock level of SKU {sku} yet: nothing to send.")
    kind_centers = integration.channel_connection.settings.get("distribution_center_id", 0)
    by_center = client_class_splits(integration)
    rule = rule_for(rules, sku)
    if not active:
        rule = dataclasses.replace(rule, publish=False)
    quantities = quantities_for(rule, levels, centers=(rules.get("distribution_centers") or {}) if by_center
                                else None, default_center=kind_centers if by_center else "")
    seq = max(seq for _, seq in levels.values())
    payload = record.source_payload or {}
    reconciling = bool(payload.get("reconcile"))
    if last is not None and not reconciling:
        if seq < last.seq or (seq == last.seq and last.quantities == quantities):
            return Skipped(f"The channel already has the value of TIMS seq {last.seq} for {sku} "
                           f"({last.quantity}); this change (seq {seq}) is not newer.")
        if last.quantities == quantities:
            PublishedStock.objects.filter(pk=last.pk, seq__lt=seq).update(seq=seq)
            return Skipped(f"{sku}: still {last.quantity} to show after TIMS seq {seq}; nothing sent.")
    notes = []
    if reconciling and "channel_showed" in payload:
        notes.append(f"correcting drift: the channel showed {sum(payload['channel_showed'].values())}")
    negative = [f"{loc} {available}" for loc, (available, _) in levels.items() if available < 0]
    if negative:
        notes.append(f"TIMS said a negative Available ({', '.join(negative)}), counted as 0")
    if not active:
        notes.append("the item is inactive in TIMS: it shows 0")
    elif not rule.publish:
        notes.append("the channel's rules do not publish this item: it shows 0")
    return Plan(record, sku, channel_sku, quantities, seq, "; ".join(notes))


def client_class_splits(integration):
    """Does the channel keep stock per distribution center (so rules map locations to them)?"""
    from integrations.connectors.checks import client_class

    return bool(getattr(client_class(integration.channel_connection.kind), "stock_by_distribution_center", False))


def describe(plan):
    parts = ", ".join(f"DC {bucket}: {q}" for bucket, q in sorted(plan.quantities.items()) if bucket != "")
    total = sum(plan.quantities.values())
    what = f"{total} of {plan.channel_sku}" + (f" ({parts})" if parts and len(plan.quantities) > 1 else "")
    return what + f" (TIMS seq {plan.seq})" + (f"; {plan.notes}" if plan.notes else "")


def settle(integration, plan, answer):
    """One SKU's answer: remember what the channel has now, or list the SKU, or let the record retry."""
    if answer is None:
        now = timezone.now()
        with transaction.atomic():
            row, created = PublishedStock.objects.select_for_update().get_or_create(
                integration=integration, sku=plan.sku, defaults=dict(
                    channel_sku=plan.channel_sku, quantity=sum(plan.quantities.values()), quantities=plan.quantities,
                    seq=plan.seq, sent_at=now))
            if not created and plan.seq >= row.seq:
                PublishedStock.objects.filter(pk=row.pk).update(
                    channel_sku=plan.channel_sku, quantity=sum(plan.quantities.values()),
                    quantities=plan.quantities, seq=plan.seq, sent_at=now)
        SkuIssue.objects.filter(integration=integration, sku=plan.sku, resolved_at__isnull=True).update(
            resolved_at=now)
        records.link(plan.record, plan.channel_sku)
        records.save_fields(plan.record, notes=f"Sent {describe(plan)}.")
        return None
    if isinstance(answer, errors.PermanentError):
        code = answer.code or next((f.code for f in answer.fields if f.code), "") or (
            errors.UNKNOWN_SKU if isinstance(answer, errors.NotFound) else "refused")
        return listed(integration, plan.sku, plan.channel_sku, code, str(answer), FIXES.get(code, FIXES["refused"]))
    return answer  # transient: the record retries, and then sends the latest value


FIXES = {
    errors.UNKNOWN_SKU: "Create the product in the channel, or map the TIMS SKU to the channel's SKU in the SKU map; "
                        "then click “Publish again”.",
    "no_stock_row": "The product has no stock row in the shop: open it in the shop's back office and save its "
                    "quantity once (that creates the row), then click “Publish again”.",
    "has_combinations": "The SKU names a product with combinations, whose stock is the sum of theirs: map the "
                        "TIMS SKUs to the combinations' references instead.",
    "ambiguous_sku": "Several products or combinations carry this reference: give each a reference of its own in "
                     "the channel, then click “Publish again”.",
    "depends_on_stock": "The shop computes this product's stock from advanced stock management: switch that off "
                        "for it, or leave it out of the SKU map.",
    "refused": "Correct what the channel named, then click “Publish again”.",
}


def listed(integration, sku, channel_sku, code, message, fix):
    """List the SKU once for staff (the record is skipped, not a dead letter per change)."""
    now = timezone.now()
    issue, created = SkuIssue.objects.get_or_create(integration=integration, sku=sku, defaults=dict(
        channel_sku=channel_sku, code=code, message=message[:2000], fix=fix, first_seen=now, last_seen=now))
    if not created:
        from django.db.models import F

        first_seen = now if issue.resolved_at else issue.first_seen
        SkuIssue.objects.filter(pk=issue.pk).update(
            channel_sku=channel_sku, code=code, message=message[:2000], fix=fix, last_seen=now, resolved_at=None,
            first_seen=first_seen, times=1 if issue.resolved_at else F("times") + 1)
    return Skipped(f"Not published: {message} (listed under “SKUs not published”).")


def still_listed(integration, sku):
    """A listed SKU's next change is counted, not sent: the channel would refuse it the same way. "Publish again"
    or a reconciliation that finds the product sends it."""
    from django.db.models import F

    SkuIssue.objects.filter(integration=integration, sku=sku).update(times=F("times") + 1, last_seen=timezone.now())
    return Skipped(f"{sku} is listed under “SKUs not published”: not sent until it is fixed there (“Publish "
                   "again”), or a reconciliation finds it in the channel.")


def publish_again(integration, skus, why="staff", shows=None):
    """New records for these SKUs (the latest value is computed when they run), sent even if the portal believes
    the channel has it; `shows`: {sku: what the channel showed}. Returns how many."""
    made, new = 0, []
    stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
    with transaction.atomic():
        for sku in skus:
            payload = {"reconcile": True, "why": why} | ({"channel_showed": shows[sku]} if shows and sku in shows
                                                         else {})
            record, created = records.receive(
                integration, flow=INVENTORY.name, entity_type=ENTITY, source_id=sku, source_version=f"{why}:{stamp}",
                reference=sku, payload=payload, batch_key=batch_key(integration), ring=False)
            made += created
            if created:
                new.append(record.pk)
        records.ring_batches(new, INVENTORY.batch_size)
    return made


def batch_key(integration):
    return f"{integration.pk}:{INVENTORY.name}"


# --- reconciliation ------------------------------------------------------------------------------------------

RECONCILE_CHUNK = 100
DRIFT_KEPT = 500


def reconcile(integration, report=None, started_by="", progress=None):
    """Read every SKU the portal knows TIMS has from the channel, compare with what it should show, and send the
    drifted ones again (records of the inventory flow). Progress is kept on the report as it goes (and told to a
    job's `progress`, which may stop it between chunks)."""
    now = timezone.now()
    report = report or StockReport.objects.create(integration=integration, started_at=now, started_by=started_by)
    skus = sorted(StockLevel.objects.filter(connection_id=integration.tims_connection_id)
                  .values_list("sku", flat=True).distinct())
    StockReport.objects.filter(pk=report.pk).update(total=len(skus), status=StockReport.Status.RUNNING)
    if progress is not None:
        progress.total(len(skus))
    rules, (entries, twice) = rules_of(integration), sku_map(integration)
    by_center = client_class_splits(integration)
    default_center = integration.channel_connection.settings.get("distribution_center_id", 0) if by_center else ""
    channel = client_for(integration.channel_connection, lane=INVENTORY.lane)
    checked = drifted = unknown = 0
    drift = []
    try:
        for start in range(0, len(skus), RECONCILE_CHUNK):
            chunk = [sku for sku in skus[start:start + RECONCILE_CHUNK] if entries.get(sku, sku) not in twice]
            levels = levels_of(integration.tims_connection_id, chunk)
            inactive = inactive_of(integration.tims_connection_id, chunk)
            shows, problems = channel.read_quantities([entries.get(sku, sku) for sku in chunk])
            wrong, showed = [], {}
            for sku in chunk:
                channel_sku = entries.get(sku, sku)
                checked += 1
                if channel_sku in problems:
                    unknown += 1
                    answer = problems[channel_sku]
                    code = answer.code or next((f.code for f in answer.fields if f.code), "") or errors.UNKNOWN_SKU
                    listed(integration, sku, channel_sku, code, str(answer), FIXES.get(code, FIXES["refused"]))
                    continue
                rule = rule_for(rules, sku)
                if sku in inactive:
                    rule = dataclasses.replace(rule, publish=False)
                should = quantities_for(rule, levels.get(sku, {}), default_center=default_center,
                                        centers=(rules.get("distribution_centers") or {}) if by_center else None)
                has = {bucket: shows.get(channel_sku, {}).get(bucket, 0) for bucket in should}
                if has != should:
                    drifted += 1
                    wrong.append(sku)
                    showed[sku] = has
                    if len(drift) < DRIFT_KEPT:
                        drift.append({"sku": sku, "channel_sku": channel_sku, "channel_shows": has,
                                      "should_show": should})
            found_now = [sku for sku in chunk if entries.get(sku, sku) not in problems and sku not in wrong]
            SkuIssue.objects.filter(integration=integration, sku__in=found_now, resolved_at__isnull=True).update(
                resolved_at=timezone.now())  # the channel has it now and shows the right value
            if wrong:
                # What was last sent no longer says what the channel shows: the next value is always sent.
                PublishedStock.objects.filter(integration=integration, sku__in=wrong).update(quantities={})
                publish_again(integration, wrong, why=f"reconcile-{report.pk}", shows=showed)
            StockReport.objects.filter(pk=report.pk).update(checked=checked, drifted=drifted, corrected=drifted,
                                                            unknown=unknown, drift=drift)
            if progress is not None:
                progress.advance(len(skus[start:start + RECONCILE_CHUNK]))
    except Cancelled:
        StockReport.objects.filter(pk=report.pk).update(
            status=StockReport.Status.FAILED, finished_at=timezone.now(), error=f"Stopped on request after "
            f"{checked} of {len(skus)} SKUs; what was read so far was corrected.")
        raise
    except errors.ConnectorError as exc:
        StockReport.objects.filter(pk=report.pk).update(
            status=StockReport.Status.FAILED, finished_at=timezone.now(), checked=checked, drifted=drifted,
            corrected=drifted, unknown=unknown, drift=drift,
            error=f"{exc} — nothing is lost: what was read so far was corrected; run it again when the channel "
                  "answers.")
        return StockReport.objects.get(pk=report.pk)
    StockReport.objects.filter(pk=report.pk).update(status=StockReport.Status.DONE, finished_at=timezone.now())
    return StockReport.objects.get(pk=report.pk)


def start_reconcile(integration, started_by="", user=None):
    """A reconciliation now, as a job (a progress bar and a cancel); its report keeps what it found."""
    from django.urls import reverse

    from jobs import work

    report = StockReport.objects.create(integration=integration, started_at=timezone.now(), started_by=started_by)
    job = work.start("reconcile_stock", f"Reconcile the stock of {integration.name}", user=user,
                     organization=integration.organization, integration_id=integration.pk, report_id=report.pk,
                     link=reverse("admin:integrations_stockreport_change", args=[report.pk]))
    return report, job


@kind("reconcile_stock")
def reconcile_job(job, progress):
    from integrations.models import Integration

    integration = Integration.objects.select_related("channel_connection", "tims_connection").get(
        pk=job.arguments["integration_id"])
    report = StockReport.objects.get(pk=job.arguments["report_id"])
    report = reconcile(integration, report, report.started_by, progress=progress)
    if report.status == StockReport.Status.FAILED:
        raise RuntimeError(report.error)
    return (f"{report.checked} SKUs checked, {report.drifted} drifted and sent again, {report.unknown} unknown "
            "to the channel.")


def reconcile_due(now=None):
    """The schedule: every live integration with this flow whose last reconciliation is older than its option
    `reconcile_every_hours` (default 24) gets one. Returns how many were started."""
    from datetime import timedelta

    from integrations.models import Integration, IntegrationState

    now = now or timezone.now()
    started = 0
    last = dict(StockReport.objects.values_list("integration").annotate(at=Max("started_at")).order_by())
    for integration in Integration.objects.filter(state=IntegrationState.LIVE).select_related(
            "channel_connection", "tims_connection"):
        if INVENTORY not in registry.flows_of(integration):
            continue
        hours = integration.option("reconcile_every_hours") or 24
        if last.get(integration.pk) and last[integration.pk] > now - timedelta(hours=hours):
            continue
        start_reconcile(integration)
        started += 1
    return started


INVENTORY = registry.declare(registry.Flow(
    name="inventory", label="Stock to the channel", source=registry.TIMS, target=registry.CHANNEL,
    entity_type=ENTITY,
    triggers=(registry.Poll("inventory", position="cursor", system=registry.TIMS, store=remember_levels,
                            hinted_by=("inventory.changed",)),
              registry.Poll("events", position="cursor", system=registry.TIMS, events=("item.updated",),
                            store=remember_items)),
    batch_step=publish, batch_size=100, gather_seconds=10, supersedes=True, lane="low",
    value_maps={"prestashop": ("tims_sku_to_prestashop",), "channeladvisor": ("tims_sku_to_channeladvisor",)},
    templates={"prestashop_tims": True, "channeladvisor_tims": True},
))


def attention(request):
    """Front page: channels whose stock is stale (their circuit is open: the latest values go out once it closes),
    and SKUs no channel could take."""
    from django.urls import reverse

    from integrations.connectors.models import BreakerState, CircuitBreaker
    from integrations.models import Integration
    from portal.tenancy import scope

    items = []
    integrations = scope(Integration.objects.filter(state__in=("live", "shadow")), request.user).select_related(
        "channel_connection")
    publishing = {i.channel_connection_id: i for i in integrations if INVENTORY in registry.flows_of(i)}
    for breaker in CircuitBreaker.objects.filter(connection_id__in=publishing, state__in=(
            BreakerState.OPEN, BreakerState.HALF_OPEN)).select_related("connection"):
        since = timezone.localtime(breaker.opened_at).strftime("%H:%M") if breaker.opened_at else "a while"
        waiting = waiting_skus(publishing[breaker.connection_id])
        url = reverse("admin:integrations_connection_change", args=[breaker.connection_id])
        items.append((f"Stock on {breaker.connection.name} is stale since {since}: its circuit is open after "
                      f"failures ({breaker.last_failure[:120] or 'no answer'}). {waiting} SKUs wait; the latest "
                      "values are sent when it closes", None, url, "warning"))
    issues = scope(SkuIssue.objects.filter(resolved_at__isnull=True), request.user,
                   "integration__organization").count()
    if issues:
        items.append(("SKUs whose stock no channel could take (unknown SKUs and the like)", issues,
                      reverse("admin:integrations_skuissue_changelist") + "?resolved=no", "warning"))
    return items


def waiting_skus(integration):
    from integrations.models import OPEN_STATUSES, SyncRecord

    return SyncRecord.objects.filter(integration=integration, flow=INVENTORY.name, status__in=OPEN_STATUSES).values(
        "source_id").distinct().count()
