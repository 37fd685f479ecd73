import json
import random
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from integrations import canonical as c
from integrations.connectors import errors
from integrations.connectors.prestashop import xml as psxml
from integrations.connectors.prestashop.client import PrestaShopClient
from integrations.models import Connection, ConnectionStatus
from sandbox import services
from sandbox.models import Sandbox, SandboxCall
from sandbox.prestashop import provision
from sandbox.prestashop.models import Carrier as CarrierModel
from sandbox.prestashop.models import MailLog
from sandbox.prestashop.models import Order as OrderModel
from sandbox.prestashop.models import OrderCarrier as OrderCarrierModel
from sandbox.prestashop.models import OrderHistory as OrderHistoryModel

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
def test_a_flat_record_already_read_saves_1_7_the_get_before_the_put(make_connection):
    responses.get(f"{API}/", body=fixture_text("prestashop/api_root.xml"), headers={"PSWS-Version": "1.7.8.11"})
    responses.put(f"{API}/order_carriers/7", json={"order_carrier": {"id": 7}})
    row = {"id": 7, "id_order": "1", "id_carrier": "3", "weight": "2.500000", "tracking_number": "",
           "date_add": "2026-03-01 09:15:00"}
    client = PrestaShopClient(make_connection("prestashop"))
    client.update("order_carriers", 7, {"tracking_number": "1Z9"}, current=row, params={"sendemail": "1"})
    put = responses.calls[-1].request
    assert [c.request.method for c in responses.calls] == ["GET", "PUT"]  # the GET is the version probe only
    assert query(put)["sendemail"] == "1"
    (record,) = psxml.records(psxml.parse(put.body))
    assert record == {"id": "7", "id_order": "1", "id_carrier": "3", "weight": "2.500000", "tracking_number": "1Z9",
                      "date_add": "2026-03-01 09:15:00"}
    # A record with languages or associations is edited in the XML PrestaShop sends instead.
    responses.get(f"{API}/products/3", body=fixture_text("prestashop/product.xml"), content_type="text/xml")
    responses.put(f"{API}/products/3", json={"product": {"id": 3}})
    client.update("products", 3, {"price": "1"}, current={"id": 3, "name": [{"id": "1", "value": "Brush"}]})
    assert [c.request.method for c in responses.calls][-2:] == ["GET", "PUT"]


def test_tracking_numbers_are_checked_as_prestashop_does():
    from integrations.connectors.prestashop.parsers import tracking_number_problem

    assert tracking_number_problem("") is None and tracking_number_problem("A" * 64) is None
    assert tracking_number_problem("1Z 999/AA-10_12#3") is None
    assert tracking_number_problem("A" * 65)[0] == "max_length"
    assert tracking_number_problem("Colis-é")[0] == "invalid" and tracking_number_problem("a<b")[0] == "invalid"


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


# --- shipping and cancelling, against the sandbox shop over real HTTP ---------------------------------------------

def _live_shop(org, live_server, *, version="8.1.7", orders=6):
    """A sandbox shop (PrestaShop only, so other systems' sandboxes cannot get in the way) with paid orders, and a
    connection to it. The circuit breaker stays out: the lost-answer checks answer 500 on purpose."""
    sandbox = Sandbox.objects.create(slug=f"ps-ship-{version[0]}", name="ps ship")
    credentials = provision.issue_credentials(
        sandbox, live_server.url + services.base_path(sandbox, "prestashop"))
    provision.generate(sandbox, orders=orders, products=4, customers=3, state="Payment accepted", unknown_sku=0,
                       rng=random.Random(5))
    provision.configure(sandbox, version=version)
    connection = Connection.objects.create(
        organization=org, kind="prestashop", name="shop", base_url=credentials["base_url"], sandbox=sandbox,
        credentials={"ws_key": credentials["ws_key"]}, settings={"timezone": "Europe/Paris"})
    orders = list(OrderModel.objects.filter(sandbox=sandbox).order_by("id"))
    return sandbox, connection, orders


def _lines(order):
    return [c.ShipmentLine(sku=row.product_reference, quantity=row.product_quantity) for row in order.rows.all()]


def _shipment(order, tracking, lines=None):
    return c.Shipment(source="tims", source_id=f"S-{tracking}", order_id=str(order.id), tracking_number=tracking,
                      lines=_lines(order) if lines is None else lines)


