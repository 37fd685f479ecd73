"""OAuth client credentials, 401s, JSON conventions, paging and the errors envelope."""

import base64
import time

import requests

from sandbox.tims import backoffice

from .conftest import error_codes, order_body


def test_token_by_form_body_and_by_basic_auth(tims):
    form = requests.post(f"{tims.base}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": tims.client_id, "client_secret": tims.client_secret})
    assert form.status_code == 200
    body = form.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and len(body["access_token"]) > 20

    basic = base64.b64encode(f"{tims.client_id}:{tims.client_secret}".encode()).decode()
    by_basic = requests.post(f"{tims.base}/oauth/token", data={"grant_type": "client_credentials"},
                             headers={"Authorization": f"Basic {basic}"})
    assert by_basic.status_code == 200
    items = requests.get(f"{tims.base}/api/v1/items",
                         headers={"Authorization": f"Bearer {by_basic.json()['access_token']}"})
    assert items.status_code == 200


def test_token_refused_for_wrong_secret_or_grant(tims):
    wrong = requests.post(f"{tims.base}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": tims.client_id, "client_secret": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client" and wrong.json()["errors"][0]["code"] == "invalid_client"
    grant = requests.post(f"{tims.base}/oauth/token", data={
        "grant_type": "password", "client_id": tims.client_id, "client_secret": tims.client_secret})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


def test_secrets_and_tokens_are_stored_hashed(tims):
    from sandbox.models import SandboxCredential
    from sandbox.tims.models import AccessToken

    token = tims.token
    stored = SandboxCredential.objects.get(sandbox=tims.sandbox, system="tims")
    assert stored.secret_hash != tims.client_secret and tims.client_secret not in stored.secret_hash
    assert not AccessToken.objects.filter(token_hash=token).exists()
    assert AccessToken.objects.filter(sandbox=tims.sandbox).count() == 1


def test_401_without_token_with_bad_token_and_after_expiry(tims):
    missing = requests.get(f"{tims.base}/api/v1/items")
    assert missing.status_code == 401 and error_codes(missing) == {(None, "unauthorized")}
    bad = requests.get(f"{tims.base}/api/v1/items", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and error_codes(bad) == {(None, "invalid_token")}
    assert "Bearer" in bad.headers["WWW-Authenticate"]

    backoffice.set_token_lifetime(tims.sandbox, 1)
    short = requests.post(f"{tims.base}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": tims.client_id, "client_secret": tims.client_secret}).json()
    assert short["expires_in"] == 1
    headers = {"Authorization": f"Bearer {short['access_token']}"}
    assert requests.get(f"{tims.base}/api/v1/items", headers=headers).status_code == 200
    time.sleep(1.2)
    expired = requests.get(f"{tims.base}/api/v1/items", headers=headers)
    assert expired.status_code == 401 and error_codes(expired) == {(None, "token_expired")}


def test_token_of_one_sandbox_does_not_open_another(tims, server_url):
    from sandbox import services

    from .conftest import remove_sandbox

    other, _ = services.create_sandbox(f"{tims.sandbox.slug}-other")
    response = requests.get(f"{server_url}/sandbox/{other.slug}/tims/api/v1/items",
                            headers={"Authorization": f"Bearer {tims.token}"})
    assert response.status_code == 401
    remove_sandbox(other)


def test_paging_shape_next_links_and_max_page_size(tims):
    first = tims.get("items", page_size=4)
    assert first.status_code == 200 and first.headers["Content-Type"].startswith("application/json")
    page = first.json()
    assert set(page) == {"results", "next", "count"}
    assert page["count"] == 6 and len(page["results"]) == 4 and "page=2" in page["next"]
    second = tims.get(page["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None
    assert {i["SKU"] for i in page["results"] + second["results"]} == {i["SKU"] for i in tims.get("items").json()
                                                                       ["results"]}
    assert tims.get("items", page_size=200).status_code == 200
    too_big = tims.get("items", page_size=201)
    assert too_big.status_code == 400 and error_codes(too_big) == {("page_size", "max_value")}
    assert tims.get("items", page="x").status_code == 400
    assert tims.get("items", page=99).json()["results"] == []


def test_decimals_are_strings_and_timestamps_utc(tims):
    item = tims.get("items", page_size=1).json()["results"][0]
    assert isinstance(item["UnitPrice"], str) and item["UnitPrice"].count(".") == 1
    assert len(item["UnitPrice"].split(".")[1]) == 2
    assert item["UpdatedAt"].endswith("Z")


def test_errors_envelope_for_bad_json_unknown_ids_and_routes(tims):
    for raw in (b"{not json", b"[1, 2]", b"", "\xff".encode("latin-1")):
        response = tims.http.post(tims.url("sales-orders"), data=raw, headers={
            **tims.headers(), "Content-Type": "application/json"})
        assert response.status_code == 400, raw
        assert error_codes(response) == {(None, "invalid_json")}
    missing = tims.get("sales-orders/SO999999")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"
    assert tims.get("items/NOPE-1").status_code == 404
    nowhere = tims.get("no-such-resource")
    assert nowhere.status_code == 404 and "errors" in nowhere.json()
    wrong_method = tims.http.delete(tims.url("items"), headers=tims.headers())
    assert wrong_method.status_code == 405 and wrong_method.json()["errors"][0]["code"] == "method_not_allowed"
    huge = tims.http.post(tims.url("sales-orders"), data=b'{"a":"' + b"x" * (3 * 1024 * 1024) + b'"}',
                          headers={**tims.headers(), "Content-Type": "application/json"})
    assert huge.status_code == 413 and "errors" in huge.json()
    assert tims.get("items", updated_since="yesterday").status_code == 400


def test_injected_throttle_and_server_errors_use_the_envelope(tims):
    from sandbox import services

    assert tims.token
    services.set_faults(tims.sandbox, "tims", throttle_rate=1.0, throttle_burst=1, retry_after_seconds=3)
    throttled = tims.get("items")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert error_codes(throttled) == {(None, "rate_limited")}
    services.set_faults(tims.sandbox, "tims", "down")
    down = tims.post("sales-orders", order_body())
    assert down.status_code == 503 and error_codes(down) == {(None, "server_error")}


def test_hostile_input_never_gives_a_500(tims):
    from .conftest import order_body

    deep = b"[" * 5000 + b"]" * 5000  # deeper than Python's recursion limit
    answers = [
        tims.http.post(tims.url("sales-orders"), data=deep, headers={**tims.headers(),
                                                                    "Content-Type": "application/json"}),
        tims.post("sales-orders", order_body(ExternalOrderID="A\x00B")),
        tims.post("sales-orders", order_body(LineItems=[{"SKU": "WLD-00001", "Quantity": 10**6,
                                                         "Price": "999999999999.99"}])),
        tims.post("sales-orders", order_body(LineItems=[{"SKU": "WLD-00001", "Quantity": 10**30, "Price": "1"}])),
        tims.post("sales-orders", order_body(LineItems=[{"SKU": ["x"], "Quantity": 1, "Price": "1"}])),
        tims.post("sales-orders", order_body(LineItems="nope", ShippingAddress="nope", CustomFields=[1])),
        tims.post("sales-orders", order_body(LineItems=[None, 5])),
        tims.post("sales-orders", order_body(Price="NaN", OrderDate="31/01/2026")),
        tims.post("customers", {"Name": "x", "CustomFields": {"a\x00": "b"}}),
        tims.post("invoices", {"SalesOrderID": 12}),
        tims.post("payments", {"InvoiceID": None, "Amount": "Infinity"}),
        tims.post("returns", {"SalesOrderID": "SO1", "Lines": {"a": 1}}),
        tims.post("gl/journal-entries", {"Lines": [1, "a"], "Date": "2026-02-31"}),
        tims.post("custom-fields", {"Entity": ["x"], "Name": 5}),
        tims.post("inventory/adjustments", {"SKU": "WLD-00001", "Quantity": True, "ReasonCode": 1}),
        tims.get("customers", email="a\x00b"),
        tims.get("sales-orders/SO%00"),
        tims.patch("sales-orders/SO000001", {"OrderStatus": None}),
        tims.http.post(f"{tims.base}/oauth/token", data={"grant_type": "client_credentials",
                                                         "client_id": "a\x00", "client_secret": "b"}),
        tims.http.post(f"{tims.base}/oauth/token", headers={"Authorization": "Basic ###"}),
    ]
    for index, answer in enumerate(answers):
        assert 400 <= answer.status_code < 500, (index, answer.status_code, answer.text[:300])
        body = answer.json()
        assert "errors" in body, (index, body)
    assert tims.get("items", page="1" * 40).json() == {"results": [], "next": None, "count": 6}
    far = tims.get("events", cursor="c2VxOjE5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5")  # seq:1999... (30 digits)
    assert far.status_code == 200 and far.json()["results"] == []
