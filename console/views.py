"""The customer's pages: thin views over the same functions the admin uses, scoped by portal.access.

Every view takes the organization's slug (customer_view: 404 for another tenant, 403 for a role too low), and every
object is looked up within that organization, so another tenant's id is a 404 too."""

import json
from datetime import datetime, time
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from integrations.admin import (
    act_on_dead,
    dead_letter_causes,
    fix_target,
    record_badge,
    record_state,
    record_when,
    rounded_ms,
    short_error,
)
from integrations.flows import registry
from integrations.models import OPEN_STATUSES, AuditEntry, Connection, Integration, RecordStatus, SyncRecord
from integrations.pipeline import actions
from integrations.pipeline.timeline import order_key, timeline
from jobs import work
from jobs.models import Job
from mappings import services as mapping_services
from mappings.admin import retry_waiting_on, value_map_saved
from mappings.models import ValueMap, Version
from portal.access import customer_view, may, role_in
from portal.tenancy import visible_organizations

PAGE = 50
MIN_SEARCH = 3  # the trigram index helps from three characters on; fewer would scan every record


@login_required
def home(request):
    """The organizations the user belongs to; one organization goes straight to its overview."""
    organizations = list(visible_organizations(request.user).order_by("name"))
    if len(organizations) == 1:
        return redirect("console:organization", org=organizations[0].slug)
    rows = [{"organization": o, "role": role_in(request.user, o)} for o in organizations]
    return render(request, "console/home.html", {"rows": rows})


@customer_view("view")
def organization(request):
    org = request.organization
    return render(request, "console/organization.html", {
        "connections": Connection.objects.filter(organization=org).order_by("kind", "name"),
        "integrations": Integration.objects.filter(organization=org).select_related(
            "channel_connection", "tims_connection").order_by("name"),
        "dead": SyncRecord.objects.filter(organization=org, status=RecordStatus.DEAD).count(),
    })


@customer_view("view")
def members(request):
    """The members page belongs to accounts; the console's address for it leads there."""
    return redirect("accounts:members", org=request.organization.slug)


# ---- helpers ----------------------------------------------------------------------------------------------------

def _int(value):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**62 else None


def _text(params, key, limit=100):
    """A filter's text as typed, cut to `limit`; NUL characters (PostgreSQL stores none) are dropped."""
    return str(params.get(key, "")).replace("\x00", "").strip()[:limit]


def _safe_next(request, fallback):
    """A `next` that stays on this site's customer pages, else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/app/") and target.isprintable() and url_has_allowed_host_and_scheme(
            target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


def _keyset(queryset, request, size=PAGE):
    """One page, newest first, by id: ?before=<id> for older, ?after=<id> for newer. No OFFSET and no count, so a
    page costs the same on the millionth record as on the first."""
    before, after = _int(request.GET.get("before")), _int(request.GET.get("after"))
    if after:
        rows = list(queryset.filter(pk__gt=after).order_by("pk")[:size + 1])
        newer = len(rows) > size
        rows = rows[:size][::-1]
        older = bool(rows) and queryset.filter(pk__lt=rows[-1].pk).exists()
    else:
        if before:
            queryset = queryset.filter(pk__lt=before)
        rows = list(queryset.order_by("-pk")[:size + 1])
        older = len(rows) > size
        rows = rows[:size]
        newer = bool(before)
    query = request.GET.copy()
    for key in ("before", "after"):
        query.pop(key, None)
    base = query.urlencode()

    def link(key, value):
        return "?" + "&".join(part for part in (base, f"{key}={value}") if part)

    return rows, {"older": link("before", rows[-1].pk) if older and rows else "",
                  "newer": link("after", rows[0].pk) if newer and rows else "",
                  "first": "?" + base if (before or after) else ""}


def _record_or_404(request, pk):
    return get_object_or_404(SyncRecord.objects.select_related("integration"), pk=pk,
                             organization=request.organization)


def _record_url(org, pk):
    return reverse("console:record", kwargs={"org": org.slug, "pk": pk})


def _fix_link(request, record, back):
    """(label, url) of the customer's page that fixes a dead letter, or None when there is none they may open."""
    target = fix_target(record)
    org = request.organization
    if target is None:
        return None
    if target[0] == "value_map":
        details, value = target[1], target[2]
        value_map = mapping_services.value_maps_for(org.pk, [details["name"]]).get(details["name"])
        if value_map is None or not may(request.user, org, "admin"):
            return None
        url = reverse("console:value_map", kwargs={"org": org.slug, "pk": value_map.pk})
        return f"Add “{value}” to {value_map.name}", f"{url}?{urlencode({'add': value, 'next': back})}"
    if target[0] == "connection" and may(request.user, org, "admin"):
        for name, kwargs in (("setup:connection_change", {"org": org.slug, "pk": target[1].pk}),
                             ("setup:connections", {"org": org.slug})):
            try:
                return f"Fix the credentials of {target[1].name}", reverse(name, kwargs=kwargs)
            except NoReverseMatch:
                continue
    return None


