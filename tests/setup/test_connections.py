"""The connection wizard against the sandboxes over real HTTP: every step, what a key lacks, the ChannelAdvisor
consent (allowed, denied, a bad state, a reused code, a wrong redirect URI), roles, and secrets that never come
back in any page."""

import random
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client

from integrations.connectors import http
from integrations.connectors.errors import AuthError
from integrations.models import AuditEntry, Connection, ConnectionStatus
from sandbox import services
from sandbox.channeladvisor import auth as ca_auth
from sandbox.channeladvisor.models import Application
from sandbox.prestashop.provision import configure, issue_key
from setup.connections import probes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_sessions():
    yield
    http.close_sessions()


class Browser:
    """The Django test client as a signed-in user on the live server's host (so a sandbox address on this
    server is recognised as one), keeping every page it got so tests can look for secrets in all of them."""

    def __init__(self, live_server, user):
        self.host = urlsplit(live_server.url).netloc
        self.client = Client(HTTP_HOST=self.host)
        self.client.force_login(user)
        self.bodies = []

    def get(self, path, **params):
        response = self.client.get(path, params)
        self.bodies.append(response.content.decode())
        return response

    def post(self, path, data=None):
        response = self.client.post(path, data or {})
        self.bodies.append(response.content.decode())
        return response

    def follow(self, response):
        assert response.status_code == 302, response.content.decode()[:2000]
        return self.get(response["Location"])

    def assert_never_shown(self, *values):
        for value in values:
            assert value and all(value not in body for body in self.bodies), f"{value[:6]}… was in a page"


def hidden_fields(html):
    fields = {}

    class Form(HTMLParser):
        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "input" and attrs.get("type") == "hidden":
                fields[attrs["name"]] = attrs.get("value") or ""

    Form().feed(html)
    return fields


def text(response):
    return re.sub(r"\s+", " ", response.content.decode())


def new_sandbox(live_server, kind, **generate):
    sandbox, _ = services.create_sandbox(f"wiz-{kind[:4]}-{random.randrange(10**8)}")
    if generate:
        services.system_module(kind).generate(sandbox, state=None, unknown_sku=0, rng=random.Random(3),
                                              **{"orders": 0, "products": 0, "customers": 0, **generate})
    return sandbox, services.issue_credentials(sandbox, live_server.url)[kind]


def url(org, *parts):
    return "/setup/" + "/".join([org.slug, "connections", *parts]) + "/"


# --- PrestaShop -------------------------------------------------------------------------------------------------

def test_prestashop_wizard_reads_the_shop_and_saves(live_server, cast):
    _, secrets = new_sandbox(live_server, "prestashop")
    user = Browser(live_server, cast.owner_a)
    assert user.get(url(cast.org_a, "new", "prestashop")).status_code == 200
    response = user.post(url(cast.org_a, "new", "prestashop"), {
        "name": "Main shop", "base_url": secrets["base_url"], "ws_key": secrets["ws_key"]})
    review = user.follow(response)
    page = text(review)
    assert "The shop accepted the webservice key" in page
    assert "PrestaShop 8.1.7" in page and "PATCH" in page
    assert "The key may do everything the flows need" in page
    # The sandbox shop has no configurations resource: the wizard says so and asks for the time zone.
    assert "time zone could not be read" in page and "configurations: GET" in page

    saved = user.follow(user.post(review.request["PATH_INFO"], {"timezone": "Europe/Paris", "save": "1"}))
    assert "Saved “Main shop”: every check passed." in text(saved)
    connection = Connection.objects.get(organization=cast.org_a, name="Main shop")
    assert connection.credentials == {"ws_key": secrets["ws_key"]}
    assert connection.settings == {"timezone": "Europe/Paris"} and connection.sandbox_id
    assert connection.status == ConnectionStatus.OK and connection.last_checked_at
    entry = AuditEntry.objects.get(action="connection_created", organization=cast.org_a)
    assert entry.after["credentials"] == {"ws_key": "***"} and entry.after["secrets_changed"] == ["ws_key"]
    assert secrets["ws_key"] not in str(entry.after) and entry.before is None
    assert "Main shop" in text(user.get(url(cast.org_a)))
    user.assert_never_shown(secrets["ws_key"])


