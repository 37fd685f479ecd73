"""The flow framework: declarations drive receiving and polling; fan-out, chaining, batching, superseding; the core's
holes (fenced writes, worker deaths counted, fresh manual retries, due-only rings, 412, lock order, stuck polls)."""

import dataclasses
import threading
from datetime import timedelta

import pytest
from django.db import connection as db
from django.utils import timezone

from integrations.connectors import errors, streams
from integrations.flows import registry
from integrations.models import PollState, RecordStatus, SyncAttempt, SyncRecord
from integrations.pipeline import actions, pollers, records, runner
from integrations.pipeline.outcomes import Hold
from tests.factories import make_integration

pytestmark = pytest.mark.django_db


@pytest.fixture
def quiet(monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)  # tests drive the runner themselves


def declare(monkeypatch, **fields):
    """A test flow, declared as real ones are and offered to the PrestaShop template."""
    flow = registry.Flow(**{"name": "test_flow", "label": "Test flow", "source": registry.TIMS,
                            "target": registry.CHANNEL, "entity_type": "thing", "triggers": (),
                            "templates": {"prestashop_tims": False}, **fields})
    registry.load()
    monkeypatch.setitem(registry.FLOWS, flow.name, flow)
    return flow


_names = iter(range(1, 1000))


def integration_with(cast, *flows, org=None):
    integration = make_integration(org or cast.org_a, name=f"integration {next(_names)}")
    integration.flows = ["orders", *flows]
    integration.state = "live"
    integration.save()
    return integration


def receive(integration, source_id="1", version="v1", flow="test_flow", **kw):
    return records.receive(integration, flow=flow, entity_type="thing", source_id=source_id, source_version=version,
                           payload={"id": source_id}, **kw)[0]


def test_the_source_system_comes_from_the_declaration(cast, quiet, monkeypatch):
    declare(monkeypatch)
    integration = integration_with(cast, "test_flow")
    assert receive(integration).source_system == "tims"
    order = records.receive(integration, flow="orders", entity_type="order", source_id="5")[0]
    assert order.source_system == "prestashop"


def test_an_integration_may_only_run_flows_its_template_offers(cast, monkeypatch):
    from django.core.exceptions import ValidationError

    declare(monkeypatch, templates={"channeladvisor_tims": True})
    integration = make_integration(cast.org_a)
    integration.flows = ["orders", "test_flow"]
    with pytest.raises(ValidationError, match="Not a flow of this template: test_flow"):
        integration.full_clean()


def test_a_step_chains_follow_ups_in_the_commit_that_finishes_it(cast, quiet, monkeypatch):
    def step(record):
        records.chain(record, flow="test_flow", entity_type="invoice", source_id=f"inv-{record.source_id}")

    declare(monkeypatch, step=step)
    integration = integration_with(cast, "test_flow")
    parent = receive(integration)
    assert runner.process(parent.pk) == RecordStatus.SUCCEEDED
    child = SyncRecord.objects.get(entity_type="invoice")
    assert child.parent_id == parent.pk and child.status == RecordStatus.PENDING
    assert list(parent.children.all()) == [child]


def test_a_failed_step_chains_nothing(cast, quiet, monkeypatch):
    def step(record):
        records.chain(record, flow="test_flow", entity_type="invoice", source_id="inv")
        raise errors.TransientError("later")

    declare(monkeypatch, step=step)
    integration = integration_with(cast, "test_flow")
    runner.process(receive(integration).pk)
    assert not SyncRecord.objects.filter(entity_type="invoice").exists()


