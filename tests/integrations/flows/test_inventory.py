"""TIMS stock to PrestaShop and ChannelAdvisor, over real HTTP against the sandboxes and counted through the
channels' own APIs and write logs: one read fanned out to both, coalescing, the seq guard, the rules, the SKU map,
SKUs a channel cannot take, bad feed rows, reconciliation, and the stale mark while a circuit is open."""

import random

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from integrations.connectors import breaker
from integrations.connectors.checks import client_for
from integrations.connectors.models import BreakerState, CircuitBreaker
from integrations.flows import inventory
from integrations.models import (
    Connection,
    Integration,
    PublishedStock,
    RecordStatus,
    SkuIssue,
    StockLevel,
    StockReport,
    SyncRecord,
)
from integrations.pipeline import pollers, records
from mappings import services as mapping_services
from sandbox import services
from sandbox.channeladvisor import models as ca
from sandbox.prestashop import models as ps
from sandbox.tims import operations
from sandbox.tims.models import Item, Location
from tests.integrations.flows.test_prestashop_orders import work_off

pytestmark = pytest.mark.django_db(transaction=True)


class World:
    """One TIMS account feeding a shop and a marketplace (one TIMS connection, two integrations)."""

    def __init__(self, live_server, cast, products=24, seed=3):
        self.sandbox, _ = services.create_sandbox("stock")
        secrets = services.issue_credentials(self.sandbox, live_server.url)
        rng = random.Random(seed)
        for system in ("tims", "prestashop", "channeladvisor"):
            services.system_module(system).generate(self.sandbox, orders=0, products=products, state=None,
                                                    customers=0, unknown_sku=0, rng=rng)
        org = cast.org_a
        self.tims = Connection.objects.create(
            organization=org, kind="tims", name="TIMS", sandbox=self.sandbox, base_url=secrets["tims"]["base_url"],
            credentials={k: secrets["tims"][k] for k in ("client_id", "client_secret")},
            settings={"default_location": "MAIN"})
        shop = Connection.objects.create(
            organization=org, kind="prestashop", name="Shop", sandbox=self.sandbox,
            base_url=secrets["prestashop"]["base_url"], credentials={"ws_key": secrets["prestashop"]["ws_key"]})
        market = Connection.objects.create(
            organization=org, kind="channeladvisor", name="Marketplaces", sandbox=self.sandbox,
            base_url=secrets["channeladvisor"]["base_url"],
            credentials={k: secrets["channeladvisor"][k] for k in ("application_id", "shared_secret", "refresh_token")},
            settings={"profile_id": int(secrets["channeladvisor"].get("profile_id") or 12345678),
                      "distribution_center_id": 0})
        self.shop = Integration.objects.create(organization=org, name="Shop", template="prestashop_tims",
                                               channel_connection=shop, tims_connection=self.tims,
                                               flows=["inventory"], state="live")
        self.market = Integration.objects.create(organization=org, name="Market", template="channeladvisor_tims",
                                                 channel_connection=market, tims_connection=self.tims,
                                                 flows=["inventory"], state="live")
        mapping_services.ensure_global_value_maps()
        self.main = Location.objects.get(sandbox=self.sandbox, code="MAIN")
        self.east = Location.objects.get(sandbox=self.sandbox, code="EAST")
        # SKUs both channels list as plain products (a shop product with combinations is another test).
        shop_skus = {p.reference for p in ps.Product.objects.filter(sandbox=self.sandbox)} - {
            p.reference for p in ps.Product.objects.filter(sandbox=self.sandbox, id__in=ps.Combination.objects.filter(
                sandbox=self.sandbox).values("id_product"))}
        market_skus = set(ca.Product.objects.filter(sandbox=self.sandbox).values_list("sku", flat=True))
        self.skus = sorted(shop_skus & market_skus & set(Item.objects.filter(sandbox=self.sandbox)
                                                         .values_list("sku", flat=True)))
        assert len(self.skus) >= 6, self.skus

    def stock(self, sku, on_hand, location=None):
        with transaction.atomic():
            operations.set_on_hand(Item.objects.get(sandbox=self.sandbox, sku=sku), location or self.main, on_hand)

    def sync(self):
        pollers.poll_connection(self.tims.pk)
        work_off()

    def available(self, sku, location="MAIN"):
        level = StockLevel.objects.get(connection=self.tims, sku=sku, location=location)
        return level.available

    def tims_available(self, sku):
        """{location: Available} as the TIMS sandbox has it now."""
        item = Item.objects.get(sandbox=self.sandbox, sku=sku)
        return {level.location.code: level.available for level in item.levels.select_related("location")}

    def shop_shows(self, skus):
        shows, problems = client_for(self.shop.channel_connection).read_quantities(skus)
        return {sku: q[""] for sku, q in shows.items()}, problems

    def market_shows(self, skus):
        shows, problems = client_for(self.market.channel_connection).read_quantities(skus)
        return shows, problems

    def shop_writes(self, sku):
        row = ps.StockAvailable.objects.get(sandbox=self.sandbox, id_product=ps.Product.objects.get(
            sandbox=self.sandbox, reference=sku).id, id_product_attribute=0)
        return list(ps.StockWrite.objects.filter(id_stock_available=row.id).exclude(cause="sum")
                    .order_by("id").values_list("quantity", flat=True))

    def market_writes(self, sku):
        return list(ca.QuantityWrite.objects.filter(sandbox=self.sandbox, sku=sku).order_by("id")
                    .values_list("available_quantity", flat=True))