def test_what_the_key_lacks_is_listed_in_plain_words(live_server, cast):
    sandbox, secrets = new_sandbox(live_server, "prestashop")
    everything_but = {"orders": ["GET"], "customers": ["GET"], "addresses": ["GET"], "order_states": ["GET"],
                      "currencies": ["GET"], "countries": ["GET"], "carriers": ["GET"],
                      "products": ["GET", "PUT", "PATCH"], "combinations": ["GET", "PUT", "PATCH"],
                      "order_histories": ["GET"], "order_carriers": ["GET", "POST", "PATCH"],
                      "stock_availables": ["GET", "PUT"], "order_payments": ["GET"],
                      "order_slip": ["GET"]}  # no order_histories POST,
    # no stock PATCH
    key = issue_key(sandbox, grants=everything_but, description="narrow key")
    user = Browser(live_server, cast.owner_a)
    review = user.follow(user.post(url(cast.org_a, "new", "prestashop"), {
        "name": "Narrow", "base_url": secrets["base_url"], "ws_key": key}))
    page = text(review)
    assert "Tick order_histories: POST for this key under Advanced Parameters › Webservice" in page
    assert "Needed to move an order to Shipped or Canceled (Shipments to the channel, " in page
    assert "Tick stock_availables: PATCH" in page and "stock_availables: PUT" not in page
    assert "Tick orders: GET" not in page and "lacks 2 permissions" in page

    # On PrestaShop 1.7 updates are PUT, which this key has: Check again says so.
    configure(sandbox, version="1.7.8.11")
    again = user.follow(user.post(review.request["PATH_INFO"], {"check_again": "1"}))
    page = text(again)
    assert "PrestaShop 1.7.8.11" in page and "no PATCH" in page
    assert "Tick stock_availables" not in page and "Tick order_histories: POST" in page

    saved = user.follow(user.post(again.request["PATH_INFO"], {"timezone": "Europe/Paris", "save": "1"}))
    assert "needs attention" in text(saved)
    connection = Connection.objects.get(name="Narrow")
    assert connection.status == ConnectionStatus.NEEDS_ATTENTION
    assert "order_histories (POST)" in text(user.get(url(cast.org_a)))  # the list says what it lacks
    user.assert_never_shown(key)


def test_a_refused_key_or_a_bad_address_stays_on_the_first_step(live_server, cast):
    _, secrets = new_sandbox(live_server, "prestashop")
    user = Browser(live_server, cast.owner_a)
    refused = user.post(url(cast.org_a, "new", "prestashop"), {
        "name": "Shop", "base_url": secrets["base_url"], "ws_key": "WRONGKEYWRONGKEYWRONGKEYWRONGKEY"})
    assert refused.status_code == 200
    assert "The shop refused the webservice key" in text(refused) and "Advanced Parameters" in text(refused)
    bad = user.post(url(cast.org_a, "new", "prestashop"), {"name": "Shop", "base_url": "shop dot example",
                                                            "ws_key": "x" * 32})
    assert bad.status_code == 200 and "is not a web address" in text(bad)
    inside = user.post(url(cast.org_a, "new", "prestashop"), {"name": "Shop", "base_url": "https://10.0.0.5",
                                                               "ws_key": "x" * 32})
    assert inside.status_code == 200 and "did not answer as expected" in text(inside)
    assert not Connection.objects.filter(organization=cast.org_a).exists()
    user.assert_never_shown("WRONGKEYWRONGKEYWRONGKEYWRONGKEY")


