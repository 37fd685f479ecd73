"""Writing: POST/PUT/PATCH/DELETE rules, validation and parse errors, side effects on orders and stock."""

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from sandbox.models import WebhookDelivery
from sandbox.prestashop import provision
from sandbox.prestashop.models import Customer, OrderHistory, OrderRow

from .conftest import APPS, error_code

pytestmark = pytest.mark.django_db(transaction=True, available_apps=APPS)

CUSTOMER = """<prestashop><customer>{id}<passwd>secret-pw</passwd><lastname>Müller</lastname>
<firstname>Zoë</firstname><email>zoe@example.com</email><company>Forge Coöp</company><note>VIP</note>
<newsletter>1</newsletter></customer></prestashop>"""


def parsed(response):
    return ET.fromstring(response.content)


def check_post_returns_201_with_full_object_and_no_id_allowed(shop):
    created = shop.send("POST", "customers", CUSTOMER.format(id=""))
    assert created.status_code == 201, created.text
    customer = parsed(created).find("customer")
    assert customer.find("firstname").text == "Zoë" and customer.find("id").text.isdigit()
    assert customer.find("passwd").text.startswith("$2y$10$") and "secret-pw" not in created.text
    assert len(customer.find("secure_key").text) == 32
    local_now = datetime.now(ZoneInfo("Europe/Paris")).replace(tzinfo=None)
    date_add = datetime.strptime(customer.find("date_add").text, "%Y-%m-%d %H:%M:%S")
    assert abs(date_add - local_now) < timedelta(minutes=2)  # shop-local time, not UTC
    with_id = shop.send("POST", "customers", CUSTOMER.format(id="<id>5</id>"))
    assert (with_id.status_code, error_code(with_id)) == (400, 91)
    missing = shop.send("POST", "customers", "<prestashop><customer><lastname>X</lastname></customer></prestashop>")
    assert (missing.status_code, error_code(missing)) == (400, 41)
    form = requests.post(shop.url("customers"), data={"xml": CUSTOMER.format(id="")}, auth=(shop.key, ""),
                         timeout=10)
    assert form.status_code == 201


def check_put_replaces_the_whole_object(shop):
    customer_id = parsed(shop.send("POST", "customers", CUSTOMER.format(id=""))).find("customer/id").text
    no_id = shop.send("PUT", f"customers/{customer_id}", CUSTOMER.format(id=""))
    assert (no_id.status_code, error_code(no_id)) == (400, 90)
    unknown = shop.send("PUT", "customers/999999", CUSTOMER.format(id="<id>999999</id>"))
    assert (unknown.status_code, error_code(unknown)) == (404, 92)
    minimal = (f"<prestashop><customer><id>{customer_id}</id><passwd>new-pw</passwd><lastname>Nowak</lastname>"
               "<firstname>Ana</firstname><email>ana@example.com</email></customer></prestashop>")
    updated = shop.send("PUT", f"customers/{customer_id}", minimal)
    assert updated.status_code == 200, updated.text
    customer = parsed(updated).find("customer")
    assert customer.find("lastname").text == "Nowak"
    assert customer.find("company").text is None and customer.find("note").text is None  # blanked
    assert customer.find("newsletter").text == "0"
    assert customer.find("passwd").text.startswith("$2y$10$") and "new-pw" not in updated.text
    # The URL id does not matter: the body names the record, as in PrestaShop.
    again = shop.send("PUT", "customers", minimal.replace("Nowak", "Rossi"))
    assert again.status_code == 200 and parsed(again).find("customer/lastname").text == "Rossi"
    without_required = minimal.replace("<email>ana@example.com</email>", "")
    response = shop.send("PUT", f"customers/{customer_id}", without_required)
    assert (response.status_code, error_code(response)) == (400, 41)


def check_patch_touches_only_sent_fields(shop):
    customer_id = parsed(shop.send("POST", "customers", CUSTOMER.format(id=""))).find("customer/id").text
    patch = f"<prestashop><customer><id>{customer_id}</id><note>changed</note></customer></prestashop>"
    response = shop.send("PATCH", f"customers/{customer_id}", patch)
    assert response.status_code == 200, response.text
    customer = parsed(response).find("customer")
    assert customer.find("note").text == "changed" and customer.find("company").text == "Forge Coöp"


