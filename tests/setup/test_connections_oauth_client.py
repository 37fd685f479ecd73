"""A real OAuth 2.0 client library written by others (requests-oauthlib on oauthlib) against the ChannelAdvisor
sandbox's authorize page and token endpoint, unchanged: authorization URL, consent, state check, code exchange
with Basic auth, bearer calls, refresh, and ChannelAdvisor's error bodies read as OAuth errors."""

import random
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError, MismatchingStateError
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from sandbox import services
from sandbox.channeladvisor import auth as ca_auth
from sandbox.channeladvisor.models import Application

from .test_connections import hidden_fields

pytestmark = pytest.mark.django_db(transaction=True)
REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"  # never opened: the library only reads the address back


@pytest.fixture
def app(live_server, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the live server speaks plain http
    sandbox, _ = services.create_sandbox(f"oauthlib-{random.randrange(10**8)}")
    secrets = services.issue_credentials(sandbox, live_server.url)["channeladvisor"]
    application = Application.objects.get(sandbox=sandbox, application_id=secrets["application_id"])
    application.name = "Library test app"
    application.save()
    ca_auth.register_redirect_uri(application, REDIRECT_URI)
    return secrets


def consent(authorization_url, decision="allow"):
    page = requests.get(authorization_url, timeout=10)
    assert page.status_code == 200 and "Library test app" in page.text
    reply = requests.post(page.url, data={**hidden_fields(page.text), "decision": decision},
                          allow_redirects=False, timeout=10)
    assert reply.status_code == 302
    return reply.headers["Location"]


def session(app):
    return OAuth2Session(client_id=app["application_id"], redirect_uri=REDIRECT_URI, scope=["orders", "inventory"])


def test_requests_oauthlib_runs_the_whole_code_flow(app):
    base = app["base_url"]
    client = session(app)
    authorization_url, state = client.authorization_url(f"{base}/oauth2/authorize", access_type="offline")
    back = consent(authorization_url)
    assert parse_qs(urlsplit(back).query)["state"] == [state]
    basic = HTTPBasicAuth(app["application_id"], app["shared_secret"])
    token = client.fetch_token(f"{base}/oauth2/token", authorization_response=back, auth=basic,
                               include_client_id=False)
    assert token["token_type"].lower() == "bearer" and token["refresh_token"] and token["expires_in"] == 3600
    assert client.get(f"{base}/v1/Orders", timeout=10).status_code == 200
    assert client.get(f"{base}/v1/DistributionCenters", timeout=10).json()["value"][0]["ID"] == 0

    refreshed = client.refresh_token(f"{base}/oauth2/token", auth=basic)
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] == token["refresh_token"]  # ChannelAdvisor keeps the refresh token
    assert client.get(f"{base}/v1/Products", timeout=10).status_code == 200

    # The code was used: ChannelAdvisor's error body is a standard OAuth error the library raises as such.
    with pytest.raises(InvalidGrantError):
        session(app).fetch_token(f"{base}/oauth2/token", authorization_response=back, auth=basic,
                                 include_client_id=False)


def test_the_library_sees_a_denied_consent_and_a_foreign_state(app):
    base = app["base_url"]
    client = session(app)
    authorization_url, state = client.authorization_url(f"{base}/oauth2/authorize", access_type="offline")
    denied = consent(authorization_url, decision="deny")
    query = parse_qs(urlsplit(denied).query)
    assert query["error"] == ["access_denied"] and query["state"] == [state]
    basic = HTTPBasicAuth(app["application_id"], app["shared_secret"])
    with pytest.raises(Exception, match="access_denied"):
        client.fetch_token(f"{base}/oauth2/token", authorization_response=denied, auth=basic)

    other = session(app)
    other.authorization_url(f"{base}/oauth2/authorize")  # this session expects its own state
    with pytest.raises(MismatchingStateError):
        other.fetch_token(f"{base}/oauth2/token", authorization_response=consent(authorization_url), auth=basic)
