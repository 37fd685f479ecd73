"""“Test connection”: plain-words checks of a connection, each saying how to fix what fails.

Reachability, TLS, authentication, the permissions the flows need, clock skew and API version. The connection's
status, last_checked_at and last_check_message are updated with the outcome.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from django.utils import timezone

from integrations.connectors import auth
from integrations.connectors.errors import AuthError, ConnectorError, UnsafeAddress
from integrations.connectors.http import HttpClient, allows_internal, refuse_internal_host
from integrations.models import ConnectionStatus, base_url_problem

MAX_SKEW_SECONDS = 300


@dataclass(frozen=True)
class Need:
    """One thing the portal does on PrestaShop: a resource, a method, the flows (integrations.flows.registry names)
    that do it and why. "UPDATE" is PATCH on PrestaShop 8 and later and PUT before (the connector's update())."""

    resource: str
    method: str
    flows: tuple
    why: str

    def on(self, version_major):
        """This need with UPDATE resolved for a shop of that PSWS-Version major (None: not known, PUT)."""
        if self.method != "UPDATE":
            return self
        return Need(self.resource, "PATCH" if (version_major or 0) >= 8 else "PUT", self.flows, self.why)


# What the flows do on PrestaShop. tests/setup checks every flow named here is declared, and that every flow
# offered with PrestaShop appears.
PRESTASHOP_USES = (
    Need("orders", "GET", ("orders", "shipments", "cancellations", "payments", "returns"),
         "read new and changed orders"),
    Need("customers", "GET", ("orders", "customers"), "read the buyer of an order, and customers who changed"),
    Need("addresses", "GET", ("orders", "customers"), "read delivery and invoice addresses, and changed ones"),
    Need("order_states", "GET", ("orders", "shipments", "cancellations"), "read the shop's order state names"),
    Need("currencies", "GET", ("orders", "payments", "returns"), "read the order's currency"),
    Need("order_payments", "GET", ("payments",), "read what the buyer paid (amount, method, transaction id)"),
    Need("order_slip", "GET", ("returns",), "read credit slips (refunds) and what they gave back"),
    Need("countries", "GET", ("orders", "customers"), "read the addresses' countries"),
    Need("carriers", "GET", ("orders", "shipments"), "read and pick the carrier"),
    Need("products", "GET", ("orders", "inventory", "prices"), "find products by SKU"),
    Need("products", "UPDATE", ("prices",), "set a product's price"),
    Need("combinations", "GET", ("inventory", "prices"), "find product variants by SKU"),
    Need("combinations", "UPDATE", ("prices",), "set a variant's price"),
    Need("order_histories", "GET", ("shipments", "cancellations"), "read an order's state history"),
    Need("order_histories", "POST", ("shipments", "cancellations"), "move an order to Shipped or Canceled"),
    Need("order_carriers", "GET", ("shipments",), "find the order's shipment"),
    Need("order_carriers", "POST", ("shipments",), "add a shipment to an order"),
    Need("order_carriers", "UPDATE", ("shipments",), "write the tracking number"),
    Need("stock_availables", "GET", ("inventory", "prices"), "read the shop's quantities (and find a SKU's product)"),
    Need("stock_availables", "UPDATE", ("inventory",), "set the shop's quantities"),
)
# The same as (resource, method) pairs for a shop whose version is not known.
PRESTASHOP_NEEDS = [(n.on(None).resource, n.on(None).method) for n in PRESTASHOP_USES]


def prestashop_needs(version_major=None, flows=None):
    """The needs of the given flows (all when None), UPDATE resolved for the shop's version."""
    return [need.on(version_major) for need in PRESTASHOP_USES
            if flows is None or set(need.flows) & set(flows)]


def prestashop_missing(allowed, version_major=None, flows=None):
    """The needs the key's `GET /api/` listing ({resource: {methods}}) does not grant."""
    return [need for need in prestashop_needs(version_major, flows)
            if need.method not in allowed.get(need.resource, set())]


def version_major(version):
    major = str(version or "").split(".")[0]
    return int(major) if major.isdigit() else None


@dataclass
class CheckResult:
    name: str
    ok: bool
    message: str

    def __str__(self):
        return f"[{'ok' if self.ok else 'FAIL'}] {self.name}: {self.message}"


def client_class(kind):
    from integrations.connectors.channeladvisor.client import ChannelAdvisorClient
    from integrations.connectors.prestashop.client import PrestaShopClient
    from integrations.connectors.tims.client import TimsClient

    return {"prestashop": PrestaShopClient, "channeladvisor": ChannelAdvisorClient, "tims": TimsClient}[kind]


def client_for(connection, **kwargs):
    return client_class(connection.kind)(connection, **kwargs)


def test_connection(connection) -> list[CheckResult]:
    results = []
    try:
        _run(connection, results)
    finally:
        _save(connection, results)
    return results


test_connection.__test__ = False  # not a pytest test, despite the name


def _run(connection, results):
    label = connection.get_kind_display()
    problem = base_url_problem(connection.base_url, allow_local=allows_internal(connection))
    if not problem and not allows_internal(connection):
        try:
            refuse_internal_host(urlsplit(connection.base_url).hostname)
        except UnsafeAddress as exc:
            problem = str(exc)
    if problem:
        results.append(CheckResult("address", False, problem))
        return
    results.append(CheckResult("address", True, f"{connection.base_url} is an acceptable address."))

    # Reachability and TLS: any HTTP answer at all (even 401) proves both.
    probe_url = {"prestashop": "/api/", "channeladvisor": "/v1/", "tims": "/api/v1/"}[connection.kind]
    http = HttpClient(connection, label, lane="high", use_breaker=False)
    try:
        response = http.request("GET", connection.base_url.rstrip("/") + probe_url, check=False)
    except ConnectorError as exc:
        tls = "TLS" in str(exc)
        if tls:
            results.append(CheckResult("reachability", True, f"{label} answered the connection."))
            results.append(CheckResult("tls", False, str(exc)))
        elif exc.status:  # it answered, with 429 or 5xx
            results.append(CheckResult("reachability", False, f"{exc} The server is reachable but not working "
                                       "properly; try again later or ask its administrator."))
        else:
            results.append(CheckResult("reachability", False, f"{exc} Check the base URL, that the server is up and "
                                       "that its firewall lets this portal in."))
        return
    results.append(CheckResult("reachability", True, f"{label} answered ({response.status_code})."))
    if urlsplit(connection.base_url).scheme == "https":
        results.append(CheckResult("tls", True, "The certificate is valid for this host."))
    else:
        results.append(CheckResult("tls", True, "Plain HTTP, allowed because this is a sandbox or an on-premises "
                                                "host; use https for anything reachable from the internet."))
    results.append(_clock(response, label))

    client = client_for(connection, lane="high", use_breaker=False)
    {"prestashop": _prestashop, "channeladvisor": _channeladvisor, "tims": _tims}[connection.kind](client, results)


def _clock(response, label):
    header = response.headers.get("Date")
    if not header:
        return CheckResult("clock", True, f"{label} sent no Date header; clock skew could not be measured.")
    try:
        remote = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return CheckResult("clock", True, f"{label}'s Date header “{header}” could not be read.")
    if remote.tzinfo is None:
        remote = remote.replace(tzinfo=UTC)
    skew = (remote - datetime.now(UTC)).total_seconds()
    if abs(skew) > MAX_SKEW_SECONDS:
        return CheckResult("clock", False, f"{label}'s clock and ours differ by {abs(skew):.0f} s; tokens and "
                                           "date filters go wrong. Synchronise the server clocks (NTP).")
    return CheckResult("clock", True, f"Clocks agree (difference {abs(skew):.0f} s).")


def _prestashop(client, results):
    try:
        allowed = client.resources()
    except AuthError as exc:
        results.append(CheckResult("authentication", False, str(exc)))
        return
    except ConnectorError as exc:
        results.append(CheckResult("authentication", False, f"{exc} Check the base URL points at the shop root."))
        return
    results.append(CheckResult("authentication", True, "The webservice key is accepted."))
    missing = [f"{need.resource} ({need.method})"
               for need in prestashop_missing(allowed, version_major(client.version))]
    if missing:
        results.append(CheckResult("permissions", False, f"The webservice key lacks: {', '.join(missing)} — tick them "
                                   "for the key under Advanced Parameters > Webservice."))
    else:
        results.append(CheckResult("permissions", True, "The key may use every resource the flows need."))
    version = client.version or ""
    major = version.split(".")[0]
    if not major.isdigit():
        results.append(CheckResult("api version", False, "The answer had no PSWS-Version header: is this a "
                                                         "PrestaShop webservice?"))
    elif int(major) < 1 or version < "1.7" and int(major) == 1:
        results.append(CheckResult("api version", False, f"PrestaShop {version} is older than 1.7, which the "
                                                         "connector needs; upgrade the shop."))
    else:
        writes = "PATCH" if int(major) >= 8 else "GET-modify-PUT"
        results.append(CheckResult("api version", True, f"PrestaShop webservice {version}; updates use {writes}."))


def _oauth_token(client, results, label):
    try:
        auth.access_token(client.connection, client.fetch_token,
                          stale=(client.connection.token_cache or {}).get("access_token"))
    except AuthError as exc:
        message = f"{exc} — {client.auth_hint(exc)}"
        auth.mark_needs_attention(client.connection, message)
        results.append(CheckResult("authentication", False, message))
        return False
    except ConnectorError as exc:
        results.append(CheckResult("authentication", False, f"{label} could not issue a token: {exc}"))
        return False
    results.append(CheckResult("authentication", True, f"{label} issued an access token."))
    return True


def _channeladvisor(client, results):
    if not _oauth_token(client, results, "ChannelAdvisor"):
        return
    profile_id = client.connection.settings.get("profile_id")
    try:
        body = client.json(client.call("GET", client.url("Orders"), params={"$top": "1", "$select": "ID,ProfileID"}))
        client.json(client.call("GET", client.url("Products"), params={"$top": "1", "$select": "ID,ProfileID"}))
    except ConnectorError as exc:
        results.append(CheckResult("permissions", False, f"Reading orders and products failed: {exc}"))
        return
    profiles = {str(row.get("ProfileID")) for row in body.get("value") or [] if row.get("ProfileID") is not None}
    if profile_id and profiles and str(profile_id) not in profiles:
        results.append(CheckResult("permissions", False, f"The token reads profile {', '.join(sorted(profiles))}, "
                                   f"not {profile_id}: correct the profile id setting or authorize the right account."))
    else:
        results.append(CheckResult("permissions", True, "Orders and products of the profile can be read."))
    results.append(CheckResult("api version", True, "ChannelAdvisor REST API v1."))


def _tims(client, results):
    if not _oauth_token(client, results, "TIMS"):
        return
    try:
        client.get_json("customers", {"page_size": 1})
        response = client.http.last_response
        client.get_json("items", {"page_size": 1})
    except ConnectorError as exc:
        results.append(CheckResult("permissions", False, f"Reading customers and items failed: {exc} — ask the TIMS "
                                   "administrator to grant the API client read access."))
        return
    results.append(CheckResult("permissions", True, "Customers and items can be read."))
    version = response.headers.get("API-Version") or response.headers.get("X-API-Version") if response else None
    results.append(CheckResult("api version", True, f"TIMS API {version}." if version else
                               "TIMS API profile v1 (the server does not state a version)."))


def _save(connection, results):
    failed = [r for r in results if not r.ok]
    if not failed:
        status, message = ConnectionStatus.OK, "All checks passed."
    else:
        first = failed[0]
        needs_person = first.name in ("authentication", "permissions", "address", "clock", "api version", "tls")
        status = ConnectionStatus.NEEDS_ATTENTION if needs_person else ConnectionStatus.FAILING
        message = " ".join(f"{r.name}: {r.message}" for r in failed)
    connection.status, connection.last_checked_at, connection.last_check_message = status, timezone.now(), message
    type(connection).objects.filter(pk=connection.pk).update(
        status=status, last_checked_at=connection.last_checked_at, last_check_message=message)
