"""The customer's console: every page and every POST by role, other tenants' ids are 404, the records list pages by
keyset and searches, a record's page and its retry and discard, failures by cause (a job past 200), value maps
copied on first edit and saved with a retry, versions rolled back, the audit log; every action audited."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from integrations.models import AuditEntry, RecordStatus, SyncAttempt, SyncRecord
from integrations.pipeline import bulk
from jobs.models import Job
from mappings.models import ValueMap
from portal.models import UserProfile
from tests.console.conftest import MAP, dead_letter

pytestmark = pytest.mark.django_db
WHO = ["viewer", "operator", "admin", "owner", "staff", "outsider", "anonymous"]


def url(name, org, **kwargs):
    return reverse(f"console:{name}", kwargs={"org": org.slug, **kwargs})


def as_(client, people, who):
    client.logout()
    if who != "anonymous":
        client.force_login(getattr(people, who))
    return client


def expected(who, needs):
    """What a role gets: 302 to sign in, 404 outside its tenant, 403 below the action's role, else `ok`."""
    rank = {"viewer": 0, "operator": 1, "staff": 1, "admin": 2, "owner": 3}
    if who == "anonymous":
        return 302
    if who == "outsider":
        return 404
    return "ok" if rank[who] >= {"view": 0, "operate": 1, "admin": 2}[needs] else 403


# ---- the role matrix ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", WHO)
def test_every_page_by_role(cast, client, people, world, who):
    org, record = cast.org_a, world["dead_a"][0]
    job = Job.objects.create(organization=org, kind="retry_records", title="Retry", arguments={})
    pages = {url("organization", org): "view", url("records", org): "view",
             url("record", org, pk=record.pk): "view", url("record_status", org, pk=record.pk): "view",
             url("failures", org): "view", url("audit", org): "view", url("job", org, pk=job.pk): "view",
             url("value_maps", org): "admin", url("value_map", org, pk=world["template"].pk): "admin",
             reverse("accounts:members", kwargs={"org": org.slug}): "view"}
    as_(client, people, who)
    got = {page: client.get(page).status_code for page in pages}
    assert got == {page: {"ok": 200}.get(expected(who, needs), expected(who, needs))
                   for page, needs in pages.items()}


@pytest.mark.parametrize("who", WHO)
def test_every_post_by_role(cast, client, people, world, who):
    org = cast.org_a
    first, second = world["dead_a"]
    job = Job.objects.create(organization=org, kind="retry_records", title="Retry", arguments={})
    template = world["template"]
    posts = [
        (url("record_retry", org, pk=first.pk), {}, "operate"),
        (url("record_discard", org, pk=second.pk), {"reason": "a test order"}, "operate"),
        (url("failures", org), {"retry": "1", "flow": "orders", "error_cause": first.error_cause}, "operate"),
        (url("job_cancel", org, pk=job.pk), {}, "operate"),
        (url("value_map", org, pk=template.pk), {"version": template.version, "entries": "0",
                                                 "new-source": "DHL|Express", "new-target": "DHL"}, "admin"),
    ]
    as_(client, people, who)
    for address, data, needs in posts:
        status = client.post(address, data).status_code
        assert status == {"ok": 302}.get(expected(who, needs), expected(who, needs)), address
    acted = AuditEntry.objects.filter(organization=org).exists()
    assert acted == (expected(who, "operate") == "ok")  # refused POSTs change nothing
    if expected(who, "admin") != "ok":
        assert not ValueMap.objects.filter(organization=org, name=MAP).exists()


def test_gets_of_actions_are_refused(cast, client, people, world):
    client.force_login(people.owner)
    record = world["dead_a"][0]
    for name in ("record_retry", "record_discard"):
        assert client.get(url(name, cast.org_a, pk=record.pk)).status_code == 405
    record.refresh_from_db()
    assert record.status == RecordStatus.DEAD


# ---- tenants ------------------------------------------------------------------------------------------------------

def test_another_tenants_ids_on_my_organizations_urls_are_not_found(cast, client, people, world):
    theirs = world["dead_b"]
    their_map = ValueMap.objects.create(organization=cast.org_b, name="their_map")
    their_job = Job.objects.create(organization=cast.org_b, kind="retry_records", title="Theirs", arguments={})
    client.force_login(people.owner)
    org = cast.org_a
    for address in (url("record", org, pk=theirs.pk), url("record_status", org, pk=theirs.pk),
                    url("value_map", org, pk=their_map.pk), url("job", org, pk=their_job.pk)):
        assert client.get(address).status_code == 404, address
    for address in (url("record_retry", org, pk=theirs.pk), url("record_discard", org, pk=theirs.pk),
                    url("value_map", org, pk=their_map.pk), url("job_cancel", org, pk=their_job.pk)):
        assert client.post(address, {"reason": "x", "version": "0", "entries": "0"}).status_code == 404, address
    theirs.refresh_from_db()
    assert theirs.status == RecordStatus.DEAD
    assert client.get(url("records", cast.org_b)).status_code == 404


