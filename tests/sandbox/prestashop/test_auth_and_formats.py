"""Authentication, permissions, method rules, format choice and response headers."""

import hashlib

import pytest
import requests

from sandbox import services
from sandbox.prestashop import provision

from .conftest import APPS, error_code

pytestmark = pytest.mark.django_db(transaction=True, available_apps=APPS)


def check_authentication_errors(shop):
    response = requests.get(shop.url("orders"), timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Basic realm="Welcome to PrestaShop Webservice, please enter the authentication key as the login. '
        'No password required."')
    assert error_code(response) == 16
    assert "PSWS-Version" not in response.headers
    for key, code in [("", 17), ("SHORTKEY", 18), ("A" * 32, 19)]:
        response = requests.get(shop.url("orders"), params={"ws_key": key}, timeout=10)
        assert (response.status_code, error_code(response)) == (401, code), key
        assert "WWW-Authenticate" in response.headers
    empty_basic = requests.get(shop.url("orders"), auth=("", ""), timeout=10)
    assert error_code(empty_basic) == 17
    inactive = provision.issue_key(shop.sandbox, active=False)
    assert error_code(shop.get("orders", key=inactive)) == 20
    powerless = provision.issue_key(shop.sandbox, grants={})
    response = shop.get("orders", key=powerless)
    assert (response.status_code, error_code(response)) == (401, 21)


def check_key_as_basic_username_or_query_parameter_and_revocation(shop):
    assert shop.get("orders").status_code == 200
    assert requests.get(shop.url("orders"), params={"ws_key": shop.key}, timeout=10).status_code == 200
    services.revoke_credentials(shop.sandbox, "prestashop")
    assert error_code(shop.get("orders")) == 20


def check_permissions_per_resource_and_method(shop):
    names = {child.tag for child in shop.xml("").find("api")}
    assert {"orders", "order_states", "order_histories", "order_carriers", "order_payments", "customers",
            "addresses", "countries", "currencies", "carriers", "products", "combinations",
            "stock_availables"} <= names
    key = provision.issue_key(shop.sandbox, grants={"orders": ["GET", "HEAD"]})
    listed = shop.xml("", key=key).find("api")
    assert [child.tag for child in listed] == ["orders"]
    assert (listed[0].get("get"), listed[0].get("head"), listed[0].get("post")) == ("true", "true", "false")
    full = shop.xml("").find("api")
    assert full.find("stock_availables").get("post") == "false" and full.find("orders").get("patch") == "true"
    refused = shop.get("customers", key=key)
    assert (refused.status_code, error_code(refused)) == (401, 26)
    method = shop.send("POST", "orders", "<prestashop/>", key=key)
    assert (method.status_code, error_code(method)) == (405, 25)
    unknown = shop.get("ordres")
    assert (unknown.status_code, error_code(unknown)) == (400, 27)
    assert 'Did you mean: "orders"' in unknown.text
    for method, path in [("POST", "stock_availables"), ("DELETE", "stock_availables/1")]:
        response = shop.send(method, path, "<x/>")
        assert (response.status_code, error_code(response)) == (405, 101)


def check_headers_and_head(shop):
    response = shop.get("orders")
    assert response.headers["PSWS-Version"].startswith("8.1.")
    assert response.headers["X-Powered-By"] == "PrestaShop Webservice"
    assert float(response.headers["Execution-Time"]) >= 0
    assert response.headers["Content-Sha1"] == hashlib.sha1(response.content).hexdigest()
    assert response.headers["Content-Type"].startswith("text/xml")
    head = requests.head(shop.url("orders"), auth=(shop.key, ""), timeout=10)
    assert head.status_code == 200 and head.content == b""


def check_json_precedence_and_json_errors(shop):
    def kind(headers=None, **params):
        response = shop.get("order_states", headers=headers or {}, params=params)
        return "json" if response.headers["Content-Type"].startswith("application/json") else "xml"

    assert kind() == "xml"
    assert kind(io_format="JSON") == "json"
    assert kind(output_format="JSON") == "json"
    assert kind(output_format="XML", io_format="JSON") == "xml"
    assert kind({"Output-Format": "JSON"}, output_format="XML") == "json"
    assert kind({"Io-Format": "XML", "Output-Format": "JSON"}) == "xml"
    assert kind({"Io-Format": "JSON"}, output_format="XML") == "json"
    response = shop.get("orders", params={"output_format": "JSON", "sort": "[id]"})
    assert response.status_code == 400
    assert response.json() == {"errors": [{"code": 37, "message": response.json()["errors"][0]["message"]}]}
    unauthenticated = requests.get(shop.url("orders"), headers={"Output-Format": "JSON"}, timeout=10)
    assert unauthenticated.json()["errors"][0]["code"] == 16


def check_injected_fault_uses_prestashop_envelope(shop):
    services.set_faults(shop.sandbox, "prestashop", error_rate=1.0)
    response = shop.get("orders")
    assert response.status_code >= 500
    assert "<errors>" in response.text


# Each live-server test costs a database flush, so one test runs a group of checks on one shop, in an order
# where no check's changes (revoked keys, faults, settings) can disturb the next.

def test_auth_permissions_and_formats(shop):
    check_authentication_errors(shop)
    check_permissions_per_resource_and_method(shop)
    check_headers_and_head(shop)
    check_json_precedence_and_json_errors(shop)
    check_key_as_basic_username_or_query_parameter_and_revocation(shop)


def test_faults(shop):
    check_injected_fault_uses_prestashop_envelope(shop)
