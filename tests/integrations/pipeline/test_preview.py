"""A stored record previewed through today's mapping: output, messages, and the diff against what was sent."""

import pytest
from django.urls import reverse

from integrations.models import SyncRecord
from integrations.pipeline.preview import diff, preview_record
from mappings.templates import sample_record
from tests.factories import make_integration

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(cast):
    integration = make_integration(cast.org_a)
    source = sample_record("canonical_order", "prestashop_tims")
    return SyncRecord.objects.create(
        organization=cast.org_a, integration=integration, flow="orders", entity_type="order",
        source_system="prestashop", source_id=source["source_id"], business_key="k", status="dead",
        source_payload=source, mapped_payload={"OrderStatus": "Open", "LineItems": [{"SKU": "OLD-1"}]})


def test_preview_maps_the_stored_source_and_lists_the_changes(record):
    result = preview_record(record)
    assert result.problem == "" and result.output["ExternalOrderID"]
    changed = {path for path, _, _ in result.changes}
    assert "LineItems[0].SKU" in changed


def test_preview_page_is_one_click_from_the_record(record, cast, login):
    client = login(cast.operations)
    page = client.get(reverse("admin:integrations_syncrecord_change", args=[record.pk])).content.decode()
    assert reverse("admin:integrations_syncrecord_preview", args=[record.pk]) in page
    html = client.get(reverse("admin:integrations_syncrecord_preview", args=[record.pk])).content.decode()
    assert "Changes against what was mapped last time" in html and "LineItems[0].SKU" in html


def test_outsiders_cannot_preview_another_tenants_record(record, cast, login):
    response = login(cast.outsider_b).get(reverse("admin:integrations_syncrecord_preview", args=[record.pk]))
    assert response.status_code == 404


def test_a_record_never_read_says_so(record):
    record.source_payload = None
    assert "no stored source payload" in preview_record(record).problem


def test_diff_names_added_removed_and_changed_leaves():
    assert diff({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}, "d": [5]}) == [("b.c", 2, 3), ("d[0]", "—", 5)]
