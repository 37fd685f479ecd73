"""Dead letters grouped by cause: one row per way of failing, with its fix, retry all and discard all (audited),
scoped to the user's organizations."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from integrations.models import AuditEntry, RecordStatus, SyncRecord
from integrations.pipeline import records
from integrations.pipeline.causes import cause_of
from tests.factories import make_integration

pytestmark = pytest.mark.django_db
CAUSES = reverse("admin:integrations_syncrecord_causes")


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)


def dead(integration, source_id, message, details=None):
    record, _ = records.receive(integration, flow="orders", entity_type="order", source_id=source_id)
    SyncRecord.objects.filter(pk=record.pk).update(status=RecordStatus.DEAD, error_class="permanent",
                                                   error_message=message, error_details=details or {},
                                                   error_cause=cause_of(message, details),
                                                   suggested_fix="Add the SKU to TIMS, then retry.")
    return record


def test_ids_and_values_are_taken_out_but_an_unmapped_value_keeps_its_map_and_value():
    assert cause_of("TIMS refused order 41: SKU “GLV-00024” is not in TIMS") == \
        cause_of("TIMS refused order 977: SKU “ARG-1” is not in TIMS") == "TIMS refused order #: SKU “…” is not in TIMS"
    unmapped = {"value_map": {"name": "ps_states", "value": "Gift"}}
    assert cause_of("Order 4: map “ps_states” lacks “Gift”", unmapped) == "Order #: map “ps_states” lacks “Gift”"
    assert cause_of("x" * 500) == "x" * 200
    # A PrestaShop reference has no digits; the noun may start the sentence. Every unpaid order is one cause.
    assert cause_of("Order FHAXCNULS is not paid yet (state “Awaiting bank wire payment”)") == \
        cause_of("Order KJDAOVYUN is not paid yet (state “Awaiting bank wire payment”)") == \
        "Order # is not paid yet (state “…”)"
    assert cause_of("Order NOT paid") == "Order NOT paid"  # a short capital word is not an id


def test_records_failing_alike_are_one_row_and_retry_all_retries_only_them(cast, login):
    integration = make_integration(cast.org_a)
    for n in range(3):
        dead(integration, f"o{n}", f"TIMS refused order {n}: SKU “S-{n}” is not in TIMS")
    other = dead(integration, "x", "The worker stopped 3 times")
    client = login(cast.operations)
    page = client.get(CAUSES).content.decode()
    assert "4 dead letters in 2 causes" in page and "Retry all 3" in page and "Add the SKU to TIMS" in page

    client.post(CAUSES, {"flow": "orders", "error_cause": "TIMS refused order #: SKU “…” is not in TIMS",
                         "retry": "1"})
    assert SyncRecord.objects.filter(status=RecordStatus.RETRYING).count() == 3
    assert SyncRecord.objects.get(pk=other.pk).status == RecordStatus.DEAD
    assert AuditEntry.objects.filter(action="retry").count() == 3

    response = client.post(CAUSES, {"flow": "orders", "error_cause": "The worker stopped # times",
                                    "discard": "1", "reason": ""}, follow=True)
    assert "Say why" in response.content.decode()
    client.post(CAUSES, {"flow": "orders", "error_cause": "The worker stopped # times", "discard": "1",
                         "reason": "duplicate test order"})
    assert SyncRecord.objects.get(pk=other.pk).status == RecordStatus.DISCARDED


def test_a_customer_sees_only_their_own_causes(cast, login):
    dead(make_integration(cast.org_a), "a", "Refused: “A”")
    dead(make_integration(cast.org_b), "b", "Secret trouble of another tenant")
    page = login(cast.owner_a).get(CAUSES).content.decode()
    assert "Refused" in page and "Secret trouble" not in page


def test_the_front_page_links_dead_letters_to_their_causes(cast, login):
    dead(make_integration(cast.org_a), "a", "Refused: “A”")
    items = login(cast.superuser).get("/admin/").context["attention_items"]
    assert any(url == CAUSES + "?flow=orders" and count == 1 for _, count, url, _ in items)


def test_the_simulators_have_a_section_of_their_own_and_plurals_are_english(cast, login):
    client = login(cast.superuser)
    index = client.get("/admin/")
    everyday = [app["app_label"] for app in index.context["app_list"]]
    assert "integrations" in everyday and not any(label.startswith("sandbox") for label in everyday)
    assert {app["app_label"] for app in index.context["simulator_apps"]} >= {"sandbox_prestashop", "sandbox_tims"}
    shop = client.get("/admin/sandbox_prestashop/")
    names = [model["name"] for app in shop.context["app_list"] for model in app["models"]]
    assert "Addresses" in names and "Countries" in names and "Order histories" in names
    assert shop.status_code == 200 and "Addresss" not in shop.content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_grouped_dead_letters_in_the_browser(page, live_server, cast):
    integration = make_integration(cast.org_a)
    for n in range(3):
        dead(integration, f"o{n}", f"TIMS refused order {n}: SKU “S-{n}” is not in TIMS")
    dead(integration, "x", "The worker stopped 3 times")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/admin/login/?next={CAUSES}")
    page.fill("#id_username", cast.operations.username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    expect(page.locator("#causes tr.cause")).to_have_count(2)
    expect(page.locator("#causes tr.cause").first).to_contain_text("Add the SKU to TIMS")
    page.click("input[value='Retry all 3']")
    expect(page.locator(".messagelist")).to_contain_text("3 records queued for retry")
    expect(page.locator("#causes tr.cause")).to_have_count(1)
    assert SyncRecord.objects.filter(status=RecordStatus.RETRYING).count() == 3