def test_change_credentials_keeps_an_empty_secret_and_never_renders_it(live_server, cast):
    _, secrets = new_sandbox(live_server, "prestashop")
    user = Browser(live_server, cast.owner_a)
    review = user.follow(user.post(url(cast.org_a, "new", "prestashop"), {
        "name": "Shop", "base_url": secrets["base_url"], "ws_key": secrets["ws_key"]}))
    user.follow(user.post(review.request["PATH_INFO"], {"timezone": "Europe/Paris", "save": "1"}))
    connection = Connection.objects.get(name="Shop")

    form = user.get(url(cast.org_a, str(connection.pk), "change"))
    assert "Leave empty to keep the current value." in text(form)
    assert re.search(r'<input type="password" name="ws_key"[^>]*>', form.content.decode())
    assert 'name="ws_key" value' not in form.content.decode()
    review = user.follow(user.post(url(cast.org_a, str(connection.pk), "change"), {
        "name": "Shop renamed", "base_url": secrets["base_url"], "ws_key": ""}))
    assert "The shop accepted the webservice key" in text(review)
    user.follow(user.post(review.request["PATH_INFO"], {"timezone": "America/New_York", "save": "1"}))
    connection.refresh_from_db()
    assert connection.name == "Shop renamed" and connection.credentials == {"ws_key": secrets["ws_key"]}
    assert connection.settings["timezone"] == "America/New_York"
    entry = AuditEntry.objects.get(action="connection_changed")
    assert entry.before["name"] == "Shop" and entry.before["credentials"] == {"ws_key": "***"}
    assert "secrets_changed" not in entry.after
    user.assert_never_shown(secrets["ws_key"])


# --- ChannelAdvisor -----------------------------------------------------------------------------------------------

def callback(live_server):
    return f"{live_server.url}/setup/channeladvisor/callback/"


def ca_setup(live_server, register=True):
    sandbox, secrets = new_sandbox(live_server, "channeladvisor")
    application = Application.objects.get(sandbox=sandbox, application_id=secrets["application_id"])
    if register:
        ca_auth.register_redirect_uri(application, callback(live_server))
    return sandbox, secrets


def start_consent(user, org, secrets, name="Marketplaces"):
    """Step 1 → the redirect to ChannelAdvisor's authorize page (its query checked) → the consent page."""
    response = user.post(url(org, "new", "channeladvisor"), {
        "name": name, "base_url": secrets["base_url"], "application_id": secrets["application_id"],
        "shared_secret": secrets["shared_secret"]})
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{secrets['base_url']}/oauth2/authorize"
    assert query["client_id"] == [secrets["application_id"]] and query["response_type"] == ["code"]
    assert query["access_type"] == ["offline"] and query["scope"] == ["orders inventory"]
    consent = requests.get(response["Location"], timeout=10)
    return consent, query


def answer(consent, decision):
    reply = requests.post(consent.url, data={**hidden_fields(consent.text), "decision": decision},
                          allow_redirects=False, timeout=10)
    assert reply.status_code == 302
    return reply.headers["Location"]


