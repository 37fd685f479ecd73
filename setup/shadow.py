"""Shadow runs: read the last N days and show what would have been written to TIMS and back to the channel, without
writing anything (shadow records stop after mapping: integrations/flows/*), then go live from a cut-over.

A run is remembered on the integration (`options["shadow_run"]`: since, started_at, days); its report covers the
shadow records touched since it started."""

import json
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Min
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from integrations.flows import registry
from integrations.flows.orders import NEW_CUSTOMER, sales_order_body
from integrations.models import IntegrationState, PollState, RecordStatus, SyncRecord
from integrations.pipeline import actions, golive, records
from setup.integrations.services import SetupProblem

DEFAULT_DAYS = 7
MAX_DAYS = 90
RUN_KEY = "shadow_run"
FIRST_CAUSES = 10
SAMPLE_SIZE = 5
IN_PROGRESS = (RecordStatus.PENDING, RecordStatus.RUNNING, RecordStatus.RETRYING)
REQUEUE_LIMIT = 5000  # shadow records of an earlier run mapped again (a bigger window is read afresh anyway)


def parse_days(text):
    try:
        days = int(str(text).strip())
    except (TypeError, ValueError):
        raise SetupProblem(f"Give the number of days as a whole number from 1 to {MAX_DAYS}.") from None
    if not 1 <= days <= MAX_DAYS:
        raise SetupProblem(f"A shadow run reads from 1 to {MAX_DAYS} days back, not {days}.")
    return days


def channel_watermark_streams(integration):
    """The channel streams the integration's flows read by a date watermark (those a shadow run can rewind)."""
    from integrations.pipeline.pollers import poll_triggers

    return sorted({t.stream for _, t in poll_triggers(integration, registry.CHANNEL) if t.position == "watermark"})


def start(integration, days, actor, *, poll=True):
    """Put the integration in shadow mode and rewind its channel streams to now − days, so the pollers read those
    orders again (a feed of work still to do lists every order not yet imported anyway). Shadow records of an
    earlier run in the window are mapped again, with today's mappings. Audited."""
    days = parse_days(days)
    if integration.state == IntegrationState.LIVE:
        raise SetupProblem(f"{integration.name} is live: a shadow run is for before going live (pause it to stop it).")
    from setup.integrations.services import start_problem

    if start_problem(integration):
        raise SetupProblem(start_problem(integration))
    if not registry.flows_of(integration):
        raise SetupProblem("Turn on at least one flow first (step 2 of the wizard).")
    now = timezone.now()
    since = now - timedelta(days=days)
    with transaction.atomic():
        before = {"state": integration.state, RUN_KEY: (integration.options or {}).get(RUN_KEY)}
        run = {"since": since.isoformat(), "started_at": now.isoformat(), "days": days}
        integration.state = IntegrationState.SHADOW
        integration.options = {**(integration.options or {}), RUN_KEY: run}
        integration.options.pop("paused_from", None)
        integration.save(update_fields=["state", "options", "updated_at"])
        rewound = []
        for stream in channel_watermark_streams(integration):
            PollState.objects.update_or_create(integration=integration, name=stream, defaults=dict(
                watermark=since, started_from=since, cursor="", lease_until=None, last_error="", received=0))
            rewound.append(stream)
        again = _map_again(integration, since, now)
        actions.audit(actor, "shadow_run", organization=integration.organization, before=before,
                      after={"integration": integration.pk, "state": IntegrationState.SHADOW, RUN_KEY: run,
                             "rewound": rewound, "mapped_again": again})
        if poll:
            transaction.on_commit(lambda: _poll_now(integration.pk))
    return run


def _map_again(integration, since, now):
    """Finished (and held) shadow records of channel flows whose order falls in the window run again (they would
    not be made anew: the same order version read twice is one record)."""
    channel_flows = [f.name for f in registry.flows_of(integration) if f.source == registry.CHANNEL]
    finished = SyncRecord.objects.filter(integration=integration, shadow=True, flow__in=channel_flows,
                                         status__in=(RecordStatus.SUCCEEDED, RecordStatus.DEAD, RecordStatus.SKIPPED,
                                                     RecordStatus.HELD))
    chosen = []
    for pk, payload, created in finished.order_by("-pk").values_list("pk", "source_payload", "created_at")[
            :REQUEUE_LIMIT]:
        placed = golive._placed_at((payload or {}).get("ordered_at")) if isinstance(payload, dict) else None
        if (placed or created) >= since:
            chosen.append(pk)
    SyncRecord.objects.filter(pk__in=chosen).update(status=RecordStatus.PENDING, next_attempt_at=now, attempts=0,
                                                    finished_at=None, updated_at=now)
    for pk in chosen:
        records.dispatch_after_commit(pk)
    return len(chosen)


def _poll_now(integration_id):
    from django_q.tasks import async_task

    try:
        async_task("integrations.pipeline.pollers.poll_integration", integration_id,
                   task_name=f"poll_integration-{integration_id}", q_options={"group": "poll"})
    except Exception:  # noqa: BLE001 - the minute's poll_all reads it anyway
        pass


def current_run(integration):
    run = (integration.options or {}).get(RUN_KEY)
    if not isinstance(run, dict):
        return None
    try:
        from datetime import datetime

        return {**run, "since": datetime.fromisoformat(run["since"]),
                "started_at": datetime.fromisoformat(run["started_at"])}
    except (KeyError, TypeError, ValueError):
        return None


