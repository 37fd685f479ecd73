"""stock_availables as PrestaShop keeps them: one row per product and per combination, the product's row the sum of
its combinations', PUT of the whole row (required fields), PATCH on 8.x only, negative stock allowed, rows that
depend on stock refused (code 133), the write log, a product left without its row, faults, and prestapyt."""

import random
import warnings
import xml.etree.ElementTree as ET

import pytest

from sandbox import services
from sandbox.models import SandboxCall
from sandbox.prestashop import provision
from sandbox.prestashop.models import Combination, Product, StockAvailable, StockWrite

from .conftest import APPS, error_code

pytestmark = pytest.mark.django_db(transaction=True, available_apps=APPS)


@pytest.fixture
def stocked(shop):
    provision.generate(shop.sandbox, orders=0, products=8, customers=0, state=None, unknown_sku=0,
                       rng=random.Random(11))
    return shop


def product_with_combinations(shop):
    return Product.objects.get(pk=Combination.objects.filter(sandbox=shop.sandbox).first().id_product)


def rows_of(shop, product_id):
    return shop.json("stock_availables", params={"display": "full", "filter[id_product]": f"[{product_id}]"})[
        "stock_availables"]


def whole_row(row, **changes):
    """A PUT body with every field of a row as read, some changed; None leaves a field out."""
    fields = {**row, **changes}
    inner = "".join(f"<{name}>{value}</{name}>" for name, value in fields.items() if value is not None)
    return f"<prestashop><stock_available>{inner}</stock_available></prestashop>"


def check_one_row_per_product_and_combination(shop):
    product = product_with_combinations(shop)
    rows = rows_of(shop, product.id)
    combinations = set(Combination.objects.filter(sandbox=shop.sandbox, id_product=product.id)
                       .values_list("id", flat=True))
    assert {int(r["id_product_attribute"]) for r in rows} == {0, *combinations}
    own = next(r for r in rows if r["id_product_attribute"] == "0")
    assert int(own["quantity"]) == sum(int(r["quantity"]) for r in rows if r["id_product_attribute"] != "0")
    assert shop.json(f"products/{product.id}")["product"]["quantity"] == own["quantity"]
    # Found the way the reference says: by product and combination.
    combination_id = min(combinations)
    found = shop.json("stock_availables", params={"filter[id_product]": f"[{product.id}]",
                                                  "filter[id_product_attribute]": f"[{combination_id}]"})
    assert len(found["stock_availables"]) == 1


def check_put_of_a_combination_row_recomputes_the_product_row(shop):
    product = product_with_combinations(shop)
    rows = rows_of(shop, product.id)
    first, second = [r for r in rows if r["id_product_attribute"] != "0"]
    response = shop.send("PUT", f"stock_availables/{first['id']}", whole_row(first, quantity=30))
    assert response.status_code == 200, response.text
    own = StockAvailable.objects.get(sandbox=shop.sandbox, id_product=product.id, id_product_attribute=0)
    assert own.quantity == 30 + int(second["quantity"])
    assert Product.objects.get(pk=product.id).quantity == own.quantity
    log = list(StockWrite.objects.filter(sandbox=shop.sandbox).order_by("id"))[-2:]
    assert [(w.id_stock_available, w.quantity, w.previous_quantity, w.cause) for w in log] == [
        (int(first["id"]), 30, int(first["quantity"]), "PUT"),
        (own.id, own.quantity, int(next(r for r in rows if r["id_product_attribute"] == "0")["quantity"]), "sum")]
    assert log[0].at <= log[1].at


def check_put_rules(shop):
    row = rows_of(shop, Product.objects.filter(sandbox=shop.sandbox).first().id)[0]
    # A required field left out is 41; sent empty it is 85 "is empty" (ObjectModel::validateField).
    dropped = shop.send("PUT", f"stock_availables/{row['id']}", whole_row(row, out_of_stock=None))
    assert dropped.status_code == 400 and error_code(dropped) == 41
    assert 'parameter "out_of_stock" required' in dropped.text
    empty = shop.send("PUT", f"stock_availables/{row['id']}", whole_row(row, out_of_stock=""))
    assert empty.status_code == 400 and error_code(empty) == 85 and "out_of_stock is empty" in empty.text
    assert StockAvailable.objects.get(pk=row["id"]).out_of_stock == int(row["out_of_stock"])
    # Non-required fields left out are blanked, as in every PUT.
    StockAvailable.objects.filter(pk=row["id"]).update(location="A-01-3")
    blank = shop.send("PUT", f"stock_availables/{row['id']}", whole_row(row, location=None, quantity=5))
    assert blank.status_code == 200, blank.text
    assert StockAvailable.objects.get(pk=row["id"]).location == ""
    # Negative stock is allowed (isInt): PrestaShop sells out of stock when out_of_stock allows it.
    negative = shop.send("PUT", f"stock_availables/{row['id']}", whole_row(row, quantity=-3))
    assert negative.status_code == 200, negative.text
    assert shop.json(f"stock_availables/{row['id']}")["stock_available"]["quantity"] == "-3"
    not_int = shop.send("PUT", f"stock_availables/{row['id']}", whole_row(row, quantity="2.5"))
    assert not_int.status_code == 400 and error_code(not_int) == 85


