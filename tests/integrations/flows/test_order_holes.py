"""Holes in the order flows found in review, each over real HTTP against the sandboxes, counted through their APIs."""

import threading
from datetime import timedelta

import pytest
from django.db import connection as db
from django.utils import timezone

from integrations.connectors import errors
from integrations.connectors.checks import client_for
from integrations.connectors.prestashop.client import PrestaShopClient
from integrations.connectors.tims.client import TimsClient
from integrations.flows import customers as customer_flow
from integrations.flows import orders as order_flow
from integrations.models import Integration, PollState, RecordStatus, SyncRecord
from integrations.pipeline import actions, golive, pollers, records, runner
from sandbox.models import SandboxCall
from tests.integrations.flows.test_prestashop_orders import tims_orders, work_off, world  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def paid(integration):
    return SyncRecord.objects.filter(integration=integration, status=RecordStatus.SUCCEEDED)


def test_orders_read_in_shadow_mode_are_imported_from_the_cutover_when_going_live(world, cast):  # noqa: F811
    integration, _, tims = world
    Integration.objects.filter(pk=integration.pk).update(state="shadow")
    integration.refresh_from_db()
    pollers.poll_integration(integration.pk)
    work_off()
    assert paid(integration).filter(shadow=True).exists() and tims_orders(tims) == {}
    expected = golive.shadow_orders_since(integration, timezone.now() - timedelta(days=1))
    assert golive.go_live(integration, timezone.now() - timedelta(days=1), cast.operations) == len(expected) > 0
    pollers.poll_integration(integration.pk)
    work_off()
    in_tims = tims_orders(tims)
    live = paid(integration).filter(shadow=False)
    assert live.count() == len(in_tims) > 0 and all(n == 1 for n in in_tims.values())


def test_a_lost_answer_then_an_open_circuit_and_a_changed_body_still_make_one_sales_order(world, monkeypatch):  # noqa: F811
    """TIMS commits the POST, the answer is lost, the breaker opens (the attempt is refunded), and the body changes
    before the next attempt: the durable "sent" mark makes that attempt look the order up instead of creating."""
    integration, _, tims = world
    real_write = TimsClient.write
    state = {"lost": 0, "keys": 0}

    def write(self, method, path, body, **kw):
        if path == "sales-orders" and method == "POST" and state["lost"] == 0:
            real_write(self, method, path, body, **kw)
            state["lost"] += 1
            raise errors.CircuitOpen("The circuit opened after a timeout.", system="TIMS")
        return real_write(self, method, path, body, **kw)

    def new_key_each_time(*args):
        state["keys"] += 1
        return f"changed-body-{state['keys']}"

    monkeypatch.setattr(TimsClient, "write", write)
    monkeypatch.setattr(order_flow, "idempotency_key", new_key_each_time)
    pollers.poll_integration(integration.pk)
    work_off()
    assert state["lost"] == 1
    in_tims = tims_orders(tims)
    assert in_tims and all(count == 1 for count in in_tims.values())
    assert len(in_tims) == paid(integration).count()


def test_an_edited_payload_is_what_the_retry_sends(world, cast):  # noqa: F811
    integration, _, tims = world
    pollers.poll_integration(integration.pk)
    work_off()
    dead = SyncRecord.objects.get(integration=integration, status=RecordStatus.DEAD, error_message__contains="SKU")
    payload = dict(dead.source_payload)
    known = client_for(tims).get_json("items")["results"][0]["SKU"]
    payload["lines"] = [{**line, "sku": known} for line in payload["lines"]]
    actions.edit_payload_and_retry(dead, payload, cast.operations, "mapped by hand")
    work_off()
    dead.refresh_from_db()
    assert dead.status == RecordStatus.SUCCEEDED and "edited" in dead.notes
    sales_order = client_for(tims).get_json(f"sales-orders/{dead.target_id}")
    assert {line["SKU"] for line in sales_order["LineItems"]} == {known}


def test_orders_edited_during_a_poll_are_not_skipped(world, monkeypatch):  # noqa: F811
    """Offset paging skips a row when an earlier one moves to the end mid-poll; keyset paging does not."""
    from sandbox.prestashop.models import Order

    integration, made, _ = world
    real = PrestaShopClient.changed_orders_raw
    touched = []

    def paging(self, since, until=None, **kw):
        for page, newest in real(self, since, until, page_size=4, overlap=kw.get("overlap", 300)):
            if not touched:  # the shop saves the first order of this page while we read the next
                first = Order.objects.filter(pk=int(page[0]["id"])).first()
                if first is not None:
                    Order.objects.filter(pk=first.pk).update(date_upd=timezone.now() + timedelta(seconds=30))
                    touched.append(first.pk)
            yield page, newest

    monkeypatch.setattr(PrestaShopClient, "changed_orders_raw", paging)
    pollers.poll_integration(integration.pk)
    assert touched
    read = set(SyncRecord.objects.filter(integration=integration).values_list("source_id", flat=True))
    assert read == {str(order["id"]) for order in made["orders"]}


def test_a_new_buyers_first_two_orders_at_once_make_one_customer_and_no_dead_letter(world):  # noqa: F811
    integration, made, tims = world
    pollers.poll_integration(integration.pk)
    customer_flow._codes.clear()
    by_customer = {}
    for record in SyncRecord.objects.filter(integration=integration):
        email = ((record.source_payload or {}).get("customer") or {}).get("email")
        by_customer.setdefault(email, []).append(record.pk)
    pair = next(ids for email, ids in by_customer.items() if email and len(ids) >= 2)[:2]
    barrier = threading.Barrier(2)

    def run(record_id):
        try:
            barrier.wait(10)
            runner.process(record_id)
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(pk,)) for pk in pair]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    work_off()
    statuses = set(SyncRecord.objects.filter(pk__in=pair).values_list("status", flat=True))
    assert RecordStatus.DEAD not in statuses
    email = next(e for e, ids in by_customer.items() if ids[:2] == pair)
    found = [c for page in client_for(tims).pages("customers", {"email": email}) for c in page]
    assert len(found) == 1