def check_validation_and_read_only(filled):
    response = filled.send("POST", "customers", CUSTOMER.format(id="").replace("zoe@example.com", "not-an-email"))
    assert (response.status_code, error_code(response)) == (400, 85)
    response = filled.send("POST", "customers", CUSTOMER.format(id="").replace("<newsletter>1", "<newsletter>yes"))
    assert (response.status_code, error_code(response)) == (400, 85)
    product_id = filled.json("products")["products"][0]["id"]
    product = filled.get(f"products/{product_id}").text
    # A GET-modify-PUT of a product that keeps the read-only quantity is refused, as in PrestaShop.
    response = filled.send("PUT", f"products/{product_id}", product)
    assert (response.status_code, error_code(response)) == (400, 93)
    root = ET.fromstring(product.encode())
    node = root.find("product")
    for read_only in ("quantity", "manufacturer_name"):
        node.remove(node.find(read_only))
    node.find("reference").text = "X" * 65
    response = filled.send("PUT", f"products/{product_id}", ET.tostring(root, encoding="unicode"))
    assert (response.status_code, error_code(response)) == (400, 85)
    node.find("reference").text = "NEW-SKU-1"
    node.find("price").text = "abc"
    response = filled.send("PUT", f"products/{product_id}", ET.tostring(root, encoding="unicode"))
    assert (response.status_code, error_code(response)) == (400, 85)
    node.find("price").text = "19.900000"
    response = filled.send("PUT", f"products/{product_id}", ET.tostring(root, encoding="unicode"))
    assert response.status_code == 200, response.text
    assert parsed(response).find("product/reference").text == "NEW-SKU-1"


def check_bad_bodies(shop):
    broken = shop.send("POST", "customers", "<prestashop><customer><lastname>oops</customer>")
    assert broken.status_code == 500 and error_code(broken) == 127  # PrestaShop's own answer
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            "<prestashop><customer><lastname>&lol2;</lastname></customer></prestashop>")
    refused = shop.send("POST", "customers", bomb)
    assert refused.status_code == 400 and error_code(refused) == 127 and "entities" in refused.text.lower()
    wrong_root = shop.send("POST", "customers", "<prestashop><order/></prestashop>")
    assert wrong_root.status_code == 400
    huge = shop.send("POST", "customers", "<prestashop>" + "x" * 3_000_000 + "</prestashop>")
    assert huge.status_code == 413 and error_code(huge) == 127
    json_error = shop.send("POST", "customers", "{}", params={"output_format": "JSON"})
    assert json_error.json()["errors"][0]["code"] == 127


def check_ps_method_override_and_delete(shop):
    customer_id = parsed(shop.send("POST", "customers", CUSTOMER.format(id=""))).find("customer/id").text
    body = CUSTOMER.format(id=f"<id>{customer_id}</id>").replace("Müller", "Dubois")
    response = shop.send("POST", f"customers/{customer_id}", body, params={"ps_method": "PUT"})
    assert response.status_code == 200 and parsed(response).find("customer/lastname").text == "Dubois"
    response = shop.send("POST", f"customers/{customer_id}", "", params={"ps_method": "DELETE"})
    assert response.status_code == 200
    assert shop.get(f"customers/{customer_id}").status_code == 404
    assert error_code(shop.send("DELETE", f"customers/{customer_id}", "")) == 87


def check_order_history_changes_state_and_webhooks(filled):
    hook = provision.subscribe(filled.sandbox, "http://127.0.0.1:9/hook", "s3cret")
    order = filled.json("orders", params={"display": "full", "limit": "1"})["orders"][0]
    states = filled.json("order_states", params={"display": "[id,name]", "filter[name]": "[Shipped]"})
    shipped = states["order_states"][0]["id"]
    body = (f"<prestashop><order_history><id_order>{order['id']}</id_order>"
            f"<id_order_state>{shipped}</id_order_state></order_history></prestashop>")
    created = filled.send("POST", "order_histories", body, params={"sendemail": "1"})
    assert created.status_code == 201, created.text
    after = filled.json(f"orders/{order['id']}")["order"]
    assert after["current_state"] == str(shipped) and after["date_upd"] > order["date_upd"]
    assert OrderHistory.objects.filter(id_order=order["id"], id_order_state=shipped).exists()
    bad = body.replace(f"<id_order>{order['id']}</id_order>", "<id_order>999999</id_order>")
    assert error_code(filled.send("POST", "order_histories", bad)) == 85
    assert WebhookDelivery.objects.filter(subscription=hook, event="order.state_changed").count() == 1
    delivery = WebhookDelivery.objects.get(subscription=hook, event="order.state_changed")
    assert json.loads(delivery.body) == {"event": "order.state_changed", "id_order": order["id"]}


