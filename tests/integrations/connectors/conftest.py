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
    from integrations.connectors import health
    from integrations.connectors.prestashop.client import forget_reference_data
    from integrations.connectors.tims import client as tims_client

    forget_reference_data()
    tims_client._custom_fields.clear()
    health.forget()
    yield


def mapped_sales_order(order, customer_id="C000123", template="prestashop_tims"):
    """The TIMS sales-order body as the pipeline makes it: the shipped order mapping applied to a canonical order
    (the mapping is the only builder of that body)."""
    from mappings import templates
    from mappings.engine import CompiledMapping
    from mappings.transforms import CompiledValueMap

    definition = templates.mapping_sets_for(template, shop_timezone="Europe/Paris", default_location="MAIN")[0]
    value_maps = [CompiledValueMap(name, entries, default, strict, pk=index + 1)
                  for index, (name, (_, strict, default, entries)) in enumerate(templates.VALUE_MAPS.items())]
    mapping = CompiledMapping({"name": definition["name"], "target": definition["target"], "version": 1,
                               "fields": definition["fields"], "rules": definition["rules"]}, value_maps)
    result = mapping.apply(order.to_dict() if hasattr(order, "to_dict") else order,
                           {"tims_customer_by_email": lambda email: customer_id})
    result.raise_for_errors()
    return result.output
