"""Webhook endpoints: signed, fresh, small, well-formed — or answered plainly and stored nowhere."""

import hmac
import json
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import Integration, SyncRecord, WebhookReceipt
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
    # Constant time means hmac.compare_digest, whether the first or the last character differs (an == would
    # return sooner on the first): fails if the comparison is ever made any other way.
    for bad in ("0" + good[1:] if good[0] != "0" else "1" + good[1:], good[:-1] + ("0" if good[-1] != "0" else "1")):
        with mock.patch("portal.signing.hmac.compare_digest", wraps=hmac.compare_digest) as compare:
            assert signing.verify("s", "1700000000", bad, body, now=1700000000) is not None
        compare.assert_called_once_with(good, bad)
    with mock.patch("portal.signing.hmac.compare_digest", return_value=True) as compare:
        assert signing.verify("s", "1700000000", "f" * 64, body, now=1700000000) is None  # its answer decides
    compare.assert_called_once()


# --- TIMS outbound webhooks: hints that its event feed moved, answered by one poll of the connection ---

TIMS_SECRET = "tims-webhook-secret-1"


@pytest.fixture
def tims(integration):
    connection = integration.tims_connection
    connection.credentials = {**connection.credentials, "webhook_secret": TIMS_SECRET}
    connection.save()
    return connection


def post_tims(client, connection, body, *, secret=TIMS_SECRET, timestamp=None, raw=None):
    raw = raw if raw is not None else json.dumps(body).encode()
    timestamp = str(int(timestamp if timestamp is not None else time.time()))
    return client.post(reverse("tims_webhook", args=[connection.pk]), raw, content_type="application/json",
                       headers={"X-Webhook-Timestamp": timestamp,
                                "X-Webhook-Signature": signing.sign(secret, timestamp, raw)})


def event(seq, type_="inventory.changed"):
    return {"Seq": seq, "Type": type_, "CreatedAt": "2026-11-22T10:00:00Z", "Data": {"SKU": "A-1"}}


def test_a_tims_hint_enqueues_one_poll_of_its_connection_after_commit(client, tims,
                                                                      django_capture_on_commit_callbacks):
    with mock.patch("django_q.tasks.async_task") as async_task:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = post_tims(client, tims, event(7))
            async_task.assert_not_called()  # not before the commit
        for callback in callbacks:
            callback()
    assert response.status_code == 202 and response.json() == {"accepted": True, "poll": "queued"}
    async_task.assert_called_once_with("integrations.pipeline.pollers.poll_connection", tims.pk,
                                       task_name=f"poll_connection-{tims.pk}", q_options={"group": "poll"})
    assert SyncRecord.objects.count() == 0  # the poll makes the records, from the feed


def test_a_burst_of_tims_hints_rings_one_poll_until_a_poll_starts_reading(client, tims,
                                                                            django_capture_on_commit_callbacks):
    from integrations import webhooks

    def hint(seq):
        with django_capture_on_commit_callbacks(execute=True):
            return post_tims(client, tims, event(seq)).json()["poll"]

    with mock.patch("django_q.tasks.async_task") as async_task:
        assert [hint(seq) for seq in range(1, 6)] == ["queued"] + ["already queued"] * 4
        assert async_task.call_count == 1
        webhooks.poll_started(tims.pk)  # the poll reads now: what comes next needs a ring of its own
        assert hint(6) == "queued"
        assert async_task.call_count == 2
        WebhookReceipt.objects.filter(digest=f"poll:tims:{tims.pk}").update(
            received_at=timezone.now() - timedelta(seconds=31))  # that ring was lost (a broker restart)
        assert hint(7) == "queued"


def test_a_replayed_tims_hint_is_already_received(client, tims, django_capture_on_commit_callbacks):
    raw, timestamp = json.dumps(event(9)).encode(), time.time()
    with mock.patch("django_q.tasks.async_task") as async_task:
        with django_capture_on_commit_callbacks(execute=True):
            assert post_tims(client, tims, None, raw=raw, timestamp=timestamp).json()["accepted"] is True
        WebhookReceipt.objects.filter(digest__startswith="poll:").delete()  # so only the replay check can refuse
        with django_capture_on_commit_callbacks(execute=True):
            again = post_tims(client, tims, None, raw=raw, timestamp=timestamp)
    assert again.status_code == 202 and again.json() == {"accepted": False, "reason": "already received"}
    assert async_task.call_count == 1


@pytest.mark.parametrize("kwargs,status,message", [
    ({"secret": "wrong"}, 401, "does not match"),
    ({"timestamp": time.time() - 3600}, 401, "seconds away from now"),
    ({"raw": b"{not json"}, 400, "not valid JSON"),
    ({"raw": b'{"Type": "inventory.changed"}'}, 400, "names its event"),
    ({"raw": b'{"Type": "x y", "Seq": 1}'}, 400, "names its event"),
    ({"raw": b'{"Type": "inventory.changed", "Seq": "5|6"}'}, 400, "names its event"),
    ({"raw": b'[1]'}, 400, "names its event"),
])
def test_bad_tims_webhooks_are_refused_plainly(client, tims, kwargs, status, message):
    with mock.patch("django_q.tasks.async_task") as async_task:
        response = post_tims(client, tims, event(1), **kwargs)
    assert response.status_code == status and message in response.json()["error"]
    async_task.assert_not_called()


def test_a_tims_connection_without_a_webhook_secret_has_no_endpoint(client, integration):
    response = post_tims(client, integration.tims_connection, event(1), secret="")
    assert response.status_code == 404 and "no webhook secret" in response.json()["error"]


def test_only_tims_connections_have_a_tims_endpoint(client, tims, integration):
    channel = integration.channel_connection
    channel.credentials = {**channel.credentials, "webhook_secret": TIMS_SECRET}
    channel.save()
    assert post_tims(client, channel, event(1)).status_code == 404
    assert client.post("/hooks/tims/999999/", b"{}", content_type="application/json").status_code == 404


def test_a_tims_hint_for_a_paused_integration_polls_nothing(client, tims, integration):
    Integration.objects.filter(pk=integration.pk).update(state="paused")
    with mock.patch("django_q.tasks.async_task") as async_task:
        response = post_tims(client, tims, event(1))
    assert response.status_code == 202 and response.json()["accepted"] is False
    async_task.assert_not_called()