def check_order_rows_are_not_editable_and_tracking_via_order_carriers(filled):
    order_id = filled.json("orders")["orders"][0]["id"]
    rows_before = list(OrderRow.objects.filter(order_id=order_id).values_list("id", "product_quantity"))
    xml = filled.get(f"orders/{order_id}").text.replace("<product_quantity><![CDATA[", "<product_quantity><![CDATA[9")
    response = filled.send("PUT", f"orders/{order_id}", xml)
    assert response.status_code == 200, response.text
    assert list(OrderRow.objects.filter(order_id=order_id).values_list("id", "product_quantity")) == rows_before
    found = filled.json("order_carriers", params={"filter[id_order]": f"[{order_id}]"})["order_carriers"]
    carrier_id = found[0]["id"]
    root = ET.fromstring(filled.get(f"order_carriers/{carrier_id}").content)
    root.find("order_carrier/tracking_number").text = "1Z999AA10123456784"
    response = filled.send("PUT", f"order_carriers/{carrier_id}", ET.tostring(root, encoding="unicode"))
    assert response.status_code == 200, response.text
    assert filled.json(f"order_carriers/{carrier_id}")["order_carrier"]["tracking_number"] == "1Z999AA10123456784"


def check_stock_availables_drive_product_quantity(filled):
    product_id = filled.json("products")["products"][0]["id"]
    stock = filled.json("stock_availables", params={"filter[id_product]": f"[{product_id}]",
                                                    "filter[id_product_attribute]": "[0]"})
    stock_id = stock["stock_availables"][0]["id"]
    body = (f"<prestashop><stock_available><id>{stock_id}</id><id_product>{product_id}</id_product>"
            "<id_product_attribute>0</id_product_attribute><quantity>42</quantity>"
            "<depends_on_stock>0</depends_on_stock><out_of_stock>2</out_of_stock></stock_available></prestashop>")
    response = filled.send("PUT", f"stock_availables/{stock_id}", body)
    assert response.status_code == 200, response.text
    assert filled.json(f"products/{product_id}")["product"]["quantity"] == "42"
    patch = f"<prestashop><stock_available><id>{stock_id}</id><quantity>7</quantity></stock_available></prestashop>"
    assert filled.send("PATCH", f"stock_availables/{stock_id}", patch).status_code == 200
    assert filled.json(f"products/{product_id}")["product"]["quantity"] == "7"
    product = filled.xml(f"products/{product_id}").find("product")
    assert product.find("associations/stock_availables").get("nodeType") == "stock_available"


def check_post_order_with_rows_announces_it(filled):
    hook = provision.subscribe(filled.sandbox, "http://127.0.0.1:9/hook", "s3cret", events=["order.created"])
    template = filled.json("orders", params={"display": "full", "limit": "1"})["orders"][0]
    fields = ["id_address_delivery", "id_address_invoice", "id_cart", "id_currency", "id_lang", "id_customer",
              "id_carrier", "current_state", "module", "payment", "total_paid", "total_paid_real",
              "total_products", "total_products_wt", "conversion_rate"]
    values = "".join(f"<{name}>{template[name]}</{name}>" for name in fields)
    rows = ("<associations><order_rows><order_row><product_id>1</product_id><product_quantity>2</product_quantity>"
            "<product_reference>WLD-00001</product_reference><product_price>10.5</product_price></order_row>"
            "</order_rows></associations>")
    response = filled.send("POST", "orders", f"<prestashop><order>{values}{rows}</order></prestashop>")
    assert response.status_code == 201, response.text
    order = parsed(response).find("order")
    assert len(order.find("reference").text) == 9
    assert order.find("associations/order_rows/order_row/product_reference").text == "WLD-00001"
    assert WebhookDelivery.objects.filter(subscription=hook, event="order.created").count() == 1


def check_shop_timezone_setting(shop):
    provision.configure(shop.sandbox, timezone="America/New_York")
    created = parsed(shop.send("POST", "customers", CUSTOMER.format(id=""))).find("customer")
    local_now = datetime.now(ZoneInfo("America/New_York")).replace(tzinfo=None)
    stored = datetime.strptime(created.find("date_upd").text, "%Y-%m-%d %H:%M:%S")
    assert abs(stored - local_now) < timedelta(minutes=2)
    assert Customer.objects.get(pk=created.find("id").text).date_upd.replace(tzinfo=None) == stored


