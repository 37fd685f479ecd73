"""With DEBUG on (the demo), a client on another machine never sees Django's technical pages; this machine does."""

import pytest
from django.http import Http404
from django.test import Client, override_settings
from django.urls import include, path


def boom(request):
    raise RuntimeError("internal detail: s3cr3t-local-variable")


def missing(request):
    raise Http404("No order 42 in table sales_order_internal")


urlpatterns = [path("boom/", boom), path("missing/", missing), path("", include("portal.urls"))]
REMOTE = {"REMOTE_ADDR": "203.0.113.7"}
LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
INTERNALS = (b"Traceback", b"s3cr3t", b"sales_order_internal", b"DEBUG = True", b"urlpatterns", b"boom/")

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def client():
    return Client(raise_request_exception=False)


def shows_internals(response):
    return [mark for mark in INTERNALS if mark in response.content]


@override_settings(DEBUG=True)
@pytest.mark.parametrize("url, status", [("/boom/", 500), ("/missing/", 404), ("/nowhere/", 404)])
def test_remote_clients_get_plain_error_pages(client, url, status):
    response = client.get(url, **REMOTE)
    assert response.status_code == status
    assert shows_internals(response) == []
    # A proxy in front makes every client look local: what came through one is treated as remote.
    proxied = client.get(url, HTTP_X_FORWARDED_FOR="198.51.100.1", **LOCAL)
    assert proxied.status_code == status and shows_internals(proxied) == []


@override_settings(DEBUG=True)
def test_a_disallowed_host_shows_nothing_either(client):
    response = client.get("/boom/", HTTP_HOST="evil.example", **REMOTE)
    assert response.status_code == 400
    assert shows_internals(response) == [] and b"evil.example" not in response.content


@override_settings(DEBUG=True)
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_a_developer_on_this_machine_sees_the_technical_pages(client, address):
    assert b"s3cr3t" in client.get("/boom/", REMOTE_ADDR=address).content
    assert b"sales_order_internal" in client.get("/missing/", REMOTE_ADDR=address).content


@override_settings(DEBUG=True)
def test_ordinary_responses_are_untouched(client):
    assert client.get("/healthz", **REMOTE).status_code in (200, 503)
    # A JSON 404 of an API is not an error page to replace.
    response = client.post("/hooks/999999/prestashop/", b"{}", content_type="application/json", **REMOTE)
    assert response.status_code == 404 and response.json() == {"error": "No such webhook endpoint."}
