"""The organization's connections and the three connection wizards.

Every step asks the far side (setup.connections.probes) and says in plain words what it found and what to fix.
Nothing is saved before the last step; the answers in between live in the session (setup.connections.drafts),
secrets encrypted. Saving writes the connection, audits it with secrets masked and runs the connection checks,
which set its status.
"""

import time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from integrations import kinds
from integrations.connectors import checks
from integrations.connectors.channeladvisor.client import authorize_url
from integrations.connectors.errors import ConnectorError
from integrations.models import Connection, ConnectionStatus
from integrations.pipeline.actions import audit
from portal.access import customer_view, may
from setup.connections import drafts, probes
from setup.connections.forms import ASKED, AccountForm, ConnectForm, DefaultsForm, TimezoneForm

STEPS = {
    "prestashop": [("connect", "Shop address and key"), ("review", "What the key may do")],
    "channeladvisor": [("connect", "Application"), ("consent", "Consent on ChannelAdvisor"),
                       ("account", "Profile and warehouse")],
    "tims": [("connect", "Address and client"), ("defaults", "Location and guest customer")],
}
DEFAULT_ADDRESS = {"channeladvisor": "https://api.channeladvisor.com"}
TOKEN = "_token"  # the draft's access token (and its expiry) travel with the encrypted secrets


# --- the list -----------------------------------------------------------------------------------------------------

@customer_view("view")
def connections(request):
    organization = request.organization
    rows = Connection.objects.filter(organization=organization).order_by("name")
    return render(request, "setup/connections/list.html", {
        "connections": [{"connection": c, "lacks": lacks(c)} for c in rows],
        "may_change": may(request.user, organization, "admin"),
        "may_check": may(request.user, organization, "operate"),
        "kinds": [(code, kind.label) for code, kind in kinds.KINDS.items()],
    })


def lacks(connection):
    """What the connection lacks, in plain words: secrets never given, and what its last check found wrong."""
    items = [f"{label}: not given yet" for label in connection.missing_secrets]
    if connection.status in (ConnectionStatus.NEEDS_ATTENTION, ConnectionStatus.FAILING):
        items.append(connection.last_check_message)
    return [item for item in items if item]


@require_POST
@customer_view("operate")
def check_again(request, pk):
    connection = get_object_or_404(Connection, pk=pk, organization=request.organization)
    results = checks.test_connection(connection)
    failed = [r for r in results if not r.ok]
    if failed:
        messages.warning(request, f"{connection.name}: " + " ".join(f"{r.message}" for r in failed))
    else:
        messages.success(request, f"{connection.name}: every check passed.")
    return redirect("setup:connections", org=request.organization.slug)


# --- step 1 of every wizard ---------------------------------------------------------------------------------------

@customer_view("admin")
def new(request, kind):
    if kind not in STEPS:
        raise Http404("No such kind of connection.")
    return connect_step(request, kind, draft=None, connection=None)


@customer_view("admin")
def change(request, pk):
    connection = get_object_or_404(Connection, pk=pk, organization=request.organization)
    return connect_step(request, connection.kind, draft=None, connection=connection)


@customer_view("admin")
def step(request, key, name):
    draft = drafts.get(request, request.organization, key)
    if draft is None:
        messages.warning(request, "That setup has expired or was finished; start again.")
        return redirect("setup:connections", org=request.organization.slug)
    connection = None
    if draft["connection"]:
        connection = Connection.objects.filter(pk=draft["connection"], organization=request.organization).first()
        if connection is None:
            raise Http404("The connection being changed is gone.")
    views = {"connect": connect_step, "review": prestashop_review, "consent": channeladvisor_consent,
             "account": channeladvisor_account, "defaults": tims_defaults}
    if name not in views or name not in {code for code, _ in STEPS[draft["kind"]]}:
        raise Http404("No such step.")
    return views[name](request, draft["kind"], draft=draft, connection=connection)


