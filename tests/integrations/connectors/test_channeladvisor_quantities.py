"""ChannelAdvisorClient.product_ids / set_quantities against the ChannelAdvisor sandbox over real HTTP: many SKUs
in few calls (counted through the sandbox's call log), per-SKU outcomes, transient part failures retried alone,
UnShipped, and the sandbox's write log."""

from collections import Counter

import pytest
from django.utils import timezone

from integrations.connectors import errors
from integrations.connectors.channeladvisor import client as ca_client
from integrations.connectors.channeladvisor.client import ChannelAdvisorClient
from integrations.models import Connection
from sandbox import services
from sandbox.channeladvisor import actions
from sandbox.channeladvisor.models import Config, DCQuantity, Product
from sandbox.faults import Decider
from sandbox.models import SandboxCall

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_product_ids():
    ca_client.forget_product_ids()
    yield
    ca_client.forget_product_ids()


@pytest.fixture
def sandbox(live_server):
    created, _ = services.create_sandbox("ca-quantities")
    yield created
    created.delete()


@pytest.fixture
def connection(org, live_server, sandbox):
    secrets = services.issue_credentials(sandbox, live_server.url)["channeladvisor"]
    names = {name for name, _ in Connection(kind="channeladvisor").kind_spec.secrets}
    return Connection.objects.create(
        organization=org, kind="channeladvisor", name="ChannelAdvisor sandbox", base_url=secrets["base_url"],
        sandbox=sandbox, credentials={k: v for k, v in secrets.items() if k in names},
        settings={"profile_id": secrets["profile_id"]})


def make_products(sandbox, count):
    profile_id = Config.objects.get(sandbox=sandbox).profile_id
    Product.objects.bulk_create([Product(sandbox=sandbox, profile_id=profile_id, sku=f"SKU-{index:05d}",
                                         update_date_utc=timezone.now()) for index in range(count)])
    return [f"SKU-{index:05d}" for index in range(count)]


def calls(sandbox, endpoint, since=0):
    return [call for call in SandboxCall.objects.filter(sandbox=sandbox).order_by("id")[since:]
            if call.endpoint == endpoint]


def dc_quantities(sandbox):
    return {(row.product.sku, row.distribution_center_id): row.available_quantity
            for row in DCQuantity.objects.filter(product__sandbox=sandbox).select_related("product")}


def test_250_skus_in_three_batches_plus_the_lookups(sandbox, connection):
    skus = make_products(sandbox, 250)
    client = ChannelAdvisorClient(connection)
    updates = [(sku, {0: index, 2: index % 7}) for index, sku in enumerate(skus)] + [("NO-SUCH-SKU", {0: 5})]
    outcomes = client.set_quantities(updates)

    assert {sku: outcome for sku, outcome in outcomes.items() if outcome is not None}.keys() == {"NO-SUCH-SKU"}
    unknown = outcomes["NO-SUCH-SKU"]
    assert isinstance(unknown, errors.NotFound) and "NO-SUCH-SKU" in str(unknown)
    assert len(calls(sandbox, "v1/$batch")) == 3
    lookups = len(list(client._sku_filter_chunks([*skus, "NO-SUCH-SKU"])))
    assert len(calls(sandbox, "v1/Products")) == lookups <= 6
    assert len(calls(sandbox, "v1/Products(key)/UpdateQuantity")) == 250
    assert dc_quantities(sandbox) == {key: value for index, sku in enumerate(skus)
                                      for key, value in (((sku, 0), index), ((sku, 2), index % 7))}

    # Product IDs are cached per connection: a second round costs only the $batch calls.
    since = SandboxCall.objects.filter(sandbox=sandbox).count()
    assert set(client.set_quantities([(sku, {0: 1}) for sku in skus]).values()) == {None}
    assert len(calls(sandbox, "v1/Products", since)) == 0 and len(calls(sandbox, "v1/$batch", since)) == 3


def test_product_ids_follow_next_link_and_leave_unknown_skus_out(sandbox, connection, monkeypatch):
    skus = make_products(sandbox, 150)
    monkeypatch.setattr(ca_client, "SKU_LOOKUP_TERMS", 200)
    monkeypatch.setattr(ca_client, "SKU_LOOKUP_FILTER_CHARS", 10_000)
    found = ChannelAdvisorClient(connection).product_ids([*skus, "O'NEIL-1", "NOPE"])
    by_sku = dict(Product.objects.filter(sandbox=sandbox).values_list("sku", "id"))
    assert found == by_sku
    assert len(calls(sandbox, "v1/Products")) == 2  # one filter, its answer paged at 100