def test_lists_show_only_the_organizations_rows(cast, client, people, world):
    client.force_login(people.owner)
    records = client.get(url("records", cast.org_a)).content.decode()
    assert "REF1" in records and "REF2" in records and "REF3" not in records
    failures = client.get(url("failures", cast.org_a))
    assert failures.context["total"] == 2
    client.force_login(cast.outsider_b)
    assert client.get(url("failures", cast.org_b)).context["total"] == 1


def test_the_navigation_offers_what_the_role_may_open(cast, client, people, world):
    client.force_login(people.viewer)
    labels = [item["label"] for item in client.get(url("records", cast.org_a)).context["site_nav"]]
    assert {"Records", "Failures", "Audit log", "Members"} <= set(labels) and "Value maps" not in labels
    client.force_login(people.admin)
    labels = [item["label"] for item in client.get(url("records", cast.org_a)).context["site_nav"]]
    assert "Value maps" in labels


# ---- records ------------------------------------------------------------------------------------------------------

def test_records_page_by_keyset_newest_first(cast, client, people, world):
    integration = world["integration_a"]
    for number in range(100, 160):
        dead_letter(integration, number)
    client.force_login(people.viewer)
    first = client.get(url("records", cast.org_a))
    ids = [row["record"].pk for row in first.context["rows"]]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    assert first.context["pages"]["newer"] == "" and first.context["pages"]["older"] == f"?before={ids[-1]}"
    second = client.get(url("records", cast.org_a) + first.context["pages"]["older"])
    older = [row["record"].pk for row in second.context["rows"]]
    assert len(older) == 12 and max(older) < min(ids) and second.context["pages"]["older"] == ""
    back = client.get(url("records", cast.org_a) + second.context["pages"]["newer"])
    assert [row["record"].pk for row in back.context["rows"]] == ids


def test_records_filter_and_search(cast, client, people, world):
    client.force_login(people.viewer)
    base = url("records", cast.org_a)
    found = client.get(base, {"q": "ref2"}).context["rows"]
    assert [row["record"].reference for row in found] == ["REF2"]
    by_email = client.get(base, {"q": "ZOE@example"}).context["rows"]
    assert len(by_email) == 2
    assert client.get(base, {"status": "succeeded"}).context["rows"] == []
    assert len(client.get(base, {"status": "dead", "flow": "orders",
                                 "integration": world["integration_a"].pk}).context["rows"]) == 2
    theirs = client.get(base, {"integration": world["integration_b"].pk})
    assert len(theirs.context["rows"]) == 2 and "not one of yours" in theirs.content.decode()


@pytest.mark.parametrize("query", [{"status": "bogus"}, {"flow": "<script>"}, {"q": "ab"}, {"before": "x"},
                                   {"after": "-5"}, {"before": "99999999999999999999999"}, {"integration": "1e9"}])
def test_records_bad_filters_say_so_never_fail(cast, client, people, world, query):
    client.force_login(people.viewer)
    response = client.get(url("records", cast.org_a), query)
    assert response.status_code == 200


def test_a_record_page_says_what_happened_and_links_the_fix_for_admins(cast, client, people, world):
    record = world["dead_a"][0]
    SyncAttempt.objects.create(record=record, number=1, started_at=datetime(2026, 12, 1, 15, 0, tzinfo=UTC),
                               duration_ms=2267.5, outcome="dead", error_message=record.error_message,
                               calls=[{"method": "GET", "url": "https://shop/api/orders/1", "status": 200, "ms": 41}])
    UserProfile.objects.create(user=people.admin, timezone="America/Chicago")
    client.force_login(people.admin)
    page = client.get(url("record", cast.org_a, pk=record.pk)).content.decode()
    assert "Dead letter" in page and "Acme Freight|Overnight" in page
    assert "2026-12-01 09:00:00 CST" in page and "2.3 s" in page  # the user's zone, a person's duration
    fix = client.get(url("record", cast.org_a, pk=record.pk)).context["what_to_do"]
    assert f'/app/{cast.org_a.slug}/maps/{world["template"].pk}/?add=Acme+Freight%7COvernight' in fix
    assert f"next=%2Fapp%2F{cast.org_a.slug}%2Frecords%2F{record.pk}%2F" in fix
    client.force_login(people.operator)
    page = client.get(url("record", cast.org_a, pk=record.pk))
    assert "fix-link" not in page.context["what_to_do"] and "An admin of" in page.context["what_to_do"]
    assert 'id="retry-form"' in page.content.decode()