def test_a_batch_step_takes_due_records_of_one_key_space_and_finishes_each_its_own_way(cast, quiet, monkeypatch):
    seen = []

    def batch_step(batch):
        seen.append(sorted(r.source_id for r in batch))
        return {r.pk: errors.ValidationFailed("no such SKU") for r in batch if r.source_id == "2"}

    declare(monkeypatch, batch_step=batch_step, batch_size=3)
    integration = integration_with(cast, "test_flow")
    made = [receive(integration, source_id=str(n), batch_key="profile-1") for n in range(1, 6)]
    receive(integration, source_id="other", batch_key="profile-2")
    assert runner.process(made[0].pk) == RecordStatus.SUCCEEDED
    assert seen == [["1", "2", "3"]]  # three of profile-1, none of profile-2
    statuses = dict(SyncRecord.objects.values_list("source_id", "status"))
    assert statuses["2"] == RecordStatus.DEAD and statuses["1"] == statuses["3"] == RecordStatus.SUCCEEDED
    assert statuses["4"] == statuses["other"] == RecordStatus.PENDING
    assert SyncAttempt.objects.filter(record__source_id="2", outcome=RecordStatus.DEAD).exists()


def test_the_newest_waiting_version_runs_in_place_of_the_one_that_came_due(cast, quiet, monkeypatch):
    sent = []
    declare(monkeypatch, step=lambda record: sent.append(record.source_version), supersedes=True)
    integration = integration_with(cast, "test_flow")
    old = receive(integration, version="1", business_key="sku-A")
    new = receive(integration, version="2", business_key="sku-A")
    newest = receive(integration, version="3", business_key="sku-A")
    other = receive(integration, source_id="2", version="1", business_key="sku-B")
    assert runner.process(new.pk) == RecordStatus.SUCCEEDED  # the middle one came due: the newest runs for it
    for record in (old, new):
        record.refresh_from_db()
        assert record.status == RecordStatus.SUPERSEDED and f"record {newest.pk}" in record.error_message
    newest.refresh_from_db()
    assert newest.status == RecordStatus.SUCCEEDED
    assert runner.process(old.pk) is None and runner.process(newest.pk) is None
    assert sent == ["3"]
    other.refresh_from_db()
    assert other.status == RecordStatus.PENDING  # another key is left alone


def test_a_busy_key_is_sent_while_its_versions_keep_coming(cast, quiet, monkeypatch):
    """Each claim used to give way to a newer version, which gave way in turn: a key that changes faster than
    records run was never sent. Its many versions must not crowd the other keys out of a batch either."""
    batches = []
    declare(monkeypatch, batch_step=lambda batch: batches.append([r.source_id for r in batch]) or {},
            batch_size=3, supersedes=True)
    integration = integration_with(cast, "test_flow")
    first = receive(integration, source_id="busy", version="0", batch_key="b")
    for version in range(1, 40):
        receive(integration, source_id="busy", version=str(version), batch_key="b")
    for source_id in ("calm-1", "calm-2"):
        receive(integration, source_id=source_id, version="0", batch_key="b")
    assert runner.process(first.pk) == RecordStatus.SUCCEEDED
    assert batches == [["busy", "calm-1", "calm-2"]]
    assert not SyncRecord.objects.filter(status=RecordStatus.PENDING).exists()


def test_a_tims_stream_is_read_once_and_fanned_out_to_every_subscribing_integration(cast, quiet, monkeypatch):
    declare(monkeypatch, templates={"prestashop_tims": True},
            triggers=(registry.Poll("events", position="cursor", system=registry.TIMS, events=("shipment.created",)),))
    first = integration_with(cast, "test_flow")
    second = integration_with(cast, "test_flow")
    second.tims_connection = first.tims_connection
    second.save()
    reads = []

    def events(client, cursor):
        reads.append(cursor)
        yield streams.Page([streams.Item("S1", "7", event="shipment.created"),
                            streams.Item("I1", "8", event="invoice.created")], "8")

    monkeypatch.setitem(streams.READERS, ("tims", "events"), events)
    assert pollers.poll_connection(first.tims_connection_id) == 2
    assert reads == [""]  # read once for both
    assert sorted(SyncRecord.objects.filter(flow="test_flow").values_list("integration_id", "source_id")) == [
        (first.pk, "S1"), (second.pk, "S1")]
    state = PollState.objects.get(connection=first.tims_connection, name="events")
    assert state.cursor == "8" and state.integration is None
    pollers.poll_connection(first.tims_connection_id)
    assert reads == ["", "8"]  # the next poll goes on from the committed cursor


