"""What each kind of rule watches: {subject: Finding} of everything in that state now. The evaluator turns the
difference with what was firing into new alerts and recoveries."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Max, Min, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from alerts.models import AlertKind


@dataclass(frozen=True)
class Finding:
    label: str
    message: str
    organization_id: int | None
    url: str = ""


def findings(rule, now=None):
    now = now or timezone.now()
    return WATCHERS[rule.kind](rule, now)


def _scoped(queryset, rule, path="organization"):
    return queryset.filter(**{f"{path}_id": rule.organization_id}) if rule.organization_id else queryset


def _records_url(**query):
    from urllib.parse import urlencode

    return reverse("admin:integrations_syncrecord_changelist") + "?" + urlencode(query)


def dead_letters(rule, now):
    from integrations.models import RecordStatus, SyncRecord

    since = now - timedelta(minutes=rule.minutes)
    dead = _scoped(SyncRecord.objects.filter(status=RecordStatus.DEAD, updated_at__gte=since), rule)
    rows = dead.values("integration_id", "integration__name", "organization_id").annotate(n=Count("id")).order_by()
    return {f"integration:{row['integration_id']}": Finding(
        row["integration__name"], f"{_became_dead(row['n'])} in the last {rule.minutes} minutes in "
        f"{row['integration__name']} (the rule fires at {max(rule.threshold, 1)}).", row["organization_id"],
        reverse("admin:integrations_syncrecord_causes")) for row in rows if row["n"] >= max(rule.threshold, 1)}


def circuit_open(rule, now):
    from integrations.connectors.models import BreakerState, CircuitBreaker

    opened = _scoped(CircuitBreaker.objects.filter(state__in=[BreakerState.OPEN, BreakerState.HALF_OPEN],
                                                   opened_at__lte=now - timedelta(minutes=rule.minutes)),
                     rule, "connection__organization").select_related("connection")
    return {f"connection:{circuit.connection_id}": Finding(
        circuit.connection.name, f"Calls to {circuit.connection.name} have been paused since "
        f"{local_time(circuit.opened_at)} ({duration_text(now - circuit.opened_at)}): its circuit opened after "
        f"repeated failures. Last failure: {circuit.last_failure[:300] or 'unknown'}",
        circuit.connection.organization_id,
        reverse("admin:integrations_connection_change", args=[circuit.connection_id])) for circuit in opened}


def stream_silent(rule, now):
    from integrations.models import PollState
    from integrations.pipeline.pollers import POLLING_STATES

    quiet_since = now - timedelta(minutes=rule.minutes)
    watched = PollState.objects.filter(until__isnull=True).filter(
        Q(integration__state__in=POLLING_STATES) | Q(connection__tims_integrations__state__in=POLLING_STATES))
    never_read = Q(last_success_at__isnull=True) & (Q(last_polled_at__lt=quiet_since) | ~Q(last_error=""))
    watched = watched.filter(Q(last_success_at__lt=quiet_since) | never_read)
    if rule.organization_id:
        watched = watched.filter(Q(integration__organization_id=rule.organization_id)
                                 | Q(connection__organization_id=rule.organization_id))
    found = {}
    for state in watched.select_related("integration", "connection").distinct():
        owner = state.integration or state.connection
        last = f"since {local_time(state.last_success_at)}" if state.last_success_at else "ever"
        why = f" The last poll said: {state.last_error[:300]}" if state.last_error else \
            " No poll has run: are the workers up?"
        url = reverse("admin:integrations_integration_change", args=[state.integration_id]) if state.integration_id \
            else reverse("admin:integrations_connection_change", args=[state.connection_id])
        found[f"stream:{state.pk}"] = Finding(f"{owner.name} › {state.name}", f"The stream “{state.name}” of "
                                              f"{owner.name} has not been read successfully {last}.{why}",
                                              owner.organization_id, url)
    return found


def backlog_age(rule, now):
    from integrations.models import RecordStatus, SyncRecord

    waiting = _scoped(SyncRecord.objects.filter(status__in=[RecordStatus.PENDING, RecordStatus.RETRYING,
                                                            RecordStatus.RUNNING]), rule)
    rows = (waiting.values("integration_id", "integration__name", "organization_id")
            .annotate(oldest=Min("created_at"), n=Count("id")).order_by())
    limit = now - timedelta(minutes=rule.minutes)
    return {f"integration:{row['integration_id']}": Finding(
        row["integration__name"], f"{_records(row['n'])} in {row['integration__name']}; the oldest since "
        f"{local_time(row['oldest'])} ({duration_text(now - row['oldest'])}, the rule allows {rule.minutes} min).",
        row["organization_id"], _records_url(integration__id__exact=row["integration_id"]))
        for row in rows if row["oldest"] < limit}


def reconciliation_mismatch(rule, now):
    from integrations.models import StockReport

    finished = _scoped(StockReport.objects.filter(status=StockReport.Status.DONE), rule, "integration__organization")
    latest = finished.values("integration_id").annotate(last=Max("id")).values_list("last", flat=True)
    found = {}
    for report in StockReport.objects.filter(pk__in=list(latest), drifted__gt=rule.threshold).select_related(
            "integration"):
        found[f"integration:{report.integration_id}"] = Finding(
            report.integration.name, f"The stock reconciliation of {report.integration.name} on "
            f"{local_time(report.started_at)} found {report.drifted} SKUs that showed another quantity than TIMS "
            f"({report.corrected} corrected, {report.unknown} unknown to the channel).",
            report.integration.organization_id, reverse("admin:integrations_stockreport_change", args=[report.pk]))
    return found


def cash_reconciliation(rule, now):
    """The newest reconciled day of each integration (its newest run): differences or a failure fire; a later
    clean day resolves."""
    from collections import Counter

    from reconciliation.models import ReconciliationReport, ReportStatus

    done = _scoped(ReconciliationReport.objects.exclude(status=ReportStatus.RUNNING), rule,
                   "integration__organization")
    newest = done.filter(integration_id=OuterRef("integration_id")).order_by("-day", "-computed_at", "-pk")
    latest = done.filter(pk=Subquery(newest.values("pk")[:1]))  # every database, not only DISTINCT ON's
    found = {}
    for report in latest.select_related("integration").order_by("integration_id"):
        name, day = report.integration.name, f"{report.day:%Y-%m-%d}"
        if report.status == ReportStatus.FAILED:
            message = f"The reconciliation of {name} for {day} could not run: {report.error[:300]}"
        elif report.differences_count >= max(rule.threshold, 1):
            kinds = Counter(d.get("title") or d.get("kind") for d in report.differences or [])
            message = (f"The reconciliation of {name} for {day} found {report.differences_count} difference"
                       f"{'' if report.differences_count == 1 else 's'}: "
                       + ", ".join(f"{n} × {title[:1].lower()}{title[1:]}" for title, n in kinds.most_common()) + ".")
        else:
            continue
        found[f"integration:{report.integration_id}"] = Finding(
            name, message, report.integration.organization_id,
            reverse("admin:reconciliation_day", args=[report.integration_id, report.day.isoformat()]))
    return found


WATCHERS = {AlertKind.DEAD_LETTERS: dead_letters, AlertKind.CIRCUIT_OPEN: circuit_open,
            AlertKind.STREAM_SILENT: stream_silent, AlertKind.BACKLOG_AGE: backlog_age,
            AlertKind.RECONCILIATION: reconciliation_mismatch, AlertKind.CASH_RECONCILIATION: cash_reconciliation}


def local_time(moment):
    from django.utils import formats

    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i T") if moment else "—"


def _became_dead(n):
    return "1 record became a dead letter" if n == 1 else f"{n} records became dead letters"


def _records(n):
    return "1 record waits" if n == 1 else f"{n} records wait"


def duration_text(delta):
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def firing_alerts_attention(request):
    """The front page's line for alerts nobody acknowledged yet."""
    from alerts.models import Alert
    from portal import tenancy

    open_alerts = tenancy.scope(Alert.objects.filter(resolved_at__isnull=True, acknowledged_at__isnull=True),
                                request.user)
    count = open_alerts.count()
    if not count:
        return []
    return [("Alerts firing, not acknowledged", count, reverse("admin:alerts_alert_changelist") + "?firing=yes",
             "error")]
