import json
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from integrations.connectors import errors
from integrations.connectors.prestashop import xml as psxml
from integrations.connectors.prestashop.client import PrestaShopClient
from integrations.models import ConnectionStatus

from .conftest import PS_KEY, fixture_json, fixture_text

API = "https://shop.example.com/api"


def query(request):
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}


def register_reads(orders="orders_full.json", version="1.7.8.11"):
    """A fake shop answering list reads from the recorded fixtures, filtering by filter[id]."""

    def answer(name):
        def callback(request):
            body = fixture_json(f"prestashop/{name}")
            wanted = query(request).get("filter[id]")
            if wanted:
                ids = set(wanted.strip("[]").split("|"))
                key = next(iter(body))
                body = {key: [r for r in body[key] if str(r["id"]) in ids]}
                if not body[key]:
                    body = []  # the empty-list quirk
            return 200, {"PSWS-Version": version}, json.dumps(body)
        return callback

    for resource, name in [("orders", orders), ("customers", "customers.json"), ("addresses", "addresses.json"),
                           ("currencies", "currencies.json"), ("countries", "countries.json"),
                           ("order_states", "order_states.json"), ("carriers", "carriers.json")]:
        responses.add_callback(responses.GET, f"{API}/{resource}", callback=answer(name))


@responses.activate
def test_read_orders_batches_customers_and_addresses(make_connection):
    register_reads()
    client = PrestaShopClient(make_connection("prestashop"))
    orders = client.read_orders([1, 2])
    assert [o.source_id for o in orders] == ["1", "2"]
    paths = [urlsplit(c.request.url).path.rsplit("/", 1)[1] for c in responses.calls]
    # One call per resource, not one per order: orders, customers, countries, addresses, currencies, states.
    assert sorted(paths) == sorted(["orders", "customers", "addresses", "countries", "currencies", "order_states",
                                   "carriers"])
    assert query(responses.calls[0].request)["filter[id]"] == "[1|2]"
    assert query(responses.calls[0].request)["display"] == "full"
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert PS_KEY not in responses.calls[0].request.url

    first = orders[0]
    assert first.number == "XKBKNABJK" and first.currency == "EUR" and first.status == "Payment accepted"
    assert first.total.amount == Decimal("61.800000") and first.tax.amount == Decimal("10.300000")
    assert first.ordered_at == datetime(2026, 3, 1, 8, 15, tzinfo=UTC)  # shop time (Paris) → aware
    assert [(line.sku, line.quantity) for line in first.lines] == [("HELM-S", 1), ("ARG-10", 2)]
    assert first.lines[1].tax.amount == Decimal("5.598000")
    assert first.customer.email == "pub@prestashop.com"
    assert "passwd" not in first.customer.extra and "secure_key" not in first.customer.extra
    assert first.shipping_address.country == "FR" and first.billing_address.country == "US"
    assert first.extra["gift_message"] == "Happy birthday, Zoë!"
    assert first.to_dict()["total"] == {"amount": "61.800000", "currency": "EUR"}


@responses.activate
def test_pages_until_a_short_page(make_connection):
    calls = []

    def callback(request):
        offset, count = map(int, query(request)["limit"].split(","))
        calls.append(offset)
        rows = [{"id": i} for i in range(offset, min(offset + count, 5))]
        return 200, {}, json.dumps({"products": rows} if rows else [])

    responses.add_callback(responses.GET, f"{API}/products", callback=callback)
    client = PrestaShopClient(make_connection("prestashop"))
    pages = list(client.pages("products", page_size=2))
    assert [len(p) for p in pages] == [2, 2, 1] and calls == [0, 2, 4]


@responses.activate
def test_exact_multiple_of_the_page_size_ends_on_the_empty_list_quirk(make_connection):
    responses.get(f"{API}/products", json={"products": [{"id": 1}, {"id": 2}]})
    responses.get(f"{API}/products", json=[])
    pages = list(PrestaShopClient(make_connection("prestashop")).pages("products", page_size=2))
    assert [len(p) for p in pages] == [2]


@responses.activate
def test_changed_orders_filters_in_shop_time_with_date_1(make_connection):
    register_reads()
    client = PrestaShopClient(make_connection("prestashop"))
    since = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    until = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    list(client.changed_orders(since, until, overlap=0))
    params = query(responses.calls[0].request)
    assert params["date"] == "1"
    assert params["filter[date_upd]"] == "[2026-03-02 10:00:00,2026-03-02 13:00:00]"  # Paris is UTC+1 in March
    assert params["sort"] == "[date_upd_ASC,id_ASC]"


