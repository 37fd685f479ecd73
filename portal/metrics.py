"""/metrics: the pipeline's state in Prometheus text format, for a bearer token or company staff.

Every value is read from the database when Prometheus scrapes: the workers are other processes (other machines),
so counters kept in this process would only count what this process did. Each family is one set-based query
(GROUP BY, or a read of a small table such as connections), so a scrape stays fast with millions of records.
"""

import hmac
from datetime import timedelta

from django.conf import settings
from django.db.models import BooleanField, Count, ExpressionWrapper, Max, Min, Q, Sum
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from integrations.connectors.health import WINDOW as HEALTH_WINDOW
from integrations.connectors.models import BreakerState, RateLease
from integrations.flows import registry as flow_registry
from integrations.models import Connection, PollState, RecordStatus, SyncAttempt, SyncRecord
from portal.tenancy import is_company_staff

ATTEMPT_WINDOW = timedelta(hours=1)
BACKLOG_STATUSES = (RecordStatus.PENDING, RecordStatus.RETRYING)
UNAUTHORIZED = "Send Authorization: Bearer <METRICS_TOKEN>, or log in as company staff.\n"


def label(pk, name):
    """A connection's or integration's label: the id keeps it unique (names are unique per organization only)."""
    return f"{pk}: {name}"


def attempt_id_floor(since):
    """An attempt id below every attempt that started at or after `since`.

    Attempts are written when they end, so ids grow with time; the newest attempt that started well before `since`
    (by more than an attempt can run, Q_TIMEOUT, plus clock skew between workers) is found by walking the primary
    key backwards from the end, and bounds an index range scan instead of a scan of the whole table."""
    slack = timedelta(seconds=settings.Q_CLUSTER.get("timeout", 120)) + timedelta(minutes=5)
    floor = (SyncAttempt.objects.filter(started_at__lt=since - slack).order_by("-pk")
             .values_list("pk", flat=True).first())
    return floor or 0