class Calls:
    """The calls the sandbox answered since the last look: [(method, resource)]."""

    def __init__(self, sandbox):
        self.sandbox, self.seen = sandbox, SandboxCall.objects.filter(sandbox=sandbox, system="prestashop").count()

    def since(self):
        calls = list(SandboxCall.objects.filter(sandbox=self.sandbox, system="prestashop").order_by("id"))
        new, self.seen = calls[self.seen:], len(calls)
        return [(call.method, call.endpoint) for call in new]


def _rows(sandbox, order):
    return list(OrderCarrierModel.objects.filter(sandbox=sandbox, id_order=order.id).order_by("id"))


def _histories(sandbox, order):
    return OrderHistoryModel.objects.filter(sandbox=sandbox, id_order=order.id).count()


LIST, ONE = "api/<resource>", "api/<resource>/<id>"


@pytest.mark.django_db(transaction=True)
def test_ship_and_cancel_on_prestashop_8(org, live_server):
    sandbox, connection, orders = _live_shop(org, live_server)
    first, faulty, delivered, refused, cancelled = orders[:5]
    client = PrestaShopClient(connection, use_breaker=False)
    assert client.order_state(first.id) == "Payment accepted"
    client.carrier_id("Colissimo")  # reference data (states, carriers) is read once per connection and cached
    colissimo = CarrierModel.objects.get(sandbox=sandbox, name="Colissimo")
    calls = Calls(sandbox)

    # First shipment: tracking and carrier on the row the order came with, then the order moves to Shipped.
    original = _rows(sandbox, first)[0]
    done = client.ship(first.id, _shipment(first, "1Z999AA10123456784"), carrier="Colissimo",
                       shipping_class="Express", notify=True)
    assert calls.since() == [("GET", LIST), ("GET", LIST), ("PATCH", ONE), ("POST", LIST)]
    assert (done.source_id, done.tracking_number, done.carrier, done.shipping_class, done.already, done.state) == (
        str(original.id), "1Z999AA10123456784", "Colissimo", "Express", False, "Shipped")
    (row,) = _rows(sandbox, first)
    assert row.tracking_number == "1Z999AA10123456784" and row.id_carrier == colissimo.id
    assert row.weight == original.weight and row.shipping_cost_tax_incl == original.shipping_cost_tax_incl
    assert client.order_state(first.id) == "Shipped"
    assert list(MailLog.objects.filter(id_order=first.id).values_list("template", flat=True)) == ["shipped"]
    calls.since()

    # A second parcel: a row of its own; the order is already Shipped, so no history row.
    histories = _histories(sandbox, first)
    second = client.ship(first.id, _shipment(first, "JJD0002", _lines(first)[:1]), carrier="DHL Express")
    assert calls.since() == [("GET", LIST), ("GET", LIST), ("POST", LIST)]
    assert [r.tracking_number for r in _rows(sandbox, first)] == ["1Z999AA10123456784", "JJD0002"]
    assert second.source_id == str(_rows(sandbox, first)[1].id) and second.state == "Shipped"
    assert _histories(sandbox, first) == histories
    # The same shipment again (a replay): found by its tracking number, nothing written.
    again = client.ship(first.id, _shipment(first, "JJD0002", _lines(first)[:1]), carrier="DHL Express")
    assert calls.since() == [("GET", LIST), ("GET", LIST)]
    assert again.already and again.source_id == second.source_id
    assert [(f.tracking_number, f.carrier) for f in client.order_carriers(first.id)] == [
        ("1Z999AA10123456784", "Colissimo"), ("JJD0002", "DHL Express")]
    calls.since()

    # Lost answers: the PATCH is committed but answered 500, then the history POST too; the retries finish the
    # job without writing anything twice.
    services.set_faults(sandbox, "prestashop", commit_then_fail_rate=1.0)
    with pytest.raises(errors.TransientError):
        client.ship(faulty.id, _shipment(faulty, "LOST-1"), carrier="Colissimo")
    assert _rows(sandbox, faulty)[0].tracking_number == "LOST-1" and client.order_state(faulty.id) != "Shipped"
    with pytest.raises(errors.TransientError):
        client.ship(faulty.id, _shipment(faulty, "LOST-1"), carrier="Colissimo")
    services.set_faults(sandbox, "prestashop", profile_name="none")
    histories = _histories(sandbox, faulty)
    calls.since()
    replay = client.ship(faulty.id, _shipment(faulty, "LOST-1"), carrier="Colissimo")
    assert calls.since() == [("GET", LIST), ("GET", LIST)]
    assert replay.already and replay.state == "Shipped" and _histories(sandbox, faulty) == histories
    assert len(_rows(sandbox, faulty)) == 1

    # Already Delivered: the tracking is written, the state is left where it is.
    client.set_order_state(delivered.id, "Delivered")
    histories = _histories(sandbox, delivered)
    late = client.ship(delivered.id, _shipment(delivered, "LATE-1"), carrier="Colissimo", notify=True)
    assert late.state == "Delivered" and _histories(sandbox, delivered) == histories
    assert _rows(sandbox, delivered)[0].tracking_number == "LATE-1"
    assert not MailLog.objects.filter(id_order=delivered.id, template="shipped").exists()
    calls.since()

    # Refused before any write, every problem at once.
    sku = _lines(refused)[0].sku
    bad = [c.ShipmentLine(sku="NOT-ON-ORDER", quantity=1), c.ShipmentLine(sku=sku, quantity=999)]
    with pytest.raises(errors.ValidationFailed) as refusal:
        client.ship(refused.id, _shipment(refused, "1Z<bad>", bad), carrier="Pigeon post")
    assert {(f.path, f.code) for f in refusal.value.fields} == {
        ("Lines[0].SKU", "unknown_sku"), ("Lines[1].Quantity", "quantity_exceeds"), ("tracking_number", "invalid"),
        ("id_carrier", "invalid_carrier")}
    assert "Colissimo" in next(f.message for f in refusal.value.fields if f.code == "invalid_carrier")
    with pytest.raises(errors.ValidationFailed) as too_long:
        client.ship(refused.id, _shipment(refused, "A" * 65, []), carrier="Colissimo")
    assert {(f.path, f.code) for f in too_long.value.fields} == {("tracking_number", "max_length"),
                                                                 ("Lines", "required")}
    assert {method for method, _ in calls.since()} == {"GET"}
    assert _rows(sandbox, refused)[0].tracking_number == ""

    # Cancelling: once, then "already"; a cancelled order cannot be shipped; a shipped one cannot be cancelled.
    assert client.cancel(cancelled.id, reference="SO-77", notify=True) == "cancelled"
    assert client.order_state(cancelled.id) == "Canceled"
    assert MailLog.objects.filter(id_order=cancelled.id, template="order_canceled").count() == 1
    calls.since()
    assert client.cancel(cancelled.id, reference="SO-77") == "already"
    assert calls.since() == [("GET", LIST)]
    with pytest.raises(errors.ValidationFailed) as shipped_cancelled:
        client.ship(cancelled.id, _shipment(cancelled, "X-1"), carrier="Colissimo")
    assert shipped_cancelled.value.has_code("order_cancelled")
    with pytest.raises(errors.ValidationFailed) as too_late:
        client.cancel(first.id, reference="SO-1")
    assert too_late.value.has_code("already_shipped") and "SO-1" in str(too_late.value)
    assert client.order_state(first.id) == "Shipped"