@pytest.fixture
def world(live_server, cast, monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)  # the test drives the workers itself
    return World(live_server, cast)


def test_one_read_of_tims_reaches_both_channels_with_tims_available(world):
    for index, sku in enumerate(world.skus[:4]):
        world.stock(sku, 10 + index)
    world.sync()

    skus = world.skus[:4]
    expected = {sku: sum(world.tims_available(sku).values()) for sku in skus}
    assert world.shop_shows(skus)[0] == expected
    market, _ = world.market_shows(skus)
    # Both TIMS locations feed the connection's distribution center; DCs nobody mapped (a 3PL's) are left alone.
    assert {sku: q["0"] for sku, q in market.items()} == expected
    # One stream read for both integrations: its position is on the TIMS connection.
    assert not StockLevel.objects.exclude(connection=world.tims).exists()
    assert SyncRecord.objects.filter(flow="inventory", status=RecordStatus.DEAD).count() == 0


def test_ten_changes_in_a_row_send_one_value_the_latest(world):
    world.sync()  # the catalog's opening levels
    sku = world.skus[0]
    before_shop, before_market = len(world.shop_writes(sku)), len(world.market_writes(sku))
    for on_hand in range(20, 30):
        world.stock(sku, on_hand)
    world.sync()

    assert world.shop_writes(sku)[before_shop:] == [sum(world.tims_available(sku).values())]
    assert len(world.market_writes(sku)) - before_market == 1
    superseded = SyncRecord.objects.filter(integration=world.shop, source_id=sku, status=RecordStatus.SUPERSEDED)
    assert superseded.count() == 9


def test_an_older_value_read_again_is_never_sent_and_an_unchanged_one_is_not_resent(world):
    sku = world.skus[1]
    world.shop.options = {"stock_rules": {"locations": ["MAIN"]}}  # the shop sells from MAIN only
    world.shop.save()
    world.stock(sku, 7)
    world.sync()
    world.stock(sku, 9)
    world.sync()
    sent = world.shop_writes(sku)
    old_seq = PublishedStock.objects.get(integration=world.shop, sku=sku).seq - 1
    # A stale change (an old page re-read under a new cursor, a retried record) arrives late.
    with transaction.atomic():
        records.receive(world.shop, flow="inventory", entity_type="stock", source_id=sku,
                        source_version=f"{old_seq}:replayed", payload={"SKU": sku, "Location": "MAIN", "Available": 7,
                                                              "Seq": old_seq},
                        batch_key=inventory.batch_key(world.shop))
    work_off()
    assert world.shop_writes(sku) == sent
    late = SyncRecord.objects.get(integration=world.shop, source_id=sku, source_version=f"{old_seq}:replayed")
    assert late.status == RecordStatus.SKIPPED and "not newer" in late.notes

    # Stock moves at a location the shop's rules leave out: TIMS changed, the shop's number did not.
    world.stock(sku, 3, location=world.east)
    world.sync()
    assert world.shop_writes(sku) == sent == [7, 9]
    assert "nothing sent" in SyncRecord.objects.filter(integration=world.shop, source_id=sku).first().notes


