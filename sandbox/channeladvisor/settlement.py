"""A marketplace's settlement report for the sandbox's orders: what a marketplace (Amazon's flat-file settlement
report, eBay's payouts report) pays out for the orders that shipped, net of its fees. ChannelAdvisor's API does not
serve these; sellers download them from the marketplace, so the back office writes one as CSV."""

import csv
import io
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from sandbox.channeladvisor import models as m

HEADER = ["settlement-id", "posted-date", "order-id", "marketplace", "currency", "amount", "fee"]
CENT = Decimal("0.01")


def settlement_csv(sandbox, *, days=None, fee_percent=Decimal("15"), settlement_id=None, now=None):
    """CSV text: one line per shipped order (shipped in the last `days` days, when given), its total and the
    marketplace's fee."""
    now = now or timezone.now()
    orders = m.Order.objects.filter(sandbox=sandbox, shipping_status="Shipped").order_by("shipping_date_utc", "pk")
    if days is not None:
        orders = orders.filter(shipping_date_utc__gte=now - timedelta(days=days))
    settlement_id = settlement_id or f"{now:%Y%m%d}{sandbox.pk:04d}"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for order in orders:
        fee = (order.total_price * fee_percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        writer.writerow([settlement_id, f"{now:%Y-%m-%d}", order.site_order_id, order.site_name or "Marketplace",
                         order.currency, f"{order.total_price:.2f}", f"{fee:.2f}"])
    return out.getvalue()
