"""Idempotency-Key replays; no de-duplication without a key; concurrent same-key requests write once."""

import threading

import requests

from sandbox import services
from sandbox.tims.models import IdempotencyRecord, SalesOrder

from .conftest import error_codes, order_body


def test_same_key_replays_status_and_body_without_a_second_order(tims):
    body = order_body()
    first = tims.post("sales-orders", body, key="order-1")
    second = tims.post("sales-orders", body, key="order-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert SalesOrder.objects.filter(sandbox=tims.sandbox).count() == 1


def test_without_a_key_two_posts_make_two_orders(tims):
    body = order_body()
    first = tims.post("sales-orders", body)
    second = tims.post("sales-orders", body)
    assert first.status_code == second.status_code == 201
    assert first.json()["SalesOrderID"] != second.json()["SalesOrderID"]
    found = tims.get("sales-orders", external_order_id=body["ExternalOrderID"]).json()
    assert found["count"] == 2


def test_same_key_with_a_different_body_is_409(tims):
    assert tims.post("sales-orders", order_body(), key="k-2").status_code == 201
    reused = tims.post("sales-orders", order_body(), key="k-2")
    assert reused.status_code == 409
    assert error_codes(reused) == {("Idempotency-Key", "idempotency_key_reused")}
    assert SalesOrder.objects.filter(sandbox=tims.sandbox).count() == 1


def test_refused_request_does_not_keep_the_key(tims):
    bad = tims.post("sales-orders", order_body(sku="ZZZ-UNKNOWN-0001"), key="k-3")
    assert bad.status_code == 422
    good = tims.post("sales-orders", order_body(), key="k-3")
    assert good.status_code == 201


def test_keys_older_than_24_hours_are_forgotten(tims):
    from datetime import timedelta

    from django.utils import timezone

    body = order_body()
    tims.post("sales-orders", body, key="old")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    again = tims.post("sales-orders", body, key="old")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert SalesOrder.objects.filter(sandbox=tims.sandbox).count() == 2


def test_commit_then_fail_is_recovered_by_replaying_the_key(tims):
    assert tims.token
    services.set_faults(tims.sandbox, "tims", commit_then_fail_rate=1.0)
    body = order_body()
    lost = tims.post("sales-orders", body, key="lost-answer")
    assert lost.status_code == 500
    services.set_faults(tims.sandbox, "tims", "none")
    replay = tims.post("sales-orders", body, key="lost-answer")
    assert replay.status_code == 201
    assert SalesOrder.objects.filter(sandbox=tims.sandbox).count() == 1


def test_simultaneous_requests_with_the_same_key_write_once(tims):
    body = order_body()
    headers = {**tims.headers(key="race-1")}
    barrier = threading.Barrier(6)
    answers = []

    def send():
        barrier.wait()
        answers.append(requests.post(tims.url("sales-orders"), json=body, headers=headers, timeout=20))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [201] * 6
    assert len({a.json()["SalesOrderID"] for a in answers}) == 1
    assert SalesOrder.objects.filter(sandbox=tims.sandbox).count() == 1
    assert sum("Idempotent-Replayed" in a.headers for a in answers) == 5