def test_rules_buffer_share_cap_overrides_and_locations(world):
    a, b, c, d = world.skus[:4]
    world.shop.options = {"stock_rules": {"buffer": 2, "share": 50, "locations": ["MAIN"], "overrides": [
        {"match": b, "cap": 3}, {"match": c[:3] + "*", "publish": False}]}}
    world.shop.full_clean()
    world.shop.save()
    for sku in (a, b, c, d):
        world.stock(sku, 41)
    world.sync()
    shows, _ = world.shop_shows([a, b, c, d])
    expected_a = (41 - 2) * 50 // 100 if not a.startswith(c[:3]) else 0
    assert shows[a] == expected_a
    assert shows[b] == (0 if b.startswith(c[:3]) else 3)
    assert shows[c] == 0  # not for sale on this channel
    # The marketplace has no rules: exactly TIMS's Available.
    market, _ = world.market_shows([a])
    assert market[a]["0"] == sum(world.tims_available(a).values())


def test_marketplace_locations_map_to_distribution_centers(world):
    sku = world.skus[2]
    world.market.options = {"stock_rules": {"distribution_centers": {"MAIN": 0, "EAST": 2}}}
    world.market.save()
    world.stock(sku, 11)
    world.stock(sku, 4, location=world.east)
    world.sync()
    market, _ = world.market_shows([sku])
    available = world.tims_available(sku)
    assert market[sku]["0"] == available["MAIN"] and market[sku]["2"] == available["EAST"]


def test_rules_that_cannot_apply_are_refused_in_plain_words(world):
    world.shop.options = {"stock_rules": {"share": 150, "buffer": -1, "overrides": [{"cap": 2}], "colour": 1}}
    with pytest.raises(ValidationError) as refused:
        world.shop.full_clean()
    text = " ".join(refused.value.message_dict["options"])
    assert "never offered more than TIMS has" in text and "“buffer”" in text and "“match”" in text
    assert "unknown setting “colour”" in text


def test_quantities_are_never_negative_nor_above_tims():
    rule = inventory.Rule(buffer=0, share=100, cap=None)
    assert inventory.quantities_for(rule, {"MAIN": (-4, 9)}) == {"": 0}
    assert inventory.quantities_for(inventory.Rule(buffer=5), {"MAIN": (3, 1)}) == {"": 0}
    assert inventory.quantities_for(inventory.Rule(cap=10), {"MAIN": (4, 1), "EAST": (3, 2)}) == {"": 7}
    assert inventory.quantities_for(inventory.Rule(locations=("EAST",)), {"MAIN": (4, 1)}) == {"": 0}
    assert inventory.quantities_for(inventory.Rule(), {"MAIN": (4, 1), "EAST": (3, 2)}, centers={"EAST": 2},
                                    default_center=0) == {"0": 4, "2": 3}


def test_an_unknown_sku_is_listed_once_and_resolves_once_mapped(world):
    sku = world.skus[3]
    product = ps.Product.objects.get(sandbox=world.sandbox, reference=sku)
    product.reference = f"SHOP-{sku}"
    product.save()
    for on_hand in (5, 6, 8):
        world.stock(sku, on_hand)
        world.sync()
    issue = SkuIssue.objects.get(integration=world.shop, sku=sku)
    assert issue.code == "unknown_sku" and issue.times == 3 and issue.resolved_at is None
    assert not SyncRecord.objects.filter(integration=world.shop, source_id=sku, status=RecordStatus.DEAD).exists()
    assert SyncRecord.objects.filter(integration=world.shop, source_id=sku, status=RecordStatus.SKIPPED).exists()
    assert not SkuIssue.objects.filter(integration=world.market).exists()  # the marketplace has it

    template = mapping_services.value_maps_for(None, ["tims_sku_to_prestashop"])["tims_sku_to_prestashop"]
    value_map = mapping_services.copy_value_map(template, world.shop.organization)
    mapping_services.set_entry(value_map, sku, f"SHOP-{sku}")
    assert inventory.publish_again(world.shop, [sku]) == 1
    work_off()
    issue.refresh_from_db()
    assert issue.resolved_at is not None
    assert world.shop_shows([f"SHOP-{sku}"])[0] == {f"SHOP-{sku}": sum(world.tims_available(sku).values())}


def test_a_product_with_combinations_is_reported_not_skipped_silently(world):
    parent = ps.Product.objects.filter(sandbox=world.sandbox, id__in=ps.Combination.objects.filter(
        sandbox=world.sandbox).values("id_product")).first()
    if parent is None or not Item.objects.filter(sandbox=world.sandbox, sku=parent.reference).exists():
        pytest.skip("this catalog has no TIMS item with combinations in the shop")
    world.stock(parent.reference, 12)
    world.sync()
    assert SkuIssue.objects.get(integration=world.shop, sku=parent.reference).code == "has_combinations"


