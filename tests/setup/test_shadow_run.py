"""Shadow run and go-live (issue #14 part 4), over real HTTP against the sandboxes: a shadow run reads the last N days
and writes nothing to TIMS or the channel, counted through the sandboxes; its report has counts, failures by cause
with their fix and a sample of what would have been written; going live imports exactly the orders placed since
the cut-over, each once; pause and resume are audited, and paused work waits."""

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.connectors.checks import client_for
from integrations.flows import orders as order_flow
from integrations.models import AuditEntry, Integration, IntegrationState, PollState, RecordStatus, SyncRecord
from integrations.pipeline import golive, pollers, records, runner
from mappings.models import ValueMap
from mappings.services import record_version
from sandbox import services as sandbox_services
from sandbox.models import SandboxCall
from setup import shadow
from setup.integrations import review, services
from tests.integrations.flows.test_channeladvisor_orders import connect_marketplace
from tests.integrations.flows.test_prestashop_orders import PAID_STATES, tims_orders, work_off
from tests.setup.test_integration_wizard import connections

pytestmark = pytest.mark.django_db(transaction=True)
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def shop(live_server, cast, monkeypatch):
    """A draft PrestaShop + TIMS integration made by the wizard, on a sandbox whose orders span 5 days."""
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)  # the test drives the workers itself
    sandbox, _ = sandbox_services.create_sandbox("shadow")
    secrets = sandbox_services.issue_credentials(sandbox, live_server.url)
    rng = random.Random(17)
    sandbox_services.system_module("tims").generate(sandbox, orders=0, products=20, customers=0, state=None,
                                                    unknown_sku=0, rng=rng)
    made = sandbox_services.system_module("prestashop").generate(sandbox, orders=16, products=20, customers=5,
                                                                 state=None, unknown_sku=0, rng=rng, history_days=5)
    channel, tims = connections(cast.org_a, sandbox, secrets, made["timezone"])
    integration = services.create_integration(cast.org_a, channel, tims, cast.owner_a)
    services.set_flows(integration, ["orders"], cast.owner_a)
    return integration, made, sandbox


def writes(sandbox, system):
    """Write calls a sandbox answered (a TIMS token request is a POST that changes nothing there)."""
    return SandboxCall.objects.filter(sandbox=sandbox, system=system, method__in=WRITES).exclude(
        endpoint__icontains="token").count()


def tims_customers(tims_connection):
    return sum(len(page) for page in client_for(tims_connection).pages("customers"))


def url(name, integration, **kwargs):
    return reverse(f"setup:{name}", kwargs={"org": integration.organization.slug, "pk": integration.pk, **kwargs})


def test_a_shadow_run_writes_nothing_and_reports_counts_failures_and_a_sample(shop, cast, login):
    integration, made, sandbox = shop
    tims = integration.tims_connection
    # One state the shop uses loses its entry, so its orders fail in the shadow run with an unmapped value.
    states = ValueMap.objects.get(organization=cast.org_a, name="prestashop_order_state")
    dropped = "Payment accepted"
    assert any(o["state"] == dropped for o in made["orders"]), "the shop must have such orders for this test"
    states.entries.filter(source=dropped).delete()
    record_version(states, cast.owner_a)  # as the value map page does
    before = (tims_orders(tims), tims_customers(tims), writes(sandbox, "tims"), writes(sandbox, "prestashop"))

    client = login(cast.owner_a)
    answer = client.post(url("integration_shadow", integration), {"days": "7"})
    assert answer.status_code == 302
    integration.refresh_from_db()
    assert integration.state == IntegrationState.SHADOW
    run = shadow.current_run(integration)
    assert run["days"] == 7 and abs((timezone.now() - timedelta(days=7) - run["since"]).total_seconds()) < 60
    assert PollState.objects.get(integration=integration, name="orders").watermark == run["since"]  # rewound
    assert AuditEntry.objects.get(action="shadow_run").after["rewound"] == ["orders"]

    assert pollers.poll_integration(integration.pk) == 16
    work_off()
    assert (tims_orders(tims), tims_customers(tims), writes(sandbox, "tims"), writes(sandbox, "prestashop")) == \
        before, "a shadow run must write nothing anywhere"
    assert not SyncRecord.objects.filter(shadow=False).exists()

    report = shadow.report(integration, shadow.customer_value_map_url)
    assert report["done"] and report["total"] == 16 and report["open"] == 0
    statuses = {s["status"]: s["n"] for s in report["flows"][0]["statuses"]}
    by_state = Counter(o["state"] for o in made["orders"])
    assert statuses.get("dead", 0) >= by_state[dropped]
    cause = next(c for c in report["causes"] if dropped in c["message"])
    assert cause["n"] == by_state[dropped] and "Add “Payment accepted”" in cause["fix"]
    label, link = cause["fix_link"]
    assert dropped in label and link == reverse("console:value_map", kwargs={"org": cast.org_a.slug, "pk": states.pk}
                                                ) + "?add=Payment+accepted"  # the customer's own value map page
    assert cause["example_url"] == reverse("console:record", kwargs={"org": cast.org_a.slug,
                                                                      "pk": cause["example"].pk})
    held = [c for c in report["causes"] if "not paid yet" in c["message"]]
    assert sum(c["n"] for c in held) == sum(n for s, n in by_state.items() if s == "Awaiting bank wire payment")

    sample = report["sample"]["orders"]
    assert sample, "paid orders in other states are mapped and shown"
    first = sample[0]
    assert f'"PortalOrderKey": "{integration.pk}:{first["record"].source_id}"' in first["body"]
    assert '"ExternalOrderID"' in first["body"] and "LineItems" in first["body"]
    assert "Going live would" in first["note"] and "create the sales order" in first["note"]

    page = client.get(url("integration_shadow", integration)).content.decode()
    assert "Shadow run finished" in page and "First failures, by cause" in page and "PortalOrderKey" in page
    assert client.get(url("integration_shadow_report", integration)).json()["done"] is True

    # The fix, then the run again: the records in the window are mapped again with today's map.
    review.accept(integration, {"prestashop_order_state": {dropped: "Processing"}}, cast.owner_a)
    assert client.post(url("integration_shadow", integration), {"days": "7"}).status_code == 302
    integration.refresh_from_db()
    assert AuditEntry.objects.filter(action="shadow_run").count() == 2
    pollers.poll_integration(integration.pk)
    work_off()
    report = shadow.report(integration)
    assert not any(dropped in c["message"] for c in report["causes"]), report["causes"]
    assert report["total"] == 16
    assert tims_orders(tims) == before[0] and writes(sandbox, "tims") == before[2]