def check_patch_is_refused_by_a_17_shop(shop):
    provision.configure(shop.sandbox, version="1.7.8.11")
    customer_id = parsed(shop.send("POST", "customers", CUSTOMER.format(id=""))).find("customer/id").text
    patch = f"<prestashop><customer><id>{customer_id}</id><note>x</note></customer></prestashop>"
    response = shop.send("PATCH", f"customers/{customer_id}", patch)
    assert (response.status_code, error_code(response)) == (405, 23)
    assert shop.get("").headers["PSWS-Version"] == "1.7.8.11"
    assert shop.xml("").find("api/customers").get("patch") == "false"


def check_product_lifecycle(shop):
    product = ("<prestashop><product><reference>NEW-00001</reference><price>12.5</price>"
               '<name><language id="{en}">Flux brush</language><language id="{fr}">Brosse à flux</language></name>'
               "</product></prestashop>")
    languages = shop.json("languages", params={"display": "[id,iso_code]"})["languages"]
    ids = {language["iso_code"]: language["id"] for language in languages}
    created = shop.send("POST", "products", product.format(**ids))
    assert created.status_code == 201, created.text
    product_id = int(parsed(created).find("product/id").text)
    names = shop.json(f"products/{product_id}")["product"]["name"]
    assert {n["value"] for n in names} == {"Flux brush", "Brosse à flux"}
    stock = shop.json("stock_availables", params={"filter[id_product]": f"[{product_id}]"})["stock_availables"]
    assert len(stock) == 1
    combination = shop.send("POST", "combinations", f"<prestashop><combination><id_product>{product_id}</id_product>"
                            "<minimal_quantity>1</minimal_quantity><reference>NEW-00001-L</reference>"
                            "</combination></prestashop>")
    assert combination.status_code == 201, combination.text
    combination_id = parsed(combination).find("combination/id").text
    product = shop.xml(f"products/{product_id}").find("product/associations")
    assert product.find("combinations/combination/id").text == combination_id
    assert len(product.findall("stock_availables/stock_available")) == 2
    assert shop.send("DELETE", f"combinations/{combination_id}", "").status_code == 200
    assert len(shop.json("stock_availables", params={"filter[id_product]": f"[{product_id}]"})["stock_availables"]) == 1
    assert shop.send("DELETE", f"products/{product_id}", "").status_code == 200
    assert shop.get("stock_availables", params={"filter[id_product]": f"[{product_id}]",
                                                "output_format": "JSON"}).text == "[]"


def check_order_state_change_by_put(filled):
    hook = provision.subscribe(filled.sandbox, "http://127.0.0.1:9/put-hook", "s3cret")
    order_id = filled.json("orders")["orders"][-1]["id"]
    canceled = filled.json("order_states", params={"filter[name]": "[Canceled]"})["order_states"][0]["id"]
    root = ET.fromstring(filled.get(f"orders/{order_id}").content)
    root.find("order/current_state").text = str(canceled)
    response = filled.send("PUT", f"orders/{order_id}", ET.tostring(root, encoding="unicode"))
    assert response.status_code == 200, response.text
    assert OrderHistory.objects.filter(id_order=order_id, id_order_state=canceled).exists()
    assert WebhookDelivery.objects.filter(subscription=hook, event="order.state_changed").count() == 1


# Each live-server test costs a database flush, so one test runs a group of checks on one shop, in an order
# where no check's changes (revoked keys, faults, settings) can disturb the next.

def test_customer_writes(shop):
    check_post_returns_201_with_full_object_and_no_id_allowed(shop)
    check_put_replaces_the_whole_object(shop)
    check_patch_touches_only_sent_fields(shop)
    check_bad_bodies(shop)
    check_ps_method_override_and_delete(shop)
    check_shop_timezone_setting(shop)  # late: it moves the shop to New York
    check_patch_is_refused_by_a_17_shop(shop)  # last: it turns the shop into PrestaShop 1.7


def test_order_product_and_stock_writes(filled):
    check_validation_and_read_only(filled)
    check_order_history_changes_state_and_webhooks(filled)
    check_order_rows_are_not_editable_and_tracking_via_order_carriers(filled)
    check_stock_availables_drive_product_quantity(filled)
    check_post_order_with_rows_announces_it(filled)
    check_order_state_change_by_put(filled)
    check_product_lifecycle(filled)
