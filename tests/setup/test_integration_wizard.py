"""The integration wizard (issue #14 part 3): pick the pair, the flows, review the maps with the values the customer's
own recent orders hold that no map covers, suggested by similarity. Roles: viewers look, operators pause, admins
change; another tenant's integration is a 404."""

import random

import pytest
from django.urls import reverse

from integrations.models import AuditEntry, Connection, Integration, IntegrationState
from jobs import work
from jobs.models import JobStatus
from mappings.models import UnmappedValue, ValueMap, ValueMapEntry, Version
from portal.models import Membership, Role
from sandbox import services as sandbox_services
from setup.integrations import review, services

pytestmark = pytest.mark.django_db


def connections(org, sandbox=None, secrets=None, timezone="Europe/Paris", suffix=""):
    if secrets:
        shop = Connection.objects.create(
            organization=org, kind="prestashop", name=f"Shop{suffix}", sandbox=sandbox,
            base_url=secrets["prestashop"]["base_url"], credentials={"ws_key": secrets["prestashop"]["ws_key"]},
            settings={"timezone": timezone}, status="ok")
        tims = Connection.objects.create(
            organization=org, kind="tims", name=f"TIMS{suffix}", sandbox=sandbox,
            base_url=secrets["tims"]["base_url"], status="ok",
            credentials={k: secrets["tims"][k] for k in ("client_id", "client_secret")},
            settings={"default_location": "MAIN", "default_customer_code": "C-GUEST"})
        return shop, tims
    shop = Connection.objects.create(organization=org, kind="prestashop", name=f"Shop{suffix}",
                                     base_url="https://shop.example.com", credentials={"ws_key": "k" * 32},
                                     settings={"timezone": "Europe/Paris"}, status="ok")
    tims = Connection.objects.create(organization=org, kind="tims", name=f"TIMS{suffix}",
                                     base_url="https://tims.example.com",
                                     credentials={"client_id": "c", "client_secret": "s"},
                                     settings={"default_location": "MAIN"}, status="ok")
    return shop, tims


def url(name, org, **kwargs):
    return reverse(f"setup:{name}", kwargs={"org": org.slug, **kwargs})


@pytest.fixture
def operator(cast, django_user_model):
    user = django_user_model.objects.create_user("operator_a", "op@example.com", "pw")
    Membership.objects.create(organization=cast.org_a, user=user, role=Role.OPERATOR)
    return user


def test_the_wizard_pairs_chooses_flows_and_audits_each_step(cast, login):
    shop, tims = connections(cast.org_a)
    client = login(cast.owner_a)
    page = client.get(url("integration_new", cast.org_a))
    assert page.status_code == 200 and b"1. Pick the pair" in page.content and b"Shop" in page.content

    answer = client.post(url("integration_new", cast.org_a), {"channel": shop.pk, "tims": tims.pk, "name": ""})
    integration = Integration.objects.get(organization=cast.org_a)
    assert answer.status_code == 302 and answer.url == url("integration_flows", cast.org_a, pk=integration.pk)
    assert integration.template == "prestashop_tims" and integration.state == IntegrationState.DRAFT
    assert integration.name == "Shop + TIMS"
    assert integration.mapping_sets.filter(template_key="order_to_tims").exists()  # the template's defaults
    assert AuditEntry.objects.filter(action="create_integration", actor=cast.owner_a).exists()

    flows_page = client.get(answer.url)
    assert b"Orders into TIMS" in flows_page.content and b"reads PrestaShop&#x27;s orders changed" in \
        flows_page.content
    assert flows_page.content.count(b"checked") == len(integration.flows)  # the template's defaults ticked

    answer = client.post(answer.url, {"flows": ["orders"]})
    assert answer.status_code == 302 and answer.url == url("integration_review", cast.org_a, pk=integration.pk)
    integration.refresh_from_db()
    assert integration.flows == ["orders"]
    entry = AuditEntry.objects.get(action="set_flows")
    assert entry.after["flows"] == ["orders"] and "inventory" in entry.before["flows"]

    assert client.post(url("integration_flows", cast.org_a, pk=integration.pk), {"flows": ["nope"]}).status_code \
        == 400
    assert client.post(url("integration_flows", cast.org_a, pk=integration.pk), {}).status_code == 400
    integration.refresh_from_db()
    assert integration.flows == ["orders"]