def connect_step(request, kind, *, draft, connection):
    """The address and the secrets, tested live before going on."""
    organization = request.organization
    stored = set(ASKED[kind]) & set((connection.credentials if connection else {}) or {})
    if draft is not None:
        stored |= set(draft.secrets()) & set(ASKED[kind])
    form_kwargs = {"request": request, "organization": organization, "kind": kind, "connection": connection,
                   "has_secrets": stored}
    findings = []
    if request.method == "POST":
        form = ConnectForm(request.POST, **form_kwargs)
        if form.is_valid():
            draft = draft or drafts.start(request, organization, kind, connection)
            draft.update(name=form.cleaned_data["name"], base_url=form.cleaned_data["base_url"],
                         sandbox=form.sandbox.pk if form.sandbox else None)
            draft.set_secrets({**draft.secrets(), **form.typed_secrets()})
            if kind == "channeladvisor":
                return start_consent(request, draft, connection)
            findings, facts = probe_first(draft, connection)
            draft["found"] = {"findings": findings, "facts": facts}
            drafts.save(request, draft)
            if facts is not None:
                return redirect_to(organization, draft, STEPS[kind][1][0])
    else:
        initial = {"name": connection.name, "base_url": connection.base_url} if connection else {
            "base_url": DEFAULT_ADDRESS.get(kind, "")}
        if draft is not None:
            initial = {"name": draft["name"], "base_url": draft["base_url"]}
        form = ConnectForm(initial=initial, **form_kwargs)
    return page(request, kind, "connect", draft, connection, "setup/connections/connect.html", {
        "form": form, "findings": findings, "callback_url": callback_url(request)})


def probe_first(draft, connection):
    remote = unsaved(draft, connection)
    if draft["kind"] == "prestashop":
        return probes.prestashop(remote)
    findings, facts = probes.tims(remote)
    keep_token(draft, remote)
    return findings, facts


# --- PrestaShop ---------------------------------------------------------------------------------------------------

def prestashop_review(request, kind, *, draft, connection):
    found = draft.get("found") or {}
    if not found.get("facts"):  # the first step has not passed: nothing to review or save yet
        return redirect_to(request.organization, draft, "connect")
    facts = found["facts"]
    if request.method == "POST" and "check_again" in request.POST:
        findings, facts = probes.prestashop(unsaved(draft, connection))
        draft["found"] = {"findings": findings, "facts": facts}
        drafts.save(request, draft)
        if facts is None:
            messages.warning(request, "The shop no longer accepts the address or key; correct them.")
            return redirect_to(request.organization, draft, "connect")
        return redirect_to(request.organization, draft, "review")
    if request.method == "POST":
        form = TimezoneForm(request.POST)
        if form.is_valid():
            settings = dict(connection.settings if connection else {})
            settings["timezone"] = form.cleaned_data["timezone"]
            return finish(request, draft, connection, settings)
    else:
        current = (connection.settings.get("timezone") if connection else "") or ""
        form = TimezoneForm(initial={"timezone": facts.get("timezone") or current})
    return page(request, kind, "review", draft, connection, "setup/connections/prestashop_review.html", {
        "form": form, "findings": found.get("findings") or [], "facts": facts})


# --- ChannelAdvisor -----------------------------------------------------------------------------------------------

def callback_url(request):
    return request.build_absolute_uri(reverse("setup:channeladvisor_callback"))


def start_consent(request, draft, connection):
    """Send the browser to ChannelAdvisor's authorize page with a fresh state bound to this session's draft."""
    draft["state"] = drafts.new_state()
    secrets = {**stored_secrets(connection), **draft.secrets()}
    drafts.save(request, draft)
    return HttpResponseRedirect(authorize_url(draft["base_url"], secrets.get("application_id", ""),
                                              callback_url(request), draft["state"]))


def channeladvisor_consent(request, kind, *, draft, connection):
    """“Try again” after a refused or failed consent: a new state, back to the authorize page."""
    if request.method != "POST":
        return redirect_to(request.organization, draft, "connect")
    return start_consent(request, draft, connection)


@login_required
def channeladvisor_callback(request):
    """ChannelAdvisor sends the browser back here with ?code=&state= (or ?error=access_denied&state=)."""
    state = request.GET.get("state", "")
    draft = drafts.by_state(request, state)
    if draft is None:
        other = drafts.any_of_kind(request, "channeladvisor")
        return oauth_problem(request, other, 400, "This answer does not belong to a setup started here",
                             "ChannelAdvisor came back with a state this portal did not give, or the setup it "
                             "belonged to was already finished or has expired. Nothing was saved. Start the "
                             "connection again from the Connections page.", retry=False)
    organization = draft.organization_row()
    if organization is None or not may(request.user, organization, "admin"):
        raise Http404("No such setup.")
    request.organization = organization
    draft["state"] = ""  # a state is good for one answer: a reload or a replay finds no setup
    drafts.save(request, draft)
    error = request.GET.get("error", "")
    if error == "access_denied":
        return oauth_problem(request, draft, 200, "ChannelAdvisor access was not granted",
                             "The consent page answered Deny, so ChannelAdvisor gave this portal no access. "
                             "Nothing was saved. Try again and choose Allow, with a ChannelAdvisor user of the "
                             "account to connect.")
    if error or not request.GET.get("code"):
        detail = request.GET.get("error_description", "") or "ChannelAdvisor sent no authorization code."
        return oauth_problem(request, draft, 200, "ChannelAdvisor did not authorize the portal",
                             f"ChannelAdvisor answered “{error or 'no code'}”: {detail[:300]} Try again.")
    connection = Connection.objects.filter(pk=draft["connection"], organization=organization).first() \
        if draft["connection"] else None
    remote = unsaved(draft, connection)
    try:
        tokens = probes.channeladvisor_exchange(remote, request.GET["code"], callback_url(request))
    except ConnectorError as exc:
        return oauth_problem(request, draft, 200, "ChannelAdvisor refused the authorization code",
                             f"{exc}. Check the application id, the shared secret and that the redirect URI "
                             f"{callback_url(request)} is registered for the application, then try again.")
    draft.set_secrets({**draft.secrets(), "refresh_token": tokens["refresh_token"],
                       TOKEN: {"access_token": tokens["access_token"],
                               "expires_at": time.time() + tokens["expires_in"]}})
    drafts.save(request, draft)
    return redirect_to(organization, draft, "account")


