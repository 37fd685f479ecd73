"""Contract: the back office's credit slips and customer edits (`sandbox act --system prestashop refund|edit-customer`)
and the `order_slip` resource over real HTTP, in XML and JSON, with filters, display and associations."""

import json
import warnings

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from sandbox.prestashop.models import Address, MailLog, Order, OrderRow, OrderSlip, OrderState

from .conftest import APPS, error_code

pytestmark = pytest.mark.django_db(transaction=True, available_apps=APPS)


def act(shop, capsys, what, *args):
    call_command("sandbox", "act", what, "--slug", shop.sandbox.slug, "--system", "prestashop", *map(str, args))
    return json.loads(capsys.readouterr().out)


def refused(shop, what, *args):
    with pytest.raises(CommandError) as caught:
        call_command("sandbox", "act", what, "--slug", shop.sandbox.slug, "--system", "prestashop", *map(str, args))
    body = json.loads(str(caught.value))
    assert body["error"] == "refused"
    return body["message"]


def paid_order(shop, rows=2):
    """A generated order that was paid, with at least `rows` rows."""
    for order in Order.objects.filter(sandbox=shop.sandbox, total_paid_real__gt=0).order_by("id"):
        if OrderRow.objects.filter(order=order).count() >= rows:
            return order
    pytest.skip("no paid order with enough rows was generated")


def state_name(order):
    order.refresh_from_db()
    return OrderState.objects.get(pk=order.current_state).name["en"]


def test_a_partial_credit_slip_then_the_rest_refunds_the_order(filled, capsys):
    order = paid_order(filled)
    before = order.date_upd
    first, *others = list(OrderRow.objects.filter(order=order).order_by("id"))
    printed = act(filled, capsys, "refund", "--order", order.id, "--sku", first.product_reference.lower(),
                  "--quantity", 1)
    slip = printed["order_slip"]
    assert slip["id_order"] == str(order.id) and slip["id_customer"] == str(order.id_customer)
    assert (slip["partial"], slip["shipping_cost"], slip["order_slip_type"]) == ("0", "0", "0")
    assert slip["amount"] == slip["total_products_tax_excl"]  # OrderSlip::create: the products without tax
    assert [(d["id_order_detail"], d["product_quantity"]) for d in slip["order_slip_details"]] == [(str(first.id),
                                                                                                   "1")]
    assert float(slip["order_slip_details"][0]["amount_tax_incl"]) == round(float(first.unit_price_tax_incl), 2)
    order.refresh_from_db()
    assert order.date_upd > before and state_name(order) != "Refunded"
    assert MailLog.objects.filter(id_order=order.id, template="credit_slip").count() == 1
    printed = act(filled, capsys, "refund", "--order", order.id)
    rest = printed["order_slip"]
    assert (rest["shipping_cost"], rest["partial"]) == ("1", "0")
    assert rest["order_slip_type"] == ("2" if order.total_shipping_tax_incl > 0 else "0")
    assert rest["shipping_cost_amount"] == rest["total_shipping_tax_incl"]
    assert printed["order"]["state"] == "Refunded" == state_name(order)
    assert {d["id_order_detail"] for d in rest["order_slip_details"]} == {str(r.id) for r in [first, *others]} - (
        set() if first.product_quantity > 1 else {str(first.id)})
    assert "refunded already" in refused(filled, "refund", "--order", order.id)


def test_refunds_are_refused_beyond_what_was_ordered_or_unpaid(filled, capsys):
    order = paid_order(filled)
    row = OrderRow.objects.filter(order=order).first()
    message = refused(filled, "refund", "--order", order.id, "--sku", row.product_reference, "--quantity",
                      row.product_quantity + 1)
    assert f"Only {row.product_quantity} unit(s)" in message
    assert "no product with reference 'NOPE'" in refused(filled, "refund", "--order", order.id, "--sku", "NOPE")
    assert "No order with id" in refused(filled, "refund", "--order", 999999999)
    unpaid = Order.objects.filter(sandbox=filled.sandbox, total_paid_real=0).first()
    if unpaid is not None:
        assert "not been paid" in refused(filled, "refund", "--order", unpaid.id)
    assert not OrderSlip.objects.filter(sandbox=filled.sandbox).exists()


