"""ChannelAdvisor orders into TIMS over real HTTP: each paid order once, then exported so it is not read again."""

import random

import pytest

from integrations.connectors.checks import client_for
from integrations.models import Connection, Integration, RecordStatus, SyncRecord
from integrations.pipeline import pollers, records
from sandbox import services
from tests.integrations.flows.test_prestashop_orders import tims_orders, work_off

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(live_server, cast, monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    sandbox, _ = services.create_sandbox("e2e-ca")
    secrets = services.issue_credentials(sandbox, live_server.url)
    rng = random.Random(3)
    services.system_module("tims").generate(sandbox, orders=0, products=30, customers=0, state=None,
                                            unknown_sku=0, rng=rng)
    made = services.system_module("channeladvisor").generate(sandbox, orders=12, products=30, customers=0,
                                                             state=None, unknown_sku=0, rng=rng)
    integration, tims = connect_marketplace(cast, sandbox, secrets)
    return integration, made, tims


def connect_marketplace(cast, sandbox, secrets):
    """A live ChannelAdvisor + TIMS integration on the sandbox's accounts."""
    ca = secrets["channeladvisor"]
    marketplace = Connection.objects.create(
        organization=cast.org_a, kind="channeladvisor", name="Marketplaces", sandbox=sandbox, base_url=ca["base_url"],
        credentials={k: ca[k] for k in ("application_id", "shared_secret", "refresh_token")},
        settings={"profile_id": int(ca.get("profile_id") or 12345678)})
    tims = Connection.objects.create(
        organization=cast.org_a, kind="tims", name="TIMS", sandbox=sandbox, base_url=secrets["tims"]["base_url"],
        credentials={k: secrets["tims"][k] for k in ("client_id", "client_secret")},
        settings={"default_location": "MAIN"})
    integration = Integration.objects.create(
        organization=cast.org_a, name="Marketplaces + TIMS", template="channeladvisor_tims",
        channel_connection=marketplace, tims_connection=tims, flows=["orders"], state="live")
    return integration, tims


def test_paid_marketplace_orders_reach_tims_once_and_are_exported(world):
    integration, made, tims = world
    assert pollers.poll_integration(integration.pk) == 12
    work_off()
    succeeded = SyncRecord.objects.filter(status=RecordStatus.SUCCEEDED)
    assert succeeded.exists()
    in_tims = tims_orders(tims)
    assert all(count == 1 for count in in_tims.values())
    assert len(in_tims) == succeeded.count()
    unpaid = SyncRecord.objects.exclude(status=RecordStatus.SUCCEEDED)
    assert all(r.status == RecordStatus.HELD and "not paid yet" in r.error_message for r in unpaid)
    # Exported orders are not listed again; the next poll makes no new record and sets the held ones aside
    # (exported too), so polls stop re-reading them while their records re-check them by id.
    assert pollers.poll_integration(integration.pk) == 0
    assert [o for page in client_for(integration.channel_connection).new_orders() for o in page] == []
    work_off()
    assert tims_orders(tims) == in_tims


def test_orders_exported_while_later_pages_are_read_do_not_hide_the_others(live_server, cast):
    """Workers export page 1's orders while the poll reads on: paging by ID still reads every order once."""
    sandbox, _ = services.create_sandbox("ca-pages")
    secrets = services.issue_credentials(sandbox, live_server.url)
    made = services.system_module("channeladvisor").generate(sandbox, orders=45, products=10, customers=0,
                                                             state=None, unknown_sku=0, rng=random.Random(4))
    integration, _ = connect_marketplace(cast, sandbox, secrets)
    client = client_for(integration.channel_connection)
    read = []
    for page in client.new_orders():
        read += [order.source_id for order in page]
        for order in page:
            client.export(order.source_id)
    assert sorted(read, key=int) == sorted((str(o["ID"]) for o in made["orders"]), key=int)