def test_bad_shadow_input_is_a_message_not_an_error(shop, cast, login):
    integration, _, _ = shop
    client = login(cast.owner_a)
    for days in ("0", "abc", "91", ""):
        page = client.post(url("integration_shadow", integration), {"days": days}, follow=True)
        text = page.content.decode()
        assert page.status_code == 200 and ("days back" in text or "whole number" in text), days
    integration.refresh_from_db()
    assert integration.state == IntegrationState.DRAFT
    Integration.objects.filter(pk=integration.pk).update(state=IntegrationState.LIVE)
    page = client.post(url("integration_shadow", integration), {"days": "7"}, follow=True).content.decode()
    assert "is live" in page
    assert client.get(url("integration_go_live_count", integration) + "?at=nonsense").status_code == 400


def test_going_live_imports_exactly_the_orders_placed_since_the_cutover_each_once(shop, cast, login):
    integration, made, sandbox = shop
    tims = integration.tims_connection
    shadow.start(integration, 7, cast.owner_a, poll=False)
    pollers.poll_integration(integration.pk)
    work_off()
    cutover = timezone.now() - timedelta(days=2)
    since = {r.source_id for r in SyncRecord.objects.filter(integration=integration, shadow=True)
             if golive._placed_at(r.source_payload["ordered_at"]) >= cutover}
    assert 0 < len(since) < 16, "the orders must span the cut-over for this test to mean anything"

    client = login(cast.owner_a)
    local = timezone.localtime(cutover).strftime("%Y-%m-%dT%H:%M")
    counted = client.get(url("integration_go_live_count", integration) + f"?at={local}").json()
    minute = timezone.localtime(cutover).replace(second=0, microsecond=0)
    expected = set(golive.shadow_orders_since(integration, minute))
    assert counted["count"] == len(expected) and f"{len(expected)} order" in counted["text"]
    page = client.get(url("integration_go_live", integration)).content.decode()
    assert "will be imported" in page

    answer = client.post(url("integration_go_live", integration), {"cutover": local})
    assert answer.status_code == 302
    integration.refresh_from_db()
    assert integration.state == IntegrationState.LIVE and integration.cutover_at == minute
    entry = AuditEntry.objects.get(action="go_live")
    assert entry.actor == cast.owner_a and entry.after["state"] == "live"

    pollers.poll_integration(integration.pk)
    work_off()
    in_tims = tims_orders(tims)
    references = {o["id"]: o for o in made["orders"]}
    paid_since = {references[int(i)]["reference"] for i in expected if references[int(i)]["state"] in PAID_STATES}
    assert set(in_tims) == paid_since and all(n == 1 for n in in_tims.values()), in_tims
    pollers.poll_integration(integration.pk)  # again: nothing new
    SyncRecord.objects.filter(shadow=False, status=RecordStatus.SUCCEEDED).update(status=RecordStatus.RETRYING,
                                                                                  next_attempt_at=None)
    work_off()
    assert tims_orders(tims) == in_tims
    assert client.post(url("integration_go_live", integration), {"cutover": local}).status_code == 400


