"""`sandbox corrupt`: the webservice serves the raw value set for one field of one order, in JSON and XML, until
`--clear`."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from sandbox.models import Corruption


def corrupt(shop, *options):
    out = StringIO()
    call_command("sandbox", "corrupt", "--slug", shop.sandbox.slug, "--system", "prestashop", *options, stdout=out)
    return json.loads(out.getvalue())


def order_json(shop, order_id):
    return shop.json(f"orders/{order_id}")["order"]


def order_xml(shop, order_id):
    return shop.xml(f"orders/{order_id}").find("order")


def test_corrupt_values_are_served_raw_in_json_and_xml(filled):
    order_id = filled.summary["orders"][0]["id"]
    other_id = filled.summary["orders"][1]["id"]
    corrupt(filled, "--order", str(order_id), "--field", "total_paid_tax_incl", "--value", "abc")
    corrupt(filled, "--order", str(order_id), "--field", "date_upd", "--value", "2026-02-30 10:00:00")
    corrupt(filled, "--order", str(order_id), "--field", "id_customer", "--remove")

    record = order_json(filled, order_id)
    assert record["total_paid_tax_incl"] == "abc" and record["date_upd"] == "2026-02-30 10:00:00"
    assert "id_customer" not in record
    element = order_xml(filled, order_id)
    assert element.find("total_paid_tax_incl").text == "abc"
    assert element.find("date_upd").text == "2026-02-30 10:00:00"
    assert element.find("id_customer") is None
    listed = filled.json("orders", params={"display": "full", "filter[id]": f"[{order_id}|{other_id}]"})["orders"]
    by_id = {row["id"]: row for row in listed}
    assert by_id[order_id]["total_paid_tax_incl"] == "abc"
    assert by_id[other_id]["total_paid_tax_incl"] != "abc" and "id_customer" in by_id[other_id]

    corrupt(filled, "--clear")
    assert not Corruption.objects.filter(sandbox=filled.sandbox).exists()
    record = order_json(filled, order_id)
    assert record["total_paid_tax_incl"] != "abc" and "id_customer" in record


def test_json_values_and_refusals(filled):
    order_id = filled.summary["orders"][0]["id"]
    corrupt(filled, "--order", str(order_id), "--field", "total_paid", "--json-value", "null")
    assert order_json(filled, order_id)["total_paid"] is None
    assert order_xml(filled, order_id).find("total_paid").text is None  # an empty element
    with pytest.raises(CommandError, match="no field"):
        corrupt(filled, "--order", str(order_id), "--field", "nonsense", "--value", "x")
    with pytest.raises(CommandError, match="no order"):
        corrupt(filled, "--order", "999999999", "--field", "total_paid", "--value", "x")
