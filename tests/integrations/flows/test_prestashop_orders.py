"""PrestaShop orders into TIMS, end to end over real HTTP against the sandboxes: each order exactly once."""

import random
from collections import Counter

import pytest

from integrations.connectors.checks import client_for
from integrations.models import Connection, Integration, RecordStatus, SyncRecord
from integrations.pipeline import pollers, records, runner
from sandbox import services

pytestmark = pytest.mark.django_db(transaction=True)
PAID_STATES = {"Payment accepted", "Processing in progress", "Shipped", "Delivered"}


@pytest.fixture
def world(live_server, cast, monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)  # the test drives the workers itself
    sandbox, _ = services.create_sandbox("e2e")
    secrets = services.issue_credentials(sandbox, live_server.url)
    rng = random.Random(11)
    services.system_module("tims").generate(sandbox, orders=0, products=30, customers=0, state=None,
                                            unknown_sku=0, rng=rng)
    made = services.system_module("prestashop").generate(sandbox, orders=15, products=30, customers=5, state=None,
                                                         unknown_sku=1, rng=rng)
    integration = connect_shop(cast, sandbox, secrets, made["timezone"])
    return integration, made, integration.tims_connection


def connect_shop(cast, sandbox, secrets, timezone, flows=("orders",)):
    """A live PrestaShop + TIMS integration on the sandbox's accounts."""
    shop = Connection.objects.create(
        organization=cast.org_a, kind="prestashop", name="Shop", sandbox=sandbox,
        base_url=secrets["prestashop"]["base_url"], credentials={"ws_key": secrets["prestashop"]["ws_key"]},
        settings={"timezone": timezone})
    tims = Connection.objects.create(
        organization=cast.org_a, kind="tims", name="TIMS", sandbox=sandbox, base_url=secrets["tims"]["base_url"],
        credentials={k: secrets["tims"][k] for k in ("client_id", "client_secret")},
        settings={"default_location": "MAIN", "default_customer_code": "C-GUEST"})
    return Integration.objects.create(
        organization=cast.org_a, name="Shop + TIMS", template="prestashop_tims", channel_connection=shop,
        tims_connection=tims, flows=list(flows), state="live", options={"first_poll_days": 30})


def work_off(limit=200):
    for _ in range(limit):
        due = list(SyncRecord.objects.filter(status__in=[RecordStatus.PENDING, RecordStatus.RETRYING])
                   .values_list("pk", flat=True))
        if not due:
            return
        for record_id in due:
            runner.process(record_id)
        SyncRecord.objects.filter(status=RecordStatus.RETRYING).update(next_attempt_at=None)


def tims_orders(tims_connection):
    client = client_for(tims_connection)
    return Counter(raw["ExternalOrderID"] for page in client.pages("sales-orders") for raw in page)


def test_poll_then_process_puts_each_paid_order_in_tims_exactly_once(world):
    integration, made, tims = world
    assert pollers.poll_integration(integration.pk) == 15
    work_off()

    by_reference = {o["reference"]: o for o in made["orders"]}
    in_tims = tims_orders(tims)
    assert all(count == 1 for count in in_tims.values()), in_tims
    unknown_sku_order = made["orders"][0]["reference"]
    expected = {ref for ref, o in by_reference.items() if o["state"] in PAID_STATES and ref != unknown_sku_order}
    assert set(in_tims) == expected

    dead = SyncRecord.objects.get(reference=unknown_sku_order)
    if by_reference[unknown_sku_order]["state"] in PAID_STATES:
        assert dead.status == RecordStatus.DEAD
        assert "does not exist in TIMS: create the item or map the SKU" in dead.error_message
    held = SyncRecord.objects.filter(status=RecordStatus.HELD)
    assert {r.reference for r in held} == {ref for ref, o in by_reference.items()
                                           if o["state"] == "Awaiting bank wire payment"} - {unknown_sku_order}
    assert all("not paid yet" in r.error_message for r in held)

    # Polling again, and processing again, changes nothing in TIMS.
    pollers.poll_integration(integration.pk)
    SyncRecord.objects.filter(status=RecordStatus.SUCCEEDED).update(status=RecordStatus.RETRYING,
                                                                    next_attempt_at=None)
    work_off()
    assert tims_orders(tims) == in_tims


def test_guest_checkouts_go_to_the_default_customer(world):
    integration, made, tims = world
    pollers.poll_integration(integration.pk)
    work_off()
    client = client_for(tims)
    guests = [o["reference"] for o in made["orders"] if o["guest"] and o["state"] in PAID_STATES]
    assert guests, "the generated shop must hold paid guest checkouts for this test to mean anything"
    for reference in guests:
        order = client.find_sales_order(reference)
        assert order is not None, f"paid guest order {reference} is not in TIMS"
        assert order.customer.source_id == "C-GUEST"



def test_a_lost_answer_then_a_changed_mapping_still_makes_one_order(world):
    """TIMS commits the order but the answer is lost; the mapping changes before the retry, so the retry's body and
    Idempotency-Key are new: only the look-up by ExternalOrderID stands between us and a second order."""
    from mappings.models import Rule

    integration, made, tims = world
    sandbox = tims.sandbox
    pollers.poll_integration(integration.pk)
    # Guest orders go to the default customer, so the sales order is the only write; one goes through first, which
    # defines the custom fields and caches a token (the faults below hit every write, token requests included).
    warm_up, paid = [o["reference"] for o in made["orders"] if o["guest"] and o["state"] in PAID_STATES][:2]
    assert runner.process(SyncRecord.objects.get(reference=warm_up).pk) == RecordStatus.SUCCEEDED
    services.set_faults(sandbox, "tims", None, commit_then_fail_rate=1.0)
    record = SyncRecord.objects.get(reference=paid)
    runner.process(record.pk)
    record.refresh_from_db()
    assert record.status == RecordStatus.RETRYING, record.error_message  # TIMS has the order, we never heard

    services.set_faults(sandbox, "tims", "none")
    assert tims_orders(tims)[paid] == 1
    mapping_set = integration.mapping_sets.get(template_key="order_to_tims")
    Rule.objects.filter(mapping_set=mapping_set, target="CostCenter").update(value="'CHANGED'")
    mapping_set.version += 1
    mapping_set.save()
    SyncRecord.objects.filter(pk=record.pk).update(next_attempt_at=None)
    assert runner.process(record.pk) == RecordStatus.SUCCEEDED
    assert tims_orders(tims)[paid] == 1


def test_repeat_customers_are_asked_of_tims_once_even_by_a_fresh_worker(world):
    from customers.models import BuyerLink
    from integrations.flows import customers as customer_flow
    from sandbox.models import SandboxCall

    integration, made, tims = world
    pollers.poll_integration(integration.pk)
    work_off()
    linked = dict(BuyerLink.objects.filter(integration=integration).values_list("buyer_key", "customer_code"))
    assert linked and all(code.startswith("C") for code in linked.values())

    # A fresh worker process knows nothing in memory: the links answer for the customers it has seen before.
    customer_flow._codes.clear()
    mark = SandboxCall.objects.order_by("-pk").values_list("pk", flat=True).first()
    SyncRecord.objects.filter(status=RecordStatus.SUCCEEDED).update(status=RecordStatus.RETRYING,
                                                                    next_attempt_at=None)
    work_off()
    asked = SandboxCall.objects.filter(pk__gt=mark, system="tims", endpoint__contains="customers").count()
    assert asked == 0