def test_bad_pairs_are_refused_in_plain_words(cast, login):
    shop, tims = connections(cast.org_a)
    other_shop, other_tims = connections(cast.org_b)
    client = login(cast.owner_a)
    for data, words in [({"channel": other_shop.pk, "tims": tims.pk}, b"Choose a sales channel"),
                        ({"channel": tims.pk, "tims": tims.pk}, b"is not a sales channel"),
                        ({"channel": shop.pk, "tims": "x"}, b"Choose a sales channel"),
                        ({"channel": shop.pk, "tims": shop.pk}, b"is not a TIMS connection")]:
        answer = client.post(url("integration_new", cast.org_a), data)
        assert answer.status_code == 400 and words in answer.content, (data, answer.content[:300])
    assert not Integration.objects.exists()
    # A shop another running integration reads is not paired twice (each order would be imported twice).
    first = services.create_integration(cast.org_a, shop, tims, cast.owner_a)
    Integration.objects.filter(pk=first.pk).update(state=IntegrationState.LIVE)
    answer = client.post(url("integration_new", cast.org_a), {"channel": shop.pk, "tims": tims.pk})
    assert answer.status_code == 400 and b"already feeds" in answer.content


def test_a_connection_that_is_not_working_is_flagged_with_a_link_to_fix_it(cast, login):
    shop, tims = connections(cast.org_a)
    Connection.objects.filter(pk=shop.pk).update(status="failing", last_check_message="401 Unauthorized")
    page = login(cast.owner_a).get(url("integration_new", cast.org_a)).content.decode()
    assert "Shop is not working: 401 Unauthorized" in page
    fix = page.split("401 Unauthorized", 1)[1].split('href="', 1)[1].split('"', 1)[0]
    assert fix == reverse("setup:connection_change", kwargs={"org": cast.org_a.slug, "pk": shop.pk})


def test_roles_viewers_look_operators_pause_outsiders_get_404(cast, login, operator):
    shop, tims = connections(cast.org_a)
    integration = services.create_integration(cast.org_a, shop, tims, cast.owner_a)
    Integration.objects.filter(pk=integration.pk).update(state=IntegrationState.LIVE)

    viewer = login(cast.member_a)
    listing = viewer.get(url("integrations", cast.org_a))
    assert listing.status_code == 200 and integration.name.encode() in listing.content
    assert b"New integration" not in listing.content and b"Pause" not in listing.content
    assert viewer.get(url("integration_new", cast.org_a)).status_code == 403
    assert viewer.post(url("integration_new", cast.org_a), {"channel": shop.pk, "tims": tims.pk}).status_code == 403
    assert viewer.get(url("integration_review", cast.org_a, pk=integration.pk)).status_code == 200
    assert viewer.post(url("integration_review", cast.org_a, pk=integration.pk), {"accept_all": "1"}).status_code \
        == 403
    assert viewer.post(url("integration_pause", cast.org_a, pk=integration.pk)).status_code == 403
    assert viewer.get(url("integration_go_live", cast.org_a, pk=integration.pk)).status_code == 403

    op = login(operator)
    assert op.post(url("integration_go_live", cast.org_a, pk=integration.pk), {"cutover": "2026-01-01T00:00"}) \
        .status_code == 403
    assert op.post(url("integration_pause", cast.org_a, pk=integration.pk)).status_code == 302
    integration.refresh_from_db()
    assert integration.state == IntegrationState.PAUSED
    assert op.post(url("integration_resume", cast.org_a, pk=integration.pk)).status_code == 302
    integration.refresh_from_db()
    assert integration.state == IntegrationState.LIVE
    assert list(AuditEntry.objects.filter(actor=operator).order_by("at").values_list("action", flat=True)) == [
        "pause_integration", "resume_integration"]

    outsider = login(cast.outsider_b)
    assert outsider.get(url("integrations", cast.org_a)).status_code == 404
    for name in ("integration_review", "integration_shadow", "integration_go_live", "integration_flows"):
        # Their own organization's pages, another tenant's integration id: not found.
        assert outsider.get(url(name, cast.org_b, pk=integration.pk)).status_code == 404, name
    assert outsider.post(url("integration_pause", cast.org_b, pk=integration.pk)).status_code == 404


