"""Shipping an order the PrestaShop way: the order_carriers row made with each order, writes to it (PUT, PATCH,
POST) with PrestaShop's validation, order_histories moving the state, and the mails the shop would send."""

import random
import xml.etree.ElementTree as ET
from importlib import import_module

import pytest
from django.apps import apps

from sandbox import services
from sandbox.models import Sandbox, SandboxCall
from sandbox.prestashop import provision
from sandbox.prestashop.models import (
    Carrier,
    Customer,
    MailLog,
    Order,
    OrderCarrier,
    OrderHistory,
    OrderState,
    Product,
)

from .conftest import APPS, error_code

pytestmark = pytest.mark.django_db(transaction=True, available_apps=APPS)


def parsed(response):
    return ET.fromstring(response.content)


def message(response):
    return ET.fromstring(response.content).find("errors/error/message").text


def state_id(shop, name):
    return shop.json("order_states", params={"filter[name]": f"[{name}]"})["order_states"][0]["id"]


def carrier_rows(shop, order_id):
    found = shop.json("order_carriers", params={"filter[id_order]": f"[{order_id}]", "display": "full"})
    return found["order_carriers"] if found else []


def patch_body(row_id, **fields):
    values = "".join(f"<{name}>{value}</{name}>" for name, value in fields.items())
    return f"<prestashop><order_carrier><id>{row_id}</id>{values}</order_carrier></prestashop>"


def check_every_order_has_its_carrier_row(filled):
    for order in Order.objects.filter(sandbox=filled.sandbox):
        (row,) = OrderCarrier.objects.filter(sandbox=filled.sandbox, id_order=order.id)
        assert row.id_carrier == order.id_carrier and row.tracking_number == ""
        assert row.shipping_cost_tax_incl == order.total_shipping_tax_incl and row.date_add == order.date_add
        weights = {p.id: p.weight for p in Product.objects.filter(sandbox=filled.sandbox)}
        assert row.weight == sum(weights.get(r.product_id, 0) * r.product_quantity for r in order.rows.all())
    order = filled.json("orders", params={"display": "full", "limit": "1"})["orders"][0]
    (row,) = carrier_rows(filled, order["id"])
    assert row["id_order"] == str(order["id"]) and row["id_carrier"] == order["id_carrier"]
    assert row["tracking_number"] == "" and row["date_add"] == order["date_add"]


def check_a_posted_order_gets_its_row(filled):
    template = filled.json("orders", params={"display": "full", "limit": "1"})["orders"][0]
    fields = ["id_address_delivery", "id_address_invoice", "id_cart", "id_currency", "id_lang", "id_customer",
              "id_carrier", "current_state", "module", "payment", "total_paid", "total_paid_real",
              "total_products", "total_products_wt", "conversion_rate", "total_shipping_tax_incl",
              "total_shipping_tax_excl"]
    values = "".join(f"<{name}>{template[name]}</{name}>" for name in fields)
    created = filled.send("POST", "orders", f"<prestashop><order>{values}</order></prestashop>")
    assert created.status_code == 201, created.text
    order_id = parsed(created).find("order/id").text
    (row,) = carrier_rows(filled, order_id)
    assert row["id_carrier"] == template["id_carrier"] and row["tracking_number"] == ""
    assert row["shipping_cost_tax_incl"] == template["total_shipping_tax_incl"]


def check_put_patch_and_post(filled):
    order = filled.json("orders", params={"display": "full", "limit": "1"})["orders"][0]
    (row,) = carrier_rows(filled, order["id"])
    row_id = row["id"]
    # GET-modify-PUT of the whole record keeps everything else
    root = ET.fromstring(filled.get(f"order_carriers/{row_id}").content)
    root.find("order_carrier/tracking_number").text = "1Z999AA10123456784"
    response = filled.send("PUT", f"order_carriers/{row_id}", ET.tostring(root, encoding="unicode"))
    assert response.status_code == 200, response.text
    after = filled.json(f"order_carriers/{row_id}")["order_carrier"]
    assert after["tracking_number"] == "1Z999AA10123456784" and after["weight"] == row["weight"]
    # PUT replaces the whole record: a required field left out is 41, an optional one is blanked
    missing = filled.send("PUT", f"order_carriers/{row_id}", patch_body(row_id, id_order=order["id"]))
    assert (missing.status_code, error_code(missing), message(missing)) == (400, 41, 'parameter "id_carrier" required')
    bare = filled.send("PUT", f"order_carriers/{row_id}",
                       patch_body(row_id, id_order=order["id"], id_carrier=order["id_carrier"]))
    assert bare.status_code == 200 and parsed(bare).find("order_carrier/weight").text == "0.000000"
    # PATCH (8.x) touches only what it sends
    patched = filled.send("PATCH", f"order_carriers/{row_id}", patch_body(row_id, tracking_number="JJD0099"))
    assert patched.status_code == 200, patched.text
    record = parsed(patched).find("order_carrier")
    assert record.find("tracking_number").text == "JJD0099" and record.find("id_carrier").text == order["id_carrier"]
    # A second row for the same order (a second parcel)
    second = filled.send("POST", "order_carriers", "<prestashop><order_carrier>"
                         f"<id_order>{order['id']}</id_order><id_carrier>{order['id_carrier']}</id_carrier>"
                         "<tracking_number>JJD0100</tracking_number></order_carrier></prestashop>")
    assert second.status_code == 201, second.text
    assert parsed(second).find("order_carrier/date_add").text.startswith("20")
    assert [r["tracking_number"] for r in carrier_rows(filled, order["id"])] == ["JJD0099", "JJD0100"]
    # The order's shipping_number is its first row's tracking number, as getWsShippingNumber reads it
    assert filled.json(f"orders/{order['id']}")["order"]["shipping_number"] == "JJD0099"


