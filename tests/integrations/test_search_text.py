"""The records' search text: filled when a record is made, what the admin's search reads, and indexed (issue #13)."""

import importlib
from types import SimpleNamespace

import pytest
from django.db import connection
from django.urls import reverse

from integrations.models import SyncRecord
from integrations.pipeline import records
from integrations.pipeline.records import search_text_of
from tests.factories import make_integration

pytestmark = pytest.mark.django_db

ORDER = {
    "source": "prestashop", "source_id": "4512", "number": "XKBKNABJK",
    "customer": {"source_id": "77", "email": "Jane.Doe@example.com", "first_name": "Jane"},
    "shipping_address": {"city": "Lyon", "email": "Jane.Doe@example.com"},
    "lines": [{"sku": "NOZ-0417", "quantity": 2}, {"sku": "GLV-0009", "quantity": 1}],
}
MIGRATION = importlib.import_module("integrations.migrations.0012_record_search_text_and_indexes")


def receive_order(integration, source_id="4512", reference="XKBKNABJK", payload=ORDER):
    record, created = records.receive(integration, flow="orders", entity_type="order", source_id=source_id,
                                      reference=reference, payload=payload, ring=False)
    assert created
    return record


def test_a_new_record_carries_its_reference_emails_and_skus(cast):
    record = receive_order(make_integration(cast.org_a))
    stored = SyncRecord.objects.get(pk=record.pk).search_text
    assert stored == "XKBKNABJK 4512 Jane.Doe@example.com NOZ-0417 GLV-0009"  # each word once


def test_search_text_reads_every_payload_shape():
    shipment = {"Type": "shipment.created", "Data": {"ShipmentID": "SH1", "ExternalOrderID": "XKBKNABJK",
                                                     "Lines": [{"SKU": "ARG-R-20", "Quantity": 1}]}}
    assert search_text_of("XKBKNABJK", "SH1", shipment) == "XKBKNABJK SH1 ARG-R-20"
    assert search_text_of("20004512", "20004512", {"BuyerEmailAddress": "b@example.org", "Items": [
        {"Sku": "TIP-1", "Quantity": 1}]}) == "20004512 b@example.org TIP-1"
    assert search_text_of("NOZ-0417", "NOZ-0417", {"SKU": "NOZ-0417", "Available": 4}) == "NOZ-0417"
    assert search_text_of("", "seq:9", None) == "seq:9"
    assert search_text_of("", "1", {"sku": True, "email": None, "email_verified": 1}) == "1"  # not values to find
    assert len(search_text_of("R", "1", {"lines": [{"sku": f"SKU-{n:05}"} for n in range(1000)]})) == \
        records.SEARCH_TEXT_LENGTH


def test_admin_search_finds_a_record_by_email_sku_and_reference(cast, login):
    integration = make_integration(cast.org_a)
    wanted = receive_order(integration)
    other = receive_order(integration, source_id="4513", reference="QWERTYUIO", payload={
        **ORDER, "customer": {"email": "someone.else@example.com"}, "shipping_address": {},
        "lines": [{"sku": "ROD-0001"}]})
    client = login(cast.operations)
    url = reverse("admin:integrations_syncrecord_changelist")
    for term in ("jane.doe@example.com", "GLV-0009", "noz-0417", "XKBKNABJK"):
        response = client.get(url, {"q": term})
        assert response.status_code == 200
        found = [r.pk for r in response.context["cl"].result_list]
        assert found == [wanted.pk], term
    assert [r.pk for r in client.get(url, {"q": "someone.else"}).context["cl"].result_list] == [other.pk]
    SyncRecord.objects.filter(pk=other.pk).update(target_id="SO00004513")
    assert [r.pk for r in client.get(url, {"q": "so00004513"}).context["cl"].result_list] == [other.pk]


def test_the_search_stays_within_the_customers_own_records(cast, login):
    receive_order(make_integration(cast.org_a))
    response = login(cast.outsider_b).get(reverse("admin:integrations_syncrecord_changelist"),
                                          {"q": "jane.doe@example.com"})
    assert list(response.context["cl"].result_list) == []


def test_the_migration_fills_the_search_text_of_existing_records(cast):
    from django.apps import apps

    record = receive_order(make_integration(cast.org_a))
    SyncRecord.objects.filter(pk=record.pk).update(search_text="")
    MIGRATION.fill_search_text(apps, SimpleNamespace(connection=connection))
    words = SyncRecord.objects.get(pk=record.pk).search_text.split()  # in the stored JSON's key order
    assert sorted(words) == sorted(["XKBKNABJK", "4512", "Jane.Doe@example.com", "NOZ-0417", "GLV-0009"])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's")
def test_the_migrations_indexes_exist_and_serve_the_admins_queries():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'integrations_syncrecord'")
        indexes = dict(cursor.fetchall())
    trigram = indexes["record_search_text_trgm"]
    assert "USING gin" in trigram and "gin_trgm_ops" in trigram and "upper(search_text)" in trigram
    for name in [index.name for index in MIGRATION.INDEXES]:
        assert name in indexes, name
    with connection.cursor() as cursor:  # usable by the SQL Django writes for icontains (not only by a hand query)
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = SyncRecord.objects.filter(search_text__icontains="jane.doe@example.com").order_by().explain()
    assert "record_search_text_trgm" in plan, plan
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = SyncRecord.objects.filter(target_id__iexact="so00004513").order_by().explain()
    assert "record_target_id_upper" in plan, plan