def test_a_refused_login_links_admins_to_the_connection_that_refused(cast, client, people, world):
    record = world["dead_a"][0]
    SyncRecord.objects.filter(pk=record.pk).update(error_class="auth", error_details={"system": "TIMS"})
    tims = world["integration_a"].tims_connection
    client.force_login(people.admin)
    fix = client.get(url("record", cast.org_a, pk=record.pk)).context["what_to_do"]
    assert f"Fix the credentials of {tims.name}" in fix
    assert reverse("setup:connection_change", kwargs={"org": cast.org_a.slug, "pk": tims.pk}) in fix


def test_viewers_see_a_record_without_its_buttons(cast, client, people, world):
    client.force_login(people.viewer)
    page = client.get(url("record", cast.org_a, pk=world["dead_a"][0].pk)).content.decode()
    assert 'id="retry-form"' not in page and 'id="discard-form"' not in page
    failures = client.get(url("failures", cast.org_a)).content.decode()
    assert "Retry all" not in failures and "Discard all" not in failures


def test_retry_answers_the_pages_script_and_is_audited(cast, client, people, world):
    record = world["dead_a"][0]
    client.force_login(people.operator)
    state = client.post(url("record_retry", cast.org_a, pk=record.pk), HTTP_ACCEPT="application/json").json()
    assert state["queued"] == 1 and state["status"] == "retrying" and state["open"]
    assert client.get(url("record_status", cast.org_a, pk=record.pk)).json()["status"] == "retrying"
    entry = AuditEntry.objects.get(record=record, action="retry")
    assert entry.actor == people.operator and entry.organization == cast.org_a
    again = client.post(url("record_retry", cast.org_a, pk=record.pk), follow=True)
    assert "Not retried" not in again.content.decode()  # a waiting record may be made due again


def test_discard_needs_a_reason(cast, client, people, world):
    record = world["dead_a"][0]
    client.force_login(people.operator)
    response = client.post(url("record_discard", cast.org_a, pk=record.pk), {"reason": "  "}, follow=True)
    assert "Say why" in response.content.decode()
    record.refresh_from_db()
    assert record.status == RecordStatus.DEAD
    client.post(url("record_discard", cast.org_a, pk=record.pk), {"reason": "a test order"})
    record.refresh_from_db()
    assert record.status == RecordStatus.DISCARDED
    assert AuditEntry.objects.get(record=record, action="discard").reason == "a test order"


# ---- failures -----------------------------------------------------------------------------------------------------

def test_failures_group_by_cause_and_retry_all_of_one(cast, client, people, world):
    other = dead_letter(world["integration_a"], 9, value="Nobody|Knows")
    client.force_login(people.owner)
    groups = client.get(url("failures", cast.org_a)).context["groups"]
    assert sorted(g["count"] for g in groups) == [1, 2]
    big = next(g for g in groups if g["count"] == 2)
    assert big["fix_url"].startswith(url("value_map", cast.org_a, pk=world["template"].pk))
    assert "cause=" in big["records_url"]
    refused = client.post(url("failures", cast.org_a), {"discard": "1", "flow": "orders",
                                                        "error_cause": big["error_cause"]}, follow=True)
    assert "Say why" in refused.content.decode()
    client.post(url("failures", cast.org_a), {"retry": "1", "flow": "orders", "error_cause": big["error_cause"]})
    statuses = dict(SyncRecord.objects.values_list("pk", "status"))
    assert [statuses[r.pk] for r in world["dead_a"]] == ["retrying", "retrying"]
    assert statuses[other.pk] == "dead" and statuses[world["dead_b"].pk] == "dead"  # org B's same cause: untouched
    assert AuditEntry.objects.filter(action="retry", organization=cast.org_a).count() == 2