def test_bad_feed_rows_are_dead_letters_of_their_own_and_the_rest_goes_on(world, monkeypatch):
    from integrations.connectors.tims.client import TimsClient

    good = world.skus[4]
    world.stock(good, 13)
    real = TimsClient.inventory_changes_raw

    def with_bad_rows(self, cursor="", page_size=200):
        rows, next_cursor = real(self, cursor, page_size)
        if rows:
            rows = [{"SKU": "GLV-BAD", "Location": "MAIN", "Available": "12.5", "Seq": 10**9},
                    {"SKU": "", "Location": "MAIN", "Available": 1, "Seq": 10**9 + 1}, "junk"] + rows
        return rows, next_cursor

    monkeypatch.setattr(TimsClient, "inventory_changes_raw", with_bad_rows)
    world.sync()
    dead = SyncRecord.objects.filter(integration=world.shop, status=RecordStatus.DEAD)
    assert any("Available “12.5” is not a whole number" in r.error_message for r in dead)
    assert world.shop_shows([good])[0][good] == sum(world.tims_available(good).values())


def test_reconciliation_on_demand_is_a_job_with_progress_that_a_cancel_stops(world, monkeypatch):
    from jobs import work
    from jobs.models import JobStatus

    monkeypatch.setattr(work, "_enqueue", lambda job_id: None)  # the test is the worker
    monkeypatch.setattr(work, "REPORT_EVERY_SECONDS", 0)
    world.sync()
    report, job = inventory.start_reconcile(world.shop, started_by="ops")
    assert work.run(job.pk) == "done"
    job.refresh_from_db()
    report.refresh_from_db()
    assert job.status == JobStatus.DONE and job.done == job.total == report.total == report.checked > 0
    assert job.result == (f"{report.checked} SKUs checked, {report.drifted} drifted and sent again, "
                          f"{report.unknown} unknown to the channel.")
    assert job.arguments["link"].endswith(f"/stockreport/{report.pk}/change/")

    monkeypatch.setattr(inventory, "RECONCILE_CHUNK", 2)
    report, job = inventory.start_reconcile(world.shop, started_by="ops")
    real_levels = inventory.levels_of

    def levels_then_cancel(*args):  # someone clicks Cancel while the first chunk is read
        work.cancel(job)
        return real_levels(*args)

    monkeypatch.setattr(inventory, "levels_of", levels_then_cancel)
    assert work.run(job.pk) == "cancelled"
    report.refresh_from_db()
    assert report.status == StockReport.Status.FAILED and report.checked == 2
    assert report.error.startswith("Stopped on request after 2 of")


def test_reconciliation_finds_and_corrects_drift_with_a_report(world):
    world.sync()
    drifted = world.skus[5]
    row = ps.StockAvailable.objects.get(sandbox=world.sandbox, id_product=ps.Product.objects.get(
        sandbox=world.sandbox, reference=drifted).id, id_product_attribute=0)
    row.quantity += 17  # someone edited it in the shop's back office
    row.save()

    report = inventory.reconcile(world.shop, started_by="ops")
    assert report.status == StockReport.Status.DONE and report.drifted == 1, report.drift
    assert report.total == report.checked == StockLevel.objects.filter(connection=world.tims).values(
        "sku").distinct().count()
    assert report.drift[0]["sku"] == drifted
    work_off()
    assert world.shop_shows([drifted])[0][drifted] == sum(world.tims_available(drifted).values())
    assert inventory.reconcile(world.shop).drifted == 0


def test_an_open_circuit_marks_the_channel_stale_and_it_catches_up_with_the_latest(world, rf, cast):
    from portal.admin_site import attention_items

    sku = world.skus[0]
    world.sync()
    CircuitBreaker.objects.update_or_create(connection=world.market.channel_connection, defaults=dict(
        state=BreakerState.OPEN, opened_at=timezone.now(), retry_at=timezone.now() + timezone.timedelta(minutes=5)))
    breaker._healthy_until.clear()  # this process saw it healthy a moment ago
    for on_hand in (31, 32, 33):
        world.stock(sku, on_hand)
    world.sync()
    request = rf.get("/admin/")
    request.user = cast.superuser
    headlines = [item[0] for item in attention_items(request)[0]]
    assert any("stale" in h and "Marketplaces" in h for h in headlines), headlines

    CircuitBreaker.objects.filter(connection=world.market.channel_connection).update(
        state=BreakerState.CLOSED, retry_at=None, opened_at=None)
    SyncRecord.objects.filter(status=RecordStatus.RETRYING).update(next_attempt_at=None)
    work_off()
    market, _ = world.market_shows([sku])
    assert market[sku]["0"] == sum(world.tims_available(sku).values())