def test_refused_values_are_per_sku_and_negative_ones_never_sent(sandbox, connection):
    skus = make_products(sandbox, 3)
    client = ChannelAdvisorClient(connection)
    outcomes = client.set_quantities([(skus[0], {0: -1}), (skus[1], {0: 2.5}), (skus[2], {0: 4}), ("", {0: 1})])
    assert [type(outcomes[sku]) for sku in skus] == [errors.ValidationFailed, errors.ValidationFailed, type(None)]
    assert outcomes[skus[0]].fields[0].code == "negative_quantity"
    assert isinstance(outcomes[""], errors.ValidationFailed)
    assert len(calls(sandbox, "v1/Products(key)/UpdateQuantity")) == 1  # only the valid one went out

    # A value only ChannelAdvisor can judge (a Relative update taking a DC below 0) comes back refused.
    outcomes = client.set_quantities([(skus[2], {0: -10}), (skus[1], {0: -1})], update_type="Relative")
    assert isinstance(outcomes[skus[2]], errors.ValidationFailed) and "below 0" in str(outcomes[skus[2]])
    assert isinstance(outcomes[skus[1]], errors.ValidationFailed)  # DC 0 of skus[1] has nothing to take
    with pytest.raises(ValueError):
        client.set_quantities([(skus[0], {0: 1})], update_type="Sometimes")


def test_transient_part_failures_retry_only_those_parts(sandbox, connection):
    skus = make_products(sandbox, 250)
    client = ChannelAdvisorClient(connection)
    assert len(client.product_ids(skus)) == 250  # token and lookups before the faults start
    Decider.reset()
    services.set_faults(sandbox, "channeladvisor", seed=11, error_rate=0.2)
    since = SandboxCall.objects.filter(sandbox=sandbox).count()
    outcomes = client.set_quantities([(sku, {0: 40}) for sku in skus])
    services.set_faults(sandbox, "channeladvisor", "none")

    assert all(outcome is None or isinstance(outcome, errors.TransientError) for outcome in outcomes.values())
    updates = calls(sandbox, "v1/Products(key)/UpdateQuantity", since)
    failed = [call for call in updates if call.status >= 500]
    assert failed and len(calls(sandbox, "v1/$batch", since)) > 3  # some parts failed and were sent again
    written = Counter(row.sku for row in actions.quantity_writes(sandbox))
    done = {sku for sku, outcome in outcomes.items() if outcome is None}
    assert set(written) == done and set(written.values()) == {1}  # a part that succeeded was never re-sent
    assert len(updates) == len(done) + len(failed)
    assert len(done) > 200


def test_unshipped_subtracts_open_orders_and_the_write_log_shows_it(sandbox, connection):
    skus = make_products(sandbox, 2)
    config = Config.objects.get(sandbox=sandbox)
    actions.create_order(sandbox, config, {"Items": [{"Sku": skus[0], "Quantity": 3}]})
    actions.create_order(sandbox, config, {"Items": [{"Sku": skus[0], "Quantity": 1}, {"Sku": skus[1],
                                                                                        "Quantity": 2}]})
    client = ChannelAdvisorClient(connection)
    assert set(client.set_quantities([(skus[0], {0: 10, 1: 1}), (skus[1], {0: 1})],
                                     update_type="UnShipped").values()) == {None}
    assert dc_quantities(sandbox) == {(skus[0], 0): 6, (skus[0], 1): 1, (skus[1], 0): 0}
    assert set(client.set_quantities([(skus[0], {0: 8})]).values()) == {None}
    log = [(row.update_type, row.distribution_center_id, row.requested, row.available_quantity)
           for row in actions.quantity_writes(sandbox, skus[0])]
    assert log == [("UnShipped", 0, 10, 6), ("UnShipped", 1, 1, 1), ("Absolute", 0, 8, 8)]
    product = Product.objects.get(sandbox=sandbox, sku=skus[0])
    assert (product.total_available_quantity, product.total_quantity) == (9, 13)
