"""Reading: XML and JSON envelopes, display, filters, dates, sort, limit, schemas, missing records."""

import xml.etree.ElementTree as ET

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from sandbox.prestashop import clock, provision
from sandbox.prestashop.models import Customer, Order, OrderState

from .conftest import APPS, XLINK, error_code

pytestmark = pytest.mark.django_db(transaction=True, available_apps=APPS)


def check_xml_list_and_full_record(filled):
    orders = filled.xml("orders").find("orders")
    first = orders[0]
    assert first.tag == "order" and first.get(XLINK).endswith(f"/api/orders/{first.get('id')}")
    assert len(first) == 0
    order = filled.xml(f"orders/{first.get('id')}").find("order")
    customer = order.find("id_customer")
    assert customer.get(XLINK).endswith(f"/api/customers/{customer.text}")
    assert order.find("total_paid").text.count(".") == 1 and len(order.find("total_paid").text.split(".")[1]) == 6
    rows = order.find("associations/order_rows")
    assert rows.get("nodeType") == "order_row" and rows.get("virtualEntity") == "true"
    row = rows.find("order_row")
    assert row.find("product_reference").text and row.find("product_quantity").text.isdigit()
    raw = filled.get(f"orders/{first.get('id')}").text
    assert raw.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<prestashop xmlns:xlink="http://www.w3.org/1999/xlink">')
    assert "<module><![CDATA[ps_wirepayment]]></module>" in raw


def check_multi_language_fields(shop):
    states = shop.xml("order_states", params={"display": "full"}).find("order_states")
    names = {s.find("name/language[@id]").text for s in states}
    assert {"Awaiting bank wire payment", "Payment accepted", "Processing in progress", "Shipped", "Delivered",
            "Canceled", "Refunded", "Payment error"} <= names
    languages = states[0].findall("name/language")
    assert len(languages) == 2 and languages[0].get(XLINK).endswith(f"/api/languages/{languages[0].get('id')}")
    as_json = shop.json("order_states", params={"display": "full"})["order_states"]
    assert as_json[0]["name"][0].keys() == {"id", "value"} and len(as_json[0]["name"]) == 2
    assert {"Paiement accepté", "Payment accepted"} <= {n["value"] for s in as_json for n in s["name"]}
    # Ids are the shop's own: "Payment accepted" is not PrestaShop's usual id 2 here.
    accepted = next(s for s in as_json if s["name"][0]["value"] == "Payment accepted")
    assert accepted["id"] != sorted(s["id"] for s in as_json)[1]
    provision.configure(shop.sandbox, languages=["en"])
    single = shop.json("order_states", params={"display": "full"})["order_states"]
    assert isinstance(single[0]["name"], str)


def check_json_shapes(filled):
    listing = filled.json("orders")["orders"]
    assert all(isinstance(item["id"], int) and item.keys() == {"id"} for item in listing)
    order_id = listing[0]["id"]
    order = filled.json(f"orders/{order_id}")["order"]
    assert order["id"] == order_id
    assert isinstance(order["id_customer"], str) and isinstance(order["total_paid"], str)
    assert isinstance(order["associations"]["order_rows"], list)
    quirk = filled.json(f"orders/{order_id}", params={"display": "[id,reference]"})
    assert list(quirk) == ["orders"] and quirk["orders"][0].keys() == {"id", "reference"}
    empty = filled.get("orders", params={"filter[id]": "[999999]", "output_format": "JSON"})
    assert empty.text == "[]"
    empty_xml = ET.fromstring(filled.get("orders", params={"filter[id]": "[999999]"}).content)
    assert len(empty_xml.find("orders")) == 0


def check_missing_record_is_404_with_empty_body(shop):
    for path in ("orders/999999", "orders/abc", "customers/0"):
        response = shop.get(path)
        assert response.status_code == 404 and response.content == b""


