"""The endpoints: scopes, tenants, filters, cursor pages, retry and discard audited, secrets never shown."""

import json

import pytest
from django.test import override_settings

from api.models import ApiKey
from integrations.models import AuditEntry, RecordStatus, SyncAttempt, SyncRecord
from mappings.models import ValueMap, Version
from tests.api.conftest import make_record
from tests.factories import SECRET_WS_KEY

pytestmark = pytest.mark.django_db


def test_read_key_lists_and_reads_but_cannot_retry_or_discard(cast, key_for, api, integration_a):
    record = make_record(integration_a)
    client = api(key_for(cast.org_a, "read"))
    assert client.get("/api/records/").json()["results"][0]["id"] == record.pk
    detail = client.get(f"/api/records/{record.pk}/").json()
    assert detail["status"] == "dead" and detail["attempts_made"] == []
    response = client.post(f"/api/records/{record.pk}/retry/", {}, format="json")
    assert response.status_code == 403 and "operate" in response.json()["detail"]
    assert client.post(f"/api/records/{record.pk}/discard/", {"reason": "x"}, format="json").status_code == 403
    assert client.post("/api/failures/retry-all/", {"flow": "orders", "error_cause": record.error_cause},
                       format="json").status_code == 403
    assert SyncRecord.objects.get(pk=record.pk).status == RecordStatus.DEAD
    assert not AuditEntry.objects.filter(action__in=["retry", "discard"]).exists()


