"""In a real browser: a staff member logs in, sees what needs attention, and enters a secret that never comes back."""

import pytest
from playwright.sync_api import expect

from integrations.models import Connection
from tests.factories import make_connection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")


def test_staff_sees_the_front_page_and_sets_a_write_only_secret(page, live_server, cast):
    connection = make_connection(cast.org_a)
    Connection.objects.filter(pk=connection.pk).update(status="needs_attention")

    log_in(page, live_server, "integrator")
    expect(page.locator("#needs-attention")).to_be_visible()
    page.click("text=Connections: needs attention")
    page.click(f"text={connection.name}")

    page.fill("input[name=ws_key]", "BROWSER-TYPED-KEY-1234567890ABCDEF")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    assert page.input_value("input[name=ws_key]") == ""  # never rendered back
    assert "BROWSER-TYPED-KEY" not in page.content()
    assert Connection.objects.get(pk=connection.pk).credentials["ws_key"] == "BROWSER-TYPED-KEY-1234567890ABCDEF"


def test_a_bad_base_url_shows_a_plain_error_in_the_form(page, live_server, cast):
    connection = make_connection(cast.org_a)
    log_in(page, live_server, "owner_a")
    page.goto(f"{live_server.url}/admin/integrations/connection/{connection.pk}/change/")
    page.fill("input[name=base_url]", "shop dot example")
    page.click("input[name=_save]")
    expect(page.locator(".errorlist", has_text="is not a web address")).to_be_visible()
