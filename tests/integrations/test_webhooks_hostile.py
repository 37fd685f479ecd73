"""What a probe sent the webhook door: each one is refused there with a 4xx in plain words and stores nothing.
A 500 is a bug, so the test client re-raises any exception a view lets out."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.connectors.ids import valid_source_id
from integrations.models import Integration, SyncRecord, WebhookReceipt
from integrations.webhooks import prune_webhook_receipts
from portal import signing
from portal.schedules import SCHEDULES
from tests.factories import make_integration
from tests.integrations.test_webhooks import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(cast):
    integration = make_integration(cast.org_a)
    integration.state = "live"
    integration.save()
    return integration


def refused(response, status=400):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert SyncRecord.objects.count() == 0 and WebhookReceipt.objects.count() == 0
    return response.json()["error"]


# --- bodies that break a naive parser ---

@pytest.mark.parametrize("raw,message", [
    (b'{"id_order": 1, "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "nested more than"),
    (b'{"id_order": 1, "x": ' + b"[" * 100 + b"]" * 100 + b"}", "nested more than"),
    (b'{"id_order": ' + b"7" * 5000 + b"}", "number longer than"),
    (b'{"id_order": 1, "total": ' + b"9" * 5000 + b"}", "number longer than"),
    (b'{"id_order": 1, "total": 1.' + b"5" * 5000 + b"}", "number longer than"),
    (b'{"id_order": 1, "total": NaN}', "not a JSON number"),
    (b'{"id_order": "\\ud800"}', "lone surrogate"),
    (b'{"id_order": 1, "note": "\\udfff x"}', "lone surrogate"),
    (b'{"id_order": 1, "\\ud800": 1}', "lone surrogate"),
    (b'{"id_order": 1, "note": "\xed\xa0\x80"}', "not UTF-8"),  # a surrogate encoded in the bytes themselves
    (b'{"id_order": 1, "note": "a\\u0000b"}', "NUL"),
    (b'{"id_order": "4\\u00002"}', "NUL"),
])
def test_hostile_signed_bodies_are_refused(client, integration, raw, message):
    assert message in refused(post(client, integration, None, raw=raw))


def test_a_real_surrogate_pair_is_fine(client, integration):
    response = post(client, integration, None, raw=b'{"id_order": 3, "note": "\\ud83d\\ude00"}')
    assert response.status_code == 202 and SyncRecord.objects.get().source_id == "3"


# --- requests refused before any signature is checked ---

@pytest.mark.parametrize("length", ["abc", "-1", "9" * 5000, "1e3", "\u0661"])
def test_a_nonsense_content_length_is_400(client, integration, length):
    response = client.post(f"/hooks/{integration.pk}/prestashop/", b"{}", content_type="application/json",
                           CONTENT_LENGTH=length)
    assert "Content-Length" in refused(response)


def test_a_tims_hook_with_a_nonsense_content_length_is_400(client, integration):
    response = client.post(f"/hooks/tims/{integration.tims_connection_id}/", b"{}",
                           content_type="application/json", CONTENT_LENGTH="abc")
    assert "Content-Length" in refused(response)


@pytest.mark.parametrize("debug", [False, True])  # with DEBUG, APPEND_SLASH on a POST raises: a 500
def test_a_hook_without_its_trailing_slash_is_answered(client, integration, settings, debug):
    settings.DEBUG = debug
    raw = json.dumps({"id_order": 5}).encode()
    timestamp = str(int(time.time()))
    response = client.post(f"/hooks/{integration.pk}/prestashop", raw, content_type="application/json",
                           headers={"X-Webhook-Timestamp": timestamp,
                                    "X-Webhook-Signature": signing.sign(integration.webhook_secret["secret"],
                                                                        timestamp, raw)})
    assert response.status_code == 202 and SyncRecord.objects.get().source_id == "5"


@pytest.mark.parametrize("url", ["/hooks/", "/hooks/abc/prestashop", "/hooks/1/presta shop/", "/hooks/tims/x",
                                 "/hooks/99999999999999999999/prestashop/", "/hooks/tims/99999999999999999999/"])
def test_other_hook_addresses_are_a_json_404(client, integration, settings, url):
    settings.DEBUG = True
    assert "No such webhook endpoint" in refused(client.post(url, b"{}", content_type="application/json"), 404)


@pytest.mark.parametrize("headers,message", [
    ({"X-Webhook-Signature": "é" * 64}, "64 hex characters"),  # compare_digest raises on non-ASCII text
    ({"X-Webhook-Signature": "abc"}, "64 hex characters"),
    ({"X-Webhook-Timestamp": "\u0661\u0667\u0660\u0660"}, "Unix time"),  # int() reads Arabic-Indic digits
    ({"X-Webhook-Timestamp": "9" * 5000}, "Unix time"),
])
def test_hostile_signature_headers_are_401(client, integration, headers, message):
    raw = b'{"id_order": 1}'
    timestamp = str(int(time.time()))
    good = {"X-Webhook-Timestamp": timestamp,
            "X-Webhook-Signature": signing.sign(integration.webhook_secret["secret"], timestamp, raw)}
    response = client.post(f"/hooks/{integration.pk}/prestashop/", raw, content_type="application/json",
                           headers={**good, **headers})
    assert message in refused(response, 401)


def test_an_empty_secret_signs_nothing(client, integration):
    Integration.objects.filter(pk=integration.pk).update(webhook_secret={})
    integration.refresh_from_db()
    assert "No webhook secret" in refused(post(client, integration, {"id_order": 1}, secret=""), 401)


# --- ids that are not ids ---

NOT_IDS = ["5|6", "abc) or (1", "1" * 10_000, -1, 0, "-1", "0", "../../etc/passwd", "1/../2",
           "1; DROP TABLE orders", "1 OR 1=1", "%31", " 42", "42\n", "12345678901", 10**10, "\u0664\u0662",
           True, 1.5, [1], {"id": 1}]


@pytest.mark.parametrize("value", NOT_IDS, ids=lambda v: repr(v)[:30])
def test_ids_that_are_not_ids_are_refused_at_the_door(client, integration, value):
    assert "is not a prestashop order id" in refused(post(client, integration, {"id_order": value}))


def test_two_long_ids_stay_two_refusals_not_one_record(client, integration):
    for tail in "ab":  # today both were cut to the same 100 characters
        refused(post(client, integration, {"id_order": "9" * 200 + tail}))


def test_channeladvisor_ids_are_checked_too(client, cast):
    integration = make_integration(cast.org_a, "channeladvisor_tims")
    Integration.objects.filter(pk=integration.pk).update(state="live")
    assert "is not a channeladvisor order id" in refused(
        post(client, integration, {"ID": "5|6"}, system="channeladvisor"))
    assert post(client, integration, {"ID": 9000001}, system="channeladvisor").status_code == 202


def test_an_id_has_one_spelling(client, integration):
    post(client, integration, {"id_order": "042"})
    post(client, integration, {"id_order": 42, "event": "order.state_changed"})
    assert list(SyncRecord.objects.values_list("source_id", flat=True)) == ["42"]


@pytest.mark.parametrize("kind,value,expected", [
    ("prestashop", 1, "1"), ("prestashop", "9999999999", "9999999999"), ("channeladvisor", "007", "7"),
    ("prestashop", "5|6", None), ("channeladvisor", False, None), ("tims", "1", None), ("shopify", 1, None),
])
def test_valid_source_id(kind, value, expected):
    assert valid_source_id(kind, value) == expected


# --- replays inside the signature window ---

def test_a_replay_inside_the_window_opens_no_new_work(client, integration):
    raw, timestamp = json.dumps({"id_order": 42}).encode(), time.time()
    assert post(client, integration, None, raw=raw, timestamp=timestamp).json()["accepted"] is True
    SyncRecord.objects.update(status="succeeded")  # finished work: a hint now would open new work
    replay = post(client, integration, None, raw=raw, timestamp=timestamp)
    assert replay.status_code == 202 and replay.json() == {"accepted": False, "reason": "already received"}
    assert SyncRecord.objects.count() == 1
    post(client, integration, None, raw=raw, timestamp=timestamp + 1)  # a new delivery (new timestamp) is news
    assert SyncRecord.objects.count() == 2


def test_a_receipt_is_not_kept_for_refused_or_paused_hints(client, integration):
    refused(post(client, integration, {"id_order": "x"}))
    Integration.objects.filter(pk=integration.pk).update(state="paused")
    post(client, integration, {"id_order": 1})
    assert WebhookReceipt.objects.count() == 0


def test_old_receipts_are_pruned_on_a_schedule():
    now = timezone.now()
    WebhookReceipt.objects.create(digest="a" * 64, received_at=now - timedelta(hours=1))
    WebhookReceipt.objects.create(digest="b" * 64, received_at=now - timedelta(seconds=30))
    assert prune_webhook_receipts(now=now) == 1
    assert list(WebhookReceipt.objects.values_list("digest", flat=True)) == ["b" * 64]
    assert any(func == "integrations.webhooks.prune_webhook_receipts" for func, _ in SCHEDULES.values())
