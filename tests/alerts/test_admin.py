"""The alerts admin: rules with a write-only webhook secret and a test message, alerts scoped to the user's
organizations, and acknowledgement by a person, audited; in a real browser, an alert arriving on the front page."""

import pytest
from django.core import mail
from django.urls import reverse
from playwright.sync_api import expect

from alerts import evaluate
from alerts.models import Alert, AlertKind, AlertRule
from integrations.models import AuditEntry
from tests.alerts.test_evaluate import make_dead, quiet, receiver, rule  # noqa: F401 - fixtures
from tests.factories import make_integration

pytestmark = pytest.mark.django_db


def test_customers_see_their_own_alerts_and_rules_only(cast, login):
    make_dead(make_integration(cast.org_a), 3)
    make_dead(make_integration(cast.org_b), 3, start=10)
    rule(cast.org_a, name="A's rule")
    rule(cast.org_b, name="B's rule")
    evaluate.run()
    client = login(cast.owner_a)
    alerts = client.get(reverse("admin:alerts_alert_changelist")).context["cl"].queryset
    assert {a.rule.name for a in alerts} == {"A's rule"}
    rules = client.get(reverse("admin:alerts_alertrule_changelist")).context["cl"].queryset
    assert [r.name for r in rules] == ["A's rule"]
    other = Alert.objects.get(rule__name="B's rule")
    assert client.get(reverse("admin:alerts_alert_change", args=[other.pk])).status_code in (302, 404)


def test_a_customer_cannot_make_a_rule_that_watches_everyone(cast, login):
    client = login(cast.owner_a)
    response = client.post(reverse("admin:alerts_alertrule_add"), {
        "name": "All of them", "kind": AlertKind.DEAD_LETTERS, "threshold": 1, "minutes": 15,
        "emails": "me@example.com", "digest_minutes": 0, "repeat_minutes": 0, "active": "on"})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not AlertRule.objects.exists()


def test_the_webhook_secret_is_write_only_and_a_rule_needs_somewhere_to_send(cast, login):
    client = login(cast.operations)
    form = {"organization": cast.org_a.pk, "name": "Hook", "kind": AlertKind.CIRCUIT_OPEN, "threshold": 1,
            "minutes": 10, "emails": "", "webhook_url": "", "digest_minutes": 0, "repeat_minutes": 0}
    response = client.post(reverse("admin:alerts_alertrule_add"), form)
    assert "at least one email address or a webhook URL" in response.content.decode()
    form.update(webhook_url="https://hooks.example.com/x", webhook_secret="TOP-SECRET-123")
    assert client.post(reverse("admin:alerts_alertrule_add"), form).status_code == 302
    saved = AlertRule.objects.get()
    assert saved.webhook_signing == {"secret": "TOP-SECRET-123"}
    page = client.get(reverse("admin:alerts_alertrule_change", args=[saved.pk])).content.decode()
    assert "TOP-SECRET-123" not in page
    bad = {**form, "emails": "not an address"}
    assert "is not an email address" in client.post(reverse("admin:alerts_alertrule_add"), bad).content.decode()


def test_a_test_message_reaches_the_webhook(cast, login, receiver):  # noqa: F811
    hook = rule(cast.org_a, emails="", webhook_url=receiver.url)
    client = login(cast.operations)
    client.post(reverse("admin:alerts_alertrule_changelist"), {"action": "send_test_message",
                                                               "_selected_action": [hook.pk]})
    assert receiver.payloads()[0]["kind"] == "test"
    assert hook.deliveries.get().ok


def test_acknowledging_is_audited(cast, login):
    make_dead(make_integration(cast.org_a), 3)
    rule(cast.org_a)
    evaluate.run()
    alert = Alert.objects.get()
    client = login(cast.operations)
    client.post(reverse("admin:alerts_alert_changelist"), {"action": "acknowledge", "_selected_action": [alert.pk],
                                                           "reason": "TIMS is being restarted"})
    alert.refresh_from_db()
    assert alert.acknowledged_by == cast.operations and alert.acknowledgement == "TIMS is being restarted"
    entry = AuditEntry.objects.get(action="acknowledge_alert")
    assert entry.actor == cast.operations and entry.organization == cast.org_a and entry.after["alert"] == alert.pk


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_alert_arrives_and_a_person_acknowledges_it_in_the_browser(page, live_server, cast):
    integration = make_integration(cast.org_a)
    make_dead(integration, 4)
    rule(cast.org_a, name="Too many dead letters")
    evaluate.run()
    assert "Too many dead letters" in mail.outbox[0].subject

    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", cast.operations.username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.click("text=Alerts firing, not acknowledged")
    row = page.locator("#result_list tbody tr").first
    expect(row).to_contain_text("Firing")
    expect(row).to_contain_text("4 records became dead letters")
    row.locator("input[type=checkbox]").check()
    page.select_option("select[name=action]", "acknowledge")
    page.fill("input[name=reason]", "looking into it")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("1 alert acknowledged")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#needs-attention")).not_to_contain_text("Alerts firing")