def _what_to_do(request, record):
    fix = record.suggested_fix or "Nothing."
    link = _fix_link(request, record, _record_url(request.organization, record.pk))
    if link:  # one click to the fix, and saving it comes back here
        return format_html('{} <a class="button" id="fix-link" href="{}">{}</a>', fix, link[1], link[0])
    target = fix_target(record)
    if target and target[0] in ("value_map", "connection") and not may(request.user, request.organization, "admin"):
        return format_html('{} <span class="help">An admin of {} can make this fix.</span>', fix,
                           request.organization.name)
    return fix


def _wants_json(request):
    return "application/json" in request.headers.get("Accept", "")


# ---- records ----------------------------------------------------------------------------------------------------

@customer_view("view")
def records(request):
    org = request.organization
    integrations = list(Integration.objects.filter(organization=org).order_by("name"))
    flows = registry.choices()
    chosen = {key: _text(request.GET, key, 200) for key in ("integration", "flow", "status", "q", "cause")}
    problems = []
    queryset = SyncRecord.objects.filter(organization=org).select_related("integration")
    if chosen["integration"]:
        if _int(chosen["integration"]) in {i.pk for i in integrations}:
            queryset = queryset.filter(integration_id=int(chosen["integration"]))
        else:
            problems.append("That integration is not one of yours: showing all of them.")
            chosen["integration"] = ""
    if chosen["flow"]:
        if chosen["flow"] in dict(flows):
            queryset = queryset.filter(flow=chosen["flow"])
        else:
            problems.append(f"There is no flow “{chosen['flow'][:40]}”: showing all flows.")
            chosen["flow"] = ""
    if chosen["status"]:
        if chosen["status"] in RecordStatus.values:
            queryset = queryset.filter(status=chosen["status"])
        else:
            problems.append(f"There is no status “{chosen['status'][:40]}”: showing every status.")
            chosen["status"] = ""
    if chosen["cause"]:
        queryset = queryset.filter(error_cause=chosen["cause"][:200])
    if chosen["q"]:
        text = chosen["q"][:100]
        if len(text) < MIN_SEARCH:
            problems.append(f"Search for at least {MIN_SEARCH} characters: a reference, an order id, an email or "
                            "a SKU.")
        else:  # search_text has a trigram index on UPPER(), target ids a B-tree on UPPER(): both indexed
            queryset = queryset.filter(Q(search_text__icontains=text) | Q(target_id__iexact=text))
    rows, pages = _keyset(queryset, request)
    return render(request, "console/records.html", {
        "rows": [{"record": r, "badge": record_badge(r, short=True), "error": short_error(r), "when": record_when(r)}
                 for r in rows],
        "pages": pages, "chosen": chosen, "integrations": integrations, "flows": flows,
        "statuses": RecordStatus.choices, "problems": problems,
    })


@customer_view("view")
def record(request, pk):
    org = request.organization
    record = _record_or_404(request, pk)
    attempts = [{"attempt": a, "took": rounded_ms(a.duration_ms),
                 "calls": [{"method": c.get("method", ""), "url": c.get("url", ""), "ms": rounded_ms(c.get("ms")),
                            "answer": c.get("status") or c.get("error") or ""} for c in (a.calls or [])[:30]]}
                for a in record.attempt_rows.order_by("-number")[:50]]
    steps = timeline(record) if order_key(record)[0] else []
    return render(request, "console/record.html", {
        "record": record, "badge": record_badge(record), "what_to_do": _what_to_do(request, record),
        "attempts": attempts, "steps": steps,
        "source_json": json.dumps(record.source_payload, indent=2, ensure_ascii=False, sort_keys=True, default=str)
        if record.source_payload is not None else "",
        "mapped_json": json.dumps(record.mapped_payload, indent=2, ensure_ascii=False, sort_keys=True, default=str)
        if record.mapped_payload is not None else "",
        "children": list(record.children.all()[:50]),
        "parent": record.parent if record.parent_id and record.parent.organization_id == org.pk else None,
        "is_open": record.status in OPEN_STATUSES,
        "may_retry": record.status in actions.RETRYABLE,
        "may_discard": record.status not in (RecordStatus.SUCCEEDED, RecordStatus.RUNNING, RecordStatus.DISCARDED),
        "operates": may(request.user, org, "operate"),
    })


