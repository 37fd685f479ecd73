"""Webhook endpoints: signed, fresh, small, well-formed — or answered plainly and stored nowhere."""

import json
import time

import pytest

from integrations.models import Integration, SyncRecord
from portal import signing
from tests.factories import make_integration

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(cast):
    integration = make_integration(cast.org_a)
    integration.state = "live"
    integration.save()
    return integration


def post(client, integration, body, *, secret=None, timestamp=None, system="prestashop", raw=None):
    raw = raw if raw is not None else json.dumps(body).encode()
    timestamp = str(int(timestamp if timestamp is not None else time.time()))
    secret = secret if secret is not None else integration.webhook_secret["secret"]
    return client.post(f"/hooks/{integration.pk}/{system}/", raw, content_type="application/json",
                       headers={"X-Webhook-Timestamp": timestamp,
                                "X-Webhook-Signature": signing.sign(secret, timestamp, raw)})


def test_a_signed_webhook_makes_one_record_and_duplicates_collapse(client, integration):
    for _ in range(3):
        response = post(client, integration, {"event": "order.created", "id_order": 42})
        assert response.status_code == 202
    record = SyncRecord.objects.get()
    assert (record.flow, record.entity_type, record.source_id, record.status) == ("orders", "order", "42", "pending")


def test_a_hint_after_finished_work_opens_new_work(client, integration):
    post(client, integration, {"event": "order.created", "id_order": 42})
    SyncRecord.objects.update(status="succeeded")
    post(client, integration, {"event": "order.state_changed", "id_order": 42})
    assert SyncRecord.objects.count() == 2


@pytest.mark.parametrize("kwargs,status,message", [
    ({"secret": "wrong"}, 401, "does not match"),
    ({"timestamp": time.time() - 3600}, 401, "seconds away from now"),
    ({"raw": b"{not json"}, 400, "not valid JSON"),
    ({"raw": b'{"id_order": null}'}, 400, "names no order id"),
    ({"raw": b"x" * (300 * 1024)}, 413, "larger than"),
    ({"system": "tims"}, 404, "No such webhook endpoint"),
])
def test_bad_webhooks_are_refused_plainly_and_stored_nowhere(client, integration, kwargs, status, message):
    response = post(client, integration, {"event": "order.created", "id_order": 1}, **kwargs)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert SyncRecord.objects.count() == 0


def test_an_unknown_integration_is_404(client, integration):
    response = client.post("/hooks/999999/prestashop/", b"{}", content_type="application/json")
    assert response.status_code == 404


def test_a_paused_integration_accepts_but_does_not_queue(client, integration):
    Integration.objects.filter(pk=integration.pk).update(state="paused")
    response = post(client, integration, {"event": "order.created", "id_order": 7})
    assert response.status_code == 202 and response.json()["accepted"] is False
    assert SyncRecord.objects.count() == 0


def test_signature_check_is_constant_time_and_covers_the_timestamp():
    body = b'{"id_order": 1}'
    good = signing.sign("s", "1700000000", body)
    assert signing.verify("s", "1700000000", good, body, now=1700000000) is None
    assert signing.verify("s", "1700000001", good, body, now=1700000000) is not None
