"""The customer's integration pages: the list, the wizard (pair, flows, review), the shadow run, go-live and pause.
Thin views over setup.integrations.services, setup.integrations.review, setup.shadow and integrations.pipeline.golive,
scoped by portal.access: seeing needs "view", pausing "operate", everything that changes the integration "admin"."""

from datetime import datetime, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from integrations.models import OPEN_STATUSES, Connection, Integration, IntegrationState, RecordStatus, SyncRecord
from integrations.pipeline import golive
from jobs.models import JobStatus
from portal.access import customer_view, may
from setup import shadow
from setup.integrations import review, services
from setup.integrations.services import SetupProblem

STEPS = [("pair", "1. Pick the pair"), ("flows", "2. Flows"), ("review", "3. Review maps"),
         ("shadow", "4. Shadow run"), ("live", "5. Go live")]


def _integration(request, pk):
    """The organization's integration, or 404 (another tenant's id is not found, never forbidden)."""
    return get_object_or_404(Integration.objects.select_related("channel_connection", "tims_connection"),
                             pk=pk, organization=request.organization)


def _require(request, action):
    if not may(request.user, request.organization, action):
        raise PermissionDenied(f"Your role on {request.organization.name} does not allow this; ask an owner or admin.")


def _steps(current, integration=None):
    names = [name for name, _ in STEPS]
    done = names.index(current)
    if integration is not None and integration.state == IntegrationState.LIVE:
        done = len(names)
    return [{"label": label, "state": "current" if name == current else ("done" if i < done else "")}
            for i, (name, label) in enumerate(STEPS)]


def connection_fix_url(connection):
    """Where a customer fixes a connection: the connection wizard's page if it is there, else the admin's."""
    for name, kwargs in (("setup:connection_change", {"org": connection.organization.slug, "pk": connection.pk}),
                         ("setup:connections", {"org": connection.organization.slug})):
        try:
            return reverse(name, kwargs=kwargs)
        except NoReverseMatch:
            continue
    return reverse("admin:integrations_connection_change", args=[connection.pk])


@customer_view("view")
def integration_list(request):
    org = request.organization
    integrations = list(Integration.objects.filter(organization=org).select_related(
        "channel_connection", "tims_connection").order_by("name"))
    since = timezone.now() - timedelta(days=1)
    counts = {}
    for row in (SyncRecord.objects.filter(organization=org, shadow=False).filter(
            Q(status__in=OPEN_STATUSES) | Q(status=RecordStatus.DEAD, updated_at__gte=since))
            .values("integration_id", "status").annotate(n=Count("id")).order_by()):
        bucket = "dead" if row["status"] == RecordStatus.DEAD else "open"
        counts[(row["integration_id"], bucket)] = counts.get((row["integration_id"], bucket), 0) + row["n"]
    rows = []
    for integration in integrations:
        tone, health = services.health_line(integration, counts)
        rows.append({"integration": integration, "tone": tone, "health": health,
                     "flows": [f.label for f, _, _ in services.offered_flows(integration)
                               if f.name in (integration.flows or [])]})
    return render(request, "setup/integrations/list.html", {
        "rows": rows, "can_admin": may(request.user, org, "admin"), "can_operate": may(request.user, org, "operate")})


@customer_view("admin")
def new_integration(request):
    org = request.organization
    channels, tims_connections = services.candidates(org)
    chosen = {"channel": request.POST.get("channel", ""), "tims": request.POST.get("tims", ""),
              "name": request.POST.get("name", "")}
    error = ""
    if request.method == "POST":
        channel = _connection(org, chosen["channel"])
        tims = _connection(org, chosen["tims"])
        try:
            integration = services.create_integration(org, channel, tims, request.user, name=chosen["name"])
        except SetupProblem as exc:
            error = str(exc)
        else:
            messages.success(request, f"{integration.name} was created as a draft with its template's mappings.")
            return redirect("setup:integration_flows", org=org.slug, pk=integration.pk)

    def describe(connections):
        return [{"connection": c, "problem": services.connection_problem(c), "fix_url": connection_fix_url(c),
                 "busy": services.busy_with(c)} for c in connections]

    return render(request, "setup/integrations/pair.html", {
        "steps": _steps("pair"), "channels": describe(channels), "tims_connections": describe(tims_connections),
        "chosen": chosen, "error": error, "templates": services.CHANNEL_KINDS}, status=400 if error else 200)