def test_more_than_the_inline_limit_runs_as_a_job_of_this_organization(cast, client, people, world, monkeypatch):
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 1)
    client.force_login(people.operator)
    cause = world["dead_a"][0].error_cause
    response = client.post(url("failures", cast.org_a), {"discard": "1", "reason": "old test orders",
                                                         "flow": "orders", "error_cause": cause})
    job = Job.objects.get()
    assert response.url == url("job", cast.org_a, pk=job.pk)
    assert job.organization == cast.org_a and job.arguments["organization_ids"] == [cast.org_a.pk]
    assert [r.pk for r in bulk.chosen(job.arguments)] == [r.pk for r in world["dead_a"]]  # org B's stays out
    progress = client.get(url("job", cast.org_a, pk=job.pk), HTTP_ACCEPT="application/json").json()
    assert progress["status"] == "queued"
    client.post(url("job_cancel", cast.org_a, pk=job.pk))
    job.refresh_from_db()
    assert job.status == "cancelled"


# ---- value maps ---------------------------------------------------------------------------------------------------

def map_form(value_map, **extra):
    data = {"version": value_map.version, "entries": value_map.entries.count()}
    for index, entry in enumerate(value_map.entries.all()):
        data[f"entry-{index}-source"] = entry.source
        data[f"entry-{index}-target"] = entry.target
    data.update(extra)
    return data


def test_the_fix_copies_the_template_saves_retries_and_comes_back(cast, client, people, world):
    template = world["template"]
    record = world["dead_a"][0]
    back = url("record", cast.org_a, pk=record.pk)
    client.force_login(people.admin)
    listed = {row["map"].name: row for row in client.get(url("value_maps", cast.org_a)).context["rows"]}
    assert listed[MAP]["template"] and listed[MAP]["waiting"] == 2  # org B's dead letter on the same map: not counted
    assert listed["countries"]["waiting"] == 0
    address = url("value_map", cast.org_a, pk=template.pk)
    page = client.get(address, {"add": "Acme Freight|Overnight", "next": back})
    assert page.context["waiting"] == 2 and page.context["add_is_new"] and "UPS" in page.context["valid_targets"]
    assert 'id="save-and-retry"' in page.content.decode()
    response = client.post(address, map_form(template, **{
        "new-source": "Acme Freight|Overnight", "new-target": "DHL", "save_and_retry": "1", "next": back}))
    assert response.status_code == 302 and response.url == back
    own = ValueMap.objects.get(organization=cast.org_a, name=MAP)
    assert dict(own.entries.values_list("source", "target")) == {"UPS|Ground": "UPS", "Acme Freight|Overnight": "DHL"}
    assert list(template.entries.values_list("source", flat=True)) == ["UPS|Ground"]  # the template is untouched
    statuses = dict(SyncRecord.objects.values_list("pk", "status"))
    assert [statuses[r.pk] for r in world["dead_a"]] == ["retrying", "retrying"]
    assert statuses[world["dead_b"].pk] == "dead"  # another tenant waiting on the template's map: not theirs to retry
    assert {e.action for e in AuditEntry.objects.filter(organization=cast.org_a, actor=people.admin)} == {
        "value_map_copy", "value_map_edit", "retry"}
    edit = AuditEntry.objects.get(action="value_map_edit")
    assert "added 'Acme Freight|Overnight' → 'DHL'" in edit.after["changes"]
    # The template's page now leads to the organization's copy.
    assert client.get(address).url == url("value_map", cast.org_a, pk=own.pk)


def test_a_templates_form_posted_after_the_copy_exists_saves_nothing(cast, client, people, world):
    template = world["template"]
    client.force_login(people.admin)
    address = url("value_map", cast.org_a, pk=template.pk)
    stale = map_form(template)  # loaded before anyone saved
    client.post(address, map_form(template, **{"new-source": "DHL|Express", "new-target": "DHL"}))
    own = ValueMap.objects.get(organization=cast.org_a, name=MAP)
    response = client.post(address, {**stale, "entry-0-delete": "on"}, follow=True)
    assert "has its own copy of this map now" in response.content.decode()
    assert set(own.entries.values_list("source", flat=True)) == {"UPS|Ground", "DHL|Express"}


def test_entries_are_edited_deleted_and_rolled_back(cast, client, people, world):
    own = ValueMap.objects.create(organization=cast.org_a, name="own_map")
    own.entries.create(source="a", target="A")
    own.entries.create(source="b", target="B")
    client.force_login(people.owner)
    address = url("value_map", cast.org_a, pk=own.pk)
    client.post(address, map_form(own))  # the first save makes version 1
    own.refresh_from_db()
    form = map_form(own, **{"entry-0-target": "AA", "entry-1-delete": "on", "new-source": "c", "new-target": "C"})
    client.post(address, form)
    own.refresh_from_db()
    assert dict(own.entries.values_list("source", "target")) == {"a": "AA", "c": "C"} and own.version == 2
    client.post(url("value_map_rollback", cast.org_a, pk=own.pk, number=1))
    assert dict(own.entries.values_list("source", "target")) == {"a": "A", "b": "B"}
    assert AuditEntry.objects.filter(action="value_map_rollback", organization=cast.org_a).exists()
    versions = client.get(address).context["versions"]
    assert [v.number for v in versions] == [3, 2, 1]