def test_operate_key_retries_and_discards_audited_with_the_key_named(cast, key_for, api, integration_a):
    record, other = make_record(integration_a), make_record(integration_a)
    SyncAttempt.objects.create(record=record, number=1, started_at=record.created_at, outcome="dead",
                               error_message="unknown SKU")
    whole = key_for(cast.org_a, "operate", created_by=cast.owner_a)
    client = api(whole)
    response = client.post(f"/api/records/{record.pk}/retry/", {"reason": "item created"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "retrying" and body["attempts_made"][0]["error_message"] == "unknown SKU"
    entry = AuditEntry.objects.get(action="retry", record=record)
    prefix = ApiKey.objects.get().prefix
    assert entry.reason == "item created" and entry.actor_name == f"API key {prefix} of owner_a"
    assert entry.organization_id == cast.org_a.pk

    response = client.post(f"/api/records/{other.pk}/discard/", {}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["detail"]
    response = client.post(f"/api/records/{other.pk}/discard/", {"reason": "test order"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "discarded"
    assert AuditEntry.objects.get(action="discard", record=other).reason == "test order"
    again = client.post(f"/api/records/{other.pk}/discard/", {"reason": "again"}, format="json")
    assert again.status_code == 200  # a discarded record may be discarded again; a succeeded one may not
    done = make_record(integration_a, status="succeeded")
    refused = client.post(f"/api/records/{done.pk}/discard/", {"reason": "no"}, format="json")
    assert refused.status_code == 400 and "succeeded" in refused.json()["detail"]


def test_another_tenants_objects_are_404_for_keys_and_users(cast, key_for, api, integration_a, integration_b):
    theirs = make_record(integration_b)
    client = api(key_for(cast.org_a, "admin"))
    for url in (f"/api/records/{theirs.pk}/", f"/api/integrations/{integration_b.pk}/",
                f"/api/connections/{integration_b.channel_connection_id}/", f"/api/organizations/{cast.org_b.pk}/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/api/records/{theirs.pk}/retry/", {}, format="json").status_code == 404
    assert client.post(f"/api/integrations/{integration_b.pk}/pause/").status_code == 404
    assert client.get("/api/records/").json()["results"] == []
    assert client.get("/api/failures/").json() == []
    session = api(user=cast.owner_a)
    assert session.get(f"/api/records/{theirs.pk}/").status_code == 404
    assert api(user=cast.outsider_b).get(f"/api/records/{theirs.pk}/").status_code == 200
    # An organization key cannot make a connection for another tenant either
    response = client.post("/api/connections/", {"organization": cast.org_b.slug, "kind": "prestashop",
                                                  "name": "x", "base_url": "https://x.example.com",
                                                  "settings": {"timezone": "UTC"}}, format="json")
    assert response.status_code == 400 and "No such organization" in json.dumps(response.json())


def test_session_users_rights_come_from_their_role(cast, api, integration_a):
    record = make_record(integration_a)
    viewer = api(user=cast.member_a)
    assert viewer.get(f"/api/records/{record.pk}/").status_code == 200
    assert viewer.post(f"/api/records/{record.pk}/retry/", {}, format="json").status_code == 403
    ops = api(user=cast.operations)  # company staff: every tenant, as an operator
    assert ops.post(f"/api/records/{record.pk}/retry/", {}, format="json").status_code == 200


def test_records_filters_search_and_unknown_filters(cast, key_for, api, integration_a):
    dead = make_record(integration_a, reference="FINDME")
    SyncRecord.objects.filter(pk=dead.pk).update(search_text="findme 77 alice@example.com")
    make_record(integration_a, status="succeeded", flow="shipments")
    client = api(key_for(cast.org_a))

    def ids(query):
        response = client.get("/api/records/", query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids({"status": "dead"}) == [dead.pk]
    assert ids({"flow": "orders", "integration": integration_a.pk}) == [dead.pk]
    assert ids({"search": "alice@exa"}) == [dead.pk]
    assert ids({"created_after": "2000-01-01T00:00:00Z", "status": "succeeded"}) != []
    assert ids({"created_before": "2000-01-01T00:00:00Z"}) == []
    for query, word in (({"colour": "red"}, "Unknown filter: colour"), ({"status": "alive"}, "status"),
                        ({"integration": "abc"}, "integration"), ({"created_after": "yesterday"}, "created_after"),
                        ({"search": "a\x00b"}, "NUL")):
        response = client.get("/api/records/", query)
        assert response.status_code == 400, query
        assert word in json.dumps(response.json()), (query, response.json())
    assert client.get("/api/records/abc/").status_code == 404
    assert client.get("/api/no-such-thing/").json()["detail"].startswith("No such API endpoint")
    assert client.get("/api/records/99999999999999999999999/").status_code == 404


def test_cursor_pagination_walks_every_record_once(cast, key_for, api, integration_a):
    made = {make_record(integration_a, status="succeeded").pk for _ in range(7)}
    client = api(key_for(cast.org_a))
    seen, url, pages = [], "/api/records/?page_size=3", 0
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url, pages = body["next"], pages + 1
        assert "count" not in body  # no full count at a million records
    assert pages == 3 and seen == sorted(made, reverse=True)
    assert client.get("/api/records/?cursor=garbage").status_code == 404


def test_secrets_are_write_only_everywhere(cast, key_for, api, integration_a):
    client = api(key_for(cast.org_a, "admin"))
    texts = [json.dumps(client.get(url).json()) for url in (
        "/api/connections/", f"/api/connections/{integration_a.channel_connection_id}/", "/api/integrations/",
        f"/api/integrations/{integration_a.pk}/", "/api/audit/")]
    created = client.post("/api/connections/", {"kind": "prestashop", "name": "Second shop",
                                                "base_url": "https://shop2.example.com",
                                                "settings": {"timezone": "Europe/Paris"},
                                                "credentials": {"ws_key": "NEW-SECRET-WS-KEY-123"}}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["credentials_set"] == ["ws_key"] and "credentials" not in created.json()
    changed = client.patch(f"/api/connections/{created.json()['id']}/", {"credentials": {"ws_key": "ROTATED-KEY-9"},
                                                                       "name": "Shop two"}, format="json")
    assert changed.status_code == 200 and changed.json()["name"] == "Shop two"
    texts += [json.dumps(created.json()), json.dumps(changed.json()), json.dumps(client.get("/api/audit/").json()),
              json.dumps(client.get("/api/connections/").json())]
    browsable = api(user=cast.owner_a).get(f"/api/connections/{integration_a.channel_connection_id}/",
                                           HTTP_ACCEPT="text/html")
    assert browsable.status_code == 200 and "<html" in browsable.content.decode()
    texts.append(browsable.content.decode())
    webhook_secret = integration_a.webhook_secret["secret"]
    for text in texts:
        for secret in (SECRET_WS_KEY, "NEW-SECRET-WS-KEY-123", "ROTATED-KEY-9", webhook_secret, "TIMS-CLIENT-SECRET-1"):
            assert secret not in text
    from integrations.models import Connection

    assert Connection.objects.get(name="Shop two").credentials == {"ws_key": "ROTATED-KEY-9"}
    assert AuditEntry.objects.filter(action="connection_change").get().after["credentials_set"] == ["ws_key"]
    wrong = client.patch(f"/api/connections/{created.json()['id']}/", {"credentials": {"password": "x"}},
                         format="json")
    assert wrong.status_code == 400 and "ws_key" in wrong.json()["detail"]
    bad_url = client.patch(f"/api/connections/{created.json()['id']}/", {"base_url": "not an address"},
                           format="json")
    assert bad_url.status_code == 400 and "base_url" in bad_url.json()["errors"]


def test_operate_key_cannot_change_connections_or_value_maps(cast, key_for, api, integration_a):
    value_map = ValueMap.objects.create(organization=cast.org_a, name="order_status")
    client = api(key_for(cast.org_a, "operate"))
    response = client.post(f"/api/value-maps/{value_map.pk}/entries/", {"source": "Shipped", "target": "Closed"},
                           format="json")
    assert response.status_code == 403 and "admin" in response.json()["detail"]
    assert client.patch(f"/api/connections/{integration_a.channel_connection_id}/", {"name": "x"},
                        format="json").status_code == 403
    assert not value_map.entries.exists()


def test_value_map_entries_are_versioned_and_audited_and_retry_what_waited(cast, key_for, api, integration_a):
    value_map = ValueMap.objects.create(organization=cast.org_a, name="order_status", strict=True)
    waiting = make_record(integration_a, cause="No entry for “Shipped” in order_status",
                          error_details={"value_map": {"name": "order_status", "value": "Shipped"}})
    client = api(key_for(cast.org_a, "admin", created_by=cast.owner_a))
    created = client.post(f"/api/value-maps/{value_map.pk}/entries/?retry_waiting=true",
                          {"source": "Shipped", "target": "Closed"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["waiting_records"] == 1 and created.json()["retried"] == 1
    assert SyncRecord.objects.get(pk=waiting.pk).status == RecordStatus.RETRYING
    entry_id = created.json()["entry"]["id"]
    assert client.post(f"/api/value-maps/{value_map.pk}/entries/", {"source": "Shipped", "target": "X"},
                       format="json").status_code == 400
    changed = client.patch(f"/api/value-maps/{value_map.pk}/entries/{entry_id}/?retry_waiting=1", {"target": "Done"},
                           format="json")
    assert changed.status_code == 200 and changed.json()["entry"]["target"] == "Done"
    assert client.delete(f"/api/value-maps/{value_map.pk}/entries/{entry_id}/").status_code == 200
    versions = list(Version.objects.filter(value_map=value_map).order_by("number").values_list("changes", flat=True))
    assert len(versions) == 3 and "removed 'Shipped'" in versions[-1]
    actions = list(AuditEntry.objects.filter(action__startswith="value_map_entry").order_by("at")
                   .values_list("action", flat=True))
    assert actions == ["value_map_entry_set", "value_map_entry_set", "value_map_entry_delete"]
    detail = client.get(f"/api/value-maps/{value_map.pk}/").json()
    assert detail["version"] == 3 and detail["entries"] == []
    other = ValueMap.objects.create(organization=cast.org_b, name="order_status")
    assert client.get(f"/api/value-maps/{other.pk}/entries/").status_code == 404
    assert client.post(f"/api/value-maps/{other.pk}/entries/", {"source": "a"}, format="json").status_code == 404


def test_failures_grouped_by_cause_and_acted_on_by_cause(cast, key_for, api, integration_a, integration_b):
    sku = [make_record(integration_a, cause="unknown SKU <n>") for _ in range(3)]
    value_map = ValueMap.objects.create(organization=cast.org_a, name="carriers_api_test")
    make_record(integration_a, cause="customer email missing",
                error_details={"value_map": {"name": "carriers_api_test", "value": "DHL"}})
    make_record(integration_b, cause="unknown SKU <n>")  # another tenant's: not counted, not retried
    client = api(key_for(cast.org_a, "operate"))
    groups = client.get("/api/failures/").json()
    assert [(g["error_cause"], g["count"]) for g in groups] == [("unknown SKU <n>", 3), ("customer email missing", 1)]
    assert sorted(groups[0]["example_record_ids"]) == sorted(r.pk for r in sku)
    assert groups[0]["suggested_fix"] and groups[0]["first"] <= groups[0]["last"] and groups[0]["fix"] is None
    assert groups[1]["fix"] == {"kind": "value_map", "label": "Add “DHL” to carriers_api_test",
                                "value_map": "carriers_api_test", "value_map_id": value_map.pk, "value": "DHL"}
    refused = client.post("/api/failures/discard-all/", {"flow": "orders", "error_cause": "unknown SKU <n>"},
                          format="json")
    assert refused.status_code == 400 and "reason" in refused.json()["detail"]
    done = client.post("/api/failures/retry-all/", {"flow": "orders", "error_cause": "unknown SKU <n>"},
                       format="json")
    assert done.status_code == 200 and done.json()["count"] == 3 and done.json()["job"] is None
    assert SyncRecord.objects.filter(status="dead", organization=cast.org_b).count() == 1
    assert AuditEntry.objects.filter(action="retry").count() == 3


def test_integration_pause_resume_and_go_live(cast, key_for, api, integration_a):
    from integrations.models import Integration

    Integration.objects.filter(pk=integration_a.pk).update(state="shadow")
    reader, operator, admin = (api(key_for(cast.org_a, scope)) for scope in ("read", "operate", "admin"))
    assert reader.post(f"/api/integrations/{integration_a.pk}/pause/").status_code == 403
    paused = operator.post(f"/api/integrations/{integration_a.pk}/pause/")
    assert paused.status_code == 200 and paused.json()["integration"]["state"] == "paused"
    assert operator.post(f"/api/integrations/{integration_a.pk}/pause/").status_code == 400
    resumed = operator.post(f"/api/integrations/{integration_a.pk}/resume/")
    assert resumed.json()["integration"]["state"] == "shadow"
    body = {"cutover": "2026-11-01T00:00:00Z"}
    assert operator.post(f"/api/integrations/{integration_a.pk}/go-live/", body, format="json").status_code == 403
    dry = admin.post(f"/api/integrations/{integration_a.pk}/go-live/", {**body, "dry_run": True}, format="json")
    assert dry.status_code == 200 and dry.json()["imported"] == 0 and dry.json()["integration"]["state"] == "shadow"
    assert admin.post(f"/api/integrations/{integration_a.pk}/go-live/", {"cutover": "soon"},
                      format="json").status_code == 400
    live = admin.post(f"/api/integrations/{integration_a.pk}/go-live/", body, format="json")
    assert live.status_code == 200 and live.json()["integration"]["state"] == "live"
    assert list(AuditEntry.objects.order_by("at").values_list("action", flat=True))[-3:] == [
        "pause_integration", "resume_integration", "go_live"]


def test_bad_bodies_are_400_never_500(cast, key_for, api, integration_a):
    record = make_record(integration_a)
    client = api(key_for(cast.org_a, "operate"))
    url = f"/api/records/{record.pk}/discard/"
    for body, word in ((b"{not json", "JSON"), (b'{"reason": "a\\u0000b"}', "NUL"), (b'{"reason": NaN}', "NaN"),
                       (b"[" * 40 + b"]" * 40, "nested"), (b'"just a string"', "dictionary"),
                       (b'{"reason": "x' + b"y" * (1024 * 1024) + b'"}', "larger")):
        response = client.generic("POST", url, body, content_type="application/json")
        assert response.status_code == 400, (body[:40], response.status_code)
        assert word in json.dumps(response.json()), (body[:40], response.json())
    response = client.generic("POST", url, b"reason=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


@override_settings(API_THROTTLE_RATE="3/min")
def test_each_key_is_throttled_with_retry_after(cast, key_for, api):
    first, second = api(key_for(cast.org_a)), api(key_for(cast.org_a))
    assert [first.get("/api/organizations/").status_code for _ in range(3)] == [200, 200, 200]
    refused = first.get("/api/organizations/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert second.get("/api/organizations/").status_code == 200  # its own budget


def test_audit_log_lists_and_filters(cast, key_for, api, integration_a):
    record = make_record(integration_a)
    api(user=cast.owner_a).post(f"/api/records/{record.pk}/retry/", {"reason": "fixed"}, format="json")
    client = api(key_for(cast.org_a))
    rows = client.get("/api/audit/", {"action": "retry"}).json()["results"]
    assert [(r["action"], r["record"], r["actor_name"]) for r in rows] == [("retry", record.pk, "owner_a")]
    assert client.get("/api/audit/", {"actor": "nobody"}).json()["results"] == []
    assert client.get("/api/audit/", {"after": "tomorrow"}).status_code == 400
    assert api(key_for(cast.org_b)).get("/api/audit/", {"action": "retry"}).json()["results"] == []


def test_connection_writes_need_admin_and_say_what_is_wrong(cast, key_for, api, integration_a):
    body = {"kind": "prestashop", "name": integration_a.channel_connection.name, "base_url": "https://s.example.com",
            "settings": {"timezone": "Europe/Paris"}, "credentials": {"ws_key": "K"}}
    assert api(key_for(cast.org_a, "operate")).post("/api/connections/", body, format="json").status_code == 403
    admin = api(key_for(cast.org_a, "admin"))
    clash = admin.post("/api/connections/", body, format="json")
    assert clash.status_code == 400 and "already exists" in clash.json()["detail"]
    no_zone = admin.post("/api/connections/", {**body, "name": "New", "settings": {}}, format="json")
    assert no_zone.status_code == 400 and "settings" in no_zone.json()["errors"]
    staff = api(user=cast.integration_admin)
    assert staff.post("/api/connections/", {**body, "name": "New"}, format="json").status_code == 400  # which org?
    made = staff.post("/api/connections/", {**body, "name": "New", "organization": cast.org_a.slug}, format="json")
    assert made.status_code == 201 and made.json()["organization"] == cast.org_a.slug
    kind = admin.patch(f"/api/connections/{made.json()['id']}/", {"kind": "tims"}, format="json")
    assert kind.status_code == 400 and "cannot change" in kind.json()["detail"]


def test_event_deliveries_are_listed_per_tenant(cast, key_for, api):
    from api import events
    from api.models import Subscription

    mine = Subscription.objects.create(organization=cast.org_a, url="https://a.example.com/", events=["ping"],
                                       signing_secret={"secret": "s"})
    theirs = Subscription.objects.create(organization=cast.org_b, url="https://b.example.com/", events=["ping"],
                                         signing_secret={"secret": "s"})
    events.emit(cast.org_a, "ping", {}, subscriptions=[mine])
    other = events.emit(cast.org_b, "ping", {}, subscriptions=[theirs])[0]
    client = api(key_for(cast.org_a))
    rows = client.get("/api/event-deliveries/").json()["results"]
    assert [(r["url"], r["status"], r["attempts"]) for r in rows] == [("https://a.example.com/", "pending", 0)]
    assert client.get(f"/api/event-deliveries/{other.pk}/").status_code == 404
    assert "signing_secret" not in json.dumps(rows) and '"s"' not in json.dumps(rows)


def test_retry_all_of_thousands_starts_a_job_for_the_keys_organization_only(cast, key_for, api, integration_a):
    from integrations.pipeline import bulk
    from jobs.models import Job

    first = make_record(integration_a, cause="timeout <n>")
    SyncRecord.objects.bulk_create([SyncRecord(
        organization=cast.org_a, integration=integration_a, flow="orders", entity_type="order",
        source_system="prestashop", source_id=f"bulk-{n}", business_key=f"bulk-{n}", status="dead",
        error_cause="timeout <n>", error_message="timeout") for n in range(bulk.INLINE_LIMIT)])
    client = api(key_for(cast.org_a, "operate", created_by=cast.owner_a))
    response = client.post("/api/failures/retry-all/", {"flow": "orders", "error_cause": "timeout <n>"},
                           format="json")
    assert response.status_code == 200 and response.json()["count"] == bulk.INLINE_LIMIT + 1
    job = Job.objects.get(pk=response.json()["job"])
    assert job.arguments["organization_ids"] == [cast.org_a.pk] and job.started_by == cast.owner_a
    assert SyncRecord.objects.get(pk=first.pk).status == "dead"  # the job does it, chunk by chunk


def test_testing_a_connection_needs_operate_and_is_audited(cast, key_for, api, integration_a, monkeypatch):
    from integrations.connectors import checks

    ran = []
    monkeypatch.setattr(checks, "test_connection", lambda connection: ran.append(connection.pk) or [
        checks.CheckResult("Reachable", True, "answered in 40 ms"),
        checks.CheckResult("Authentication", False, "the key was refused: make a new one in PrestaShop")])
    url = f"/api/connections/{integration_a.channel_connection_id}/test/"
    assert api(key_for(cast.org_a, "read")).post(url).status_code == 403 and ran == []
    response = api(key_for(cast.org_a, "operate")).post(url)
    assert response.status_code == 200 and ran == [integration_a.channel_connection_id]
    assert [(r["name"], r["ok"]) for r in response.json()] == [("Reachable", True), ("Authentication", False)]
    assert AuditEntry.objects.get(action="connection_test").after == {
        "connection": integration_a.channel_connection_id, "ok": False}