def oauth_problem(request, draft, status, title, detail, retry=True):
    return render(request, "setup/connections/oauth_problem.html", {
        "title": title, "detail": detail, "draft": draft if retry else None,
        "organization_slug": draft.organization_row().slug if draft and draft.organization_row() else "",
        "steps": progress("channeladvisor", "consent")}, status=status)


def channeladvisor_account(request, kind, *, draft, connection):
    if "refresh_token" not in draft.secrets():
        return redirect_to(request.organization, draft, "connect")
    remote = unsaved(draft, connection)
    findings, facts = probes.channeladvisor_account(remote)
    keep_token(draft, remote)
    drafts.save(request, draft)
    facts = facts or {}
    form = AccountForm(request.POST if request.method == "POST" and facts else None,
                       profiles=facts.get("profiles") or [], centers=facts.get("distribution_centers") or [],
                       initial=dict(connection.settings) if connection else None)
    if request.method == "POST" and facts and form.is_valid():
        settings = {"profile_id": form.cleaned_data["profile_id"],
                    "distribution_center_id": form.cleaned_data["distribution_center_id"]}
        return finish(request, draft, connection, settings)
    return page(request, kind, "account", draft, connection, "setup/connections/channeladvisor_account.html", {
        "form": form, "findings": findings, "facts": facts,
        "centers": facts.get("distribution_centers") or []})


# --- TIMS ---------------------------------------------------------------------------------------------------------

def tims_defaults(request, kind, *, draft, connection):
    facts = (draft.get("found") or {}).get("facts")
    if not facts:
        return redirect_to(request.organization, draft, "connect")
    remote = unsaved(draft, connection)
    search = request.GET.get("q", "").strip()[:100]
    customers, problem = probes.tims_customers(remote, search)
    current = (connection.settings.get("default_customer_code") if connection else "") or ""
    initial = {"default_location": next((loc["Code"] for loc in facts.get("locations") or []
                                         if loc.get("IsDefault")), ""), "currency": "USD"}
    if connection:
        initial.update({k: v for k, v in connection.settings.items() if k in DefaultsForm.base_fields})
    form_kwargs = {"locations": facts.get("locations") or [], "customers": customers, "current_customer": current}
    if request.method == "POST":
        chosen = request.POST.get("default_customer_code", "")
        if chosen and chosen not in {c["CustomerID"] for c in customers}:
            customers, problem = probes.tims_customers(remote, chosen)  # a pick from another search
            form_kwargs["customers"] = customers
        form = DefaultsForm(request.POST, **form_kwargs)
        if form.is_valid():
            code = form.cleaned_data["default_customer_code"]
            error = probes.tims_customer_problem(remote, code)
            if error:
                form.add_error("default_customer_code", error)
            else:
                keep_token(draft, remote)
                settings = dict(connection.settings if connection else {})
                settings.update(default_location=form.cleaned_data["default_location"],
                                default_customer_code=code, currency=form.cleaned_data["currency"])
                if not code:
                    settings.pop("default_customer_code")
                return finish(request, draft, connection, settings)
    else:
        form = DefaultsForm(initial=initial, **form_kwargs)
    keep_token(draft, remote)
    drafts.save(request, draft)
    return page(request, kind, "defaults", draft, connection, "setup/connections/tims_defaults.html", {
        "form": form, "findings": (draft.get("found") or {}).get("findings") or [], "search": search,
        "customers": customers, "problem": problem})