def _connection(org, value):
    if not str(value).isdigit():
        return None
    return Connection.objects.filter(organization=org, pk=int(value)).first()


@customer_view("admin")
def integration_flows(request, pk):
    integration = _integration(request, pk)
    error = ""
    if request.method == "POST":
        try:
            services.set_flows(integration, request.POST.getlist("flows"), request.user)
        except SetupProblem as exc:
            error = str(exc)
        else:
            return redirect("setup:integration_review", org=request.organization.slug, pk=integration.pk)
    chosen = set(request.POST.getlist("flows")) if error else set(integration.flows or [])
    return render(request, "setup/integrations/flows.html", {
        "steps": _steps("flows", integration), "integration": integration, "error": error,
        "flows": [{"flow": f, "default": d, "does": what, "on": f.name in chosen}
                  for f, d, what in services.offered_flows(integration)]}, status=400 if error else 200)


@customer_view("view")
def integration_review(request, pk):
    integration = _integration(request, pk)
    if request.method == "POST":
        _require(request, "admin")
        return _save_review(request, integration)
    data = review.review(integration)
    return render(request, "setup/integrations/review.html", {
        "steps": _steps("review", integration), "integration": integration, **data, "good_score": review.GOOD_SCORE,
        "can_admin": may(request.user, request.organization, "admin"), "sample_days": review.SAMPLE_DAYS,
        "running": data["job"] is not None and data["job"].status in (JobStatus.QUEUED, JobStatus.RUNNING)})


def _save_review(request, integration):
    back = redirect("setup:integration_review", org=request.organization.slug, pk=integration.pk)
    data = review.review(integration)
    choices = {}
    if "accept_all" in request.POST:
        try:
            threshold = int(request.POST.get("min_score", review.GOOD_SCORE))
        except ValueError:
            messages.error(request, "The score is a whole number from 0 to 100.")
            return back
        for item in data["maps"]:
            for row in item.get("rows", []):
                if row["suggestion"] and row["score"] >= threshold:
                    choices.setdefault(item["name"], {})[row["value"]] = row["suggestion"]
        if not choices:
            messages.warning(request, f"No suggestion scores {threshold} or more; choose the targets one by one.")
            return back
    else:
        wanted = request.POST.get("accept", "")
        name, _, index = wanted.rpartition(":")
        item = next((m for m in data["maps"] if m["name"] == name and not m.get("missing")), None)
        row = next((r for r in (item or {}).get("rows", []) if str(r["index"]) == index), None)
        posted_value = request.POST.get(f"value-{name}-{index}", "")
        if row is None or posted_value != row["value"]:
            messages.error(request, "That value is covered already or no longer listed; the list below is fresh.")
            return back
        choices[name] = {row["value"]: request.POST.get(f"target-{name}-{index}", "").strip()}
    try:
        written = review.accept(integration, choices, request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
        return back
    messages.success(request, f"{written} entr{'y' if written == 1 else 'ies'} saved in "
                     f"{', '.join(sorted(choices))} (a new version of each map; see the audit log).")
    return back


@customer_view("admin")
@require_POST
def review_sample(request, pk):
    integration = _integration(request, pk)
    try:
        days = shadow.parse_days(request.POST.get("days", review.SAMPLE_DAYS))
    except SetupProblem as exc:
        messages.error(request, str(exc))
    else:
        review.start_sample(integration, request.user, days=days)
        messages.info(request, f"Reading the last {days} days of orders from {integration.channel_connection.name}.")
    return redirect("setup:integration_review", org=request.organization.slug, pk=integration.pk)


@customer_view("view")
def review_sample_status(request, pk):
    integration = _integration(request, pk)
    job = review.latest_sample(integration)
    if job is None:
        return JsonResponse({"status": "none"})
    return JsonResponse({"status": job.status, "done": job.done, "total": job.total, "result": job.result,
                         "error": job.error, "finished": job.status not in (JobStatus.QUEUED, JobStatus.RUNNING)})


@customer_view("view")
def shadow_page(request, pk):
    integration = _integration(request, pk)
    if request.method == "POST":
        _require(request, "admin")
        try:
            shadow.start(integration, request.POST.get("days", shadow.DEFAULT_DAYS), request.user)
        except SetupProblem as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "The shadow run started: the orders are read and mapped; nothing is written.")
        return redirect("setup:integration_shadow", org=request.organization.slug, pk=integration.pk)
    data = shadow.report(integration, shadow.customer_value_map_url)
    return render(request, "setup/integrations/shadow.html", {
        "steps": _steps("shadow", integration), "integration": integration, "report": data,
        "default_days": (data or {}).get("run", {}).get("days", shadow.DEFAULT_DAYS), "max_days": shadow.MAX_DAYS,
        "can_admin": may(request.user, request.organization, "admin")})