def test_suggestions_pick_the_most_alike_known_value_or_target():
    entries = {"Payment accepted": "Open", "Shipped": "Fulfilled", "Canceled": "Cancelled"}
    targets = ["Cancelled", "Fulfilled", "OnHold", "Open", "Processing"]
    target, score, why = review.suggest("Payment Accepted (card)", entries, targets)
    assert target == "Open" and score >= 80 and "Payment accepted" in why
    target, score, _ = review.suggest("processing in progress", entries, targets)
    assert target == "Processing" and score >= 80
    target, score, _ = review.suggest("Cancelled by buyer", entries, targets)
    assert target == "Cancelled"
    assert review.suggest("zzzz", {"a": "b"}, []) == (None, 0, "")


def test_review_lists_uncovered_values_with_suggestions_and_accepting_writes_versioned_audited_entries(
        cast, login):
    shop, tims = connections(cast.org_a)
    integration = services.create_integration(cast.org_a, shop, tims, cast.owner_a)
    state_map = ValueMap.objects.get(organization=cast.org_a, name="prestashop_order_state")
    UnmappedValue.objects.create(value_map=state_map, value="Payment Accepted (card)", times_seen=3)
    UnmappedValue.objects.create(value_map=state_map, value="zzqx", times_seen=1)
    client = login(cast.owner_a)
    page = client.get(url("integration_review", cast.org_a, pk=integration.pk)).content.decode()
    assert "prestashop_order_state" in page and "Payment Accepted (card)" in page and "3 by the pipeline" in page
    data = review.review(integration)
    row = next(r for m in data["maps"] if m["name"] == "prestashop_order_state" for r in m["rows"]
               if r["value"] == "Payment Accepted (card)")
    assert row["suggestion"] and row["score"] >= review.GOOD_SCORE
    versions = Version.objects.filter(value_map=state_map).count()

    answer = client.post(url("integration_review", cast.org_a, pk=integration.pk),
                         {"accept_all": "1", "min_score": "80"})
    assert answer.status_code == 302
    assert ValueMapEntry.objects.get(value_map=state_map, source="Payment Accepted (card)").target == \
        row["suggestion"]
    assert not ValueMapEntry.objects.filter(value_map=state_map, source="zzqx").exists()  # scored too low
    assert Version.objects.filter(value_map=state_map).count() == versions + 1
    assert AuditEntry.objects.get(action="value_map_entries").after["entries"] == {
        "Payment Accepted (card)": row["suggestion"]}

    # One row, changed by hand: the posted target, for the value listed at that index.
    data = review.review(integration)
    row = next(r for m in data["maps"] if m["name"] == "prestashop_order_state" for r in m["rows"]
               if r["value"] == "zzqx")
    key = f"prestashop_order_state-{row['index']}"
    answer = client.post(url("integration_review", cast.org_a, pk=integration.pk),
                         {"accept": f"prestashop_order_state:{row['index']}", f"value-{key}": "zzqx",
                          f"target-{key}": "OnHold"})
    assert ValueMapEntry.objects.get(value_map=state_map, source="zzqx").target == "OnHold"
    assert not UnmappedValue.objects.filter(value_map=state_map).exists()
    # A stale or forged row, or an empty target, changes nothing and says why.
    answer = client.post(url("integration_review", cast.org_a, pk=integration.pk),
                         {"accept": "prestashop_order_state:0", "value-prestashop_order_state-0": "other"},
                         follow=True)
    assert answer.status_code == 200 and "no longer listed" in answer.content.decode()
    with pytest.raises(ValueError, match="choose a target"):
        review.accept(integration, {"carriers": {"9": " "}}, cast.owner_a)
    with pytest.raises(ValueError, match="not a value map of this integration"):
        review.accept(integration, {"other_map": {"a": "b"}}, cast.owner_a)


def test_a_global_template_map_is_copied_to_the_organization_before_its_entries_change(cast):
    shop, tims = connections(cast.org_a)
    integration = services.create_integration(cast.org_a, shop, tims, cast.owner_a)
    ValueMap.objects.filter(organization=cast.org_a, name="carriers").delete()  # as if made before copies existed
    template = ValueMap.objects.get(organization=None, name="carriers")
    template_entries = template.entries.count()
    assert review.accept(integration, {"carriers": {"7": "DHL"}}, cast.owner_a) == 1
    own = ValueMap.objects.get(organization=cast.org_a, name="carriers")
    assert own.entries.get(source="7").target == "DHL"
    assert template.entries.count() == template_entries and not template.entries.filter(source="7").exists()
    assert Version.objects.filter(value_map=own, comment="Copied from the global template").exists()