def check_depends_on_stock_refuses_writes(shop):
    row = rows_of(shop, Product.objects.filter(sandbox=shop.sandbox).last().id)[0]
    StockAvailable.objects.filter(pk=row["id"]).update(depends_on_stock=True, quantity=4)
    row = shop.json(f"stock_availables/{row['id']}")["stock_available"]
    patch = f"<prestashop><stock_available><id>{row['id']}</id><quantity>9</quantity></stock_available></prestashop>"
    refused = shop.send("PATCH", f"stock_availables/{row['id']}", patch)
    assert refused.status_code == 500 and error_code(refused) == 133
    assert "depends on stock" in refused.text
    assert StockAvailable.objects.get(pk=row["id"]).quantity == 4
    # PrestaShop judges the row as the body leaves it: a PUT that turns depends_on_stock off goes through.
    allowed = shop.send("PUT", f"stock_availables/{row['id']}", whole_row(row, depends_on_stock=0, quantity=9))
    assert allowed.status_code == 200, allowed.text


def check_patch_only_on_8(shop):
    row = rows_of(shop, Product.objects.filter(sandbox=shop.sandbox).first().id)[0]
    StockAvailable.objects.filter(pk=row["id"]).update(out_of_stock=1, location="B-2")
    patch = f"<prestashop><stock_available><id>{row['id']}</id><quantity>12</quantity></stock_available></prestashop>"
    response = shop.send("PATCH", f"stock_availables/{row['id']}", patch)
    assert response.status_code == 200, response.text
    stored = StockAvailable.objects.get(pk=row["id"])
    assert (stored.quantity, stored.out_of_stock, stored.location) == (12, 1, "B-2")
    assert StockWrite.objects.filter(id_stock_available=row["id"]).last().cause == "PATCH"
    provision.configure(shop.sandbox, version="1.7.8.11")
    old = shop.send("PATCH", f"stock_availables/{row['id']}", patch)
    assert old.status_code == 405 and error_code(old) == 23
    provision.configure(shop.sandbox, version="8.1.7")


def check_a_product_without_stock_row(shop):
    product = Product.objects.filter(sandbox=shop.sandbox, reference__isnull=False).exclude(
        pk__in=Combination.objects.values("id_product")).first()
    assert provision.remove_stock_row(shop.sandbox, product.reference.lower()) == 1
    assert shop.get("stock_availables", params={"filter[id_product]": f"[{product.id}]",
                                                "output_format": "JSON"}).text == "[]"
    association = shop.xml(f"products/{product.id}").find("product/associations/stock_availables")
    assert association is not None and list(association) == []
    combination = Combination.objects.filter(sandbox=shop.sandbox).last()
    assert provision.remove_stock_row(shop.sandbox, combination.reference) == 1
    assert StockAvailable.objects.filter(sandbox=shop.sandbox, id_product=combination.id_product).count() == 2


def check_commit_then_fail(shop):
    row = rows_of(shop, Product.objects.filter(sandbox=shop.sandbox).first().id)[0]
    services.set_faults(shop.sandbox, "prestashop", commit_then_fail_rate=1.0)
    before = SandboxCall.objects.filter(sandbox=shop.sandbox, system="prestashop").count()
    patch = f"<prestashop><stock_available><id>{row['id']}</id><quantity>77</quantity></stock_available></prestashop>"
    lost = shop.send("PATCH", f"stock_availables/{row['id']}", patch)
    assert lost.status_code == 500 and error_code(lost) == 0
    assert StockAvailable.objects.get(pk=row["id"]).quantity == 77  # committed, the answer lost
    assert StockWrite.objects.filter(id_stock_available=row["id"]).last().quantity == 77
    calls = SandboxCall.objects.filter(sandbox=shop.sandbox, system="prestashop").order_by("id")[before:]
    assert [(c.method, c.status, c.fault) for c in calls] == [("PATCH", 500, "commit_then_fail")]
    services.set_faults(shop.sandbox, "prestashop", profile_name="none")


def patch_body(*rows):
    """<prestashop> holding one <stock_available> per (id, quantity): PrestaShop's multi-record write."""
    inner = "".join(f"<stock_available><id>{row_id}</id><quantity>{quantity}</quantity></stock_available>"
                    for row_id, quantity in rows)
    return f"<prestashop>{inner}</prestashop>"