def test_a_stale_form_saves_nothing_and_bad_rows_are_refused(cast, client, people, world):
    own = ValueMap.objects.create(organization=cast.org_a, name="own_map", version=4)
    client.force_login(people.admin)
    address = url("value_map", cast.org_a, pk=own.pk)
    stale = client.post(address, {"version": "3", "entries": "0", "new-source": "x", "new-target": "X"}, follow=True)
    assert "Someone saved this map meanwhile" in stale.content.decode() and not own.entries.exists()
    for bad in ({"entries": "many"}, {"entries": "0", "new-target": "X"}, {"entries": "0", "new-source": "x" * 201}):
        response = client.post(address, {"version": "4", **bad}, follow=True)
        assert response.status_code == 200 and not own.entries.exists()
    outside = client.post(address, {"version": "4", "entries": "0", "new-source": "y", "next": "https://evil.example/"})
    assert outside.url == address


def test_global_templates_are_never_edited_nor_rolled_back_from_the_site(cast, client, people, world):
    template = world["template"]
    client.force_login(people.owner)
    version = template.versions.create(number=1, snapshot={"entries": {}}, changes=[])
    assert client.post(url("value_map_rollback", cast.org_a, pk=template.pk, number=version.number)).status_code \
        == 404
    assert list(template.entries.values_list("source", flat=True)) == ["UPS|Ground"]


# ---- the audit log ------------------------------------------------------------------------------------------------

def test_the_audit_log_shows_this_organizations_entries_filtered(cast, client, people, world):
    client.force_login(people.operator)
    client.post(url("record_discard", cast.org_a, pk=world["dead_a"][0].pk), {"reason": "duplicate order"})
    client.force_login(cast.outsider_b)
    client.post(url("record_discard", cast.org_b, pk=world["dead_b"].pk), {"reason": "theirs"})
    client.force_login(people.viewer)
    log = client.get(url("audit", cast.org_a))
    assert [row["entry"].reason for row in log.context["rows"]] == ["duplicate order"]
    assert "theirs" not in log.content.decode()
    assert client.get(url("audit", cast.org_a), {"action": "retry"}).context["rows"] == []
    assert len(client.get(url("audit", cast.org_a), {"actor": "OPERATOR"}).context["rows"]) == 1
    bad = client.get(url("audit", cast.org_a), {"since": "yesterday", "record": "abc"})
    assert bad.status_code == 200 and "not a date" in bad.content.decode()


# ---- hostile input ------------------------------------------------------------------------------------------------

def test_nul_characters_and_odd_input_are_answered_never_a_500(cast, client, people, world):
    client.force_login(people.owner)
    org = cast.org_a
    for query in ({"q": "REF\x001"}, {"cause": "\x00"}, {"status": "dead\x00"}):
        assert client.get(url("records", org), query).status_code == 200
    assert client.get(url("audit", org), {"actor": "o\x00", "action": "\x00", "until": "2026-13-45"}).status_code == 200
    own = ValueMap.objects.create(organization=org, name="own_map")
    address = url("value_map", org, pk=own.pk)
    assert client.get(address, {"add": "a\x00b", "next": "/app/\x00"}).status_code == 200
    for data in ({"new-source": "a\x00b", "new-target": "x"}, {"new-source": "a", "new-target": "x\x00"},
                 {"entries": "1", "entry-0-source": "s" * 300, "entry-0-target": "t"},
                 {"entries": "1", "entry-0-source": "s\x00", "entry-0-target": "t"}):
        response = client.post(address, {"version": "0", "entries": "0", **data}, follow=True)
        text = response.content.decode()
        assert response.status_code == 200 and ("cannot be stored" in text or "longer than 200" in text)
    assert not own.entries.exists()
    response = client.post(url("failures", org), {"retry": "1", "flow": "\x00", "error_cause": "\x00x"})
    assert response.status_code == 302
    response = client.post(url("record_discard", org, pk=world["dead_a"][0].pk), {"reason": "\x00"}, follow=True)
    assert "Say why" in response.content.decode()