@pytest.mark.django_db(transaction=True)
def test_recent_orders_are_sampled_and_values_no_map_covers_are_listed(live_server, cast, login):
    sandbox, _ = sandbox_services.create_sandbox("wizard")
    secrets = sandbox_services.issue_credentials(sandbox, live_server.url)
    rng = random.Random(5)
    sandbox_services.system_module("tims").generate(sandbox, orders=0, products=10, customers=0, state=None,
                                                    unknown_sku=0, rng=rng)
    made = sandbox_services.system_module("prestashop").generate(sandbox, orders=12, products=10, customers=4,
                                                                 state=None, unknown_sku=0, rng=rng)
    shop, tims = connections(cast.org_a, sandbox, secrets, made["timezone"])
    integration = services.create_integration(cast.org_a, shop, tims, cast.owner_a)
    states = ValueMap.objects.get(organization=cast.org_a, name="prestashop_order_state")
    used_states = {o["state"] for o in made["orders"]}
    dropped = sorted(used_states)[0]
    states.entries.filter(source=dropped).delete()

    client = login(cast.owner_a)
    assert client.post(url("integration_sample", cast.org_a, pk=integration.pk), {"days": "7"}).status_code == 302
    job = review.latest_sample(integration)
    assert work.run(job.pk) == "done"
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.arguments["orders"] == 12
    status = client.get(url("integration_sample_status", cast.org_a, pk=integration.pk)).json()
    assert status["finished"] and "Read 12 orders" in status["result"]

    data = review.review(integration)
    by_name = {m["name"]: m for m in data["maps"]}
    seen_states = {r["value"]: r for r in by_name["prestashop_order_state"]["rows"]}
    assert set(seen_states) == {dropped}
    expected = sum(1 for o in made["orders"] if o["state"] == dropped)
    assert seen_states[dropped]["in_orders"] == expected
    assert by_name["countries"]["rows"] == [] or all(r["in_orders"] for r in by_name["countries"]["rows"])
    page = client.get(url("integration_review", cast.org_a, pk=integration.pk)).content.decode()
    assert dropped in page and "Read 12 orders of the last 7 days" in page
    assert client.post(url("integration_sample", cast.org_a, pk=integration.pk), {"days": "0"},
                       follow=True).content.decode().count("from 1 to 90 days") == 1


def test_one_shop_is_never_read_by_two_running_integrations(cast, login):
    """Two integrations reading one shop would import each order twice: not through a second connection to the
    same shop either, nor by resuming, shadow-running or going live with the older one."""
    from setup import shadow

    shop, tims = connections(cast.org_a)
    first = services.create_integration(cast.org_a, shop, tims, cast.owner_a)
    Integration.objects.filter(pk=first.pk).update(state=IntegrationState.LIVE)
    again = Connection.objects.create(organization=cast.org_a, kind="prestashop", name="Same shop",
                                      base_url="https://SHOP.example.com/", credentials={"ws_key": "k" * 32},
                                      settings={"timezone": "Europe/Paris"}, status="ok")
    with pytest.raises(services.SetupProblem, match="already feeds “Shop \\+ TIMS”"):
        services.create_integration(cast.org_a, again, tims, cast.owner_a)

    first.refresh_from_db()
    services.pause(first, cast.owner_a)
    second = services.create_integration(cast.org_a, again, tims, cast.owner_a)  # the first is paused: allowed
    shadow.start(second, 7, cast.owner_a, poll=False)
    first.refresh_from_db()
    with pytest.raises(services.SetupProblem, match="already reads Shop"):
        services.resume(first, cast.owner_a)
    with pytest.raises(services.SetupProblem, match="already reads Shop"):
        shadow.start(first, 7, cast.owner_a, poll=False)
    answer = login(cast.owner_a).post(url("integration_go_live", cast.org_a, pk=first.pk),
                                      {"cutover": "2026-01-01T00:00"})
    assert answer.status_code == 400 and "pause it first" in answer.content.decode()
    first.refresh_from_db()
    assert first.state == IntegrationState.PAUSED