def check_multi_record_writes(shop):
    ids = list(StockAvailable.objects.filter(sandbox=shop.sandbox, id_product_attribute=0)
               .order_by("id").values_list("id", flat=True)[:3])
    before = dict(StockAvailable.objects.filter(pk__in=ids).values_list("id", "quantity"))

    # Several records in one PATCH to the list's address, saved in turn, answered one after the other (XML).
    response = shop.send("PATCH", "stock_availables", patch_body(*[(i, 40 + n) for n, i in enumerate(ids)]))
    assert response.status_code == 200, response.text
    answered = ET.fromstring(response.content)
    assert [node.findtext("id").strip() for node in answered.findall("stock_available")] == [str(i) for i in ids]
    assert [StockAvailable.objects.get(pk=i).quantity for i in ids] == [40, 41, 42]
    assert list(StockWrite.objects.filter(id_stock_available__in=ids).order_by("-id")
                .values_list("cause", flat=True)[:3]) == ["PATCH"] * 3

    # Ids are checked before anything is saved: each record needs one, and once.
    duplicate = shop.send("PATCH", "stock_availables", patch_body((ids[0], 1), (ids[0], 2)))
    assert duplicate.status_code == 400 and error_code(duplicate) == 89
    missing = shop.send("PATCH", "stock_availables", patch_body((ids[0], 1), ("", 2)))
    assert missing.status_code == 400 and error_code(missing) == 90
    assert StockAvailable.objects.get(pk=ids[0]).quantity == 40

    # The first record that fails stops the rest; those before it stay saved, and only the error is answered.
    stopped = shop.send("PATCH", "stock_availables", patch_body((ids[0], 50), (999999, 1), (ids[2], 52)))
    assert stopped.status_code == 404 and error_code(stopped) == 92
    assert [StockAvailable.objects.get(pk=i).quantity for i in (ids[0], ids[2])] == [50, 42]

    # JSON keeps only the last record unless the URL asks for `display` (WebserviceOutputJSON's footer).
    body = patch_body((ids[0], 60), (ids[1], 61))
    last_only = shop.send("PATCH", "stock_availables", body, params={"output_format": "JSON"}).json()
    assert list(last_only) == ["stock_available"] and last_only["stock_available"]["id"] == ids[1]
    listed = shop.send("PATCH", "stock_availables", body, params={"output_format": "JSON", "display": "full"}).json()
    assert [row["id"] for row in listed["stock_availables"]] == ids[:2]

    # 1.7 has no PATCH: the same takes a PUT of whole rows.
    provision.configure(shop.sandbox, version="1.7.8.11")
    rows = [shop.json(f"stock_availables/{i}")["stock_available"] for i in ids[:2]]
    whole = "".join(whole_row(row, quantity=70).removeprefix("<prestashop>").removesuffix("</prestashop>")
                    for row in rows)
    put = shop.send("PUT", "stock_availables", f"<prestashop>{whole}</prestashop>")
    assert put.status_code == 200, put.text
    assert [StockAvailable.objects.get(pk=i).quantity for i in ids[:2]] == [70, 70]
    provision.configure(shop.sandbox, version="8.1.7")
    for row_id, quantity in before.items():
        StockAvailable.objects.filter(pk=row_id).update(quantity=quantity)


def test_stock_availables(stocked):
    check_one_row_per_product_and_combination(stocked)
    check_put_of_a_combination_row_recomputes_the_product_row(stocked)
    check_put_rules(stocked)
    check_depends_on_stock_refuses_writes(stocked)
    check_patch_only_on_8(stocked)
    check_multi_record_writes(stocked)
    check_commit_then_fail(stocked)
    check_a_product_without_stock_row(stocked)


def test_prestapyt_edits_a_stock_available(stocked):
    prestapyt = pytest.importorskip("prestapyt", reason="prestapyt==0.11.1 belongs in requirements-dev.txt")
    client = prestapyt.PrestaShopWebServiceDict(stocked.api.rstrip("/"), stocked.key)
    product = product_with_combinations(stocked)
    combination = Combination.objects.filter(sandbox=stocked.sandbox, id_product=product.id).first()
    StockAvailable.objects.filter(sandbox=stocked.sandbox, id_product_attribute=combination.id).update(out_of_stock=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # prestapyt warns that it was only tested up to PrestaShop 1.7.8
        (row_id,) = client.search("stock_availables", options={
            "filter[id_product]": f"[{product.id}]", "filter[id_product_attribute]": f"[{combination.id}]"})
        record = client.get("stock_availables", row_id)
        record["stock_available"]["quantity"] = "41"
        client.edit("stock_availables", record)
        again = client.get("stock_availables", row_id)["stock_available"]
    assert again["quantity"] == "41" and again["out_of_stock"] == "1" and again["depends_on_stock"] == "0"
    raw = ET.fromstring(stocked.get(f"products/{product.id}").content)
    own = StockAvailable.objects.get(sandbox=stocked.sandbox, id_product=product.id, id_product_attribute=0)
    assert raw.find("product/quantity").text == str(own.quantity)
    assert StockWrite.objects.filter(id_stock_available=row_id, quantity=41, cause="PUT").exists()