def local(location):
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def test_channeladvisor_consent_code_flow_and_account_pick(live_server, cast):
    _, secrets = ca_setup(live_server)
    user = Browser(live_server, cast.owner_a)
    step_one = user.get(url(cast.org_a, "new", "channeladvisor"))
    assert callback(live_server) in text(step_one)  # the redirect URI to register
    consent, query = start_consent(user, cast.org_a, secrets)
    assert consent.status_code == 200 and "wants access to your ChannelAdvisor account" in consent.text
    back = answer(consent, "allow")
    assert back.startswith(callback(live_server)) and parse_qs(urlsplit(back).query)["state"] == query["state"]

    account = user.follow(user.get(local(back)))
    page = text(account)
    assert "ChannelAdvisor granted access" in page and "Sandbox seller (12345678)" in page
    assert "East coast warehouse" in page and "externally managed" in page
    assert '<option value="2"' not in account.content.decode()  # FBA takes no quantities
    saved = user.follow(user.post(account.request["PATH_INFO"], {"profile_id": "12345678",
                                                                 "distribution_center_id": "1"}))
    assert "Saved “Marketplaces”: every check passed." in text(saved), text(saved)[-3000:]
    connection = Connection.objects.get(name="Marketplaces")
    assert connection.settings == {"profile_id": 12345678, "distribution_center_id": 1}
    refresh = connection.credentials["refresh_token"]
    assert set(connection.credentials) == {"application_id", "shared_secret", "refresh_token"}
    assert connection.status == ConnectionStatus.OK
    entry = AuditEntry.objects.get(action="connection_created")
    assert entry.after["credentials"] == {"application_id": "***", "shared_secret": "***", "refresh_token": "***"}
    # The refresh token from the exchange works on its own, as the flows will use it.
    token = requests.post(f"{secrets['base_url']}/oauth2/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": refresh},
        auth=(secrets["application_id"], secrets["shared_secret"]))
    assert token.status_code == 200
    user.assert_never_shown(secrets["shared_secret"], refresh, connection.token_cache["access_token"])

    # The same answer again (a reload, or a replayed code): the state was for one answer only.
    replay = user.get(local(back))
    assert replay.status_code == 400 and "does not belong to a setup started here" in text(replay)


def test_denied_consent_says_so_and_offers_to_try_again(live_server, cast):
    _, secrets = ca_setup(live_server)
    user = Browser(live_server, cast.owner_a)
    consent, first = start_consent(user, cast.org_a, secrets)
    back = answer(consent, "deny")
    assert parse_qs(urlsplit(back).query)["error"] == ["access_denied"]
    denied = user.get(local(back))
    assert denied.status_code == 200
    assert "ChannelAdvisor access was not granted" in text(denied) and "Nothing was saved" in text(denied)
    retry = re.search(r'action="([^"]+/consent/)"', denied.content.decode()).group(1)
    again = user.post(retry)
    assert again.status_code == 302 and "/oauth2/authorize?" in again["Location"]
    assert parse_qs(urlsplit(again["Location"]).query)["state"] != first["state"]
    assert not Connection.objects.exists()
    user.assert_never_shown(secrets["shared_secret"])


def test_a_bad_state_is_refused_plainly(live_server, cast):
    _, secrets = ca_setup(live_server)
    user = Browser(live_server, cast.owner_a)
    consent, _ = start_consent(user, cast.org_a, secrets)
    back = parse_qs(urlsplit(answer(consent, "allow")).query)
    forged = user.get("/setup/channeladvisor/callback/", code=back["code"][0], state="not-the-state")
    assert forged.status_code == 400 and "does not belong to a setup started here" in text(forged)
    assert "Start again" in text(forged)
    # Another user's session does not hold the state either.
    stranger = Browser(live_server, cast.integration_admin)
    assert stranger.get("/setup/channeladvisor/callback/", code=back["code"][0],
                        state=back["state"][0]).status_code == 400
    assert not Connection.objects.exists()