class PortalCollector(Collector):
    def collect(self):
        now = timezone.now()
        yield from self.records(now)
        yield from self.attempts(now)
        connections = list(Connection.objects.order_by("pk").values(
            "pk", "name", "traffic_window_start", "traffic_calls", "traffic_failures", "circuit_breaker__state",
            "rate_state__paused_until"))
        yield from self.calls(connections, now)
        yield from self.circuits(connections)
        if not settings.REDIS_URL:  # with Redis the governor keeps its windows and leases there, not in these tables
            yield from self.governor(connections, now)
        yield from self.streams(now)

    def records(self, now):
        counts = {(row["flow"], row["status"]): row["count"]
                  for row in SyncRecord.objects.order_by().values("flow", "status").annotate(count=Count("pk"))}
        flows = sorted({flow.name for flow in flow_registry.all_flows()} | {flow for flow, _ in counts})
        by_status = GaugeMetricFamily("portal_sync_records", "Sync records by flow and status.",
                                      labels=["flow", "status"])
        for flow in flows:
            for status in RecordStatus:  # zeros too, so a series does not vanish when its last record moves on
                by_status.add_metric([flow, status.value], counts.get((flow, status.value), 0))
        yield by_status

        backlog = {row["flow"]: row for row in SyncRecord.objects.order_by().filter(status__in=BACKLOG_STATUSES)
                   .values("flow").annotate(oldest=Min("created_at"),
                                            overdue=Min("next_attempt_at", filter=Q(next_attempt_at__lte=now)))}
        oldest = GaugeMetricFamily("portal_backlog_oldest_seconds",
                                   "Age of the oldest pending or retrying record, by flow (0: none).", labels=["flow"])
        overdue = GaugeMetricFamily(
            "portal_backlog_overdue_seconds",
            "How long the most overdue pending or retrying record has been due without a worker taking it, by flow.",
            labels=["flow"])
        for flow in flows:
            row = backlog.get(flow, {})
            oldest.add_metric([flow], _age(row.get("oldest"), now))
            overdue.add_metric([flow], _age(row.get("overdue"), now))
        yield oldest
        yield overdue

    def attempts(self, now):
        since = now - ATTEMPT_WINDOW
        rows = (SyncAttempt.objects.order_by().filter(pk__gt=attempt_id_floor(since), started_at__gte=since)
                .values("record__flow", "outcome")
                .annotate(count=Count("pk"), total_ms=Sum("duration_ms"), longest_ms=Max("duration_ms")))
        count = GaugeMetricFamily("portal_sync_attempts_last_hour",
                                  "Attempts started in the last hour, by flow and outcome.", labels=["flow", "outcome"])
        total = GaugeMetricFamily("portal_sync_attempt_seconds_sum_last_hour",
                                  "Total duration of the attempts started in the last hour, by flow and outcome.",
                                  labels=["flow", "outcome"])
        longest = GaugeMetricFamily("portal_sync_attempt_seconds_max_last_hour",
                                    "Longest attempt started in the last hour, by flow and outcome.",
                                    labels=["flow", "outcome"])
        for row in rows:
            labels = [row["record__flow"], row["outcome"]]
            count.add_metric(labels, row["count"])
            total.add_metric(labels, (row["total_ms"] or 0) / 1000)
            longest.add_metric(labels, (row["longest_ms"] or 0) / 1000)
        yield count
        yield total
        yield longest

    def calls(self, connections, now):
        # No table keeps each call: the connection's health window (integrations.connectors.health) is what every
        # process adds its calls to. A window older than HEALTH_WINDOW is stale until the next call restarts it.
        calls = GaugeMetricFamily(
            "portal_connection_calls",
            f"Calls with a verdict in the connection's current health window (at most {HEALTH_WINDOW}).",
            labels=["connection"])
        failures = GaugeMetricFamily(
            "portal_connection_call_failures",
            "Of those, failures: timeouts, refused connections, TLS errors and 5xx answers.", labels=["connection"])
        for row in connections:
            fresh = row["traffic_window_start"] is not None and row["traffic_window_start"] >= now - HEALTH_WINDOW
            name = label(row["pk"], row["name"])
            calls.add_metric([name], row["traffic_calls"] if fresh else 0)
            failures.add_metric([name], row["traffic_failures"] if fresh else 0)
        yield calls
        yield failures

    def circuits(self, connections):
        circuit = GaugeMetricFamily("portal_circuit_open",
                                    "1 while the connection's circuit breaker holds calls back (open or half-open).",
                                    labels=["connection"])
        for row in connections:
            held_back = row["circuit_breaker__state"] in (BreakerState.OPEN, BreakerState.HALF_OPEN)
            circuit.add_metric([label(row["pk"], row["name"])], int(held_back))
        yield circuit

    def governor(self, connections, now):
        in_flight = dict(RateLease.objects.order_by().filter(expires_at__gt=now).values("connection_id")
                         .annotate(count=Count("pk")).values_list("connection_id", "count"))
        leases = GaugeMetricFamily("portal_governor_in_flight", "Requests in flight (governor leases held).",
                                   labels=["connection"])
        paused = GaugeMetricFamily("portal_governor_paused_seconds",
                                   "Seconds left of a pause the remote asked for (a 429's Retry-After).",
                                   labels=["connection"])
        for row in connections:
            name = label(row["pk"], row["name"])
            leases.add_metric([name], in_flight.get(row["pk"], 0))
            until = row["rate_state__paused_until"]
            paused.add_metric([name], max((until - now).total_seconds(), 0) if until else 0)
        yield leases
        yield paused

    def streams(self, now):
        states = (PollState.objects.order_by("pk").filter(last_polled_at__isnull=False)
                  .annotate(failed=ExpressionWrapper(~Q(last_error=""), output_field=BooleanField()))
                  .values("integration_id", "integration__name", "connection_id", "connection__name", "name",
                          "last_polled_at", "last_success_at", "failed"))
        lag = GaugeMetricFamily("portal_stream_lag_seconds", "Seconds since a poll of the stream last read to its "
                                "end (since its last poll, if none ever did).",
                                labels=["integration", "connection", "stream"])
        failing = GaugeMetricFamily("portal_stream_last_poll_failed", "1 when the stream's last poll failed.",
                                    labels=["integration", "connection", "stream"])
        for state in states:
            # A channel stream belongs to an integration, a TIMS feed to the TIMS connection: the other label is "".
            labels = [label(state["integration_id"], state["integration__name"]) if state["integration_id"] else "",
                      label(state["connection_id"], state["connection__name"]) if state["connection_id"] else "",
                      state["name"]]
            lag.add_metric(labels, _age(state["last_success_at"] or state["last_polled_at"], now))
            failing.add_metric(labels, int(state["failed"]))
        yield lag
        yield failing


def _age(moment, now):
    return max((now - moment).total_seconds(), 0) if moment else 0


METRICS = CollectorRegistry()
METRICS.register(PortalCollector())


def has_metrics_token(request):
    token = settings.METRICS_TOKEN
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics(request):
    # The metrics cover every organization: only the token's holder (Prometheus) or company staff may read them.
    if not (has_metrics_token(request) or is_company_staff(request.user)):
        response = HttpResponse(UNAUTHORIZED, status=401, content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(METRICS), content_type=CONTENT_TYPE_LATEST)
