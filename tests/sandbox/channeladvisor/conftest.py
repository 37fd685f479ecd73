import random
import uuid

import pytest
import requests
from django.db import connections

from sandbox import core, services
from sandbox.channeladvisor import provision
from sandbox.channeladvisor.models import Config


@pytest.fixture(autouse=True)
def _live_server_helper(request):
    """Replaces pytest-django's helper in this folder: a live-server test here commits for real (no wrapping
    transaction) but is not followed by a flush of every table, which costs seconds per test on a busy
    PostgreSQL. Each test works in a sandbox of its own that the `sandbox` fixture deletes afterwards."""
    if "live_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("django_db_setup")
    blocker = request.getfixturevalue("django_db_blocker")
    server = request.getfixturevalue("live_server")
    server._live_server_modified_settings.enable()
    with blocker.unblock():
        yield
    server._live_server_modified_settings.disable()


@pytest.fixture(autouse=True)
def _close_webhook_thread_connections(monkeypatch):
    """Webhooks are delivered on throwaway threads whose persistent DB connections would otherwise stay open
    and stop the test database from being dropped at the end of the run."""
    original = core.deliver_due

    def deliver_and_close(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        finally:
            connections.close_all()

    monkeypatch.setattr(core, "deliver_due", deliver_and_close)


class CAClient:
    """A tiny ChannelAdvisor client over real HTTP: token from the refresh token, then bearer calls."""

    def __init__(self, sandbox, credentials):
        self.sandbox = sandbox
        self.credentials = credentials
        self.base = credentials["base_url"]
        self._token = None

    def token_response(self, application_id=None, secret=None, **form):
        auth = (application_id or self.credentials["application_id"], secret or self.credentials["shared_secret"])
        form.setdefault("grant_type", "refresh_token")
        if form["grant_type"] == "refresh_token":
            form.setdefault("refresh_token", self.credentials["refresh_token"])
        return requests.post(f"{self.base}/oauth2/token", auth=auth, data=form, timeout=10)

    @property
    def access_token(self):
        if self._token is None:
            response = self.token_response()
            assert response.status_code == 200, response.text
            self._token = response.json()["access_token"]
        return self._token

    def call(self, method, path, token=None, **kwargs):
        headers = kwargs.pop("headers", {})
        headers.setdefault("Authorization", f"Bearer {token or self.access_token}")
        url = path if path.startswith("http") else f"{self.base}/v1/{path}"
        return requests.request(method, url, headers=headers, timeout=20, **kwargs)

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.call("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.call("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.call("DELETE", path, **kwargs)

    def configure(self, **values):
        Config.objects.filter(sandbox=self.sandbox).update(**values)

    def generate(self, orders=0, products=0, state=None, unknown_sku=0, seed=7):
        return provision.generate(self.sandbox, orders=orders, products=products, customers=0, state=state,
                                  unknown_sku=unknown_sku, rng=random.Random(seed))


@pytest.fixture
def sandbox(live_server):
    created, _ = services.create_sandbox(f"ca-{uuid.uuid4().hex[:12]}")
    yield created
    created.delete()


@pytest.fixture
def ca(live_server, sandbox):
    return CAClient(sandbox, services.issue_credentials(sandbox, live_server.url)["channeladvisor"])


@pytest.fixture
def other_app(live_server, sandbox):
    """A second application on the same sandbox (its own export flags, its own concurrency slots)."""
    return CAClient(sandbox, services.issue_credentials(sandbox, live_server.url)["channeladvisor"])
