import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
import responses
from django.core.management import CommandError, call_command

from integrations.connectors.checks import test_connection as check_connection
from integrations.models import ConnectionStatus

from .conftest import fixture_text

API = "https://shop.example.com/api/"


def now_header(offset=timedelta()):
    return {"Date": format_datetime(datetime.now(UTC) + offset, usegmt=True), "PSWS-Version": "8.1.7"}


def shop(api_root=None, offset=timedelta()):
    def callback(request):
        if "Authorization" not in request.headers:
            return 401, {"WWW-Authenticate": 'Basic realm="Welcome to PrestaShop Webservice"', **now_header(offset)}, ""
        return 200, now_header(offset), api_root or fixture_text("prestashop/api_root.xml")

    responses.add_callback(responses.GET, API, callback=callback)


def by_name(results):
    return {r.name: r for r in results}


@responses.activate
def test_prestashop_all_good(make_connection):
    shop()
    connection = make_connection("prestashop")
    results = check_connection(connection)
    assert all(r.ok for r in results), [str(r) for r in results]
    assert [r.name for r in results] == ["address", "reachability", "tls", "clock", "authentication", "permissions",
                                         "api version"]
    assert "PATCH" in by_name(results)["api version"].message
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.OK and connection.last_checked_at


@responses.activate
def test_prestashop_wrong_key_says_where_to_fix_it(make_connection):
    responses.get(API, status=401, json={"errors": [{"code": 20, "message": "Authentication key is not active"}]})
    connection = make_connection("prestashop")
    result = by_name(check_connection(connection))["authentication"]
    assert not result.ok
    assert "401" in result.message and "Advanced Parameters > Webservice" in result.message
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_ATTENTION and "Webservice" in connection.last_check_message


@responses.activate
def test_prestashop_missing_permissions_are_named(make_connection):
    # PrestaShop 8 updates with PATCH, so a key without PATCH on stock_availables lacks it (PUT is not needed).
    root = fixture_text("prestashop/api_root.xml").replace(
        '<stock_availables xlink:href="https://shop.example.com/api/stock_availables" get="true" put="true" '
        'post="false" patch="true"',
        '<stock_availables xlink:href="https://shop.example.com/api/stock_availables" get="true" put="true" '
        'post="false" patch="false"')
    shop(root)
    result = by_name(check_connection(make_connection("prestashop")))["permissions"]
    assert not result.ok and "stock_availables (PATCH)" in result.message and "(PUT)" not in result.message


@responses.activate
def test_clock_skew_is_reported(make_connection):
    shop(offset=timedelta(hours=1))
    result = by_name(check_connection(make_connection("prestashop")))["clock"]
    assert not result.ok and re.search(r"differ by 3(599|600|601) s", result.message)  # Date has whole seconds


@responses.activate
def test_unreachable_host_marks_the_connection_failing(make_connection):
    responses.get(API, body=requests.exceptions.ConnectionError("Name or service not known"))
    connection = make_connection("prestashop")
    result = by_name(check_connection(connection))["reachability"]
    assert not result.ok and "firewall" in result.message
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.FAILING


def test_private_address_is_refused_before_any_call(make_connection):
    connection = make_connection("prestashop", base_url="http://192.168.1.20")
    (result,) = check_connection(connection)
    assert result.name == "address" and not result.ok


@responses.activate
def test_channeladvisor_bad_refresh_token(make_connection):
    responses.get("https://api.channeladvisor.com/v1/", status=401, headers=now_header())
    responses.post("https://api.channeladvisor.com/oauth2/token", status=400, json={"error": "invalid_grant"})
    connection = make_connection("channeladvisor")
    result = by_name(check_connection(connection))["authentication"]
    assert not result.ok and "refresh token" in result.message
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_ATTENTION


@responses.activate
def test_channeladvisor_profile_mismatch(make_connection):
    base = "https://api.channeladvisor.com"
    responses.get(f"{base}/v1/", status=401, headers=now_header())
    responses.post(f"{base}/oauth2/token", json={"access_token": "t", "expires_in": 3600})
    responses.get(f"{base}/v1/Orders", json={"value": [{"ID": 1, "ProfileID": 999}]})
    responses.get(f"{base}/v1/Products", json={"value": []})
    result = by_name(check_connection(make_connection("channeladvisor")))["permissions"]
    assert not result.ok and "profile 999" in result.message


@responses.activate
def test_tims_token_and_read(make_connection):
    base = "https://tims.example.com"
    responses.get(f"{base}/api/v1/", status=404, headers=now_header())
    responses.post(f"{base}/oauth/token", json={"access_token": "t", "expires_in": 3600})
    responses.get(f"{base}/api/v1/customers", json={"results": [], "next": None})
    responses.get(f"{base}/api/v1/items", json={"results": [], "next": None})
    results = check_connection(make_connection("tims"))
    assert all(r.ok for r in results), [str(r) for r in results]


@responses.activate
def test_command_exit_status(make_connection, capsys):
    shop()
    make_connection("prestashop", name="Shop")
    call_command("test_connection", "Shop")
    assert "[ok] authentication" in capsys.readouterr().out
    responses.replace(responses.GET, API, status=401)
    with pytest.raises(CommandError) as info:
        call_command("test_connection", "Shop")
    assert info.value.returncode == 1
    with pytest.raises(CommandError, match="No connection named Nope"):
        call_command("test_connection", "Nope")


@responses.activate
def test_server_errors_are_reported_as_such(make_connection):
    responses.get(API, status=503)
    result = by_name(check_connection(make_connection("prestashop")))["reachability"]
    assert not result.ok and "reachable but not working" in result.message
