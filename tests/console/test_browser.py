"""The customer's whole loop in a real browser at 1,366 × 768: an owner invites an admin, who makes an account,
signs in, opens a dead letter, follows its fix to the value map, saves and retries, and sees the record succeed on
its own page without a reload. No page scrolls sideways."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from integrations.models import AuditEntry
from portal.models import Membership, Role
from tests.integrations.flows.test_fulfillment import shop  # noqa: F401 - the fixture: a shop, its orders in TIMS
from tests.integrations.flows.test_prestashop_orders import work_off
from tests.integrations.test_admin_fix_loop import UNMAPPED, dead_shipment

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "Welding-Torch-Blue-77"


def fits(page):
    """The page's content is no wider than the window: nothing hides to the right."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


@pytest.mark.browser
def test_invited_admin_fixes_a_dead_letter_and_sees_it_succeed(shop, page, live_server, cast):  # noqa: F811
    org = cast.org_a
    _, record = dead_shipment(shop)
    page.set_viewport_size({"width": 1366, "height": 768})

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "owner_a@example.com")
    page.fill("#id_password", "pw")
    page.click("#login-form button[type=submit]")
    page.click(".site-nav >> text=Members")
    fits(page)
    page.fill("#id_email", "ada@example.com")
    page.select_option("#id_role", "admin")
    page.click("#invite")
    expect(page.locator(".messages")).to_contain_text("Invitation sent to ada@example.com")
    expect(page.locator("#invitations")).to_contain_text("ada@example.com")
    link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
    page.click("text=Sign out")

    page.goto(link)  # the invitee, from the email
    expect(page.locator("#invitation")).to_contain_text(f"Join {org.name}")
    page.fill("#id_first_name", "Ada")
    page.fill("#id_last_name", "Lovelace")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("#create-account")
    expect(page.locator(".messages")).to_contain_text(f"Welcome to {org.name}: you are Admin")
    page.click("text=Sign out")

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "ADA@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#current-organization")).to_have_text(org.name)
    page.click(".site-nav >> text=Records")
    page.select_option("select[name=status]", "dead")
    page.click("#record-filters button[type=submit]")
    fits(page)
    page.click(f"#records a[href$='/records/{record.pk}/']")
    expect(page.locator("#status")).to_contain_text("Dead letter")
    fits(page)

    page.click("#fix-link")  # the value map, the value filled in, the cursor in its target, valid targets offered
    expect(page.locator("#fix-notice")).to_contain_text(f"1 dead record waits on “{UNMAPPED}”")
    assert page.evaluate("document.activeElement.name") == "new-target"
    assert page.input_value("input[name=new-source]") == UNMAPPED
    assert "DHL Express" in page.locator("#valid-targets option").evaluate_all("(o) => o.map((x) => x.value)")
    fits(page)
    page.keyboard.type("DHL Express")
    page.click("#save-and-retry")

    page.wait_for_url(f"**/app/{org.slug}/records/{record.pk}/")
    expect(page.locator(".messages")).to_contain_text("1 record waiting on “tims_carrier_to_prestashop” queued")
    page.evaluate("window.stillThisPage = true")
    work_off()  # a worker runs it; the page follows without a reload
    expect(page.locator("#status")).to_contain_text("Succeeded", timeout=20000)
    assert page.evaluate("window.stillThisPage === true")
    expect(page.locator("#what-to-do")).to_contain_text("Nothing.")
    expect(page.locator("#retry-form")).to_be_hidden()
    expect(page.locator("dd.error-row")).to_be_hidden()  # the error went with the success
    expect(page.locator("#attempts-table")).to_contain_text("succeeded")  # read again once it settled
    fits(page)

    ada = Membership.objects.get(organization=org, user__email="ada@example.com")
    assert ada.role == Role.ADMIN
    assert AuditEntry.objects.filter(record=record, action="retry", actor=ada.user).exists()
    assert AuditEntry.objects.filter(action="invite", actor=cast.owner_a, organization=org).exists()
    page.click(".site-nav >> text=Audit log")
    expect(page.locator("#audit")).to_contain_text("value_map_edit")
    fits(page)


@pytest.mark.browser
def test_every_console_page_fits_a_laptop_screen_with_long_names_and_errors(page, live_server, cast, monkeypatch):
    from integrations.models import SyncRecord
    from integrations.pipeline import records
    from jobs.models import Job
    from mappings.models import ValueMap
    from tests.console.conftest import dead_letter
    from tests.factories import make_integration

    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    org = cast.org_a
    integration = make_integration(org, name="Acme Welding Supply — PrestaShop shop and TIMS (EU, central warehouse)")
    long_value = "Awaiting cheque payment in the back office of the shop number 4 " * 2
    for number in range(30):
        record = dead_letter(integration, number, value=f"{long_value}{number}")
        SyncRecord.objects.filter(pk=record.pk).update(reference=f"XKBKNABJ{number}" * 3)
    template = ValueMap.objects.create(organization=None, name="ps_carriers", description="Carriers " * 12)
    template.entries.create(source=long_value, target=long_value)
    job = Job.objects.create(organization=org, kind="retry_records", title="Retry 2,000 dead letters: " + long_value,
                             total=2000, done=400)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "owner_a")
    page.fill("#id_password", "pw")
    page.click("#login-form button[type=submit]")
    client_side = [f"/app/{org.slug}/", f"/app/{org.slug}/records/", f"/app/{org.slug}/records/{record.pk}/",
                   f"/app/{org.slug}/failures/", f"/app/{org.slug}/maps/", f"/app/{org.slug}/maps/{template.pk}/",
                   f"/app/{org.slug}/audit/", f"/app/{org.slug}/jobs/{job.pk}/", f"/accounts/{org.slug}/members/",
                   "/accounts/profile/", "/accounts/password/"]
    page.goto(f"{live_server.url}/app/{org.slug}/failures/")
    page.fill("input[name=reason]", "test orders of the trial run")
    page.click("button[name=discard]")  # something for the audit log
    too_wide = {}
    for address in client_side:
        page.goto(live_server.url + address)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 1366:
            too_wide[address] = width
    assert too_wide == {}