def test_an_item_made_inactive_in_tims_shows_zero_and_comes_back_when_active(world):
    from sandbox.tims import backoffice

    sku = world.skus[0]
    world.stock(sku, 25)
    world.sync()
    backoffice.update_item(world.sandbox, sku, active=False)
    world.sync()
    assert world.shop_shows([sku])[0][sku] == 0
    assert world.market_shows([sku])[0][sku]["0"] == 0
    assert "inactive in TIMS" in SyncRecord.objects.filter(integration=world.shop, source_id=sku).first().notes
    assert inventory.reconcile(world.shop).drifted == 0  # reconciliation agrees: inactive means 0

    backoffice.update_item(world.sandbox, sku, active=True)
    world.sync()
    assert world.shop_shows([sku])[0][sku] == sum(world.tims_available(sku).values())


def test_tims_webhooks_for_stock_are_subscribed():
    from integrations.flows import registry

    assert "inventory.changed" in registry.tims_events_read()
    assert "item.updated" in registry.tims_events_read()


def test_the_integration_page_says_what_was_published(world, client, cast):
    sku = world.skus[0]
    world.stock(sku, 5)
    world.sync()
    inventory.reconcile(world.shop)
    client.force_login(cast.superuser)
    page = client.get(f"/admin/integrations/integration/{world.shop.pk}/change/").content.decode()
    published = PublishedStock.objects.filter(integration=world.shop).count()
    assert f"{published} SKUs published" in page and "last reconciliation" in page
    report = client.get(f"/admin/integrations/stockreport/{world.shop.stock_reports.first().pk}/change/")
    assert report.status_code == 200 and "every SKU checked shows what it should" in report.content.decode()
    assert client.get("/admin/integrations/skuissue/?resolved=no").status_code == 200


def test_a_sku_override_wins_over_the_longest_prefix_over_the_defaults():
    rules = {**inventory.DEFAULT_RULES, "buffer": 1, "overrides": [
        {"match": "GLV-*", "buffer": 2}, {"match": "GLV-00*", "share": 50}, {"match": "GLV-00004", "cap": 3}]}
    assert inventory.rule_for(rules, "ARG-1") == inventory.Rule(buffer=1)
    assert inventory.rule_for(rules, "GLV-9") == inventory.Rule(buffer=2)
    assert inventory.rule_for(rules, "GLV-001") == inventory.Rule(buffer=1, share=50)
    assert inventory.rule_for(rules, "GLV-00004") == inventory.Rule(buffer=1, cap=3)


def test_a_lost_answer_after_the_channel_wrote_sends_the_same_value_again_and_nothing_else(world, monkeypatch):
    from integrations.connectors import errors
    from integrations.connectors.channeladvisor.client import ChannelAdvisorClient
    from integrations.connectors.prestashop.client import PrestaShopClient

    world.sync()
    sku = world.skus[1]
    lost = []

    def losing(real):
        def publish_quantities(self, updates):
            answers = real(self, updates)
            if not any(system == self.system for system in lost):
                lost.append(self.system)  # the channel wrote; its answer never arrives
                return {sku_: errors.TransientError("The answer was lost.", system=self.system) for sku_ in answers}
            return answers
        return publish_quantities

    monkeypatch.setattr(PrestaShopClient, "publish_quantities", losing(PrestaShopClient.publish_quantities))
    monkeypatch.setattr(ChannelAdvisorClient, "publish_quantities", losing(ChannelAdvisorClient.publish_quantities))
    shop_before, market_before = len(world.shop_writes(sku)), len(world.market_writes(sku))
    world.stock(sku, 77)
    world.sync()
    expected = sum(world.tims_available(sku).values())
    assert len(lost) == 2
    # The shop's row already had it when the retry read it: not written twice. The marketplace's write is absolute:
    # the same value again, harmless.
    assert world.shop_writes(sku)[shop_before:] == [expected]
    assert set(world.market_writes(sku)[market_before:]) == {expected}
    record = SyncRecord.objects.filter(integration=world.shop, source_id=sku).first()
    assert record.status == RecordStatus.SUCCEEDED and record.attempts == 2