def check_display_fields_and_association_subfields(filled):
    orders = filled.xml("orders", params={"display": "[id,reference]", "limit": "2"}).find("orders")
    assert [child.tag for child in orders[0]] == ["id", "reference"]
    for display in ("[id,order_rows[product_reference]]", "[id,associations[order_rows[product_reference]]]"):
        order = filled.xml("orders", params={"display": display, "limit": "1"}).find("orders/order")
        row = order.find("associations/order_rows/order_row")
        assert [child.tag for child in row] == ["id", "product_reference"]
    for display, code in [("[id,nope]", 35), ("[id,order_rows[nope]]", 35), ("id,reference", 36)]:
        response = filled.get("orders", params={"display": display})
        assert (response.status_code, error_code(response)) == (400, code), display


def ids(shop, resource="orders", **params):
    return [item["id"] for item in (shop.json(resource, params=params) or {resource: []})[resource]]


def check_filters(filled):
    all_ids = ids(filled)
    a, b, c = all_ids[:3]
    assert ids(filled, **{"filter[id]": f"[{a}|{c}]"}) == [a, c]
    assert ids(filled, **{"filter[id]": f"[{a},{b}]"}) == [a, b]
    assert ids(filled, **{"filter[id]": f"[{b}]"}) == [b]
    assert ids(filled, **{"filter[id]": f">[{b}]"}) == all_ids[2:]
    assert ids(filled, **{"filter[id]": f"<[{b}]"}) == [a]
    assert ids(filled, **{"filter[id]": f"![{a}|{b}]"}) == all_ids[2:]
    assert ids(filled, **{"filter[id]": "[abc]"}) == []
    reference = filled.json(f"orders/{b}")["order"]["reference"]
    assert ids(filled, **{"filter[reference]": f"[{reference}]"}) == [b]
    assert ids(filled, **{"filter[reference]": f"[{reference.lower()}]"}) == [b]
    assert b in ids(filled, **{"filter[reference]": f"[{reference[:4]}]%"})
    assert b in ids(filled, **{"filter[reference]": f"%[{reference[-4:]}]"})
    assert b in ids(filled, **{"filter[reference]": f"%[{reference[2:6]}]%"})
    products = filled.json("products", params={"filter[reference]": "[ARG-00002]", "display": "[id,reference]"})
    assert products["products"][0]["reference"] == "ARG-00002"
    shipped = ids(filled, resource="order_states", **{"filter[name]": "[Shipped]"})
    assert len(shipped) == 1
    assert ids(filled, resource="order_states", **{"filter[name]": "[Expédié]"}) == shipped
    response = filled.get("orders", params={"filter[nope]": "[1]"})
    assert (response.status_code, error_code(response)) == (400, 32)


def test_date_filters_and_sort_need_date_1(shop):
    for day, hour in [(1, 10), (15, 0), (31, 23), (31, 0)]:
        stamp = clock.parse(f"2026-01-{day:02d} {hour:02d}:00:00")
        Customer.objects.create(sandbox=shop.sandbox, firstname="D", lastname=f"{day}-{hour}", email="d@example.com",
                                passwd="x", date_add=stamp, date_upd=stamp)
    response = shop.get("customers", params={"filter[date_upd]": "[2026-01-01,2026-01-31]"})
    assert (response.status_code, error_code(response)) == (400, 32)
    response = shop.get("customers", params={"sort": "[date_upd_DESC]"})
    assert (response.status_code, error_code(response)) == (400, 38)

    def lastnames(**params):
        found = shop.json("customers", params={"date": "1", "display": "[lastname]", **params})
        return [c["lastname"] for c in (found or {"customers": []})["customers"]]

    window = {"filter[date_upd]": "[2026-01-01 00:00:00,2026-01-31 23:59:59]", "sort": "[date_upd_ASC]"}
    assert lastnames(**window) == ["1-10", "15-0", "31-0", "31-23"]
    # A date-only upper bound means midnight at the start of that day.
    assert lastnames(**{"filter[date_upd]": "[2026-01-01,2026-01-31]", "sort": "[date_upd_ASC]"}) == [
        "1-10", "15-0", "31-0"]
    assert lastnames(**{"filter[date_upd]": ">[2026-01-15 00:00:00]", "sort": "[date_upd_DESC]"}) == [
        "31-23", "31-0"]


