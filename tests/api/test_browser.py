"""In Chromium: an owner makes a key on the developer page, sees it once with a copy button, and it works."""

import re

import pytest
import requests

from api.models import ApiKey

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_an_owner_makes_a_key_and_sees_it_once(page, live_server, cast):
    page.goto(f"{live_server.url}/accounts/login/?next=/app/{cast.org_a.slug}/developers/keys/")
    page.fill("input[name=username]", "owner_a")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/developers/keys/$"))
    assert page.locator("nav.site-nav a.active").inner_text() == "API keys"
    page.fill("input[name=name]", "warehouse script")
    page.select_option("select[name=scope]", "read")
    page.click("#create-key button[type=submit]")
    whole = page.locator("#new-key-value").inner_text()
    assert whole.startswith("ipk_")
    assert "shown only this once" in page.locator("#new-key").inner_text()
    page.click("#copy-key")
    page.locator("#copy-done").wait_for(state="visible")
    key = ApiKey.objects.get()
    row = page.locator("#key-list tbody tr").first.inner_text()
    assert key.prefix in row and "warehouse script" in row and "never" in row

    answer = requests.get(f"{live_server.url}/api/organizations/", headers={"Authorization": f"Api-Key {whole}"},
                          timeout=10)
    assert answer.status_code == 200 and answer.json()["results"][0]["slug"] == cast.org_a.slug

    page.goto(f"{live_server.url}/app/{cast.org_a.slug}/developers/keys/")
    assert page.locator("#new-key").count() == 0 and whole not in page.content()
    assert page.locator("#key-list tbody tr").first.locator("td").nth(4).inner_text() != "never"  # used just now
