"""The admin reads the flow declarations: go live from a cut-over, backfill with progress, chained records linked."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import AuditEntry, Integration, PollState, SyncRecord
from integrations.pipeline import records
from tests.factories import make_integration

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:integrations_integration_changelist")


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)


def shadow_read(integration, source_id, placed):
    integration.state = "shadow"
    integration.save()
    record, _ = records.receive(integration, flow="orders", entity_type="order", source_id=source_id,
                                payload={"ordered_at": placed.isoformat()})
    return record


def test_going_live_says_how_many_orders_it_imports_then_rewinds_the_watermark(cast, login):
    integration = make_integration(cast.org_a)
    now = timezone.now()
    shadow_read(integration, "1", now - timedelta(hours=2))
    shadow_read(integration, "2", now - timedelta(days=3))
    PollState.objects.create(integration=integration, name="orders", watermark=now)
    client = login(cast.integration_admin)
    page = client.post(CHANGELIST, {"action": "go_live", "_selected_action": [integration.pk]})
    assert page.status_code == 200 and "1 orders read in shadow mode" in page.content.decode()
    cutover = timezone.localtime(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(CHANGELIST, {"action": "go_live", "_selected_action": [integration.pk], "apply": "1",
                                        "moment": cutover}, follow=True)
    assert "is live: 1 orders read in shadow mode" in response.content.decode()
    integration.refresh_from_db()
    assert integration.state == "live" and integration.cutover_at is not None
    assert PollState.objects.get(integration=integration).watermark == integration.cutover_at
    assert AuditEntry.objects.filter(action="go_live", actor=cast.integration_admin).exists()
    again, created = records.receive(integration, flow="orders", entity_type="order", source_id="1")
    assert created and not again.shadow  # the live record is new, beside the shadow one


def test_a_viewer_cannot_go_live(cast, login):
    integration = make_integration(cast.org_a)
    response = login(cast.member_a).post(CHANGELIST, {"action": "go_live", "_selected_action": [integration.pk],
                                                      "apply": "1", "moment": "2026-01-01T00:00"})
    assert response.status_code in (403, 302, 200)
    assert Integration.objects.get(pk=integration.pk).state == "draft"


def test_the_integration_page_shows_what_the_first_poll_left_behind_and_backfill_progress(cast, login):
    integration = make_integration(cast.org_a)
    started = timezone.now() - timedelta(days=7)
    PollState.objects.create(integration=integration, name="orders", watermark=timezone.now(), started_from=started)
    client = login(cast.integration_admin)
    url = reverse("admin:integrations_integration_change", args=[integration.pk])
    assert "orders changed before that were not read" in client.get(url).content.decode()
    since = timezone.localtime(timezone.now() - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    client.post(CHANGELIST, {"action": "backfill_orders", "_selected_action": [integration.pk], "apply": "1",
                             "moment": since})
    backfill = PollState.objects.get(integration=integration, name="orders:backfill")
    assert backfill.until == started and "backfill 0% done" in client.get(url).content.decode()


def test_a_chained_record_links_its_parent_and_the_parent_its_children(cast, login):
    integration = make_integration(cast.org_a)
    parent, _ = records.receive(integration, flow="orders", entity_type="order", source_id="9")
    child, _ = records.receive(integration, flow="orders", entity_type="invoice", source_id="inv-9", parent=parent)
    client = login(cast.operations)
    page = client.get(reverse("admin:integrations_syncrecord_change", args=[parent.pk])).content.decode()
    assert reverse("admin:integrations_syncrecord_change", args=[child.pk]) in page
    page = client.get(reverse("admin:integrations_syncrecord_change", args=[child.pk])).content.decode()
    assert reverse("admin:integrations_syncrecord_change", args=[parent.pk]) in page


def test_records_filter_by_declared_flow_and_superseded_status(cast, login):
    integration = make_integration(cast.org_a)
    record, _ = records.receive(integration, flow="orders", entity_type="order", source_id="3", reference="R-3")
    SyncRecord.objects.filter(pk=record.pk).update(status="superseded")
    client = login(cast.operations)
    page = client.get(reverse("admin:integrations_syncrecord_changelist") + "?flow=orders&status__exact=superseded")
    html = page.content.decode()
    assert page.status_code == 200 and "R-3" in html and "Orders into TIMS" in html


def test_an_orders_page_tells_its_story_and_a_dead_shipment_offers_its_fix_in_one_click(cast, login):
    from integrations.models import Link

    integration = make_integration(cast.org_a)
    order, _ = records.receive(integration, flow="orders", entity_type="order", source_id="41", reference="R-41",
                               payload={"ordered_at": "2026-12-01T09:00:00+00:00"})
    Link.objects.create(integration=integration, entity_type="order", source_id="41", target_id="SO000066",
                        record=order)
    shipped, _ = records.receive(
        integration, flow="shipments", entity_type="shipment", source_id="SH000001", business_key=order.business_key,
        payload={"Type": "shipment.created", "Data": {"ShipmentID": "SH000001", "SalesOrderID": "SO000066",
                                                      "Carrier": "Acme", "ShippingClass": "Freight",
                                                      "TrackingNumber": "ACME1", "ShippedAt": "2026-12-01T10:00:00Z",
                                                      "Lines": [{"SKU": "WLD-1", "Quantity": 2}]}})
    url = "/admin/mappings/valuemap/7/change/?add_source=Acme%7CFreight"
    SyncRecord.objects.filter(pk=shipped.pk).update(
        status="dead", error_class="unmapped_value", error_message="Carrier “Acme|Freight” is not mapped.",
        suggested_fix="Add it, then retry.",
        error_details={"value_map": {"name": "tims_carrier_to_prestashop", "value": "Acme|Freight", "url": url}})
    client = login(cast.operations)
    page = client.get(reverse("admin:integrations_syncrecord_change", args=[order.pk])).content.decode()
    assert "Sales order SO000066 created" in page and "2 × WLD-1" in page and "Not sent: Carrier" in page
    assert reverse("admin:integrations_syncrecord_change", args=[shipped.pk]) in page
    page = client.get(reverse("admin:integrations_syncrecord_change", args=[shipped.pk])).content.decode()
    assert "Order R-41 placed" in page  # the shipment's page tells the same story
    back = urlencode({"next": reverse("admin:integrations_syncrecord_change", args=[shipped.pk])})
    assert f'href="{url}&amp;{back}"' in page and "Add “Acme|Freight” to tims_carrier_to_prestashop" in page
