"""In a real browser at 1366×768: a customer admin adds ChannelAdvisor, goes through the sandbox's consent page
and comes back to pick the warehouse; every page fits the screen and no secret is ever in a page."""

import random

import pytest
from playwright.sync_api import expect

from integrations.models import Connection, ConnectionStatus
from sandbox import services
from sandbox.channeladvisor import auth as ca_auth
from sandbox.channeladvisor.models import Application

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fits(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366, f"{page.url} is {width} px wide"


def test_channeladvisor_consent_in_a_browser(page, live_server, cast):
    sandbox, _ = services.create_sandbox(f"browser-ca-{random.randrange(10**8)}")
    secrets = services.issue_credentials(sandbox, live_server.url)["channeladvisor"]
    application = Application.objects.get(sandbox=sandbox, application_id=secrets["application_id"])
    application.name = "Acme's integration portal"
    application.save()
    ca_auth.register_redirect_uri(application, f"{live_server.url}/setup/channeladvisor/callback/")
    page.set_viewport_size({"width": 1366, "height": 768})
    seen = []
    page.on("response", lambda response: seen.append(response))

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "owner_a")
    page.fill("#id_password", "pw")
    page.click("#login-form button[type=submit]")
    page.goto(f"{live_server.url}/setup/{cast.org_a.slug}/connections/")
    fits(page)
    page.click("text=Add ChannelAdvisor")
    expect(page.locator(".steps li.current")).to_contain_text("Application")
    expect(page.locator("#callback-url")).to_have_text(f"{live_server.url}/setup/channeladvisor/callback/")
    page.fill("input[name=name]", "Marketplaces")
    page.fill("input[name=base_url]", secrets["base_url"])
    page.fill("input[name=application_id]", secrets["application_id"])
    page.fill("input[name=shared_secret]", secrets["shared_secret"])
    fits(page)
    page.click("text=Connect to ChannelAdvisor")

    expect(page.locator("h1")).to_have_text("Authorize application")
    expect(page.locator("main")).to_contain_text("Acme's integration portal wants access to your ChannelAdvisor "
                                                 "account")
    expect(page.locator("#scopes")).to_contain_text("inventory (products and quantities)")
    allow = page.locator("button.allow")
    box = allow.bounding_box()
    assert box and box["y"] + box["height"] <= 768  # Allow is on screen without scrolling
    fits(page)
    allow.click()

    expect(page.locator(".steps li.current")).to_contain_text("Profile and warehouse")
    expect(page.locator("#findings")).to_contain_text("ChannelAdvisor granted access")
    fits(page)
    page.select_option("select[name=distribution_center_id]", "1")
    page.click("text=Save connection")
    expect(page.locator(".messages")).to_contain_text("Saved “Marketplaces”: every check passed.")
    expect(page.locator("#connections")).to_contain_text("Working")
    fits(page)

    connection = Connection.objects.get(name="Marketplaces")
    assert connection.status == ConnectionStatus.OK and connection.settings["distribution_center_id"] == 1
    portal_pages = [r for r in seen if "/setup/" in r.url and r.request.resource_type == "document"]
    assert portal_pages
    for response in portal_pages:
        try:
            body = response.text()
        except Exception:  # a redirect has no body to read
            continue
        for secret in (secrets["shared_secret"], connection.credentials["refresh_token"]):
            assert secret not in body
