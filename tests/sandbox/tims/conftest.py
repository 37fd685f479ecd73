"""A TIMS sandbox per test, reached over real HTTP.

The server is Django's own threaded WSGI server on 127.0.0.1, started once per session (as pytest-django's
live_server is). Unlike live_server it does not force a database flush after every test: each test works in its
own sandbox and deletes it afterwards, which keeps the suite fast on a busy machine.
"""

import threading
import uuid

import pytest
import requests
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.db import connection
from django.test.utils import setup_databases, teardown_databases

from sandbox import fakedata, services
from sandbox.tims import operations, provision
from sandbox.tims.models import Customer, Item


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def server_url(django_db_setup, django_db_blocker):
    # pytest-django creates the test database only when some collected test is marked for it; these tests are
    # not (a marker would flush or wrap every test), so make sure it exists rather than touch the real one.
    if connection.vendor != "postgresql":
        pytest.skip("The TIMS contract tests need PostgreSQL: server threads and tests share committed data.")
    created = None
    if not connection.settings_dict["NAME"].startswith("test_"):
        with django_db_blocker.unblock():
            created = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        # Throwaway test data need not wait for the disk on every commit.
        cursor.execute(f'ALTER DATABASE "{connection.settings_dict["NAME"]}" SET synchronous_commit = off')
        cursor.execute("SET synchronous_commit = off")
    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        # A request thread idling on a kept-alive socket still holds its database session; end those sessions
        # so the test database can be dropped.
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    if created:
        with django_db_blocker.unblock():
            teardown_databases(created, verbosity=0)


@pytest.fixture
def live_db(django_db_blocker):
    """Committed database access shared with the server threads; the test cleans up its own sandbox."""
    with django_db_blocker.unblock():
        yield


class TimsClient:
    """The smallest client that speaks the profile: token, bearer header, JSON, optional keys."""

    def __init__(self, sandbox, credentials):
        self.sandbox = sandbox
        self.base = credentials["base_url"]
        self.client_id = credentials["client_id"]
        self.client_secret = credentials["client_secret"]
        self.http = requests.Session()
        self._token = None

    def fetch_token(self):
        response = self.http.post(f"{self.base}/oauth/token", data={
            "grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret},
            timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    @property
    def token(self):
        if self._token is None:
            self._token = self.fetch_token()
        return self._token

    def url(self, path):
        return path if path.startswith("http") else f"{self.base}/api/v1/{path.lstrip('/')}"

    def headers(self, key=None, if_match=None):
        headers = {"Authorization": f"Bearer {self.token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        if if_match is not None:
            headers["If-Match"] = str(if_match)
        return headers

    def get(self, path, **params):
        return self.http.get(self.url(path), params=params, headers=self.headers(), timeout=10)

    def post(self, path, body, key=None):
        return self.http.post(self.url(path), json=body, headers=self.headers(key), timeout=10)

    def patch(self, path, body, if_match=None, key=None):
        return self.http.patch(self.url(path), json=body, headers=self.headers(key, if_match), timeout=10)


def small_catalog(sandbox):
    """Six shared-catalog items (no stock yet) and two customers, C000001 and C000002: quicker than generate(),
    which test_backoffice_and_provision exercises on its own. Tests set the stock they need."""
    Item.objects.bulk_create([
        Item(sandbox=sandbox, sku=p["sku"], description=p["name"], unit_price=p["price"], cost=p["cost"],
             weight=p["weight"]) for p in fakedata.catalog(6)])
    for name, email in (("Zoë Müller", "zoe.muller@example.com"), ("José García", "jose.garcia@example.com")):
        Customer.objects.create(sandbox=sandbox, code=operations.free_customer_code(sandbox), name=name, email=email)


def remove_sandbox(sandbox):
    provision.reset(sandbox)  # TIMS rows first: some of them protect others from a plain cascade
    sandbox.delete()


@pytest.fixture
def tims(server_url, live_db):
    sandbox, _ = services.create_sandbox(f"tims-{uuid.uuid4().hex[:10]}")
    credentials = services.issue_credentials(sandbox, server_url)["tims"]
    small_catalog(sandbox)
    client = TimsClient(sandbox, credentials)
    yield client
    client.http.close()  # a kept-alive connection would keep a server thread (and its DB session) busy
    remove_sandbox(sandbox)


def order_body(sku="WLD-00001", customer="C-GUEST", **overrides):
    body = {
        "ExternalOrderID": f"PS-{uuid.uuid4().hex[:8]}",
        "CustomerID": customer,
        "LineItems": [{"SKU": sku, "Quantity": 2, "Price": "10.00", "TaxAmount": "1.60", "DiscountAmount": "0.00"}],
        "ShippingMethod": "UPS Ground",
        "ShippingAmount": "5.00",
        "ShippingAddress": {"Name": "Zoë Müller", "Line1": "Hauptstraße 1", "City": "Berlin", "PostalCode": "10115",
                            "Country": "DE"},
        "Currency": "EUR",
    }
    body.update(overrides)
    return body


def error_codes(response):
    return {(error["field"], error["code"]) for error in response.json()["errors"]}