def test_an_order_number_another_channel_used_is_not_taken_for_ours(world, cast):  # noqa: F811
    """Two shops on one TIMS with colliding order numbers: the look-up only adopts a TIMS order carrying our key."""
    integration, _, tims = world
    pollers.poll_integration(integration.pk)
    work_off()
    before = tims_orders(tims)
    other = Integration.objects.create(
        organization=cast.org_a, name="Second shop", template="prestashop_tims",
        channel_connection=integration.channel_connection, tims_connection=tims, flows=["orders"], state="live",
        options={"first_poll_days": 30})
    pollers.poll_integration(other.pk)
    SyncRecord.objects.filter(integration=other).update(sent_at=timezone.now())  # as if an answer had been lost
    work_off()
    after = tims_orders(tims)
    theirs = paid(other)
    assert theirs.count() == paid(integration).count()
    assert all(after[number] == 2 * count for number, count in before.items())
    assert not set(theirs.values_list("target_id", flat=True)) & set(
        paid(integration).values_list("target_id", flat=True))


def test_what_the_first_poll_left_behind_is_shown_and_backfilled_from_a_chosen_date(world, cast):  # noqa: F811
    integration, _, tims = world
    sandbox = integration.channel_connection.sandbox
    from sandbox.prestashop.models import Order

    old = list(Order.objects.filter(sandbox=sandbox).order_by("pk")[:3].values_list("pk", flat=True))
    Order.objects.filter(pk__in=old).update(date_upd=timezone.now() - timedelta(days=20),
                                            date_add=timezone.now() - timedelta(days=20))
    integration.options = {"first_poll_days": 7}
    integration.save()
    pollers.poll_integration(integration.pk)
    read = set(SyncRecord.objects.filter(integration=integration).values_list("source_id", flat=True))
    assert not read & {str(pk) for pk in old}
    started = pollers.left_behind(integration)
    assert started is not None and started < timezone.now() - timedelta(days=6)
    pollers.start_backfill(integration, timezone.now() - timedelta(days=30))
    pollers.poll_integration(integration.pk)
    read = set(SyncRecord.objects.filter(integration=integration).values_list("source_id", flat=True))
    assert {str(pk) for pk in old} <= read
    state = PollState.objects.get(integration=integration, name="orders:backfill")
    assert pollers.backfill_progress(state) == 1.0


@pytest.mark.slow
def test_channeladvisor_polls_stay_flat_with_a_thousand_set_aside_orders(live_server, cast, monkeypatch):
    """Held, dead and discarded orders are set aside (exported) once the portal keeps them, so polls stop re-reading
    them: the calls per poll do not grow with them."""
    import random

    from sandbox import services
    from tests.integrations.flows.test_channeladvisor_orders import connect_marketplace

    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    sandbox, _ = services.create_sandbox("flat")
    secrets = services.issue_credentials(sandbox, live_server.url)
    services.system_module("channeladvisor").generate(sandbox, orders=1000, products=20, customers=0,
                                                      state="Submitted", unknown_sku=0, rng=random.Random(5))
    integration, _ = connect_marketplace(cast, sandbox, secrets)
    pollers.poll_integration(integration.pk)
    # Every order waits for its payment (held) or is refused: none reaches TIMS, all stay with the portal.
    SyncRecord.objects.filter(integration=integration).update(status=RecordStatus.HELD,
                                                              next_attempt_at=timezone.now() + timedelta(hours=1))
    calls = []
    for _ in range(3):
        before = SandboxCall.objects.filter(sandbox=sandbox, system="channeladvisor").count()
        pollers.poll_integration(integration.pk)
        calls.append(SandboxCall.objects.filter(sandbox=sandbox, system="channeladvisor").count() - before)
    assert calls[0] > 1000  # the first poll after they were kept sets them aside, once each
    assert calls[1] == calls[2] <= 2  # then a poll is one empty page, however many are set aside


@pytest.mark.parametrize("current,wanted,moves", [
    ("Open", "Processing", True), ("Processing", "OnHold", True), ("OnHold", "Processing", True),
    ("Processing", "Open", False),  # back
    ("Invoiced", "Processing", False), ("Fulfilled", "Open", False),
    ("Processing", "Fulfilled", False),  # a status TIMS sets itself: the channel saying Shipped does not
    ("Allocated", "Cancelled", True), ("PartiallyShipped", "Cancelled", False), ("Invoiced", "Cancelled", False),
    ("Cancelled", "Processing", False),
])
def test_the_channel_moves_a_tims_order_forward_only(current, wanted, moves):
    assert (order_flow.status_move_refused(current, wanted) == "") is moves


def test_a_replayed_hint_for_an_invoiced_order_changes_nothing_and_is_no_dead_letter(world):  # noqa: F811
    integration, _, tims = world
    pollers.poll_integration(integration.pk)
    work_off()
    done = paid(integration).first()
    client = client_for(tims)
    from sandbox.tims.models import SalesOrder

    SalesOrder.objects.filter(code=done.target_id).update(status="Invoiced")  # TIMS shipped and invoiced it
    record, _ = records.receive_hint(integration, flow="orders", entity_type="order", source_id=done.source_id)
    work_off()
    record.refresh_from_db()
    assert record.status == RecordStatus.SUCCEEDED and "stays “Invoiced”" in record.notes
    assert client.get_sales_order(done.target_id).status == "Invoiced"