# --- saving -------------------------------------------------------------------------------------------------------

def finish(request, draft, connection, settings):
    """Write the connection (secrets merged: what was typed replaces, the rest is kept), audit it with secrets
    masked, run the connection checks (they set the status) and go back to the list."""
    organization = request.organization
    typed = {k: v for k, v in draft.secrets().items() if k != TOKEN}
    token = draft.secrets().get(TOKEN)
    with transaction.atomic():
        if connection is not None:
            connection = Connection.objects.select_for_update().get(pk=connection.pk)
            before = snapshot(connection)
        else:
            connection = Connection(organization=organization, kind=draft["kind"])
            before = None
        address_changed = connection.base_url != draft["base_url"]
        own = {name for name, _ in connection.kind_spec.secrets}
        connection.credentials = {k: v for k, v in {**(connection.credentials or {}), **typed}.items() if k in own}
        connection.name, connection.base_url = draft["name"], draft["base_url"]
        connection.sandbox_id = draft["sandbox"]
        connection.settings = settings
        if typed or address_changed:
            connection.token_cache = {}  # tokens of the old credentials or address are not these ones'
        if token and draft["kind"] == "channeladvisor":
            connection.token_cache = dict(token)  # the code exchange's own access token
        try:
            connection.full_clean()
        except ValidationError as exc:
            problems = [m for values in exc.message_dict.values() for m in values]
            messages.error(request, "Not saved: " + " ".join(problems))
            return redirect_to(organization, draft, "connect")
        connection.save()
        audit(request.user, "connection_changed" if before else "connection_created", organization=organization,
              reason="connection wizard", before=before, after=snapshot(connection, changed=sorted(typed)))
    drafts.drop(request, draft)
    results = checks.test_connection(connection)
    failed = [r for r in results if not r.ok]
    if failed:
        messages.warning(request, f"Saved “{connection.name}”, but it {connection.get_status_display().lower()}: "
                         + " ".join(r.message for r in failed))
    else:
        messages.success(request, f"Saved “{connection.name}”: every check passed.")
    return redirect("setup:connections", org=organization.slug)


def snapshot(connection, changed=()):
    """What the audit keeps: everything but secrets, which show as *** (set) and are named when changed."""
    return {"name": connection.name, "kind": connection.kind, "base_url": connection.base_url,
            "settings": connection.settings, "sandbox": connection.sandbox.slug if connection.sandbox_id else None,
            "credentials": {name: "***" for name, value in (connection.credentials or {}).items() if value},
            **({"secrets_changed": list(changed)} if changed else {})}


# --- helpers ------------------------------------------------------------------------------------------------------

def stored_secrets(connection):
    return dict(connection.credentials or {}) if connection else {}


def unsaved(draft, connection):
    """A Connection built from the draft (never saved): the stored secrets, replaced by what was typed."""
    secrets = {**stored_secrets(connection), **draft.secrets()}
    token = secrets.pop(TOKEN, None)
    return Connection(organization_id=draft["organization"], kind=draft["kind"], name=draft["name"] or "new",
                      base_url=draft["base_url"], sandbox_id=draft["sandbox"],
                      on_premises=bool(connection and connection.on_premises),
                      settings=dict(connection.settings) if connection else {}, credentials=secrets,
                      token_cache=dict(token) if token else {})


def keep_token(draft, remote):
    """Keep the access token a probe got, so the next step does not ask for another."""
    if (remote.token_cache or {}).get("access_token"):
        draft.set_secrets({**draft.secrets(), TOKEN: dict(remote.token_cache)})


def redirect_to(organization, draft, name):
    return redirect("setup:connection_step", org=organization.slug, key=draft.key, name=name)


def progress(kind, current):
    names = [code for code, _ in STEPS[kind]]
    return [{"label": label, "state": "current" if code == current else
             "done" if names.index(code) < names.index(current) else ""} for code, label in STEPS[kind]]


def page(request, kind, current, draft, connection, template, context):
    names = [code for code, _ in STEPS[kind]]
    index = names.index(current)
    back = action = None
    if draft is not None:
        action = reverse("setup:connection_step", kwargs={"org": request.organization.slug, "key": draft.key,
                                                          "name": current})
        if index > 0:
            back = reverse("setup:connection_step", kwargs={"org": request.organization.slug, "key": draft.key,
                                                            "name": "connect"})
    return render(request, template, {
        "kind": kind, "kind_label": kinds.KINDS[kind].label, "steps": progress(kind, current), "draft": draft,
        "connection": connection, "back": back, "action": action or request.path, **context})