def check_validation(filled):
    order = filled.json("orders", params={"display": "full", "limit": "1"})["orders"][0]
    row_id = carrier_rows(filled, order["id"])[0]["id"]
    bad = filled.send("PATCH", f"order_carriers/{row_id}", patch_body(row_id, tracking_number="1Z&lt;b&gt;"))
    assert (bad.status_code, error_code(bad)) == (400, 85)
    assert message(bad) == 'Validation error: "Property OrderCarrier->tracking_number is not valid"'
    accented = filled.send("PATCH", f"order_carriers/{row_id}", patch_body(row_id, tracking_number="Colis-é"))
    assert error_code(accented) == 85
    long = filled.send("PATCH", f"order_carriers/{row_id}", patch_body(row_id, tracking_number="A" * 65))
    assert (long.status_code, error_code(long)) == (400, 85)
    assert message(long) == ('Validation error: "The length of property OrderCarrier->tracking_number is currently '
                             '65 chars. It must be between 0 and 64 chars."')
    as_json = filled.send("PATCH", f"order_carriers/{row_id}", patch_body(row_id, tracking_number="A" * 65),
                          params={"output_format": "JSON"})
    assert as_json.json()["errors"][0]["code"] == 85
    ok = filled.send("PATCH", f"order_carriers/{row_id}", patch_body(row_id, tracking_number="A" * 64))
    assert ok.status_code == 200
    symbols = "~:#,%&_=()[].? +-@/09az"
    ok = filled.send("PATCH", f"order_carriers/{row_id}", patch_body(row_id, tracking_number=symbols.replace(
        "&", "&amp;")))
    assert ok.status_code == 200 and parsed(ok).find("order_carrier/tracking_number").text == symbols
    unknown = filled.send("PATCH", f"order_carriers/{row_id}", patch_body(row_id, id_carrier=999999))
    assert (unknown.status_code, error_code(unknown)) == (400, 85)
    assert "OrderCarrier->id_carrier" in message(unknown)
    no_carrier = filled.send("POST", "order_carriers", f"<prestashop><order_carrier><id_order>{order['id']}"
                             "</id_order></order_carrier></prestashop>")
    assert (no_carrier.status_code, error_code(no_carrier)) == (400, 41)
    no_order = filled.send("POST", "order_carriers", "<prestashop><order_carrier><id_order>999999</id_order>"
                           f"<id_carrier>{order['id_carrier']}</id_carrier></order_carrier></prestashop>")
    assert (no_order.status_code, error_code(no_order)) == (400, 85)


