"""The connectors read what the sandboxes' back offices file: ChannelAdvisor adjustments (buyer returns, seller
refunds, cancellations) and PrestaShop credit slips, over real HTTP, as canonical Returns."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from integrations import canonical as c
from integrations.connectors.channeladvisor import parsers as ca_parsers
from integrations.connectors.channeladvisor.client import ChannelAdvisorClient
from integrations.connectors.prestashop import parsers as ps_parsers
from integrations.connectors.prestashop.client import PrestaShopClient
from integrations.models import Connection
from sandbox import services
from sandbox.channeladvisor import actions
from sandbox.channeladvisor import models as cam
from sandbox.models import Sandbox
from sandbox.prestashop import backoffice, provision
from sandbox.prestashop.models import Order, OrderRow

pytestmark = pytest.mark.django_db(transaction=True)

SHIP = {"ShippedDateUtc": "2026-03-04T10:00:00Z", "TrackingNumber": "1Z999AA10123456784", "ShippingCarrier": "UPS",
        "ShippingClass": "Ground", "DeliveryStatus": "Complete"}


@pytest.fixture
def ca_sandbox(live_server):
    created, _ = services.create_sandbox("ca-returns")
    yield created
    created.delete()


@pytest.fixture
def ca_connection(org, live_server, ca_sandbox):
    secrets = services.issue_credentials(ca_sandbox, live_server.url)["channeladvisor"]
    names = {name for name, _ in Connection(kind="channeladvisor").kind_spec.secrets}
    return Connection.objects.create(
        organization=org, kind="channeladvisor", name="ChannelAdvisor sandbox", base_url=secrets["base_url"],
        sandbox=ca_sandbox, credentials={k: v for k, v in secrets.items() if k in names},
        settings={"profile_id": secrets["profile_id"]})


def ca_order(sandbox, *lines, ship=True):
    config = cam.Config.objects.get(sandbox=sandbox)
    order = actions.create_order(sandbox, config, {
        "SiteOrderID": f"R-{random.randrange(10**9)}", "Currency": "EUR",
        "Items": [{"Sku": sku, "Quantity": quantity, "UnitPrice": 10, "TaxPrice": 2 * quantity}
                  for sku, quantity in lines]})
    if ship:
        actions.ship_order(order, {"Value": SHIP})
    return order


def test_channeladvisor_adjustments_are_returns(ca_connection, ca_sandbox):
    client = ChannelAdvisorClient(ca_connection)
    start = datetime.now(UTC) - timedelta(seconds=2)
    returned, refunded = ca_order(ca_sandbox, ("A-1", 3), ("B-1", 1)), ca_order(ca_sandbox, ("C-1", 2))
    cancelled = ca_order(ca_sandbox, ("D-1", 1), ship=False)
    made = actions.buyer_return(ca_sandbox, returned.id, "A-1", 2)["adjustments"][0]
    client.export(returned.id)  # returns come after the export: still found
    actions.seller_refund(ca_sandbox, refunded.id, amount=Decimal("5"), reason="Other")
    actions.back_office_cancel(ca_sandbox, cancelled.id)

    [ret] = client.order_adjustments(returned.id)
    assert isinstance(ret, c.Return) and ret.source == "channeladvisor"
    assert (ret.source_id, ret.order_id, ret.status) == (str(made["ID"]), str(returned.id), "pending")
    [line] = ret.lines
    assert (line.sku, line.quantity, line.reason, line.restock) == ("A-1", 2, "CustomerReturnedItem", True)
    assert line.amount == c.Money(Decimal("24"), "EUR") and ret.refund == c.Money(Decimal("24"), "EUR")
    assert ret.extra["RmaNumber"] == made["RmaNumber"] and ret.extra["RestockStatus"] == "Pending"
    assert ret.created_at is not None and ret.created_at.tzinfo is not None

    found = client.adjustments(since=start)
    by_order = {r.order_id: r for r in found}
    assert set(by_order) == {str(returned.id), str(refunded.id), str(cancelled.id)}
    order_refund = by_order[str(refunded.id)]
    assert order_refund.lines == [] and order_refund.refund == c.Money(Decimal("5"), "EUR")
    assert (order_refund.status, order_refund.extra["Reason"]) == ("refunded", "Other")
    assert by_order[str(cancelled.id)].status == "cancelled"
    assert client.adjustments(since=datetime.now(UTC) + timedelta(minutes=5)) == []
    assert {r.source_id for r in client.adjustments()} == {r.source_id for r in found}


def test_channeladvisor_parser_takes_item_adjustments_and_fees():
    order = {"ID": 7, "Currency": "USD", "Items": [{"ID": 70, "Sku": "X-1", "Adjustments": [
        {"ID": 9, "OrderID": 7, "OrderItemID": 70, "Type": "Refund", "Reason": "CustomerReturnedItem", "Quantity": 1,
         "ItemAdjustment": 10, "TaxAdjustment": 1.5, "RestockingFee": 2, "ReturnShippingFee": 0.5,
         "RequestStatus": "Complete", "RestockStatus": "Restocked", "CreatedDateUtc": "2026-03-05T08:00:00Z"}]}],
        "Adjustments": []}
    [ret] = ca_parsers.order_adjustments(order)
    assert ret.refund == c.Money(Decimal("9.0"), "USD") and ret.lines[0].amount == c.Money(Decimal("11.5"), "USD")
    assert ret.status == "refunded" and ret.lines[0].restock and ret.lines[0].sku == "X-1"


@pytest.fixture
def ps_shop(org, live_server):
    sandbox = Sandbox.objects.create(slug="ps-returns", name="ps returns")
    credentials = provision.issue_credentials(sandbox, live_server.url + services.base_path(sandbox, "prestashop"))
    provision.generate(sandbox, orders=6, products=6, customers=3, state="Payment accepted", unknown_sku=0,
                       rng=random.Random(3), history_days=5)
    connection = Connection.objects.create(
        organization=org, kind="prestashop", name="shop", base_url=credentials["base_url"], sandbox=sandbox,
        credentials={"ws_key": credentials["ws_key"]}, settings={"timezone": "Europe/Paris"})
    yield sandbox, connection
    sandbox.delete()


def test_prestashop_credit_slips_are_returns(ps_shop):
    sandbox, connection = ps_shop
    client = PrestaShopClient(connection)
    start = datetime.now(UTC) - timedelta(seconds=1)
    first, second = list(Order.objects.filter(sandbox=sandbox).order_by("id")[:2])
    row = OrderRow.objects.filter(order=first).order_by("id").first()
    partial = backoffice.refund(sandbox, first.id, row.product_reference, 1)["order_slip"]
    whole = backoffice.refund(sandbox, second.id)["order_slip"]

    [ret] = client.order_slips_for(first.id)
    assert (ret.source, ret.source_id, ret.order_id, ret.status) == ("prestashop", partial["id"], str(first.id),
                                                                    "refunded")
    [line] = ret.lines
    assert (line.sku, line.quantity, line.source_id) == (row.product_reference, 1, str(row.id))
    assert line.amount.amount == Decimal(partial["order_slip_details"][0]["amount_tax_incl"])
    assert ret.refund.amount == Decimal(partial["total_products_tax_incl"]) and ret.refund.currency
    assert ret.extra["order_reference"] == first.reference and ret.created_at.tzinfo is not None

    found = client.credit_slips(updated_since=start)
    assert [r.source_id for r in found] == [partial["id"], whole["id"]]
    full = found[1]
    rows = OrderRow.objects.filter(order=second)
    assert sorted((line.sku, line.quantity) for line in full.lines) == sorted(
        (r.product_reference, r.product_quantity) for r in rows)
    assert full.refund.amount == Decimal(whole["total_products_tax_incl"]) + Decimal(whole["total_shipping_tax_incl"])
    assert sum(line.amount.amount for line in full.lines) == Decimal(whole["total_products_tax_incl"])
    assert client.credit_slips(updated_since=datetime.now(UTC) + timedelta(hours=1)) == []
    assert len(client.credit_slips()) == 2


def test_prestashop_slip_parser_reads_a_partial_refund_and_unknown_rows():
    slip = {"id": "3", "id_order": "5", "amount": "12.000000", "shipping_cost_amount": "6.000000",
            "total_products_tax_incl": "0.000000", "total_shipping_tax_incl": "0.000000", "partial": "1",
            "date_add": "2026-03-01 10:00:00",
            "associations": {"order_slip_details": [{"id": "1", "id_order_detail": "99", "product_quantity": "1",
                                                     "amount_tax_incl": "12.000000"}]}}
    ret = ps_parsers.credit_slip(slip, order_raw=None, timezone_name="Europe/Paris", currencies={})
    assert ret.refund.amount == Decimal("18") and ret.lines[0].sku == "" and ret.lines[0].source_id == "99"