@pytest.mark.django_db(transaction=True)
def test_ship_on_prestashop_17_puts_the_whole_row_without_reading_it_again(org, live_server):
    sandbox, connection, orders = _live_shop(org, live_server, version="1.7.8.11", orders=2)
    order = orders[0]
    client = PrestaShopClient(connection, output="XML", use_breaker=False)
    assert client.order_state(order.id) == "Payment accepted"
    client.carrier_id("Colissimo")
    calls = Calls(sandbox)
    original = _rows(sandbox, order)[0]
    done = client.ship(order.id, _shipment(order, "1Z17"), carrier="Colissimo")
    # No PATCH on 1.7, and no GET before the PUT: the row read with display=full is put back whole.
    assert calls.since() == [("GET", LIST), ("GET", LIST), ("PUT", ONE), ("POST", LIST)]
    (row,) = _rows(sandbox, order)
    assert row.tracking_number == "1Z17" and row.weight == original.weight and row.date_add == original.date_add
    assert row.shipping_cost_tax_excl == original.shipping_cost_tax_excl and done.state == "Shipped"
    client.ship(order.id, _shipment(order, "1Z17-B"), carrier="Colissimo")
    assert calls.since() == [("GET", LIST), ("GET", LIST), ("POST", LIST)]
    assert [r.tracking_number for r in _rows(sandbox, order)] == ["1Z17", "1Z17-B"]
    assert client.ship(order.id, _shipment(order, "1Z17"), carrier="Colissimo").already
