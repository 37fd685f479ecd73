"""`sandbox generate` dates new orders now, as a live shop does, so a poller's watermark sees them; history only by
`--history-days`."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from sandbox import services
from sandbox.channeladvisor.models import Order as CAOrder
from sandbox.prestashop import clock
from sandbox.prestashop.models import Order as PSOrder
from sandbox.prestashop.models import Shop
from sandbox.tims.models import SalesOrder

pytestmark = pytest.mark.django_db
NEAR = timedelta(minutes=1)


@pytest.fixture
def sandbox():
    return services.create_sandbox("dates-test")[0]


def generate(system, *options):
    out = StringIO()
    call_command("sandbox", "generate", "--slug", "dates-test", "--system", system, "--seed", "3", *options,
                 stdout=out)
    return json.loads(out.getvalue())


def test_new_prestashop_orders_are_dated_now_in_shop_time(sandbox):
    generate("prestashop", "--products", "4", "--customers", "2", "--orders", "6")
    shop_now = clock.now(Shop.objects.get(sandbox=sandbox))
    orders = list(PSOrder.objects.filter(sandbox=sandbox))
    assert len(orders) == 6
    for order in orders:
        assert shop_now - NEAR <= order.date_add <= shop_now and order.date_upd == order.date_add


def test_new_channeladvisor_orders_are_dated_now(sandbox):
    generate("channeladvisor", "--products", "4", "--orders", "6")
    now = timezone.now()
    for order in CAOrder.objects.filter(sandbox=sandbox):
        for moment in (order.created_date_utc, order.checkout_date_utc, order.import_date_utc,
                       order.payment_date_utc or order.created_date_utc):
            assert now - NEAR <= moment <= now


def test_new_tims_orders_are_dated_now(sandbox):
    generate("tims", "--products", "4", "--customers", "2", "--orders", "3")
    now = timezone.now()
    for order in SalesOrder.objects.filter(sandbox=sandbox):
        assert now - NEAR <= order.order_date <= now


def test_history_days_spreads_orders_over_the_past(sandbox):
    generate("prestashop", "--products", "4", "--customers", "2", "--orders", "12", "--history-days", "10")
    generate("channeladvisor", "--products", "4", "--orders", "12", "--history-days", "10")
    shop_now = clock.now(Shop.objects.get(sandbox=sandbox))
    placed = [order.date_add for order in PSOrder.objects.filter(sandbox=sandbox)]
    assert all(shop_now - timedelta(days=10) <= moment <= shop_now for moment in placed)
    assert min(placed) < shop_now - timedelta(days=1)
    now = timezone.now()
    created = [order.created_date_utc for order in CAOrder.objects.filter(sandbox=sandbox)]
    assert all(now - timedelta(days=10) <= moment <= now for moment in created)
    assert min(created) < now - timedelta(days=1)
    for order in CAOrder.objects.filter(sandbox=sandbox):  # what follows the creation is never in the future
        assert order.created_date_utc <= order.checkout_date_utc <= order.import_date_utc <= now
