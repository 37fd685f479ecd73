import json
from pathlib import Path

import pytest

from integrations.connectors import http
from integrations.models import Connection
from portal.models import Organization

FIXTURES = Path(__file__).parent / "fixtures"

PS_KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ123456"
CA_SECRETS = {"application_id": "app-id-1", "shared_secret": "ca-shared-secret", "refresh_token": "ca-refresh-token"}
TIMS_SECRETS = {"client_id": "tims-client", "client_secret": "tims-client-secret"}


def fixture_text(path):
    return (FIXTURES / path).read_text()


def fixture_json(path):
    return json.loads(fixture_text(path))


@pytest.fixture(autouse=True)
def _no_redis_and_fresh_sessions(settings):
    settings.REDIS_URL = ""  # the PostgreSQL governor unless a test opts into Redis
    yield
    http.close_sessions()
    http.COUNTERS.clear()


@pytest.fixture
def org(db):
    return Organization.objects.create(name="Acme Distribution")


@pytest.fixture
def make_connection(org):
    def make(kind, **overrides):
        defaults = {
            "prestashop": dict(base_url="https://shop.example.com", credentials={"ws_key": PS_KEY},
                               settings={"timezone": "Europe/Paris", "language_id": 1}),
            "channeladvisor": dict(base_url="https://api.channeladvisor.com", credentials=dict(CA_SECRETS),
                                   settings={"profile_id": 12345678}),
            "tims": dict(base_url="https://tims.example.com", credentials=dict(TIMS_SECRETS),
                         settings={"default_location": "MAIN"}),
        }[kind]
        values = {**defaults, **overrides}
        return Connection.objects.create(organization=org, kind=kind, name=overrides.pop("name", f"{kind} test"),
                                         **{k: v for k, v in values.items() if k != "name"})

    return make


@pytest.fixture(autouse=True)
def _fresh_reference_data():
    from integrations.connectors.prestashop.client import forget_reference_data

    forget_reference_data()
    yield