@customer_view("view")
def record_status(request, pk):
    """The record's state for its page, which follows it live after a retry instead of being reloaded."""
    record = _record_or_404(request, pk)
    return JsonResponse(record_state(record, _what_to_do(request, record)))


@require_POST
@customer_view("operate")
def record_retry(request, pk):
    record = _record_or_404(request, pk)
    done = actions.retry(SyncRecord.objects.filter(pk=record.pk), request.user, "retried from the console")
    record.refresh_from_db()
    text = "Queued for retry: this page follows it." if done else \
        f"Not retried: the record is {record.get_status_display().lower()}."
    if _wants_json(request):  # the page's script: no reload, the page follows the record
        return JsonResponse({"queued": done, "message": text, **record_state(record, _what_to_do(request, record))})
    messages.add_message(request, messages.SUCCESS if done else messages.WARNING, text)
    return redirect("console:record", org=request.organization.slug, pk=record.pk)


@require_POST
@customer_view("operate")
def record_discard(request, pk):
    record = _record_or_404(request, pk)
    try:
        done = actions.discard(SyncRecord.objects.filter(pk=record.pk), request.user,
                               _text(request.POST, "reason", 500))
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.add_message(request, messages.SUCCESS if done else messages.WARNING,
                             "Discarded: nothing more happens to this record." if done else
                             f"Not discarded: the record is {record.get_status_display().lower()}.")
    return redirect("console:record", org=request.organization.slug, pk=record.pk)


# ---- failures: dead letters by cause ----------------------------------------------------------------------------

@customer_view("view")
def failures(request):
    org = request.organization
    dead = SyncRecord.objects.filter(organization=org, status=RecordStatus.DEAD)
    flow = request.GET.get("flow", "")
    if flow in dict(registry.choices()):
        dead = dead.filter(flow=flow)
    here = request.get_full_path()
    if request.method == "POST":
        if not may(request.user, org, "operate"):
            raise PermissionDenied("Viewers see failures; operators and up retry or discard them.")
        verb = "retry" if "retry" in request.POST else "discard" if "discard" in request.POST else None
        filters = {"flow": _text(request.POST, "flow", 30), "error_cause": _text(request.POST, "error_cause", 200)}
        if verb is None:
            messages.error(request, "Choose Retry all or Discard all.")
            return redirect(here)
        try:
            done, job = act_on_dead(dead.filter(**filters), request.user, verb, _text(request.POST, "reason", 500),
                                    filters, [org.pk], organization=org)
        except ValueError as exc:
            messages.error(request, str(exc))
            return redirect(here)
        if job is not None:
            return redirect("console:job", org=org.slug, pk=job.pk)
        messages.success(request, f"{done} record{'s' if done != 1 else ''} "
                                  f"{'queued for retry' if verb == 'retry' else 'discarded'}.")
        return redirect(here)
    groups = dead_letter_causes(dead, lambda record: (_fix_link(request, record, here) or ("", ""))[1])
    records_url = reverse("console:records", kwargs={"org": org.slug})
    for group in groups:
        group["records_url"] = records_url + "?" + urlencode(
            {"status": "dead", "flow": group["flow"], "cause": group["error_cause"]})
    return render(request, "console/failures.html", {
        "groups": groups, "total": sum(g["count"] for g in groups), "flow": flow, "flows": registry.choices(),
        "operates": may(request.user, org, "operate"),
    })


def _job_or_404(request, pk):
    return get_object_or_404(Job, pk=pk, organization=request.organization)


@customer_view("view")
def job(request, pk):
    found = _job_or_404(request, pk)
    if _wants_json(request):
        return JsonResponse({"status": found.status, "status_label": found.get_status_display(), "done": found.done,
                             "total": found.total, "percent": found.percent, "finished": found.finished,
                             "result": found.result, "error": found.error})
    return render(request, "console/job.html", {"job": found, "operates": may(request.user, request.organization,
                                                                               "operate")})


@require_POST
@customer_view("operate")
def job_cancel(request, pk):
    found = _job_or_404(request, pk)
    work.cancel(found)
    actions.audit(request.user, "job_cancel", organization=request.organization,
                  after={"job": found.pk, "title": found.title})
    messages.info(request, "Asked to stop: it stops after the chunk it is on.")
    return redirect("console:job", org=request.organization.slug, pk=found.pk)


# ---- value maps -------------------------------------------------------------------------------------------------

