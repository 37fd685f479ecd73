"""In a browser at 1,366 × 768: from New integration through the wizard to a shadow run's report, which fills in
without a reload while the workers map the orders."""

import random
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from integrations.models import Integration, IntegrationState
from integrations.pipeline import pollers, records
from sandbox import services as sandbox_services
from tests.integrations.flows.test_prestashop_orders import tims_orders, work_off
from tests.setup.test_integration_wizard import connections

pytestmark = pytest.mark.django_db(transaction=True)


def fits(page):
    """Nothing sticks out sideways at 1,366 px."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366, page.url


@pytest.mark.browser
def test_new_integration_to_shadow_run_report(live_server, page, cast, monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)  # the test is the worker
    sandbox, _ = sandbox_services.create_sandbox("browser-wizard")
    secrets = sandbox_services.issue_credentials(sandbox, live_server.url)
    rng = random.Random(8)
    sandbox_services.system_module("tims").generate(sandbox, orders=0, products=15, customers=0, state=None,
                                                    unknown_sku=0, rng=rng)
    made = sandbox_services.system_module("prestashop").generate(sandbox, orders=10, products=15, customers=4,
                                                                 state=None, unknown_sku=0, rng=rng)
    shop, tims = connections(cast.org_a, sandbox, secrets, made["timezone"])

    page.set_viewport_size({"width": 1366, "height": 768})
    start = reverse("setup:integrations", kwargs={"org": cast.org_a.slug})
    page.goto(f"{live_server.url}{reverse('accounts:login')}?next={start}")
    page.fill("#id_username", cast.owner_a.username)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Integrations")
    fits(page)

    page.click("#new-integration")
    expect(page.locator(".steps li.current")).to_have_text("1. Pick the pair")
    page.check(f"input[name=channel][value='{shop.pk}']")
    page.check(f"input[name=tims][value='{tims.pk}']")
    fits(page)
    page.screenshot(path="/tmp/setup-pair.png")
    page.click("text=Next: flows")

    expect(page.locator(".steps li.current")).to_have_text("2. Flows")
    expect(page.locator("input[name=flows][value=orders]")).to_be_checked()
    for name in ("shipments", "cancellations", "inventory", "invoices", "payments", "journal", "returns",
                 "customers", "prices"):
        box = page.locator(f"input[name=flows][value={name}]")
        if box.count() and box.is_checked():
            box.uncheck()
    fits(page)
    page.click("text=Next: review the maps")

    expect(page.locator(".steps li.current")).to_have_text("3. Review maps")
    expect(page.locator("#map-prestashop_order_state")).to_be_visible()
    fits(page)
    page.screenshot(path="/tmp/setup-review.png")
    page.click("text=Next: shadow run")

    expect(page.locator(".steps li.current")).to_have_text("4. Shadow run")
    expect(page.locator("#days")).to_have_value("7")
    page.click("#start-shadow")
    expect(page.locator("#shadow-status h2")).to_contain_text("in progress")
    page.evaluate("window.stillThisPage = true")
    integration = Integration.objects.get(organization=cast.org_a)
    assert integration.state == IntegrationState.SHADOW and integration.flows == ["orders"]

    assert pollers.poll_integration(integration.pk) == 10
    work_off()
    expect(page.locator("#shadow-status h2")).to_have_text("Shadow run finished", timeout=20000)
    assert page.evaluate("window.stillThisPage === true")  # followed without a reload
    expect(page.locator("#shadow-total")).to_have_text("10")
    expect(page.locator("#shadow-counts")).to_contain_text("Orders into TIMS")
    expect(page.locator("#shadow-sample .sample-order").first).to_contain_text("PortalOrderKey")
    fits(page)
    assert tims_orders(tims) == {}  # the shadow run wrote nothing
    page.screenshot(path="/tmp/setup-shadow-report.png", full_page=False)

    # Go live: the count follows the cut-over as it changes; one click; then pause from the list.
    page.click("#to-go-live")
    expect(page.locator(".steps li.current")).to_have_text("5. Go live")
    expect(page.locator("#go-live-count")).to_contain_text("0 orders placed since")
    week_ago = timezone.localtime(timezone.now() - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#cutover", week_ago)
    expect(page.locator("#go-live-count")).to_contain_text("10 orders placed since")
    fits(page)
    page.screenshot(path="/tmp/setup-golive.png")
    page.click("#go-live")
    expect(page.locator(".messages")).to_contain_text("is live: 10 orders placed since")
    expect(page.locator(f"#integration-{integration.pk} .state")).to_have_text("Live")
    page.click(f"#integration-{integration.pk} button:text('Pause')")
    expect(page.locator(f"#integration-{integration.pk} .state")).to_have_text("Paused")
    fits(page)