@customer_view("view")
def shadow_report(request, pk):
    integration = _integration(request, pk)
    data = shadow.report(integration, shadow.customer_value_map_url)
    if data is None:
        return JsonResponse({"started": False})
    html = render_to_string("setup/integrations/_shadow_report.html", {"report": data, "integration": integration},
                            request=request)
    return JsonResponse({"started": True, "done": data["done"], "total": data["total"], "open": data["open"],
                         "html": html})


def _moment(text):
    """A datetime-local value in the current time zone, or None."""
    try:
        moment = datetime.fromisoformat(str(text).strip())
    except ValueError:
        return None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


@customer_view("admin")
def go_live(request, pk):
    integration = _integration(request, pk)
    now = timezone.localtime().replace(second=0, microsecond=0)
    error = ""
    if request.method == "POST":
        moment = _moment(request.POST.get("cutover", ""))
        if moment is None:
            error = "Give the cut-over as a date and time such as 2026-12-01 09:00."
        elif moment > timezone.now() + timedelta(days=1):
            error = "The cut-over may be at most a day ahead; orders placed from then on are imported."
        elif integration.state == IntegrationState.LIVE:
            error = f"{integration.name} is live already."
        elif services.start_problem(integration):
            error = services.start_problem(integration)
        else:
            count = golive.go_live(integration, moment, request.user)
            shadow._poll_now(integration.pk)  # read the channel now, not at the next minute's poll_all
            messages.success(request, f"{integration.name} is live: {count} orders placed since "
                             f"{timezone.localtime(moment):%Y-%m-%d %H:%M} are being imported; older ones are not.")
            return redirect("setup:integrations", org=request.organization.slug)
    cutover = _moment(request.POST.get("cutover", "")) or now
    return render(request, "setup/integrations/golive.html", {
        "steps": _steps("live", integration), "integration": integration, "error": error,
        "cutover": timezone.localtime(cutover).strftime("%Y-%m-%dT%H:%M"),
        "count": len(golive.shadow_orders_since(integration, cutover)),
        "run": shadow.current_run(integration)}, status=400 if error else 200)


@customer_view("view")
def go_live_count(request, pk):
    integration = _integration(request, pk)
    moment = _moment(request.GET.get("at", ""))
    if moment is None:
        return JsonResponse({"error": "Give a date and time such as 2026-12-01T09:00."}, status=400)
    count = len(golive.shadow_orders_since(integration, moment))
    return JsonResponse({"count": count, "at": timezone.localtime(moment).strftime("%Y-%m-%d %H:%M"),
                         "text": f"{count} order{'' if count == 1 else 's'} placed since "
                                 f"{timezone.localtime(moment):%Y-%m-%d %H:%M} will be imported."})


@customer_view("operate")
@require_POST
def pause(request, pk):
    integration = _integration(request, pk)
    try:
        services.pause(integration, request.user)
    except SetupProblem as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{integration.name} is paused: nothing is read or written until you resume it.")
    return redirect("setup:integrations", org=request.organization.slug)


@customer_view("operate")
@require_POST
def resume(request, pk):
    integration = _integration(request, pk)
    try:
        state = services.resume(integration, request.user)
    except SetupProblem as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{integration.name} is {IntegrationState(state).label.lower()} again; it goes on "
                                  "where it stopped.")
    return redirect("setup:integrations", org=request.organization.slug)