def check_tracking_leaves_the_order_alone_and_mails_in_transit(filled):
    order = Order.objects.filter(sandbox=filled.sandbox).order_by("id").last()
    tracked = Carrier.objects.get(sandbox=filled.sandbox, name="Colissimo")
    Order.objects.filter(pk=order.pk).update(id_carrier=tracked.id)
    row_id = carrier_rows(filled, order.id)[0]["id"]
    before = filled.json(f"orders/{order.id}")["order"]["date_upd"]
    silent = filled.send("PATCH", f"order_carriers/{row_id}", patch_body(row_id, tracking_number="6A1234"))
    assert silent.status_code == 200 and not MailLog.objects.filter(id_order=order.id).exists()
    mailed = filled.send("PATCH", f"order_carriers/{row_id}", patch_body(row_id, tracking_number="6A1235"),
                         params={"sendemail": "1"})
    assert mailed.status_code == 200 and "in_transit" not in mailed.text  # mail is not part of the API
    (mail,) = MailLog.objects.filter(id_order=order.id)
    assert mail.template == "in_transit" and mail.recipient == order_customer_email(order)
    # OrderCarrier::updateWs saves the row only: the order's date_upd does not move (a poller will not see it)
    assert filled.json(f"orders/{order.id}")["order"]["date_upd"] == before
    # "My carrier" has no tracking URL: PrestaShop sends no "in transit" mail then
    untracked = Carrier.objects.get(sandbox=filled.sandbox, name="My carrier")
    Order.objects.filter(pk=order.pk).update(id_carrier=untracked.id)
    filled.send("PATCH", f"order_carriers/{row_id}", patch_body(row_id, tracking_number="6A1236"),
                params={"sendemail": "1"})
    assert MailLog.objects.filter(id_order=order.id).count() == 1


def order_customer_email(order):
    return Customer.objects.get(pk=order.id_customer).email


def check_order_states_have_prestashop_flags(filled):
    states = {s["name"][0]["value"]: s for s in filled.json("order_states", params={"display": "full"})["order_states"]}
    flags = {name: tuple(states[name][f] for f in ("shipped", "delivery", "paid", "logable", "send_email"))
             for name in ("Shipped", "Delivered", "Canceled", "Refunded", "Payment accepted")}
    assert flags == {"Shipped": ("1", "1", "1", "1", "1"), "Delivered": ("1", "1", "1", "1", "0"),
                     "Canceled": ("0", "0", "0", "0", "1"), "Refunded": ("0", "0", "0", "0", "1"),
                     "Payment accepted": ("0", "0", "1", "1", "1")}
    assert states["Shipped"]["template"][0]["value"] == "shipped"
    assert {n["value"] for n in states["Canceled"]["name"]} == {"Canceled", "Annulé"}


def check_history_moves_the_order_and_mails_when_asked(filled):
    order = filled.json("orders", params={"display": "full", "limit": "1", "sort": "[id_DESC]"})["orders"][0]
    shipped, delivered, canceled = (state_id(filled, n) for n in ("Shipped", "Delivered", "Canceled"))
    body = ("<prestashop><order_history><id_order>{}</id_order><id_order_state>{}</id_order_state>"
            "</order_history></prestashop>")
    MailLog.objects.filter(id_order=order["id"]).delete()
    quiet = filled.send("POST", "order_histories", body.format(order["id"], shipped))
    assert quiet.status_code == 201, quiet.text
    after = filled.json(f"orders/{order['id']}")["order"]
    assert after["current_state"] == str(shipped) and after["date_upd"] > order["date_upd"]
    assert after["valid"] == "1" and after["delivery_date"] != "0000-00-00 00:00:00"
    assert not MailLog.objects.filter(id_order=order["id"]).exists()  # no sendemail=1: no mail
    loud = filled.send("POST", "order_histories", body.format(order["id"], shipped), params={"sendemail": "1"})
    assert loud.status_code == 201 and "mail" not in loud.text.lower()
    assert list(MailLog.objects.filter(id_order=order["id"]).values_list("template", "subject")) == [
        ("shipped", "Shipped")]
    # Delivered sends no mail in PrestaShop (send_email 0), even when asked
    filled.send("POST", "order_histories", body.format(order["id"], delivered), params={"sendemail": "1"})
    assert MailLog.objects.filter(id_order=order["id"]).count() == 1
    canceled_answer = filled.send("POST", "order_histories", body.format(order["id"], canceled),
                                  params={"sendemail": "0"})
    assert canceled_answer.status_code == 201 and MailLog.objects.filter(id_order=order["id"]).count() == 1
    cancelled = filled.json(f"orders/{order['id']}")["order"]
    assert cancelled["current_state"] == str(canceled) and cancelled["valid"] == "0"
    # GET order_histories by order: the newest row is the order's current state
    histories = filled.json("order_histories", params={"filter[id_order]": f"[{order['id']}]", "display": "full",
                                                      "sort": "[id_ASC]"})["order_histories"]
    assert histories[-1]["id_order_state"] == cancelled["current_state"] and len(histories) >= 4
    unknown = filled.send("POST", "order_histories", body.format(order["id"], 999999))
    assert (unknown.status_code, error_code(unknown)) == (400, 85)
    missing = filled.send("POST", "order_histories", f"<prestashop><order_history><id_order>{order['id']}"
                          "</id_order></order_history></prestashop>")
    assert (missing.status_code, error_code(missing)) == (400, 41)