def test_pause_stops_polling_and_work_and_resume_goes_on_where_it_stopped(shop, cast, login, django_user_model):
    from portal.models import Membership, Role

    integration, made, sandbox = shop
    tims = integration.tims_connection
    operator = django_user_model.objects.create_user("op", "op@example.com", "pw")
    Membership.objects.create(organization=cast.org_a, user=operator, role=Role.OPERATOR)
    golive.go_live(integration, timezone.now() - timedelta(days=7), cast.owner_a)
    assert pollers.poll_integration(integration.pk) == 16
    waiting = list(SyncRecord.objects.filter(integration=integration, status=RecordStatus.PENDING))

    client = login(operator)
    assert client.post(url("integration_pause", integration)).status_code == 302
    integration.refresh_from_db()
    assert integration.state == IntegrationState.PAUSED
    assert pollers.poll_integration(integration.pk) == 0
    assert runner.process(waiting[0].pk) == RecordStatus.PENDING  # put back, untouched
    record = SyncRecord.objects.get(pk=waiting[0].pk)
    assert record.status == RecordStatus.PENDING and record.attempts == 0 and not record.attempt_rows.exists()
    assert tims_orders(tims) == {}
    listing = client.get(reverse("setup:integrations", kwargs={"org": cast.org_a.slug})).content.decode()
    assert "Paused; 16 records wait." in listing and "Resume" in listing

    assert client.post(url("integration_resume", integration)).status_code == 302
    integration.refresh_from_db()
    assert integration.state == IntegrationState.LIVE
    assert SyncRecord.objects.get(pk=record.pk).next_attempt_at <= timezone.now()
    work_off()
    paid = {o["reference"] for o in made["orders"] if o["state"] in PAID_STATES}
    assert set(tims_orders(tims)) == paid
    actions = list(AuditEntry.objects.filter(actor=operator).order_by("at").values_list("action", "after"))
    assert [a for a, _ in actions] == ["pause_integration", "resume_integration"]
    assert actions[1][1]["state"] == "live"
    assert client.post(url("integration_resume", integration), follow=True).content.decode().count("is not paused")


def test_a_marketplace_shadow_run_exports_nothing(live_server, cast, monkeypatch):
    """ChannelAdvisor's feed lists what is not exported yet: a shadow run must not mark anything exported."""
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    sandbox, _ = sandbox_services.create_sandbox("shadow-ca")
    secrets = sandbox_services.issue_credentials(sandbox, live_server.url)
    rng = random.Random(4)
    sandbox_services.system_module("tims").generate(sandbox, orders=0, products=20, customers=0, state=None,
                                                    unknown_sku=0, rng=rng)
    sandbox_services.system_module("channeladvisor").generate(sandbox, orders=8, products=20, customers=0,
                                                              state=None, unknown_sku=0, rng=rng)
    integration, tims = connect_marketplace(cast, sandbox, secrets)
    Integration.objects.filter(pk=integration.pk).update(state=IntegrationState.DRAFT)
    integration.refresh_from_db()
    before = (writes(sandbox, "channeladvisor"), writes(sandbox, "tims"))
    run = shadow.start(integration, 7, cast.owner_a, poll=False)
    assert AuditEntry.objects.get(action="shadow_run").after["rewound"] == []  # a feed has no position to rewind
    assert run["days"] == 7
    assert pollers.poll_integration(integration.pk) == 8
    work_off()
    assert pollers.poll_integration(integration.pk) == 0  # listed again, the same records
    assert (writes(sandbox, "channeladvisor"), writes(sandbox, "tims")) == before
    assert tims_orders(tims) == {}
    report = shadow.report(integration)
    assert report["done"] and report["total"] == 8
    assert all("mark the order exported" in row["channel"] for row in report["sample"]["orders"])


def test_the_shadow_note_says_a_new_buyer_would_become_a_tims_customer():
    from decimal import Decimal

    from integrations.canonical import Customer, Money, Order

    order = Order(source="prestashop", source_id="7", currency="EUR", total=Money(Decimal("10"), "EUR"),
                  customer=Customer(source="prestashop", source_id="1", email="new@example.com"))
    assert "create a TIMS customer for new@example.com" in order_flow.shadow_note(order, order_flow.NEW_CUSTOMER,
                                                                                  None)
    assert "book it to TIMS customer C-9" in order_flow.shadow_note(order, "C-9", None)
    assert "update the status" in order_flow.shadow_note(order, "C-9", "SO-1")
