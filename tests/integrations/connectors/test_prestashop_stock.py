"""PrestaShopClient.stock_rows / set_quantities against the sandbox shop over real HTTP, on 8.x (PATCH) and 1.7
(PUT of the whole row): bulk reads plus one multi-record write per 100 SKUs, counted through the sandbox's call
log."""

import random

import pytest

from integrations.connectors import errors
from integrations.connectors.prestashop import client as ps
from integrations.connectors.prestashop.client import PrestaShopClient
from integrations.models import Connection
from sandbox import services
from sandbox.models import Sandbox, SandboxCall
from sandbox.prestashop import provision
from sandbox.prestashop.models import Combination, Product, StockAvailable, StockWrite

LIST, ONE = "api/<resource>", "api/<resource>/<id>"


def _stock_shop(org, live_server, version):
    """80 generated products: every fourth has two combinations, so 60 product SKUs and 40 combination SKUs."""
    sandbox = Sandbox.objects.create(slug=f"ps-stock-{version[0]}", name="ps stock")
    credentials = provision.issue_credentials(sandbox, live_server.url + services.base_path(sandbox, "prestashop"))
    provision.generate(sandbox, orders=0, products=80, customers=0, state=None, unknown_sku=0,
                       rng=random.Random(4))
    provision.configure(sandbox, version=version)
    connection = Connection.objects.create(
        organization=org, kind="prestashop", name="shop", base_url=credentials["base_url"], sandbox=sandbox,
        credentials={"ws_key": credentials["ws_key"]}, settings={"timezone": "Europe/Paris"})
    with_combinations = set(Combination.objects.filter(sandbox=sandbox).values_list("id_product", flat=True))
    skus = [p.reference for p in Product.objects.filter(sandbox=sandbox).exclude(pk__in=with_combinations)]
    skus += [c.reference for c in Combination.objects.filter(sandbox=sandbox)]
    assert len(skus) == 100
    return sandbox, connection, skus


def _row(sandbox, sku):
    return provision.stock_rows_of(sandbox, sku).filter(
        id_product_attribute__in=[0, *Combination.objects.filter(sandbox=sandbox, reference=sku)
                                  .values_list("id", flat=True)]).order_by("-id_product_attribute").first()


class Calls:
    def __init__(self, sandbox):
        self.sandbox, self.seen = sandbox, SandboxCall.objects.filter(sandbox=sandbox, system="prestashop").count()

    def since(self):
        calls = list(SandboxCall.objects.filter(sandbox=self.sandbox, system="prestashop").order_by("id"))
        new, self.seen = calls[self.seen:], len(calls)
        return [(call.method, call.endpoint) for call in new]


@pytest.mark.django_db(transaction=True)
def test_set_quantities_on_prestashop_8(org, live_server):
    sandbox, connection, skus = _stock_shop(org, live_server, "8.1.7")
    client = PrestaShopClient(connection, use_breaker=False)
    before = {sku: _row(sandbox, sku) for sku in skus}
    calls = Calls(sandbox)

    # First time: combinations, products and their stock rows in one read each, then one PATCH of all 100 rows.
    results = client.set_quantities([(sku, before[sku].quantity + 5) for sku in skus])
    assert results == dict.fromkeys(skus)
    made = calls.since()
    assert made == [("GET", LIST)] * 3 + [("PATCH", LIST)]
    assert StockWrite.objects.filter(sandbox=sandbox, cause="PATCH").count() == 100
    for sku in skus:
        after = _row(sandbox, sku)
        assert after.quantity == before[sku].quantity + 5
        assert (after.out_of_stock, after.depends_on_stock) == (before[sku].out_of_stock, False)
    # A product's own row follows its combinations (PrestaShop's postSave).
    parent = Combination.objects.filter(sandbox=sandbox).first().id_product
    own = StockAvailable.objects.get(sandbox=sandbox, id_product=parent, id_product_attribute=0)
    assert own.quantity == sum(StockAvailable.objects.filter(sandbox=sandbox, id_product=parent)
                               .exclude(id_product_attribute=0).values_list("quantity", flat=True))

    # Again: the row ids are cached for the connection, so one read by id; unchanged rows are not written.
    rows = client.stock_rows(skus)
    assert calls.since() == [("GET", LIST)]
    assert set(rows) == set(skus) and rows[skus[0]]["quantity"] == str(before[skus[0]].quantity + 5)
    changed = skus[:10]
    results = client.set_quantities([(sku, 0) for sku in changed] + [(sku, before[sku].quantity + 5)
                                                                      for sku in skus[10:]])
    assert results == dict.fromkeys(skus)
    assert calls.since() == [("GET", LIST), ("PATCH", LIST)]

    # SKUs compare case-insensitively, as MySQL does; the answer is keyed by the SKU as given.
    assert client.set_quantities([(skus[0].lower(), 3)]) == {skus[0].lower(): None}
    assert _row(sandbox, skus[0]).quantity == 3


@pytest.mark.django_db(transaction=True)
def test_set_quantities_on_prestashop_17_keeps_the_row(org, live_server):
    sandbox, connection, skus = _stock_shop(org, live_server, "1.7.8.11")
    for index, sku in enumerate(skus):  # every out-of-stock behaviour, and locations a blind PUT would blank
        StockAvailable.objects.filter(pk=_row(sandbox, sku).pk).update(out_of_stock=index % 3, location=f"A-{index}")
    before = {sku: _row(sandbox, sku) for sku in skus}
    client = PrestaShopClient(connection, use_breaker=False)
    calls = Calls(sandbox)
    results = client.set_quantities([(sku, 7) for sku in skus])
    assert results == dict.fromkeys(skus)
    made = calls.since()
    assert made == [("GET", LIST)] * 3 + [("PUT", LIST)]  # the rows as read, no GET before the PUT
    for sku in skus:
        after = _row(sandbox, sku)
        assert after.quantity == 7
        assert (after.out_of_stock, after.depends_on_stock, after.location, after.id_shop) == (
            before[sku].out_of_stock, before[sku].depends_on_stock, before[sku].location, before[sku].id_shop)
    assert StockWrite.objects.filter(sandbox=sandbox, cause="PUT").count() == 100


