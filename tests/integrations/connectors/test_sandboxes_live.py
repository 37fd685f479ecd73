"""Each client against its sandbox over real HTTP (pytest-django's live_server)."""

import random
from datetime import UTC, datetime

import pytest

from integrations import canonical as c
from integrations.connectors import errors
from integrations.connectors.channeladvisor.client import ChannelAdvisorClient
from integrations.connectors.checks import test_connection as check_connection
from integrations.connectors.models import RateState
from integrations.connectors.prestashop.client import PrestaShopClient
from integrations.connectors.tims.client import TimsClient
from integrations.models import Connection, ConnectionStatus
from mappings.templates import sample_order
from sandbox import services
from sandbox.prestashop.provision import configure

from .conftest import mapped_sales_order

pytestmark = pytest.mark.django_db(transaction=True)


def _connect(org, live_server, kind, *, orders=4, products=3, customers=3, **settings):
    sandbox, _ = services.create_sandbox(f"live-{kind}")
    secrets = services.issue_credentials(sandbox, live_server.url)[kind]
    services.system_module(kind).generate(sandbox, orders=orders, products=products, customers=customers,
                                          state=None, unknown_sku=0, rng=random.Random(7))
    names = {name for name, _ in Connection(kind=kind).kind_spec.secrets}
    if kind == "channeladvisor":
        settings["profile_id"] = secrets["profile_id"]
    return Connection.objects.create(
        organization=org, kind=kind, name=f"{kind} sandbox", base_url=secrets["base_url"], sandbox=sandbox,
        credentials={k: v for k, v in secrets.items() if k in names}, settings=settings)


def _assert_checks_pass(connection):
    results = check_connection(connection)
    assert all(r.ok for r in results), [str(r) for r in results]
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.OK


def test_prestashop_against_its_sandbox(org, live_server):
    connection = _connect(org, live_server, "prestashop", timezone="Europe/Paris")
    _assert_checks_pass(connection)
    client = PrestaShopClient(connection)
    pages = list(client.changed_orders(datetime(2000, 1, 1, tzinfo=UTC), page_size=3))
    orders = list({o.source_id: o for page in pages for o in page}.values())  # keyset paging re-reads a second
    assert len(orders) == 4 and all(o.customer and o.shipping_address and o.lines for o in orders)
    assert all(o.total.currency and o.updated_at.tzinfo for o in orders)
    again = client.read_orders([o.source_id for o in orders])
    assert [o.to_dict() for o in again] == [o.to_dict() for o in sorted(orders, key=lambda o: int(o.source_id))]

    order = orders[0]
    client.set_order_state(order.source_id, "Shipped")
    client.set_tracking(order.source_id, "1Z999AA10123456784")
    assert client.read_orders([order.source_id])[0].status == "Shipped"
    product_id = order.lines[0].extra["product_id"]
    attribute_id = order.lines[0].extra.get("product_attribute_id") or 0
    client.set_stock(product_id, 42, attribute_id)
    assert client.stock_available(product_id, attribute_id)["quantity"] in (42, "42")

    # The same shop as PrestaShop 1.7 answering XML: reads parse the same, updates become GET-modify-PUT.
    configure(connection.sandbox, version="1.7.8.11")
    client = PrestaShopClient(connection, output="XML")
    (page,) = client.changed_orders(datetime(2000, 1, 1, tzinfo=UTC), page_size=10)
    by_id = sorted(page, key=lambda o: int(o.source_id))
    assert [o.to_dict() for o in by_id] == [o.to_dict() for o in client.read_orders([o.source_id for o in page])]
    client.set_tracking(order.source_id, "TRACK-17")
    assert client.ws_version() == 1


def test_channeladvisor_against_its_sandbox(org, live_server):
    connection = _connect(org, live_server, "channeladvisor", orders=25)
    _assert_checks_pass(connection)
    client = ChannelAdvisorClient(connection)
    orders = [o for page in client.new_orders() for o in page]
    assert len(orders) == 25 and all(o.lines and o.currency for o in orders)
    first = orders[0]
    shipped = client.ship(first.source_id, c.Shipment(
        source="tims", source_id="S1", tracking_number="1Z999", shipped_at=datetime.now(UTC),
        lines=[c.ShipmentLine(sku=line.sku, quantity=line.quantity) for line in first.lines]),
        carrier="UPS", shipping_class="Ground")
    assert shipped.state == "Shipped" and not shipped.already
    client.export(first.source_id)
    assert first.source_id not in {o.source_id for page in client.new_orders() for o in page}
    product_id = client.product_id(first.lines[0].sku)
    client.update_quantity(product_id, 7)
    results = client.batch([client.quantity_part(product_id, 8), client.price_part(
        product_id, [c.Price(sku=first.lines[0].sku, price=c.Money("19.99", "USD"))])])
    assert all(r.ok for r in results), results


def test_tims_against_its_sandbox(org, live_server):
    connection = _connect(org, live_server, "tims", orders=0, default_location="MAIN")
    _assert_checks_pass(connection)
    client = TimsClient(connection)
    items = [i for page in client.items() for i in page]
    assert items and all(i.price.amount >= 0 for i in items)
    customer = client.create_customer(c.Customer(source="prestashop", source_id="2", email="zoë@example.com",
                                                 first_name="Zoë", last_name="Ærø"))
    assert client.find_customer("zoë@example.com").source_id == customer.source_id
    order = c.Order.from_dict(sample_order("prestashop"))
    order.number, order.currency = "LIVE-0001", "USD"
    order.total = c.Money(items[0].price.amount * 2, "USD")
    order.lines = [c.OrderLine(sku=items[0].sku, quantity=2, unit_price=items[0].price)]
    body = mapped_sales_order(order, customer.source_id)  # the order mapping builds the body
    for name in body.get("CustomFields") or {}:
        client.create_custom_field("sales_order", name)
    first = client.create_sales_order(body, key="sales-order:live:1")
    second = client.create_sales_order(body, key="sales-order:live:1")
    assert first.source_id == second.source_id
    assert client.quantity(items[0].sku).sku == items[0].sku

    # Faults injected by the sandbox arrive as the right error classes.
    services.set_faults(connection.sandbox, "tims", throttle_rate=1.0, throttle_burst=1, retry_after_seconds=2)
    with pytest.raises(errors.RateLimited) as info:
        client.get_item(items[0].sku)
    assert info.value.retry_after == 2
    RateState.objects.filter(pk=connection.pk).update(paused_until=None)  # skip the 2 s pause the 429 asked for
    services.set_faults(connection.sandbox, "tims", "down")
    with pytest.raises(errors.TransientError) as info:
        client.get_item(items[0].sku)
    assert info.value.status == 503
    services.set_faults(connection.sandbox, "tims", "none")
    services.revoke_credentials(connection.sandbox, "tims")
    Connection.objects.filter(pk=connection.pk).update(token_cache={})
    connection.refresh_from_db()
    with pytest.raises(errors.AuthError, match="client secret"):
        TimsClient(connection).get_item(items[0].sku)
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_ATTENTION
