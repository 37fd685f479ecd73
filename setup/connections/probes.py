"""What the wizard asks the far side, through the connectors, and how it says what it found.

Each probe works on a Connection that is not saved yet (the wizard saves only at the end), so the clients run
without the rate governor and the circuit breaker, which keep their state per saved connection, and tokens are
fetched directly rather than through the shared token cache. A finding is {"ok": True | False | None (for
information), "title", "detail"}: plain words for the customer, what was found and what to fix.
"""

import functools
import time

from integrations import kinds
from integrations.connectors import checks, http
from integrations.connectors.errors import AuthError, ConnectorError, NotFound
from integrations.flows import registry

PS_TIMEZONE = "PS_TIMEZONE"


def finding(ok, title, detail=""):
    return {"ok": ok, "title": title, "detail": detail}


def client(connection):
    """The connector's client; for an OAuth system its token comes from `connection.token_cache` or a fresh
    token request, never from the shared cache (which locks the saved connection's row)."""
    remote = checks.client_for(connection, lane="high", use_governor=False, use_breaker=False)
    if connection.pk is None and hasattr(remote, "fetch_token"):
        def token(stale=None):
            cache = connection.token_cache or {}
            if cache.get("access_token") and cache["access_token"] != stale and \
                    cache.get("expires_at", 0) > time.time() + 60:
                return cache["access_token"]
            try:
                value, expires_in = remote.fetch_token()
            except AuthError as exc:
                raise remote.auth_failed(exc) from None
            connection.token_cache = {"access_token": value, "expires_at": time.time() + expires_in}
            return value

        remote.token = token
    return remote


def forgets_cookies(probe):
    """Unsaved connections share one pooled HTTP session per process: drop whatever cookies the far side set,
    so one customer's probe never sends them to another's system."""
    @functools.wraps(probe)
    def wrapped(connection, *args, **kwargs):
        try:
            return probe(connection, *args, **kwargs)
        finally:
            if connection.pk is None:
                http.session_for(connection).cookies.clear()
    return wrapped


def flows_for(kind):
    """The declared flows the portal runs with this kind of channel (by the templates that pair it with TIMS)."""
    templates = {code for code, (_, channel) in kinds.TEMPLATES.items() if channel == kind}
    return [flow for flow in registry.all_flows() if templates & set(flow.templates)]


def _unreachable(label, exc):
    return finding(False, f"{label} did not answer as expected", f"{exc} Check the address: it is the system's "
                   "root (for example https://shop.example.com), the server is up and its firewall lets us in.")


# --- PrestaShop -------------------------------------------------------------------------------------------------

@forgets_cookies
def prestashop(connection):
    """Read `GET /api/` with the key: what it may do against what the flows need, the version, the time zone.
    Returns (findings, facts); facts is None when the key or the address does not work at all."""
    shop = client(connection)
    try:
        allowed = shop.resources()
    except AuthError as exc:
        return [finding(False, "The shop refused the webservice key", f"{exc} — {shop.auth_hint(exc)}.")], None
    except ConnectorError as exc:
        return [_unreachable("The shop", exc)], None
    findings = [finding(True, "The shop accepted the webservice key")]
    version = shop.version or ""
    major = checks.version_major(version)
    if major is None:
        findings.append(finding(False, "This does not look like a PrestaShop webservice",
                                "The answer carried no PSWS-Version header. Check the address is the shop's root."))
        return findings, None
    if major < 1 or (major == 1 and not version.startswith("1.7")):
        findings.append(finding(False, f"PrestaShop {version} is too old",
                                "The portal needs PrestaShop 1.7 or later; upgrade the shop."))
    elif major >= 8:
        findings.append(finding(True, f"PrestaShop {version}", "Updates are sent with PATCH (only what changed)."))
    else:
        findings.append(finding(True, f"PrestaShop {version}", "This version has no PATCH: updates read the whole "
                                "record and send it back with PUT."))
    flows = flows_for("prestashop")
    labels = {flow.name: flow.label for flow in flows}
    missing = checks.prestashop_missing(allowed, major, flows=list(labels))
    for need in missing:
        used_by = ", ".join(labels[name] for name in need.flows if name in labels)
        findings.append(finding(False, f"Tick {need.resource}: {need.method} for this key under Advanced "
                                "Parameters › Webservice", f"Needed to {need.why} ({used_by})."))
    if not missing:
        findings.append(finding(True, "The key may do everything the flows need",
                                f"{len(checks.prestashop_needs(major, list(labels)))} resource permissions checked."))
    timezone, problem = _shop_timezone(shop, allowed)
    if timezone:
        findings.append(finding(True, f"The shop's time zone is {timezone}",
                                "PrestaShop stores order dates in it; the portal reads them in this zone."))
    else:
        findings.append(finding(None, "The shop's time zone could not be read", problem))
    return findings, {"version": version, "patch": major >= 8, "timezone": timezone, "missing": len(missing)}