def test_an_unreadable_item_is_a_dead_letter_of_its_own_and_the_stream_goes_on(cast, quiet, monkeypatch):
    integration = integration_with(cast)
    later = timezone.now()

    def orders(client, since):
        yield streams.Page([streams.Unreadable("7", "2026-02-30 10:00:00", {"id": "7", "total_paid": "abc"},
                                               "“abc” is not a number.", "total_paid"),
                            streams.Item("8", "v", reference="REF8", payload={"id": "8"})], later)

    monkeypatch.setitem(streams.READERS, ("prestashop", "orders"), orders)
    assert pollers.poll_integration(integration.pk) == 1
    bad = SyncRecord.objects.get(source_id="7")
    assert bad.status == RecordStatus.DEAD and "field total_paid" in bad.error_message
    assert bad.source_payload == {"unreadable": {"id": "7", "total_paid": "abc"}}
    assert SyncRecord.objects.get(source_id="8").status == RecordStatus.PENDING
    state = PollState.objects.get(integration=integration, name="orders")
    assert state.watermark == later and state.last_error == "" and state.unreadable == 1


def test_overlapping_polls_of_one_stream_are_prevented(cast, quiet, monkeypatch):
    integration = integration_with(cast)
    calls = []

    def orders(client, since):
        calls.append(since)
        pollers.poll_integration(integration.pk)  # a second poll starts while this one runs
        yield streams.Page([], None)

    monkeypatch.setitem(streams.READERS, ("prestashop", "orders"), orders)
    pollers.poll_integration(integration.pk)
    assert len(calls) == 1
    assert PollState.objects.get(integration=integration, name="orders").lease_until is None  # released