def run_records(integration, run):
    return SyncRecord.objects.filter(integration=integration, shadow=True, updated_at__gte=run["started_at"])


def report(integration, value_map_url=None):
    """Counts per flow and status, the first failures grouped by cause with their fix, and a sample of what would
    have been written to TIMS and back to the channel. None when no shadow run was started."""
    run = current_run(integration)
    if run is None:
        return None
    rows = run_records(integration, run)
    counts = {}
    for row in rows.values("flow", "status").annotate(n=Count("id")).order_by("flow", "status"):
        counts.setdefault(row["flow"], {})[row["status"]] = row["n"]
    labels = {flow.name: flow.label for flow in registry.all_flows()}
    flows = [{"flow": name, "label": labels.get(name, name), "total": sum(by.values()),
              "statuses": [{"status": status, "label": RecordStatus(status).label, "n": n}
                           for status, n in sorted(by.items())]} for name, by in counts.items()]
    # Held records (unpaid orders) are a result of the run, not work still to do.
    open_count = sum(n for by in counts.values() for status, n in by.items() if status in IN_PROGRESS)
    # Read to the end: every channel stream polled successfully since the run began (a feed has a poll state too).
    from integrations.pipeline.pollers import poll_triggers

    streams = {t.stream for _, t in poll_triggers(integration, registry.CHANNEL)}
    polled = PollState.objects.filter(integration=integration, name__in=streams,
                                      last_success_at__gte=run["started_at"]).count()
    read_to_end = polled == len(streams)
    causes = []
    failing = rows.filter(status__in=(RecordStatus.DEAD, RecordStatus.HELD)).exclude(error_cause="")
    for row in (failing.values("error_cause", "status").annotate(n=Count("id"), first=Min("id"))
                .order_by("-n", "error_cause")[:FIRST_CAUSES]):
        example = SyncRecord.objects.get(pk=row["first"])
        causes.append({"cause": row["error_cause"], "n": row["n"], "status": RecordStatus(row["status"]).label,
                       "example": example, "message": example.error_message[:300],
                       "fix": example.suggested_fix, "fix_link": fix_for(example, value_map_url),
                       "example_url": record_url(example)})
    return {"run": run, "flows": flows, "open": open_count, "done": read_to_end and open_count == 0,
            "total": sum(f["total"] for f in flows), "causes": causes, "sample": sample(integration, rows),
            "would_import": len(golive.shadow_orders_since(integration, run["since"]))}


def fix_for(record, value_map_url=None):
    """(label, url) of the page that fixes a dead record: the customer's own value map page when there is one,
    else what the admin's fix loop offers (integrations.admin.fix_link)."""
    details = record.error_details if isinstance(record.error_details, dict) else {}
    value_map = details.get("value_map")
    if record.status == RecordStatus.DEAD and isinstance(value_map, dict) and value_map_url:
        url = value_map_url(record.organization, value_map)
        if url:
            return f"Add “{value_map.get('value')}” to {value_map.get('name')}", url
    from integrations.admin import fix_link

    return fix_link(record)


def customer_value_map_url(organization, value_map):
    """/app/<org>/maps/<pk>/?add=<value> (the console's value map page), or None when it is not there."""
    from urllib.parse import urlencode

    from mappings.services import value_maps_for

    found = value_maps_for(organization.pk, [value_map.get("name", "")]).get(value_map.get("name", ""))
    if found is None:
        return None
    for name in ("console:value_map", "console:value_map_change"):
        try:
            url = reverse(name, kwargs={"org": organization.slug, "pk": found.pk})
        except NoReverseMatch:
            continue
        return f"{url}?{urlencode({'add': value_map.get('value', '')})}"
    return None


def record_url(record):
    """The customer's page of a record (the console's), or "" when the console has none."""
    try:
        return reverse("console:record", kwargs={"org": record.organization.slug, "pk": record.pk})
    except NoReverseMatch:
        return ""


CHANNEL_ACK = {"channeladvisor": "mark the order exported (so ChannelAdvisor stops listing it)"}


def sample(integration, rows):
    """A few mapped orders as TIMS would receive them, and what the channel would be told (the orders flow's own
    answer, and the shipments and stock the TIMS side would send)."""
    ack = CHANNEL_ACK.get(integration.channel_connection.kind)
    orders = []
    for record in rows.filter(flow="orders", status=RecordStatus.SUCCEEDED).exclude(mapped_payload=None).order_by(
            "-pk")[:SAMPLE_SIZE]:
        body = sales_order_body(integration, record, record.mapped_payload)
        orders.append({"record": record, "body": json.dumps(body, indent=1, ensure_ascii=False, default=str),
                       "new_customer": record.mapped_payload.get("CustomerID") == NEW_CUSTOMER,
                       "channel": ack or "nothing (the shop's own date_upd moves on)", "note": record.notes})
    back = [{"record": r, "note": r.notes} for r in rows.filter(status=RecordStatus.SUCCEEDED).exclude(
        flow="orders").exclude(notes="").order_by("-pk")[:SAMPLE_SIZE]]
    return {"orders": orders, "channel": back}