def _shop_timezone(shop, allowed):
    """(PS_TIMEZONE from the configurations resource, None) or (None, why not and what to do)."""
    if "GET" not in allowed.get("configurations", set()):
        return None, ("The key may not read configurations. Tick configurations: GET for it (then Check again), "
                      "or type the time zone set under International › Localization below.")
    try:
        rows = next(shop.pages("configurations", filters={"name": f"[{PS_TIMEZONE}]"}, display="[name,value]"), [])
    except ConnectorError as exc:
        return None, f"Reading {PS_TIMEZONE} failed ({exc}); type the shop's time zone below."
    value = next((str(row.get("value") or "") for row in rows if row.get("name") == PS_TIMEZONE), "")
    problem = kinds._timezone(value) if value else None
    if not value or problem:
        return None, f"The shop's {PS_TIMEZONE} is “{value}”, not a time zone; type it below."
    return value, ""


# --- ChannelAdvisor -----------------------------------------------------------------------------------------------

@forgets_cookies
def channeladvisor_exchange(connection, code, redirect_uri):
    """The consent's code for tokens (the connector's exchange_code); raises ConnectorError when refused."""
    return client(connection).exchange_code(code, redirect_uri)


@forgets_cookies
def channeladvisor_account(connection):
    """Profiles and distribution centers the consent gave access to (the connection carries the refresh token,
    and in token_cache the access token of the code exchange, renewed when it lapsed). Returns (findings, facts)."""
    account = client(connection)
    try:
        profiles = account.profiles()
        centers = account.distribution_centers()
    except AuthError as exc:
        return [finding(False, "ChannelAdvisor refused the access", f"{exc}. Connect again.")], None
    except ConnectorError as exc:
        return [_unreachable("ChannelAdvisor", exc)], None
    findings = [finding(True, "ChannelAdvisor granted access")]
    if not profiles:
        findings.append(finding(False, "The account has no profile this application may use",
                                "Sign in to ChannelAdvisor with a user of the right account and connect again."))
    else:
        names = ", ".join(f"{p.get('AccountName') or p.get('CompanyName') or 'profile'} ({p.get('ID')})"
                          for p in profiles)
        findings.append(finding(True, f"{len(profiles)} profile(s): {names}"))
    writable = [dc for dc in centers if not dc.get("IsExternallyManaged")]
    findings.append(finding(bool(writable) or None, f"{len(centers)} distribution center(s)",
                            f"{len(writable)} of them hold stock the portal may update." if centers else
                            "None listed: quantities go to the default distribution center (0)."))
    return findings, {"profiles": profiles, "distribution_centers": centers}


# --- TIMS -------------------------------------------------------------------------------------------------------

CUSTOM_FIELD_ENTITIES = ("sales_order", "customer", "item")


@forgets_cookies
def tims(connection):
    """The token, the locations and the custom fields. Returns (findings, facts)."""
    erp = client(connection)
    connection.token_cache = {}
    try:
        erp.token()
    except AuthError as exc:
        return [finding(False, "TIMS refused the client id or secret", f"{exc}.")], None
    except ConnectorError as exc:
        return [_unreachable("TIMS", exc)], None
    minutes = max(0, int(connection.token_cache["expires_at"] - time.time()) // 60)
    findings = [finding(True, "TIMS issued an access token", f"It lasts about {minutes} minutes.")]
    try:
        locations = erp.locations()
        fields = {entity: [f.get("Name") for f in erp.custom_fields(entity)] for entity in CUSTOM_FIELD_ENTITIES}
    except AuthError as exc:
        findings.append(finding(False, "TIMS refused a read", f"{exc}."))
        return findings, None
    except ConnectorError as exc:
        findings.append(finding(False, "Reading locations and custom fields failed", str(exc)))
        return findings, None
    if locations:
        default = next((loc["Code"] for loc in locations if loc.get("IsDefault")), "")
        findings.append(finding(True, f"{len(locations)} location(s): " + ", ".join(
            str(loc.get("Code")) for loc in locations), f"TIMS's default is {default}." if default else ""))
    else:
        findings.append(finding(False, "TIMS lists no location", "Orders need a location; ask the TIMS "
                                "administrator to set one up, then Check again."))
    defined = [f"{entity.replace('_', ' ')}: {', '.join(names)}" for entity, names in fields.items() if names]
    findings.append(finding(None, "Custom fields", "; ".join(defined) if defined else
                            "None defined yet; mappings that write custom fields create them when needed."))
    return findings, {"locations": locations, "custom_fields": fields}


@forgets_cookies
def tims_customers(connection, text=""):
    """Customers matching `text` for the guest-customer pick: (customers, problem)."""
    try:
        return client(connection).search_customers(text, limit=25), ""
    except ConnectorError as exc:
        return [], f"TIMS could not list customers: {exc}"


@forgets_cookies
def tims_customer_problem(connection, code):
    """Why the guest customer `code` will not do (TIMS does not have it), or ""."""
    if not code:
        return ""
    try:
        client(connection).get_customer(code)
    except NotFound:
        return f"TIMS has no customer {code}."
    except ConnectorError as exc:
        return f"TIMS could not confirm customer {code}: {exc}"
    return ""