def check_state_change_by_order_put_mails_as_set_current_state_does(filled):
    order_id = filled.json("orders")["orders"][0]["id"]
    MailLog.objects.filter(id_order=order_id).delete()
    root = ET.fromstring(filled.get(f"orders/{order_id}").content)
    root.find("order/current_state").text = str(state_id(filled, "Refunded"))
    assert filled.send("PUT", f"orders/{order_id}", ET.tostring(root, encoding="unicode")).status_code == 200
    assert list(MailLog.objects.filter(id_order=order_id).values_list("template", flat=True)) == ["refund"]


def check_commit_then_fail_and_call_counting(filled):
    order = filled.json("orders", params={"display": "full", "limit": "1"})["orders"][0]
    row_id = carrier_rows(filled, order["id"])[0]["id"]
    services.set_faults(filled.sandbox, "prestashop", commit_then_fail_rate=1.0)
    before = SandboxCall.objects.filter(sandbox=filled.sandbox, system="prestashop").count()
    lost = filled.send("PATCH", f"order_carriers/{row_id}", patch_body(row_id, tracking_number="LOST-ANSWER-1"))
    assert lost.status_code == 500 and error_code(lost) == 0
    assert OrderCarrier.objects.get(pk=row_id).tracking_number == "LOST-ANSWER-1"  # the write was committed
    history = filled.send("POST", "order_histories", "<prestashop><order_history>"
                          f"<id_order>{order['id']}</id_order><id_order_state>{state_id(filled, 'Shipped')}"
                          "</id_order_state></order_history></prestashop>")
    assert history.status_code == 500
    assert OrderHistory.objects.filter(id_order=order["id"]).order_by("id").last().id_order_state == state_id(
        filled, "Shipped")
    calls = SandboxCall.objects.filter(sandbox=filled.sandbox, system="prestashop").order_by("id")[before:]
    assert [(c.method, c.endpoint, c.status, c.fault) for c in calls if c.method != "GET"] == [
        ("PATCH", "api/<resource>/<id>", 500, "commit_then_fail"), ("POST", "api/<resource>", 500, "commit_then_fail")]
    services.set_faults(filled.sandbox, "prestashop", profile_name="none")


def check_patch_is_refused_by_a_17_shop(filled):
    provision.configure(filled.sandbox, version="1.7.8.11")
    order = filled.json("orders", params={"display": "full", "limit": "1"})["orders"][0]
    row_id = carrier_rows(filled, order["id"])[0]["id"]
    refused = filled.send("PATCH", f"order_carriers/{row_id}", patch_body(row_id, tracking_number="NOPE"))
    assert (refused.status_code, error_code(refused)) == (405, 23)
    assert filled.xml("").find("api/order_carriers").get("patch") == "false"
    root = ET.fromstring(filled.get(f"order_carriers/{row_id}").content)
    root.find("order_carrier/tracking_number").text = "PUT-ON-17"
    assert filled.send("PUT", f"order_carriers/{row_id}", ET.tostring(root, encoding="unicode")).status_code == 200


def test_order_carriers(filled):
    check_every_order_has_its_carrier_row(filled)
    check_a_posted_order_gets_its_row(filled)
    check_put_patch_and_post(filled)
    check_validation(filled)
    check_tracking_leaves_the_order_alone_and_mails_in_transit(filled)
    check_patch_is_refused_by_a_17_shop(filled)  # last: it turns the shop into PrestaShop 1.7


def test_order_states_and_histories(filled):
    check_order_states_have_prestashop_flags(filled)
    check_history_moves_the_order_and_mails_when_asked(filled)
    check_state_change_by_order_put_mails_as_set_current_state_does(filled)
    check_commit_then_fail_and_call_counting(filled)


def test_existing_orders_get_their_row_from_the_migration():
    """The data migration gives orders made before it an order_carriers row and the states their flags."""
    sandbox = Sandbox.objects.create(slug="ps-migrated")
    provision.generate(sandbox, orders=2, products=2, customers=1, state=None, unknown_sku=0, rng=random.Random(2))
    OrderCarrier.objects.filter(sandbox=sandbox).delete()
    OrderState.objects.filter(sandbox=sandbox, name__en="Refunded").update(paid=True, template={})
    import_module("sandbox.prestashop.migrations.0003_order_carriers_and_state_flags").forwards(apps, None)
    assert OrderCarrier.objects.filter(sandbox=sandbox).count() == 2
    refunded = OrderState.objects.get(sandbox=sandbox, name__en="Refunded")
    assert refunded.paid is False and refunded.template == {"en": "refund", "fr": "refund"}
