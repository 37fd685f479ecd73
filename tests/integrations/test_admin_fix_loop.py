"""The fix loop in a real browser: from a dead record to the fix, saved and retried, and seen succeeded on the
record's own page without a reload, in at most three clicks; the pieces of that loop, one by one."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from integrations.admin import fix_link
from integrations.models import AuditEntry, ErrorClass, RecordStatus, SyncRecord
from integrations.pipeline import actions
from mappings import services as mapping_services
from mappings.models import ValueMap
from tests.integrations.flows.test_fulfillment import shop  # noqa: F401 - the fixture: a shop, its orders in TIMS
from tests.integrations.flows.test_prestashop_orders import work_off

pytestmark = pytest.mark.django_db(transaction=True)
UNMAPPED = "Acme Freight|Overnight"


def dead_shipment(world):
    order_id, sales_order = sorted(world.orders.items())[0]
    world.ship(sales_order, tracking="1ZACME00042", carrier="Acme Freight", shipping_class="Overnight")
    record = world.shipment_records().get()
    assert record.status == RecordStatus.DEAD and record.error_details["value_map"]["value"] == UNMAPPED
    return order_id, record


class Clicks:
    """The user's clicks, counted: typing into the field that has the cursor is not one."""

    def __init__(self, page):
        self.page, self.count = page, 0

    def __call__(self, selector):
        self.count += 1
        self.page.click(selector)


