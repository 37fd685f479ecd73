"""Keys, records and an HTTP client that speaks `Authorization: Api-Key <key>`."""

import itertools

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api import events, keys
from integrations.models import SyncRecord
from tests.factories import make_integration

_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()  # throttle counters live in the cache
    events.forget_subscriptions()
    yield
    cache.clear()


@pytest.fixture
def key_for():
    def make(organization, scope="read", created_by=None):
        return keys.create(organization=organization, scope=scope, name=f"test {scope}", created_by=created_by)[1]
    return make


@pytest.fixture
def api():
    def client(key=None, user=None):
        client = APIClient()
        if key:
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        if user:
            client.force_login(user)
        return client
    return client


@pytest.fixture
def integration_a(cast):
    return make_integration(cast.org_a)


@pytest.fixture
def integration_b(cast):
    return make_integration(cast.org_b)


def make_record(integration, status="dead", flow="orders", cause="TIMS refused: unknown SKU", reference=None,
                **extra):
    number = next(_ids)
    return SyncRecord.objects.create(
        organization_id=integration.organization_id, integration=integration, flow=flow, entity_type="order",
        source_system="prestashop", source_id=str(number), business_key=f"order:{integration.pk}:{number}",
        status=status, reference=reference or f"REF{number:05d}", error_class="permanent" if status == "dead" else "",
        error_message=cause if status == "dead" else "", error_cause=cause if status == "dead" else "",
        suggested_fix="Create the item in TIMS, then retry." if status == "dead" else "",
        search_text=f"ref{number:05d} {number} buyer{number}@example.com", **extra)