def test_a_code_for_another_redirect_uri_or_used_twice_is_refused(live_server, cast):
    sandbox, secrets = ca_setup(live_server)
    other = "https://elsewhere.example.com/callback"
    ca_auth.register_redirect_uri(Application.objects.get(application_id=secrets["application_id"]), other)
    user = Browser(live_server, cast.owner_a)
    _, query = start_consent(user, cast.org_a, secrets)
    # A code the same application got for its other redirect URI, brought back with this setup's state.
    page = requests.get(f"{secrets['base_url']}/oauth2/authorize", timeout=10, params={
        "client_id": secrets["application_id"], "response_type": "code", "redirect_uri": other, "state": "x"})
    foreign = parse_qs(urlsplit(answer(page, "allow")).query)["code"][0]
    refused = user.get("/setup/channeladvisor/callback/", code=foreign, state=query["state"][0])
    assert refused.status_code == 200 and "ChannelAdvisor refused the authorization code" in text(refused)
    assert "invalid_grant" in text(refused) and "Try again" in text(refused)

    # The connector says the same of a code used twice, with ChannelAdvisor's own error.
    remote = Connection(kind="channeladvisor", base_url=secrets["base_url"], sandbox=sandbox,
                        credentials={k: secrets[k] for k in ("application_id", "shared_secret")})
    page = requests.get(f"{secrets['base_url']}/oauth2/authorize", timeout=10, params={
        "client_id": secrets["application_id"], "response_type": "code", "redirect_uri": other})
    code = parse_qs(urlsplit(answer(page, "allow")).query)["code"][0]
    assert probes.client(remote).exchange_code(code, other)["refresh_token"]
    with pytest.raises(AuthError, match="invalid_grant"):
        probes.client(remote).exchange_code(code, other)
    user.assert_never_shown(secrets["shared_secret"])


def test_an_unregistered_redirect_uri_is_refused_on_the_consent_page(live_server, cast):
    _, secrets = ca_setup(live_server, register=False)
    user = Browser(live_server, cast.owner_a)
    consent, _ = start_consent(user, cast.org_a, secrets)
    assert consent.status_code == 400 and "is not registered for this application" in consent.text


# --- TIMS ---------------------------------------------------------------------------------------------------------

def test_tims_wizard_checks_the_token_and_picks_location_and_guest_customer(live_server, cast):
    _, secrets = new_sandbox(live_server, "tims", customers=3)
    user = Browser(live_server, cast.owner_a)
    wrong = user.post(url(cast.org_a, "new", "tims"), {
        "name": "ERP", "base_url": secrets["base_url"], "client_id": secrets["client_id"],
        "client_secret": "not-the-secret"})
    assert wrong.status_code == 200 and "TIMS refused the client id or secret" in text(wrong)
    defaults = user.follow(user.post(url(cast.org_a, "new", "tims"), {
        "name": "ERP", "base_url": secrets["base_url"], "client_id": secrets["client_id"],
        "client_secret": secrets["client_secret"]}))
    page = text(defaults)
    assert "TIMS issued an access token" in page and "2 location(s): EAST, MAIN" in page
    assert "default is MAIN." in page and "Custom fields" in page
    assert '<option value="MAIN" selected' in defaults.content.decode()
    found = user.get(defaults.request["PATH_INFO"], q="guest")
    assert "1 customer match “guest”" in text(found) and '<option value="C-GUEST"' in found.content.decode()

    unknown = user.post(defaults.request["PATH_INFO"], {"default_location": "EAST",
                                                        "default_customer_code": "C999999", "currency": "EUR"})
    assert unknown.status_code == 200 and "Select a valid choice" in text(unknown)
    saved = user.follow(user.post(defaults.request["PATH_INFO"], {
        "default_location": "EAST", "default_customer_code": "C-GUEST", "currency": "eur"}))
    assert "Saved “ERP”: every check passed." in text(saved)
    connection = Connection.objects.get(name="ERP")
    assert connection.settings == {"default_location": "EAST", "default_customer_code": "C-GUEST",
                                   "currency": "EUR"}
    assert connection.credentials == {"client_id": secrets["client_id"], "client_secret": secrets["client_secret"]}
    user.assert_never_shown(secrets["client_secret"], secrets["client_id"])


# --- roles ----------------------------------------------------------------------------------------------------