def test_order_slip_is_served_in_xml_and_json_with_filters_and_details(filled, capsys):
    order = paid_order(filled)
    slip = act(filled, capsys, "refund", "--order", order.id)["order_slip"]
    listing = filled.xml("order_slip")
    assert listing.tag == "prestashop" and listing[0].tag == "order_slips"
    assert [node.get("id") for node in listing[0]] == [slip["id"]]
    full = filled.json("order_slip", params={"display": "full", "filter[id_order]": f"[{order.id}]"})
    [record] = full["order_slips"]
    assert record["id"] == int(slip["id"]) and record["id_order"] == str(order.id)
    assert float(record["amount"]) == float(slip["amount"]) > 0
    details = record["associations"]["order_slip_details"]
    assert {d["id_order_detail"] for d in details} == {str(r.id) for r in OrderRow.objects.filter(order=order)}
    assert set(details[0]) == {"id", "id_order_detail", "product_quantity", "amount_tax_excl", "amount_tax_incl"}
    single = filled.xml(f"order_slip/{slip['id']}")
    assert single.find("order_slip/associations/order_slip_details").get("nodeType") == "order_slip_detail"
    assert filled.json("order_slip", params={"filter[id_order]": "[1]"}) == []
    no_date = filled.get("order_slip", params={"filter[date_upd]": f">[{slip['date_upd']}]"})
    assert no_date.status_code == 400 and error_code(no_date) == 32
    later = filled.json("order_slip", params={"filter[date_upd]": f">[{slip['date_upd']}]", "date": "1"})
    assert later == []
    earlier = filled.json("order_slip", params={"filter[date_upd]": "[2000-01-01 00:00:00,2999-01-01 00:00:00]",
                                                "date": "1", "display": "[id,amount]"})
    assert earlier == {"order_slips": [{"id": int(slip["id"]), "amount": record["amount"]}]}
    post = filled.send("POST", "order_slip", "<prestashop><order_slip/></prestashop>")
    assert post.status_code == 405 and error_code(post) == 101


def test_edit_customer_moves_date_upd_and_keeps_the_address_orders_used(filled, capsys):
    order = paid_order(filled, rows=1)
    customer_id = order.id_customer
    used = Address.objects.get(pk=order.id_address_delivery)
    before = used.date_upd
    printed = act(filled, capsys, "edit-customer", "--customer", customer_id, "--lastname", "Durand",
                  "--phone", "+33 1 23 45 67 89", "--city", "Lyon", "--address", used.id)
    assert printed["customer"]["lastname"] == "Durand"
    assert printed["replaced_address"]["id"] == used.id and printed["replaced_address"]["deleted"] is True
    new = printed["address"]
    assert new["id"] != used.id and (new["phone"], new["city"], new["lastname"]) == ("+33 1 23 45 67 89", "Lyon",
                                                                                    "Durand")
    order.refresh_from_db()
    assert order.id_address_delivery == used.id  # the order keeps what it was placed with
    customer = filled.json(f"customers/{customer_id}")["customer"]
    assert customer["lastname"] == "Durand" and customer["date_upd"] == printed["customer"]["date_upd"]
    changed = filled.json("addresses", params={"filter[date_upd]": f"[{printed['address']['date_upd']},"
                                               f"2999-01-01 00:00:00]", "date": "1", "display": "[id,deleted]"})
    assert {(row["id"], row["deleted"]) for row in changed["addresses"]} >= {(used.id, "1"), (new["id"], "0")}
    assert printed["address"]["date_upd"] >= str(before)[:19]
    assert "not a valid phone" in refused(filled, "edit-customer", "--customer", customer_id, "--phone", "abc")
    assert "No customer" in refused(filled, "edit-customer", "--customer", 999999999, "--lastname", "X")
    assert "Nothing to change" in refused(filled, "edit-customer", "--customer", customer_id)


def test_prestapyt_reads_credit_slips_unchanged(filled, capsys):
    prestapyt = pytest.importorskip("prestapyt")
    order = paid_order(filled)
    slip = act(filled, capsys, "refund", "--order", order.id)["order_slip"]
    client = prestapyt.PrestaShopWebServiceDict(filled.api.rstrip("/"), filled.key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert client.search("order_slip", options={"filter[id_order]": f"[{order.id}]"}) == [int(slip["id"])]
        read = client.get("order_slip", int(slip["id"]))["order_slip"]
    details = read["associations"]["order_slip_details"]["order_slip_detail"]
    details = details if isinstance(details, list) else [details]
    assert {d["id_order_detail"] for d in details} == {str(r.id) for r in OrderRow.objects.filter(order=order)}