def test_a_lost_answer_then_tims_going_back_still_sends_the_old_value(world, monkeypatch):
    from integrations.connectors import errors
    from integrations.connectors.prestashop.client import PrestaShopClient

    sku = world.skus[2]
    world.stock(sku, 10)
    world.sync()
    real = PrestaShopClient.publish_quantities

    def lost(self, updates):
        real(self, updates)  # the shop wrote 20; its answer never arrives, and the record waits to retry
        return {sku_: errors.TransientError("lost", system=self.system) for sku_, _ in updates}

    monkeypatch.setattr(PrestaShopClient, "publish_quantities", lost)
    world.stock(sku, 20)
    pollers.poll_connection(world.tims.pk)
    from integrations.pipeline import runner

    for pk in SyncRecord.objects.filter(integration=world.shop, status=RecordStatus.PENDING).values_list("pk",
                                                                                                        flat=True):
        runner.process(pk)
    monkeypatch.setattr(PrestaShopClient, "publish_quantities", real)
    world.stock(sku, 10)  # TIMS goes back before the retry: the shop must not keep showing 20
    world.sync()
    assert world.shop_shows([sku])[0][sku] == sum(world.tims_available(sku).values())


def test_a_listed_sku_costs_no_calls_and_a_reconciliation_finds_it_once_the_product_exists(world):
    from sandbox.models import SandboxCall

    sku = world.skus[3]
    product = ps.Product.objects.get(sandbox=world.sandbox, reference=sku)
    product.reference = f"OLD-{sku}"
    product.save()
    world.stock(sku, 5)
    world.sync()
    assert SkuIssue.objects.get(integration=world.shop, sku=sku).resolved_at is None
    calls = SandboxCall.objects.filter(sandbox=world.sandbox, system="prestashop").count()
    world.stock(sku, 6)
    world.sync()
    assert SandboxCall.objects.filter(sandbox=world.sandbox, system="prestashop").count() == calls
    assert SkuIssue.objects.get(integration=world.shop, sku=sku).times == 2

    product.reference = sku  # someone fixed the product in the shop
    product.save()
    report = inventory.reconcile(world.shop)
    work_off()
    assert report.status == StockReport.Status.DONE and report.drifted >= 1
    assert SkuIssue.objects.get(integration=world.shop, sku=sku).resolved_at is not None
    assert world.shop_shows([sku])[0][sku] == sum(world.tims_available(sku).values())


def test_a_batch_flow_rings_once_per_batch_and_gathered_records_are_rung_when_due(world, monkeypatch, settings):
    from datetime import timedelta

    rung = []
    monkeypatch.setattr(records, "dispatch", rung.append)
    for sku in world.skus:
        world.stock(sku, 3)
    pollers.poll_connection(world.tims.pk)
    made = SyncRecord.objects.filter(flow="inventory", status=RecordStatus.PENDING)
    per_integration = {i: made.filter(integration=i).count() for i in (world.shop, world.market)}
    expected = sum(-(-n // inventory.INVENTORY.batch_size) for n in per_integration.values())
    assert len(rung) == expected < made.count()

    # Gathered: a change waits for others, unrung, and the ticker's ring comes once it is due.
    settings.PIPELINE_BATCH_GATHER_SECONDS = 10
    rung.clear()
    world.stock(world.skus[0], 4)
    pollers.poll_connection(world.tims.pk)
    assert rung == []
    waiting = SyncRecord.objects.filter(flow="inventory", status=RecordStatus.PENDING, source_id=world.skus[0])
    assert all(r.next_attempt_at > timezone.now() for r in waiting.filter(source_version__gt="0").order_by("-pk")[:2])
    world.stock(world.skus[1], 4)  # a change a moment later joins the same batch: one due time per batch key
    pollers.poll_connection(world.tims.pk)
    due = set(SyncRecord.objects.filter(integration=world.shop, status=RecordStatus.PENDING,
                                        source_id__in=world.skus[:2], next_attempt_at__gt=timezone.now())
              .values_list("next_attempt_at", flat=True))
    assert len(due) == 1
    assert records.ring_gathered() == 0  # not due yet
    assert records.ring_gathered(now=timezone.now() + timedelta(seconds=11)) == 2  # one per integration
    assert records.ring_gathered(now=timezone.now() + timedelta(seconds=12)) == 0  # rung already