@pytest.mark.django_db(transaction=True)
def test_bad_skus_are_reported_and_never_stop_the_others(org, live_server):
    sandbox, connection, skus = _stock_shop(org, live_server, "8.1.7")
    missing, negative, good, dependent = skus[0], skus[1], skus[2], skus[3]
    provision.remove_stock_row(sandbox, missing)
    StockAvailable.objects.filter(pk=_row(sandbox, dependent).pk).update(depends_on_stock=True)
    parent = Product.objects.get(pk=Combination.objects.filter(sandbox=sandbox).first().id_product).reference
    negative_before = _row(sandbox, negative).quantity
    client = PrestaShopClient(connection, use_breaker=False)
    calls = Calls(sandbox)

    results = client.set_quantities([(missing, 4), ("NO-SUCH-SKU", 4), (negative, -2), (good, 9), (dependent, 1),
                                     (parent, 4), ("A|B", 1), (good, 11)])
    assert set(results) == {missing, "NO-SUCH-SKU", negative, good, dependent, parent, "A|B"}
    assert results[good] is None and _row(sandbox, good).quantity == 11  # the last value of a SKU wins
    assert isinstance(results[missing], errors.ValidationFailed)
    assert results[missing].has_code(ps.NO_STOCK_ROW) and "has no stock_available row" in str(results[missing])
    assert missing in str(results[missing])
    assert isinstance(results["NO-SUCH-SKU"], errors.NotFound) and "NO-SUCH-SKU" in str(results["NO-SUCH-SKU"])
    assert results["NO-SUCH-SKU"].has_code(errors.UNKNOWN_SKU)
    assert results[negative].has_code(ps.NEGATIVE_QUANTITY) and _row(sandbox, negative).quantity == negative_before
    assert results[dependent].has_code(ps.DEPENDS_ON_STOCK)
    assert results[parent].has_code(ps.HAS_COMBINATIONS)
    assert results["A|B"].has_code(ps.INVALID_SKU)
    assert [m for m, _ in calls.since()] == ["GET", "GET", "GET", "PATCH"]  # only the good SKU was written

    refused = client.set_quantities([(good, 2.5), (negative, True), (dependent, "5")])
    assert all(r.has_code(ps.INVALID_QUANTITY) for r in refused.values())


@pytest.mark.django_db(transaction=True)
def test_a_lost_answer_is_reported_and_a_retry_is_harmless(org, live_server):
    sandbox, connection, skus = _stock_shop(org, live_server, "8.1.7")
    client = PrestaShopClient(connection, use_breaker=False)
    client.stock_rows(skus[:2])
    services.set_faults(sandbox, "prestashop", commit_then_fail_rate=1.0)
    results = client.set_quantities([(skus[0], 21), (skus[1], 22)])
    assert all(isinstance(r, errors.TransientError) for r in results.values())
    assert (_row(sandbox, skus[0]).quantity, _row(sandbox, skus[1]).quantity) == (21, 22)  # committed anyway
    services.set_faults(sandbox, "prestashop", profile_name="none")
    assert client.set_quantities([(skus[0], 21), (skus[1], 22)]) == {skus[0]: None, skus[1]: None}


@pytest.mark.django_db(transaction=True)
def test_a_refused_row_in_a_multi_write_is_found_one_by_one(org, live_server, monkeypatch):
    sandbox, connection, skus = _stock_shop(org, live_server, "8.1.7")
    client = PrestaShopClient(connection, use_breaker=False)
    real = client.resolve_stock

    def one_row_gone(wanted):  # the row was deleted in the shop between the read and the write
        rows, problems = real(wanted)
        return {sku: ({**row, "id": "999999"} if sku == skus[5] else row) for sku, row in rows.items()}, problems

    monkeypatch.setattr(client, "resolve_stock", one_row_gone)
    calls = Calls(sandbox)
    results = client.set_quantities([(sku, 1033) for sku in skus])  # a quantity no generated row has
    assert isinstance(results.pop(skus[5]), errors.NotFound)
    assert results == dict.fromkeys(skus[:5] + skus[6:])
    assert all(_row(sandbox, sku).quantity == 1033 for sku in results)
    made = calls.since()
    assert made[3] == ("PATCH", LIST) and made[4:] == [("PATCH", ONE)] * 100


@pytest.mark.django_db(transaction=True)
def test_a_lost_answer_to_a_multi_write_is_every_rows_and_costs_one_call(org, live_server):
    sandbox, connection, skus = _stock_shop(org, live_server, "8.1.7")
    client = PrestaShopClient(connection, use_breaker=False)
    client.stock_rows(skus)
    services.set_faults(sandbox, "prestashop", commit_then_fail_rate=1.0)
    calls = Calls(sandbox)
    results = client.set_quantities([(sku, 1044) for sku in skus])
    assert all(isinstance(r, errors.TransientError) for r in results.values())
    assert calls.since() == [("GET", LIST), ("PATCH", LIST)]
    assert all(_row(sandbox, sku).quantity == 1044 for sku in skus)  # committed before the answer was lost
    services.set_faults(sandbox, "prestashop", profile_name="none")
    assert client.set_quantities([(sku, 1044) for sku in skus]) == dict.fromkeys(skus)
    assert calls.since() == [("GET", LIST)]  # the retry finds every row done and writes nothing