def _value_map_or_404(request, pk):
    """The organization's own map, or a global template it has no copy of (shown, copied on first edit)."""
    value_map = get_object_or_404(ValueMap.objects.select_related("organization"), pk=pk)
    if value_map.organization_id not in (None, request.organization.pk):
        raise Http404("No such value map.")
    return value_map


def _waiting(value_map, org, values=None):
    return actions.waiting_on_map(value_map, values).filter(organization=org)


@customer_view("admin")
def value_maps(request):
    org = request.organization
    own = list(ValueMap.objects.filter(organization=org).annotate(entry_total=Count("entries")).order_by("name"))
    names = {m.name for m in own}
    templates = [m for m in ValueMap.objects.filter(organization__isnull=True).annotate(
        entry_total=Count("entries")).order_by("name") if m.name not in names]
    # One grouping of the organization's dead letters by the map they wait on, rather than a count per map: the
    # same records actions.waiting_on_map finds for each map listed here (its own, or a template it has no copy of).
    waiting = dict(SyncRecord.objects.filter(organization=org, status=RecordStatus.DEAD,
                                             error_details__value_map__name__isnull=False)
                   .values_list("error_details__value_map__name").annotate(n=Count("id")).order_by())
    rows = [{"map": m, "template": m.organization_id is None, "waiting": waiting.get(m.name, 0)}
            for m in sorted(own + templates, key=lambda m: m.name)]
    return render(request, "console/value_maps.html", {"rows": rows})


class EntryProblem(ValueError):
    pass


def _entry_text(value, what):
    if "\x00" in value:
        raise EntryProblem(f"{what} holds a NUL character, which cannot be stored.")
    if len(value) > 200:
        raise EntryProblem(f"{what} is longer than 200 characters.")
    return value


def _posted_entries(post):
    """{source: target} after the form's edits, from the rows (entry-N-source/-target/-delete) and the new row."""
    entries = {}
    try:
        count = min(int(post.get("entries", "0")), 5000)
    except ValueError:
        raise EntryProblem("The form was incomplete; reload the page and try again.") from None
    for index in range(count):
        source = post.get(f"entry-{index}-source")
        if source is None or post.get(f"entry-{index}-delete"):
            continue
        _entry_text(source, "A value")
        entries[source] = _entry_text(post.get(f"entry-{index}-target", "").strip(),
                                      f"The target of “{source[:40]}”")
    source, target = post.get("new-source", "").strip(), post.get("new-target", "").strip()
    if source or target:
        if not source:
            raise EntryProblem("The new row needs a value (the left column) as well as its target.")
        # A value the map has already: its target is replaced.
        entries[_entry_text(source, "The new value")] = _entry_text(target, "The new target")
    return entries


@customer_view("admin")
def value_map(request, pk):
    org = request.organization
    shown = _value_map_or_404(request, pk)
    if shown.organization_id is None:
        own = ValueMap.objects.filter(organization=org, name=shown.name).first()
        if own is not None:  # the organization has its copy: that is the map to look at (and to change)
            url = reverse("console:value_map", kwargs={"org": org.slug, "pk": own.pk})
            if request.method == "POST":  # a form of the template from before the copy: it would undo the copy's
                messages.error(request, f"{org.name} has its own copy of this map now: nothing was saved. Make your "
                                        "change here again.")
                return redirect(url)
            return redirect(url + ("?" + request.GET.urlencode() if request.GET else ""))
    back = _safe_next(request, "")
    if request.method == "POST":
        try:
            entries = _posted_entries(request.POST)
        except EntryProblem as problem:
            messages.error(request, str(problem))
        else:
            if str(shown.version) != request.POST.get("version"):
                messages.error(request, f"Someone saved this map meanwhile (now version {shown.version}): nothing "
                                        "was saved. Look at it again and redo your change.")
            else:
                value_map, count = _save_entries(request, shown, entries)
                return redirect(back or reverse("console:value_map", kwargs={"org": org.slug, "pk": value_map.pk}))
        url = reverse("console:value_map", kwargs={"org": org.slug, "pk": shown.pk})
        return redirect(url + ("?" + urlencode({"next": back}) if back else ""))
    add = request.GET.get("add", "").replace("\x00", "")[:200]  # as the record has it, spaces and all
    rows = list(shown.entries.all())
    has_add = any(entry.source == add for entry in rows)
    # A template's valid targets are the organization's: the mappings of its integrations that read this map.
    probe = shown if shown.organization_id else ValueMap(pk=shown.pk, organization=org, name=shown.name)
    return render(request, "console/value_map.html", {
        "map": shown, "template": shown.organization_id is None, "entries": rows, "add": add,
        "add_is_new": bool(add) and not has_add, "valid_targets": mapping_services.valid_targets(probe),
        "waiting": _waiting(shown, org, [add] if add else None).count(), "next": back,
        "versions": list(shown.versions.select_related("created_by").order_by("-number")[:20])
        if shown.organization_id else [],
    })