@pytest.mark.browser
def test_a_dead_record_is_fixed_retried_and_seen_succeeded_in_three_clicks(shop, page, live_server, cast):  # noqa: F811
    order_id, record = dead_shipment(shop)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/admin/login/?next=" + reverse("admin:integrations_syncrecord_change",
                                                              args=[record.pk]))
    page.fill("#id_username", cast.operations.username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    expect(page.locator(".field-status_now")).to_contain_text("Dead letter")
    click = Clicks(page)

    click("#fix-link")  # 1: the value map, the value filled in, the cursor in its target, valid targets offered
    expect(page.locator("#fix-notice")).to_contain_text(f"1 dead record waits on “{UNMAPPED}”")
    assert page.evaluate("document.activeElement.name").endswith("-target")
    assert page.evaluate("document.activeElement.getAttribute('list')") == "valid-targets"
    assert "DHL Express" in page.locator("#valid-targets option").evaluate_all("(o) => o.map((x) => x.value)")
    page.keyboard.type("DHL Express")

    click("#save-and-retry")  # 2: saved, the waiting record retried, and back on the record's page
    page.wait_for_url(f"**/integrations/syncrecord/{record.pk}/change/")
    expect(page.locator(".messagelist")).to_contain_text("1 record waiting on “tims_carrier_to_prestashop” queued")
    page.evaluate("window.stillThisPage = true")

    work_off()  # a worker runs it; the page follows without a reload
    expect(page.locator(".field-status_now")).to_contain_text("Succeeded", timeout=20000)
    assert page.evaluate("window.stillThisPage === true")
    expect(page.locator(".field-what_to_do")).to_contain_text("Nothing.")
    assert click.count <= 3
    assert [(r.tracking_number, r.carrier) for r in shop.channel.order_carriers(order_id)] == [
        ("1ZACME00042", "DHL Express")]
    assert AuditEntry.objects.filter(record=record, action="retry", actor=cast.operations).exists()


def test_the_fix_link_comes_back_to_the_record(shop, cast):  # noqa: F811
    _, record = dead_shipment(shop)
    label, url = fix_link(record)
    assert label == f"Add “{UNMAPPED}” to tims_carrier_to_prestashop"
    assert f"next=%2Fadmin%2Fintegrations%2Fsyncrecord%2F{record.pk}%2Fchange%2F" in url
    SyncRecord.objects.filter(pk=record.pk).update(status=RecordStatus.SUCCEEDED)
    record.refresh_from_db()
    assert fix_link(record) is None  # nothing to fix


def test_credentials_refused_link_to_the_connection_that_refused(shop):  # noqa: F811
    _, record = dead_shipment(shop)
    SyncRecord.objects.filter(pk=record.pk).update(error_class=ErrorClass.AUTH, error_details={"system": "TIMS"})
    record.refresh_from_db()
    label, url = fix_link(record)
    tims = shop.integration.tims_connection
    assert label == f"Fix the credentials of {tims.name}"
    assert url.startswith(reverse("admin:integrations_connection_change", args=[tims.pk]) + "?next=")


def test_saving_the_map_retries_only_the_records_it_now_maps_and_returns(shop, cast, client):  # noqa: F811
    _, record = dead_shipment(shop)
    value_map = mapping_services.value_maps_for(shop.integration.organization_id, ["tims_carrier_to_prestashop"])[
        "tims_carrier_to_prestashop"]
    other = SyncRecord.objects.get(pk=record.pk)  # a second dead letter waiting on a value nobody maps yet
    other.pk, other.source_id, other.business_key = None, "other", "other"
    other.error_details = {"value_map": {"name": value_map.name, "value": "Nobody|Knows", "url": "/"}}
    other.save()
    assert set(actions.waiting_on_map(value_map)) == {record, other}

    client.force_login(cast.operations)
    here = reverse("admin:integrations_syncrecord_change", args=[record.pk])
    url = reverse("admin:mappings_valuemap_change", args=[value_map.pk]) + f"?add_source={UNMAPPED}&next={here}"
    page = client.get(url)
    assert page.context["waiting"] == 1 and "DHL Express" in page.context["valid_targets"]
    entries = list(value_map.entries.values_list("id", "source", "target"))
    form = {"name": value_map.name, "description": value_map.description, "strict": "on", "default": "",
            "entries-TOTAL_FORMS": len(entries) + 1, "entries-INITIAL_FORMS": len(entries),
            "entries-MIN_NUM_FORMS": 0, "entries-MAX_NUM_FORMS": 1000, "_save_and_retry": "Save and retry",
            "organization": value_map.organization_id}
    for index, (pk, source, target) in enumerate(entries):
        form.update({f"entries-{index}-id": pk, f"entries-{index}-source": source,
                     f"entries-{index}-target": target, f"entries-{index}-value_map": value_map.pk})
    form.update({f"entries-{len(entries)}-source": UNMAPPED, f"entries-{len(entries)}-target": "DHL Express",
                 f"entries-{len(entries)}-value_map": value_map.pk})
    response = client.post(url, form)
    assert response.status_code == 302 and response["Location"] == here
    statuses = dict(SyncRecord.objects.filter(pk__in=[record.pk, other.pk]).values_list("pk", "status"))
    assert statuses == {record.pk: RecordStatus.RETRYING, other.pk: RecordStatus.DEAD}


def test_a_next_pointing_elsewhere_is_ignored(shop, cast, client):  # noqa: F811
    value_map = ValueMap.objects.filter(organization=shop.integration.organization).first()
    client.force_login(cast.operations)
    url = reverse("admin:mappings_valuemap_change", args=[value_map.pk]) + "?next=https://evil.example/"
    assert client.get(url).context["return_to"] == ""


def test_the_status_view_answers_for_the_users_own_records_only(shop, cast, client):  # noqa: F811
    _, record = dead_shipment(shop)
    status_url = reverse("admin:integrations_syncrecord_status", args=[record.pk])
    client.force_login(cast.operations)
    state = client.get(status_url).json()
    assert state["status"] == "dead" and not state["open"] and "fix-link" in state["what_to_do_html"]
    client.force_login(cast.outsider_b)
    assert client.get(status_url).status_code == 404


def test_retry_from_the_top_of_the_record_page(shop, cast, client):  # noqa: F811
    _, record = dead_shipment(shop)
    client.force_login(cast.operations)
    page = client.get(reverse("admin:integrations_syncrecord_change", args=[record.pk])).content.decode()
    assert page.index('id="retry-now"') < page.index('class="module aligned')  # above the fieldsets
    retry_url = reverse("admin:integrations_syncrecord_retry", args=[record.pk])
    assert client.get(retry_url).status_code == 403  # a retry is a POST
    assert client.post(retry_url).status_code == 302
    record.refresh_from_db()
    assert record.status == RecordStatus.RETRYING


def test_a_value_the_map_has_with_a_wrong_target_opens_its_row_not_a_duplicate(shop, cast, client):  # noqa: F811
    value_map = mapping_services.value_maps_for(shop.integration.organization_id, ["tims_carrier_to_prestashop"])[
        "tims_carrier_to_prestashop"]
    mapping_services.set_entry(value_map, UNMAPPED, "A carrier the shop does not have")
    client.force_login(cast.operations)
    page = client.get(reverse("admin:mappings_valuemap_change", args=[value_map.pk]) + f"?add_source={UNMAPPED}")
    (formset,) = [f.formset for f in page.context["inline_admin_formsets"]]
    assert [form.initial.get("source") for form in formset.extra_forms] == [None]  # an empty row, not a copy
    assert UNMAPPED in [form.instance.source for form in formset.initial_forms]