@responses.activate
def test_xml_output_is_read_too(make_connection):
    responses.get(f"{API}/orders", body=fixture_text("prestashop/orders_full.xml"),
                  content_type="text/xml")
    client = PrestaShopClient(make_connection("prestashop"), output="XML")
    (raw,) = client.get_many("orders", [1]).values()
    assert raw["reference"] == "XKBKNABJK"
    assert raw["gift_message"] == "Happy birthday, Zoë! <3 & more"
    assert raw["associations"]["order_rows"][0]["product_reference"] == "HELM-S"


def test_multilanguage_fields_pick_the_configured_language():
    root = psxml.parse(fixture_text("prestashop/product.xml").encode())
    (product,) = psxml.records(root)
    from integrations.connectors.prestashop.parsers import text
    assert text(product["name"], 2) == "Drahtbürste" and text(product["name"], None) == "Wire brush"
    assert text("Plain", 2) == "Plain"  # JSON collapses single-language shops to a plain value


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<prestashop><orders>&lol2;</orders></prestashop>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><prestashop><order>&xxe;</order></prestashop>"""


@pytest.mark.parametrize("body", [BOMB, EXTERNAL])
@responses.activate
def test_xml_bombs_and_external_entities_are_refused(make_connection, body):
    responses.get(f"{API}/orders/1", body=body, content_type="text/xml")
    with pytest.raises(errors.UnsafeContent, match="refuse to parse"):
        PrestaShopClient(make_connection("prestashop"), output="XML").get("orders", 1)


@responses.activate
def test_malformed_bodies_are_transient(make_connection):
    responses.get(f"{API}/orders/1", body=b"{\"order\": {\"id\": 1", content_type="application/json")
    responses.get(f"{API}/orders/2", body=b"<prestashop><order>", content_type="text/xml")
    client = PrestaShopClient(make_connection("prestashop"))
    with pytest.raises(errors.TransientError, match="not valid JSON"):
        client.get("orders", 1)
    with pytest.raises(errors.TransientError, match="could not be read"):
        client.get("orders", 2)


@responses.activate
def test_missing_record_is_not_found(make_connection):
    responses.get(f"{API}/orders/999", status=404, body=b"")
    with pytest.raises(errors.NotFound):
        PrestaShopClient(make_connection("prestashop")).get("orders", 999)


@responses.activate
def test_bad_key_marks_the_connection(make_connection):
    responses.get(f"{API}/orders/1", status=401, json=fixture_json("prestashop/error_401.json"))
    connection = make_connection("prestashop")
    with pytest.raises(errors.AuthError, match="Advanced Parameters > Webservice"):
        PrestaShopClient(connection).get("orders", 1)
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_ATTENTION
    assert "not active" in connection.last_check_message


@responses.activate
def test_tracking_on_1_7_is_get_modify_put_of_the_whole_record(make_connection):
    responses.get(f"{API}/order_carriers", json={"order_carriers": [{"id": 7}]},
                  headers={"PSWS-Version": "1.7.8.11"})
    responses.get(f"{API}/order_carriers/7", body=fixture_text("prestashop/order_carrier.xml"),
                  content_type="text/xml")
    responses.put(f"{API}/order_carriers/7", json={"order_carrier": {"id": 7, "tracking_number": "1Z999"}})
    client = PrestaShopClient(make_connection("prestashop"))
    client.set_tracking(1, "1Z999")
    put = responses.calls[-1].request
    assert put.method == "PUT" and put.headers["Content-Type"] == "application/xml"
    (record,) = psxml.records(psxml.parse(put.body))
    assert record["tracking_number"] == "1Z999"
    assert record["weight"] == "2.500000" and record["id_carrier"] == "3"  # the rest of the record is kept


@responses.activate
def test_product_put_drops_read_only_fields(make_connection):
    responses.get(f"{API}/", body=fixture_text("prestashop/api_root.xml"), headers={"PSWS-Version": "1.7.8.11"})
    responses.get(f"{API}/products/3", body=fixture_text("prestashop/product.xml"), content_type="text/xml")
    responses.put(f"{API}/products/3", json={"product": {"id": 3}})
    PrestaShopClient(make_connection("prestashop")).update("products", 3, {"price": "13.000000", "name": "Brush"})
    body = responses.calls[-1].request.body
    assert b"manufacturer_name" not in body and b"<quantity>" not in body
    (record,) = psxml.records(psxml.parse(body))
    assert record["price"] == "13.000000" and [n["value"] for n in record["name"]] == ["Brush", "Brush"]
    assert record["associations"]["categories"] == [{"id": "2"}]


@responses.activate
def test_stock_on_8_is_a_patch_of_the_changed_field(make_connection):
    responses.get(f"{API}/stock_availables", json={"stock_availables": [{"id": 31, "quantity": "4"}]},
                  headers={"PSWS-Version": "8.1.0"})
    responses.patch(f"{API}/stock_availables/31", json={"stock_available": {"id": 31, "quantity": "12"}})
    client = PrestaShopClient(make_connection("prestashop"))
    client.set_stock(3, 12)
    assert query(responses.calls[0].request)["filter[id_product]"] == "[3]"
    patch = responses.calls[-1].request
    assert patch.method == "PATCH"
    (record,) = psxml.records(psxml.parse(patch.body))
    assert record == {"id": "31", "quantity": "12"}
    assert len(responses.calls) == 2  # no GET of the full record on 8+


@responses.activate
def test_order_state_by_name_goes_through_order_histories(make_connection):
    register_reads()
    responses.post(f"{API}/order_histories", status=201, json={"order_history": {"id": 40}})
    client = PrestaShopClient(make_connection("prestashop"))
    client.set_order_state(1, "shipped")
    post = responses.calls[-1].request
    (record,) = psxml.records(psxml.parse(post.body))
    assert record == {"id_order": "1", "id_order_state": "4"}
    with pytest.raises(errors.PermanentError, match="no order state named"):
        client.set_order_state(1, "Teleported")


@responses.activate
def test_validation_errors_become_sentences(make_connection):
    responses.post(f"{API}/order_histories", status=400, body=fixture_text("prestashop/error_validation.xml"),
                   content_type="text/xml")
    with pytest.raises(errors.ValidationFailed) as info:
        PrestaShopClient(make_connection("prestashop")).create("order_histories", {"id_order": 1})
    assert info.value.field_errors == ["OrderCarrier field “tracking_number” is not valid (PrestaShop error 85)."]


def test_api_root_lists_permissions():
    allowed = psxml.resources(psxml.parse(fixture_text("prestashop/api_root.xml").encode()))
    assert allowed["order_histories"] == {"GET", "POST", "HEAD"}
    assert "PUT" in allowed["stock_availables"]


def test_carrier_id_becomes_the_carrier_name_that_the_carriers_map_turns_into_a_tims_code():
    """PrestaShop orders name their carrier by id; the value map is keyed by the names a default install (and the
    sandbox) has, so the parser resolves the id through the `carriers` lookup."""
    from integrations.connectors.prestashop import parsers
    from mappings import templates
    from mappings.engine import CompiledMapping
    from mappings.transforms import CompiledValueMap

    raw = fixture_json("prestashop/orders_full.json")["orders"][0]  # id_carrier 3
    lookups = {"currencies": {"1": "EUR"}, "countries": {"8": "FR", "21": "US"}, "states": {"2": "Payment accepted"},
               "customers": {}, "addresses": {}}
    order = parsers.order(raw, timezone_name="Europe/Paris", carriers={"1": "Click and collect", "3": "DHL Express"},
                          **lookups)
    assert order.shipping_method == "DHL Express"
    unknown = parsers.order(raw, timezone_name="Europe/Paris", carriers={"1": "Click and collect"}, **lookups)
    assert unknown.shipping_method == "3"  # a carrier the shop no longer has: its id, reported as unmapped

    value_maps = [CompiledValueMap(name, entries, default, strict, pk=index + 1)
                  for index, (name, (_, strict, default, entries)) in enumerate(templates.VALUE_MAPS.items())]
    definition = templates.mapping_sets_for("prestashop_tims", shop_timezone="Europe/Paris")[0]
    mapping = CompiledMapping(definition, value_maps)
    lookup = {"tims_customer_by_email": lambda email: "C000123"}
    record = templates.sample_order("prestashop")
    for name, code in [("DHL Express", "DHL-EXP"), ("Click and collect", "PICKUP"), ("My carrier", "STANDARD")]:
        record["shipping_method"] = name
        result = mapping.apply(record, lookup)
        assert result.output["ShippingMethod"] == code and result.unmapped == [], (name, result.unmapped)