def check_sort_and_limit(filled):
    all_ids = ids(filled)
    assert ids(filled, sort="[id_DESC]") == sorted(all_ids, reverse=True)
    assert ids(filled, sort="id_DESC") == sorted(all_ids, reverse=True)
    by_state = filled.json("orders", params={"sort": "[current_state_ASC,id_DESC]", "display": "[id,current_state]"})
    pairs = [(int(o["current_state"]), -o["id"]) for o in by_state["orders"]]
    assert pairs == sorted(pairs)
    for bad, code in [("[id]", 37), ("[id_UP]", 37), ("[nope_ASC]", 38)]:
        response = filled.get("orders", params={"sort": bad})
        assert (response.status_code, error_code(response)) == (400, code), bad
    assert ids(filled, limit="3") == all_ids[:3]
    assert ids(filled, limit="2,3") == all_ids[2:5]
    pages, offset = [], 0
    while True:  # no total is given: page until a short page
        page = ids(filled, limit=f"{offset},5")
        pages += page
        offset += 5
        if len(page) < 5:
            break
    assert pages == all_ids
    response = filled.get("orders", params={"limit": "a,b"})
    assert (response.status_code, error_code(response)) == (400, 39)


def check_schemas(shop):
    blank = shop.xml("orders", params={"schema": "blank"}).find("order")
    assert blank.find("id_customer").text is None and blank.find("associations/order_rows/order_row") is not None
    synopsis = shop.xml("products", params={"schema": "synopsis"}).find("product")
    assert synopsis.find("price").get("required") == "true" and synopsis.find("price").get("format") == "isPrice"
    assert synopsis.find("quantity").get("read_only") == "true"
    assert synopsis.find("reference").get("maxSize") == "64"
    assert len(synopsis.findall("name/language")) == 2
    response = shop.get("orders", params={"schema": "other"})
    assert (response.status_code, error_code(response)) == (400, 28)
    assert "order" in shop.json("orders", params={"schema": "blank"})


def check_full_list_does_not_query_per_row(filled):
    """`display=full` loads order rows with one query for the page, not one per order."""
    client = Client()

    def count_queries(limit):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/sandbox/{filled.sandbox.slug}/prestashop/api/orders",
                                  {"display": "full", "limit": limit, "ws_key": filled.key})
        assert response.status_code == 200
        return len(queries)

    assert count_queries("2") == count_queries("100")
    assert Order.objects.filter(sandbox=filled.sandbox).count() > 2


def check_state_lookup_by_name_is_stable(shop):
    state = OrderState.objects.filter(sandbox=shop.sandbox, name__en="Delivered").get()
    found = shop.json("order_states", params={"filter[name]": "[Delivered]", "display": "[id,name]"})
    assert found["order_states"][0]["id"] == state.id


def check_hostile_query_values_never_crash(filled):
    for params in ({"filter[id]": "[99999999999999999999999]"}, {"filter[total_paid]": ">[1e400]"},
                   {"filter[reference]": "[a\x00b]"}, {"filter[reference]": "%[a\x00]%"},
                   {"filter[date_upd]": "[2026-13-45,x]", "date": "1"}, {"filter[valid]": "[maybe]"}):
        response = filled.get("orders", params=params)
        assert response.status_code == 200, (params, response.text)
    response = filled.get("orders", params={"limit": "99999999999999999999"})
    assert (response.status_code, error_code(response)) == (400, 39)
    names = filled.json("order_states", params={"sort": "[name_DESC]", "display": "[name]"})["order_states"]
    english = [state["name"][0]["value"].lower() for state in names]
    assert english == sorted(english, reverse=True)


# Each live-server test costs a database flush, so one test runs a group of checks on one shop, in an order
# where no check's changes (revoked keys, faults, settings) can disturb the next.

def test_envelopes_display_and_schemas(filled):
    check_xml_list_and_full_record(filled)
    check_json_shapes(filled)
    check_missing_record_is_404_with_empty_body(filled)
    check_display_fields_and_association_subfields(filled)
    check_schemas(filled)
    check_full_list_does_not_query_per_row(filled)
    check_state_lookup_by_name_is_stable(filled)
    check_multi_language_fields(filled)  # last: it turns French off


def test_filters_sort_and_limit(filled):
    check_filters(filled)
    check_sort_and_limit(filled)
    check_hostile_query_values_never_crash(filled)