def test_viewer_sees_but_cannot_add_or_change_and_outsiders_get_404(live_server, cast):
    _, secrets = new_sandbox(live_server, "prestashop")
    owner = Browser(live_server, cast.owner_a)
    review = owner.follow(owner.post(url(cast.org_a, "new", "prestashop"), {
        "name": "Shop", "base_url": secrets["base_url"], "ws_key": secrets["ws_key"]}))
    owner.follow(owner.post(review.request["PATH_INFO"], {"timezone": "Europe/Paris", "save": "1"}))
    connection = Connection.objects.get(name="Shop")

    viewer = Browser(live_server, cast.member_a)
    listing = viewer.get(url(cast.org_a))
    assert listing.status_code == 200 and "Shop" in text(listing)
    assert "Add PrestaShop" not in text(listing) and "Change credentials" not in text(listing)
    assert "Check again" not in text(listing)
    assert viewer.get(url(cast.org_a, "new", "prestashop")).status_code == 403
    assert viewer.post(url(cast.org_a, "new", "prestashop"), {
        "name": "Mine", "base_url": secrets["base_url"], "ws_key": secrets["ws_key"]}).status_code == 403
    assert viewer.get(url(cast.org_a, str(connection.pk), "change")).status_code == 403
    assert viewer.post(url(cast.org_a, str(connection.pk), "check")).status_code == 403
    assert owner.get(review.request["PATH_INFO"]).status_code == 302  # finished: the draft is gone

    outsider = Browser(live_server, cast.outsider_b)
    assert outsider.get(url(cast.org_a)).status_code == 404
    assert outsider.get(url(cast.org_a, "new", "prestashop")).status_code == 404
    assert outsider.post(url(cast.org_a, str(connection.pk), "check")).status_code == 404
    # Their own organization's pages do not reach org A's connection either.
    assert outsider.post(url(cast.org_b, str(connection.pk), "check")).status_code == 404
    assert outsider.get(url(cast.org_b, str(connection.pk), "change")).status_code == 404

    checked = owner.follow(owner.post(url(cast.org_a, str(connection.pk), "check")))
    assert "Shop: every check passed." in text(checked)
    for who in (owner, viewer, outsider):
        who.assert_never_shown(secrets["ws_key"])


def test_every_flow_named_in_the_prestashop_needs_is_declared():
    from integrations.connectors.checks import PRESTASHOP_USES
    from integrations.flows import registry

    declared = {flow.name for flow in registry.all_flows()}
    named = {name for need in PRESTASHOP_USES for name in need.flows}
    assert named <= declared
    talks_to_the_shop = {flow.name for flow in probes.flows_for("prestashop")
                         if registry.CHANNEL in (flow.source, flow.target)}
    assert talks_to_the_shop <= named and "payments" in talks_to_the_shop


# --- odd answers are plain messages, never a 500 ----------------------------------------------------------------

@pytest.mark.parametrize("kind, fields, answers", [
    ("prestashop", {"ws_key": "K" * 32}, [("GET", "https://shop.example.com/api/", 200, "<html>Welcome</html>"),
                                          ("GET", "https://shop.example.com/api/", 200, "<html>Welcome</html>")]),
    ("prestashop", {"ws_key": "K" * 32}, [("GET", "https://shop.example.com/api/", 503, "down")] * 3),
    ("tims", {"client_id": "c", "client_secret": "s"},
     [("POST", "https://shop.example.com/oauth/token", 200, "not json")]),
    ("tims", {"client_id": "c", "client_secret": "s"},
     [("POST", "https://shop.example.com/oauth/token", 200, '{"access_token": "t", "expires_in": 60}'),
      ("GET", "https://shop.example.com/api/v1/locations", 404, '{"errors": []}')]),
])
def test_odd_answers_from_the_far_side_are_plain_messages(client, cast, kind, fields, answers):
    import responses

    client.force_login(cast.owner_a)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method, address, status, body in answers:
            mock.add(method, address, status=status, body=body)
        page = client.post(url(cast.org_a, "new", kind), {"name": "Odd", "base_url": "https://shop.example.com",
                                                          **fields})
    assert page.status_code == 200
    assert re.search(r"did not answer as expected|does not look like|failed|refused", text(page)), text(page)[-2000:]
    assert not Connection.objects.exists()


