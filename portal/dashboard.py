"""The day at a glance: per integration what came in, what ended well, what waits and what needs a human, with
throughput per hour (24 h) and per day (7 days), failures by cause, each stream's lag, each connection's health
and API budget. Every query is one GROUP BY over an indexed time range, scoped to the user's organizations."""

from collections import defaultdict
from datetime import timedelta

from django.db.models import Count, Min, Q
from django.db.models.functions import TruncDay, TruncHour
from django.urls import reverse
from django.utils import formats, timezone

from portal import charts, tenancy

FAILED = ("dead", "retrying")


def integration_summaries(user, now=None):
    """[{integration, url, received, succeeded, waiting, dead, oldest, chart}] for the last 24 hours."""
    from integrations.models import OPEN_STATUSES, Integration, RecordStatus, SyncRecord

    now = now or timezone.now()
    day_ago = now - timedelta(hours=24)
    integrations = list(tenancy.scope(Integration.objects.all(), user).order_by("name"))
    records = tenancy.scope(SyncRecord.objects.all(), user)
    received = dict(records.filter(created_at__gte=day_ago).values_list("integration_id").annotate(n=Count("id"))
                    .order_by())
    waiting = {row["integration_id"]: row for row in records.filter(status__in=OPEN_STATUSES).values(
        "integration_id").annotate(n=Count("id"), oldest=Min("created_at")).order_by()}
    dead = dict(records.filter(status=RecordStatus.DEAD).values_list("integration_id").annotate(n=Count("id"))
                .order_by())
    hourly = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    tz = timezone.get_current_timezone()
    for integration_id, hour, status, n in (records.filter(finished_at__gte=day_ago, status__in=[
            RecordStatus.SUCCEEDED, RecordStatus.DEAD]).annotate(hour=TruncHour("finished_at", tzinfo=tz))
            .values_list("integration_id", "hour", "status").annotate(n=Count("id")).order_by()):
        hourly[integration_id][hour][0 if status == RecordStatus.SUCCEEDED else 1] += n
    hours = [timezone.localtime(now).replace(minute=0, second=0, microsecond=0) - timedelta(hours=h)
             for h in range(23, -1, -1)]
    rows = []
    for integration in integrations:
        per_hour = hourly.get(integration.pk, {})
        buckets = [(f"{hour:%H:00}: {per_hour.get(hour, (0, 0))[0]} succeeded, {per_hour.get(hour, (0, 0))[1]} "
                    "dead", tuple(per_hour.get(hour, (0, 0)))) for hour in hours]
        oldest = waiting.get(integration.pk, {}).get("oldest")
        rows.append({
            "integration": integration,
            "url": reverse("admin:integrations_syncrecord_changelist") + f"?integration__id__exact={integration.pk}",
            "received": received.get(integration.pk, 0),
            "succeeded": sum(v[0] for v in per_hour.values()),
            "waiting": waiting.get(integration.pk, {}).get("n", 0),
            "dead": dead.get(integration.pk, 0),
            "oldest": age(now - oldest) if oldest else "",
            "chart": charts.stacked_bars(buckets, [charts.GREEN, charts.RED], width=168, height=32,
                                         label=f"Records finished per hour, last 24 hours: {integration.name}"),
        })
    return rows


def week_chart(user, now=None):
    """Records finished per day over 7 days, succeeded and dead, all the user's integrations together."""
    from integrations.models import RecordStatus, SyncRecord

    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=d) for d in range(6, -1, -1)]
    counts = defaultdict(lambda: [0, 0])
    for day, status, n in (tenancy.scope(SyncRecord.objects.all(), user).filter(
            finished_at__gte=days[0], status__in=[RecordStatus.SUCCEEDED, RecordStatus.DEAD])
            .annotate(day=TruncDay("finished_at", tzinfo=tz)).values_list("day", "status").annotate(n=Count("id"))
            .order_by()):
        counts[day][0 if status == RecordStatus.SUCCEEDED else 1] += n
    buckets = [(f"{formats.date_format(day, 'D j M')}: {counts[day][0]} succeeded, {counts[day][1]} dead",
                tuple(counts[day])) for day in days]
    return charts.stacked_bars(buckets, [charts.GREEN, charts.RED], width=420, height=90,
                               label="Records finished per day, last 7 days")


def failures_by_cause(user, now=None, limit=10):
    """[{flow, cause, day, week, url, bar_day, bar_week}]: records failing now, grouped by cause, 24 h and 7 days."""
    from integrations.flows import registry
    from integrations.models import SyncRecord

    now = now or timezone.now()
    rows = list(tenancy.scope(SyncRecord.objects.all(), user).filter(
        status__in=FAILED, updated_at__gte=now - timedelta(days=7)).values("flow", "error_cause").annotate(
        week=Count("id"), day=Count("id", filter=Q(updated_at__gte=now - timedelta(hours=24))))
        .order_by("-week")[:limit])
    top = max((row["week"] for row in rows), default=1) or 1
    labels = dict(registry.choices())
    for row in rows:
        row["flow_label"] = labels.get(row["flow"], row["flow"])
        row["width_week"] = round(row["week"] / top * 100)
        row["width_day"] = round(row["day"] / top * 100)
        row["url"] = reverse("admin:integrations_syncrecord_causes") + f"?flow={row['flow']}"
    return rows


def streams(user, now=None):
    """Each stream: whose, its last poll that read to its end, the lag since, and its last error."""
    from integrations.models import PollState

    now = now or timezone.now()
    states = PollState.objects.filter(until__isnull=True).select_related("integration", "connection")
    if not tenancy.is_company_staff(user):
        mine = list(tenancy.roles_of(user))
        states = states.filter(Q(integration__organization_id__in=mine) | Q(connection__organization_id__in=mine))
    rows = []
    for state in states.order_by("name", "pk")[:100]:
        owner = state.integration or state.connection
        rows.append({"owner": owner.name, "name": state.name, "error": state.last_error[:200],
                     "last_success": state.last_success_at, "received": state.received_total,
                     "lag": age(now - state.last_success_at) if state.last_success_at else "never read to its end"})
    return rows


def connections(user):
    """Each connection: status from its traffic, circuit, calls in the current minute against its budget."""
    from integrations.connectors.governor import get_governor
    from integrations.models import Connection

    rows = []
    for connection in tenancy.scope(Connection.objects.select_related("circuit_breaker"), user).order_by("name")[:50]:
        try:
            used = get_governor().snapshot(connection)["window_count"]
        except Exception:  # a broker hiccup must not take the dashboard down
            used = None
        circuit = getattr(connection, "circuit_breaker", None)
        limit = int(connection.effective_rate_limit)
        rows.append({"connection": connection, "status": connection.get_status_display(),
                     "circuit": circuit.get_state_display() if circuit else "Closed (calls flow)",
                     "calls": connection.traffic_calls, "failures": connection.traffic_failures,
                     "used": used, "limit": limit, "meter": charts.meter(used or 0, limit) if used is not None else "",
                     "url": reverse("admin:integrations_connection_change", args=[connection.pk])})
    return rows


def age(delta):
    seconds = int(delta.total_seconds())
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"