def _save_entries(request, shown, entries):
    """Write the edited entries (copying a template first), version and audit it, and retry when asked."""
    org, user = request.organization, request.user
    with transaction.atomic():
        value_map = shown
        if shown.organization_id is None:  # never edit a global map from the customer site: copy it first
            value_map = mapping_services.copy_value_map(shown, org, user)
            actions.audit(user, "value_map_copy", organization=org, after={"map": value_map.name,
                                                                            "from_template": shown.pk})
        value_map = ValueMap.objects.select_for_update().get(pk=value_map.pk)
        before_version = value_map.version
        existing = {entry.source: entry for entry in value_map.entries.all()}
        # The rows of a copy made just now are the template's: only what the form changed is applied.
        for source, entry in existing.items():
            if source not in entries:
                entry.delete()
            elif entry.target != entries[source]:
                entry.target = entries[source]
                entry.save(update_fields=["target"])
        for source, target in entries.items():
            if source not in existing:
                value_map.entries.create(source=source, target=target)
        version = value_map_saved(value_map, user, "Edited on the customer site")
        if version is not None:
            actions.audit(user, "value_map_edit", organization=org,
                          before={"map": value_map.name, "version": before_version},
                          after={"map": value_map.name, "version": version.number, "changes": version.changes[:100]})
    count = 0
    if "save_and_retry" in request.POST:
        count = retry_waiting_on(value_map, user, organization=org)
        messages.success(request, f"Saved; {count} record{'s' if count != 1 else ''} waiting on “{value_map.name}” "
                                  "queued for retry.")
    else:
        messages.success(request, f"Saved as version {version.number}." if version else "Nothing changed.")
    return value_map, count


@require_POST
@customer_view("admin")
def value_map_rollback(request, pk, number):
    org = request.organization
    value_map = get_object_or_404(ValueMap, pk=pk, organization=org)  # a template's history is not the customer's
    version = get_object_or_404(Version, value_map=value_map, number=number)
    new_version = mapping_services.rollback(version, request.user)
    if new_version is None:
        messages.info(request, f"The map already matches version {number}.")
    else:
        actions.audit(request.user, "value_map_rollback", organization=org,
                      after={"map": value_map.name, "to": number, "version": new_version.number,
                             "changes": new_version.changes[:100]})
        messages.success(request, f"Rolled back to version {number} (saved as version {new_version.number}).")
    return redirect("console:value_map", org=org.slug, pk=value_map.pk)


# ---- audit log --------------------------------------------------------------------------------------------------

def _day(value, end=False):
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except (TypeError, ValueError):
        return None
    return timezone.make_aware(datetime.combine(day, time.max if end else time.min))


@customer_view("view")
def audit_log(request):
    org = request.organization
    queryset = AuditEntry.objects.filter(organization=org).select_related("record")
    chosen = {key: _text(request.GET, key) for key in ("action", "actor", "since", "until", "record")}
    problems = []
    if chosen["action"]:
        queryset = queryset.filter(action=chosen["action"])
    if chosen["actor"]:
        queryset = queryset.filter(actor_name__icontains=chosen["actor"])
    if chosen["record"]:
        if _int(chosen["record"]):
            queryset = queryset.filter(record_id=int(chosen["record"]))
        else:
            problems.append("A record is given by its number, such as 1042.")
    for key, end in (("since", False), ("until", True)):
        if chosen[key]:
            moment = _day(chosen[key], end)
            if moment is None:
                problems.append(f"“{chosen[key]}” is not a date: use YYYY-MM-DD.")
            else:
                queryset = queryset.filter(at__lte=moment) if end else queryset.filter(at__gte=moment)
    rows, pages = _keyset(queryset, request)
    actions_seen = list(AuditEntry.objects.filter(organization=org).order_by("action").values_list(
        "action", flat=True).distinct()[:100])
    return render(request, "console/audit.html", {
        "rows": [{"entry": e, "before": _compact(e.before), "after": _compact(e.after)} for e in rows],
        "pages": pages, "chosen": chosen, "actions": actions_seen, "problems": problems,
    })


def _compact(value):
    if value in (None, "", {}, []):
        return ""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 300 else text[:300] + "…"