def test_a_stalled_attempt_cannot_write_a_record_a_later_claim_holds(cast, quiet, monkeypatch):
    declare(monkeypatch)
    integration = integration_with(cast, "test_flow")
    record = receive(integration)
    stalled = records.claim(record.pk)
    SyncRecord.objects.filter(pk=record.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    records.sweep()
    later = records.claim(record.pk)
    assert later is not None
    with pytest.raises(records.LeaseLost):
        records.save_fields(stalled, notes="from the stalled attempt")
    with pytest.raises(records.LeaseLost):
        records.link(stalled, "SO-1")
    records.save_fields(later, notes="from the live one")
    record.refresh_from_db()
    assert record.notes == "from the live one" and record.target_id == ""


def test_a_record_that_kills_its_worker_is_counted_and_dead_lettered_after_the_limit(cast, quiet, monkeypatch,
                                                                                      settings):
    settings.PIPELINE_MAX_WORKER_STOPS = 2
    declare(monkeypatch)
    integration = integration_with(cast, "test_flow")
    record = receive(integration)
    for _ in range(2):
        records.claim(record.pk)  # ...and the worker is killed: nothing finishes the attempt
        SyncRecord.objects.filter(pk=record.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        records.sweep()
    record.refresh_from_db()
    assert record.status == RecordStatus.DEAD and record.error_class == "crash"
    crashed = SyncAttempt.objects.filter(record=record, outcome="crashed")
    assert crashed.count() == 2 and "worker stopped" in crashed.first().error_message


def test_only_worker_stops_count_toward_the_stop_limit_and_a_manual_retry_starts_them_afresh(cast, quiet,
                                                                                               monkeypatch, settings):
    settings.PIPELINE_MAX_WORKER_STOPS = 2
    declare(monkeypatch)
    integration = integration_with(cast, "test_flow")
    record = receive(integration)

    def killed_once():
        records.claim(record.pk)  # ...and the worker is killed: nothing finishes the attempt
        SyncRecord.objects.filter(pk=record.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        records.sweep()
        record.refresh_from_db()

    SyncRecord.objects.filter(pk=record.pk).update(attempts=5)  # failures that were answered, not worker stops
    killed_once()
    assert record.status == RecordStatus.RETRYING
    killed_once()
    assert record.status == RecordStatus.DEAD and "stopped 2 times" in record.suggested_fix
    actions.retry(SyncRecord.objects.filter(pk=record.pk), cast.operations)
    killed_once()
    assert record.status == RecordStatus.RETRYING  # the stops before the retry are not held against it


def test_a_manual_retry_gets_a_fresh_set_of_attempts_audited(cast, quiet, monkeypatch):
    declare(monkeypatch, step=lambda record: None)
    integration = integration_with(cast, "test_flow")
    record = receive(integration)
    SyncRecord.objects.filter(pk=record.pk).update(status=RecordStatus.DEAD, attempts=12)
    actions.retry(SyncRecord.objects.filter(pk=record.pk), cast.operations)
    record.refresh_from_db()
    assert record.attempts == 0 and record.audit_entries.get(action="retry").before["attempts"] == 12
    assert runner.process(record.pk) == RecordStatus.SUCCEEDED
    record.refresh_from_db()
    assert record.attempts == 1


def test_finishing_rings_the_next_due_record_of_its_key_not_a_hold_that_is_not_due(cast, monkeypatch):
    declare(monkeypatch, step=lambda record: None)
    integration = integration_with(cast, "test_flow")
    rung = []
    monkeypatch.setattr(records, "dispatch", rung.append)
    first = receive(integration, version="1", business_key="k")
    held = receive(integration, version="2", business_key="k")
    SyncRecord.objects.filter(pk=held.pk).update(status=RecordStatus.HELD,
                                                 next_attempt_at=timezone.now() + timedelta(hours=1))
    rung.clear()
    with db.cursor():
        runner.process(first.pk)
    assert held.pk not in rung


def test_a_stale_if_match_is_read_again_and_retried_soon_not_dead_lettered(cast, quiet, monkeypatch):
    def step(record):
        raise errors.Conflict("Version 3 is not current", status=412, system="TIMS")

    declare(monkeypatch, step=step)
    integration = integration_with(cast, "test_flow")
    record = receive(integration)
    assert runner.process(record.pk) == RecordStatus.RETRYING
    record.refresh_from_db()
    assert record.next_attempt_at <= timezone.now() + timedelta(seconds=2)


def test_a_hold_refunds_its_attempt(cast, quiet, monkeypatch):
    def step(record):
        raise Hold("not paid")

    declare(monkeypatch, step=step)
    integration = integration_with(cast, "test_flow")
    record = receive(integration)
    runner.process(record.pk)
    record.refresh_from_db()
    assert record.status == RecordStatus.HELD and record.attempts == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_hints_and_claims_take_their_locks_in_one_order_and_never_deadlock(cast, monkeypatch):
    """receive_hint and claim both lock the business key first, then the row: PostgreSQL reports no deadlock."""
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    declare(monkeypatch, step=lambda record: None)
    integration = integration_with(cast, "test_flow")
    failures = []

    def hints():
        try:
            for _ in range(40):
                records.receive_hint(integration, flow="test_flow", entity_type="thing", source_id="42")
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)
        finally:
            db.close()

    def claims():
        try:
            for _ in range(40):
                for record_id in SyncRecord.objects.filter(source_id="42").values_list("pk", flat=True):
                    runner.process(record_id)
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=target) for target in (hints, claims, hints, claims)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert SyncRecord.objects.filter(source_id="42").exclude(status=RecordStatus.SUCCEEDED).count() <= 1


def test_declarations_are_what_the_generic_parts_read(monkeypatch):
    flows = registry.load()
    assert flows["orders"].source == registry.CHANNEL and flows["orders"].mapping == "order_to_tims"
    assert registry.default_flows("prestashop_tims") == ["orders", "shipments", "cancellations", "inventory",
                                                        "invoices", "payments", "journal", "returns",
                                                        "customers", "prices"]
    assert flows["shipments"].source == registry.TIMS and flows["shipments"].triggers[0].route == "order"
    assert ("orders", "Orders into TIMS") in registry.choices()
    assert dataclasses.is_dataclass(flows["orders"])


def test_what_the_portal_wrote_read_back_from_the_channel_makes_no_new_work(cast, quiet, monkeypatch):
    declare(monkeypatch)
    integration = integration_with(cast, "test_flow")
    records.note_written(integration, "thing", "5", {"status": "Shipped", "tracking.number": "1Z9"})
    echo, created = records.receive(integration, flow="test_flow", entity_type="thing", source_id="5",
                                    source_version="after-our-write",
                                    payload={"status": "Shipped", "tracking": {"number": "1Z9"}, "note": "x"})
    assert echo is None and not created
    changed, created = records.receive(integration, flow="test_flow", entity_type="thing", source_id="5",
                                       source_version="a-real-change",
                                       payload={"status": "Delivered", "tracking": {"number": "1Z9"}})
    assert created  # a change beyond what we wrote is new work
    assert records.prune_echo_guards(timezone.now() + timedelta(hours=1)) == 1


def test_a_routed_item_goes_only_to_the_integration_whose_link_owns_it(cast, quiet, monkeypatch):
    declare(monkeypatch, templates={"prestashop_tims": True},
            triggers=(registry.Poll("events", position="cursor", system=registry.TIMS, events=("shipment.created",),
                                    route="order"),))
    first = integration_with(cast, "test_flow")
    second = integration_with(cast, "test_flow")
    second.tims_connection = first.tims_connection
    second.save()
    from integrations.models import Link

    Link.objects.create(integration=second, entity_type="order", source_id="ps-12", target_id="SO000001")

    def events(client, cursor):
        yield streams.Page([streams.Item("SH1", "", event="shipment.created", owner="SO000001"),
                            streams.Item("SH2", "", event="shipment.created", owner="SO000999")], "2")

    monkeypatch.setitem(streams.READERS, ("tims", "events"), events)
    pollers.poll_connection(first.tims_connection_id)
    got = sorted(SyncRecord.objects.filter(flow="test_flow").values_list("integration_id", "source_id",
                                                                         "business_key"))
    # Owned: only its owner, under the channel order's own key; not owned by any link yet: every subscriber decides.
    assert got == sorted([(second.pk, "SH1", f"{second.pk}:order:ps-12"),
                          (first.pk, "SH2", f"{first.pk}:order-target:SO000999"),
                          (second.pk, "SH2", f"{second.pk}:order-target:SO000999")])


def test_a_skipped_step_ends_skipped_with_its_reason_not_as_an_error(cast, quiet, monkeypatch):
    from integrations.pipeline.outcomes import Skipped

    def step(record):
        raise Skipped("Not an order the portal made.")

    declare(monkeypatch, step=step)
    record = receive(integration_with(cast, "test_flow"))
    assert runner.process(record.pk) == RecordStatus.SKIPPED
    record.refresh_from_db()
    assert (record.status, record.notes, record.error_message) == (RecordStatus.SKIPPED,
                                                                   "Not an order the portal made.", "")
    assert record.finished_at is not None and SyncAttempt.objects.filter(record=record).count() == 1


def test_tims_events_that_happen_once_are_items_by_their_own_id_and_name_their_sales_order():
    shipped = streams.tims_event({"Seq": 9, "Type": "shipment.created", "Data": {
        "ShipmentID": "SH000004", "SalesOrderID": "SO000002", "ExternalOrderID": "R-7"}})
    assert (shipped.source_id, shipped.version, shipped.owner, shipped.reference) == ("SH000004", "", "SO000002",
                                                                                      "R-7")
    cancelled = streams.tims_event({"Seq": 10, "Type": "sales_order.cancelled", "Data": {"SalesOrderID": "SO000003"}})
    assert (cancelled.source_id, cancelled.owner) == ("SO000003", "SO000003")
    stock = streams.tims_event({"Seq": 11, "Type": "inventory.changed", "Data": {"SKU": "A"}})
    assert (stock.source_id, stock.version, stock.owner) == ("11", "11", "")
    broken = streams.tims_event({"Seq": 12, "Type": "shipment.created", "Data": {"SalesOrderID": "SO1"}})
    assert isinstance(broken, streams.Unreadable) and broken.field == "Data.ShipmentID" \
        and broken.event == "shipment.created"