def test_unknown_kind_step_or_draft_is_404_or_a_way_back(client, cast):
    client.force_login(cast.owner_a)
    assert client.get(url(cast.org_a, "new", "sap")).status_code == 404
    gone = client.get(url(cast.org_a, "setup", "no-such-draft", "review"))
    assert gone.status_code == 302 and gone["Location"] == url(cast.org_a)
    lost = client.get("/setup/channeladvisor/callback/", {"code": "abc", "state": "unknown"})
    assert lost.status_code == 400 and "Go to your organization" in text(lost)  # no setup at all in this session


def test_a_name_taken_meanwhile_is_not_saved_and_says_why(live_server, cast):
    from tests.factories import make_connection

    _, secrets = new_sandbox(live_server, "prestashop")
    user = Browser(live_server, cast.owner_a)
    review = user.follow(user.post(url(cast.org_a, "new", "prestashop"), {
        "name": "Shop", "base_url": secrets["base_url"], "ws_key": secrets["ws_key"]}))
    make_connection(cast.org_a, name="Shop")  # someone else, in another tab
    back = user.post(review.request["PATH_INFO"], {"timezone": "Europe/Paris", "save": "1"})
    assert back.status_code == 302 and back["Location"].endswith("/connect/")
    page = user.get(back["Location"])
    assert "Not saved:" in text(page) and Connection.objects.filter(name="Shop").count() == 1
    assert not AuditEntry.objects.filter(action="connection_created").exists()
    user.assert_never_shown(secrets["ws_key"])


def test_a_later_step_before_the_first_one_passed_goes_back_to_it(live_server, cast):
    user = Browser(live_server, cast.owner_a)
    failed = user.post(url(cast.org_a, "new", "tims"), {
        "name": "ERP", "base_url": "https://10.1.2.3", "client_id": "c", "client_secret": "s"})
    key = re.search(r'/connections/setup/([^/]+)/connect/', failed.content.decode()).group(1)
    for name in ("defaults", "review"):
        response = user.get(url(cast.org_a, "setup", key, name))
        assert response.status_code in (302, 404)
        if response.status_code == 302:
            assert response["Location"].endswith(f"/setup/{key}/connect/")
    assert user.post(url(cast.org_a, "setup", key, "defaults"), {
        "default_location": "MAIN", "currency": "USD"}).status_code == 302
    assert not Connection.objects.exists()


def test_the_shop_time_zone_is_read_from_ps_timezone_when_the_key_may():
    """The sandbox shop has no configurations resource; a shop that has one answers as PrestaShop does."""
    from pathlib import Path

    import responses

    root = (Path(__file__).parents[1] / "integrations/connectors/fixtures/prestashop/api_root.xml").read_text()
    root = root.replace("</api>", '<configurations xlink:href="https://shop.example.com/api/configurations" '
                        'get="true" put="false" post="false" patch="false" delete="false" head="true">'
                        "<description>Shop configuration</description></configurations></api>")
    shop = Connection(kind="prestashop", base_url="https://shop.example.com", credentials={"ws_key": "K" * 32})
    with responses.RequestsMock() as mock:
        mock.get("https://shop.example.com/api/", body=root, headers={"PSWS-Version": "8.1.7"})
        mock.get("https://shop.example.com/api/configurations", headers={"PSWS-Version": "8.1.7"},
                 json={"configurations": [{"name": "PS_TIMEZONE", "value": "America/Chicago"}]})
        findings, facts = probes.prestashop(shop)
        asked = mock.calls[1].request.url
    assert facts["timezone"] == "America/Chicago" and facts["patch"] is True
    assert "filter%5Bname%5D=%5BPS_TIMEZONE%5D" in asked and "display=%5Bname%2Cvalue%5D" in asked
    assert any(f["title"] == "The shop's time zone is America/Chicago" for f in findings)
