"""Contract: OAuth token grants, their 400s, 401 on a bad or expired bearer token, the authorize page."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests


def test_refresh_token_grant_returns_a_bearer_token(ca):
    response = ca.token_response()
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"]
    assert ca.get("Orders", token=body["access_token"]).status_code == 200


def test_credentials_carry_profile_and_base_url(ca, live_server, sandbox):
    assert ca.credentials["base_url"] == f"{live_server.url}/sandbox/{sandbox.slug}/channeladvisor"
    assert ca.credentials["profile_id"] == 12345678
    assert {"application_id", "shared_secret", "refresh_token"} <= set(ca.credentials)


@pytest.mark.parametrize("change", [
    {"secret": "wrong-secret"},
    {"application_id": "no-such-app"},
    {"refresh_token": "not-a-refresh-token"},
    {"grant_type": "password"},
])
def test_bad_credentials_or_grant_answer_400(ca, change):
    response = ca.token_response(**change)
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_client", "invalid_grant", "unsupported_grant_type"}


def test_token_without_basic_auth_is_400(ca):
    response = requests.post(f"{ca.base}/oauth2/token", data={"grant_type": "refresh_token",
                                                               "refresh_token": ca.credentials["refresh_token"]})
    assert response.status_code == 400


def test_another_applications_refresh_token_is_refused(ca, other_app):
    assert ca.token_response(refresh_token=other_app.credentials["refresh_token"]).status_code == 400


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_missing_or_bad_bearer_is_401(ca, header):
    headers = {"Authorization": header} if header else {"Authorization": ""}
    response = requests.get(f"{ca.base}/v1/Orders", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"Message": "Authorization has been denied for this request."}


def test_access_token_in_query_string_works(ca):
    response = requests.get(f"{ca.base}/v1/Products", params={"access_token": ca.access_token}, timeout=10)
    assert response.status_code == 200


def test_expired_token_is_401_then_a_refresh_works(ca):
    ca.configure(access_token_seconds=1)
    token = ca.token_response().json()
    assert token["expires_in"] == 1
    assert ca.get("Orders", token=token["access_token"]).status_code == 200
    time.sleep(1.2)
    expired = ca.get("Orders", token=token["access_token"])
    assert expired.status_code == 401
    assert expired.json()["Message"] == "Authorization has been denied for this request."
    fresh = ca.token_response().json()["access_token"]
    assert ca.get("Orders", token=fresh).status_code == 200


def consent_form(response):
    """The hidden fields of the consent page's form, as a browser would post them back."""
    from html.parser import HTMLParser

    fields = {}

    class Form(HTMLParser):
        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "input" and attrs.get("type") == "hidden":
                fields[attrs["name"]] = attrs.get("value") or ""

    Form().feed(response.text)
    return fields


def register(ca, uri):
    from sandbox.channeladvisor import auth
    from sandbox.channeladvisor.models import Application

    auth.register_redirect_uri(Application.objects.get(application_id=ca.credentials["application_id"]), uri)


def authorize(ca, decision="allow", **params):
    page = requests.get(f"{ca.base}/oauth2/authorize", allow_redirects=False, timeout=10, params={
        "client_id": ca.credentials["application_id"], "response_type": "code", "access_type": "offline",
        "scope": "orders inventory", **params})
    assert page.status_code == 200, page.text
    assert "wants access to your ChannelAdvisor account" in page.text
    return requests.post(f"{ca.base}/oauth2/authorize", data={**consent_form(page), "decision": decision},
                         allow_redirects=False, timeout=10)


def test_authorization_code_flow(ca):
    redirect_uri = "https://portal.example.com/connections/ca/callback"
    register(ca, redirect_uri)
    response = authorize(ca, redirect_uri=redirect_uri, state="xyz-1")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == ["xyz-1"]
    code = query["code"][0]

    wrong_uri = ca.token_response(grant_type="authorization_code", code=code, redirect_uri="https://evil.example/")
    assert wrong_uri.status_code == 400
    tokens = ca.token_response(grant_type="authorization_code", code=code, redirect_uri=redirect_uri)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "bearer" and body["access_token"] and body["refresh_token"]
    assert ca.get("Orders", token=body["access_token"]).status_code == 200
    # the code works once; the new refresh token works for later grants
    again = ca.token_response(grant_type="authorization_code", code=code, redirect_uri=redirect_uri)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert ca.token_response(refresh_token=body["refresh_token"]).status_code == 200


def test_denied_consent_goes_back_with_access_denied(ca):
    redirect_uri = "https://portal.example.com/cb"
    register(ca, redirect_uri)
    response = authorize(ca, decision="deny", redirect_uri=redirect_uri, state="s-2")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["s-2"] and "code" not in query


def test_a_tampered_consent_form_is_refused(ca):
    register(ca, "https://portal.example.com/cb")
    register(ca, "https://portal.example.com/other")
    page = requests.get(f"{ca.base}/oauth2/authorize", timeout=10, params={
        "client_id": ca.credentials["application_id"], "redirect_uri": "https://portal.example.com/cb"})
    form = {**consent_form(page), "redirect_uri": "https://portal.example.com/other", "decision": "allow"}
    refused = requests.post(f"{ca.base}/oauth2/authorize", data=form, allow_redirects=False, timeout=10)
    assert refused.status_code == 400 and "expired" in refused.text


def test_authorize_refuses_unknown_client_and_unregistered_redirect(ca):
    unknown = requests.get(f"{ca.base}/oauth2/authorize", allow_redirects=False, timeout=10,
                           params={"client_id": "nobody", "redirect_uri": "https://x.example/cb"})
    assert unknown.status_code == 400 and "Unknown application" in unknown.text
    register(ca, "https://portal.example.com/cb")
    for uri in ("javascript:alert(1)", "https://portal.example.com/cb/evil", "https://evil.example/cb"):
        bad = requests.get(f"{ca.base}/oauth2/authorize", allow_redirects=False, timeout=10,
                           params={"client_id": ca.credentials["application_id"], "redirect_uri": uri})
        assert bad.status_code == 400 and "not registered" in bad.text and "Location" not in bad.headers


@pytest.mark.parametrize("uri", ["http://portal.example.com/cb", "ftp://x.example/cb", "https://x.example/cb#f"])
def test_only_https_or_loopback_redirect_uris_register(ca, uri):
    with pytest.raises(ValueError):
        register(ca, uri)
    register(ca, "http://127.0.0.1:8000/setup/channeladvisor/callback/")


def test_profiles_and_distribution_centers(ca):
    profiles = ca.get("Profiles").json()["value"]
    assert [p["ID"] for p in profiles] == [ca.credentials["profile_id"]]
    centers = ca.get("DistributionCenters").json()["value"]
    assert [(dc["ID"], dc["Code"]) for dc in centers] == [(0, "MAIN"), (1, "EAST"), (2, "FBA")]
    external = ca.get("DistributionCenters", params={"$filter": "IsExternallyManaged eq false"}).json()["value"]
    assert [dc["ID"] for dc in external] == [0, 1]
