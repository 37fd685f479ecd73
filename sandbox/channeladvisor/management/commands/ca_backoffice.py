"""python manage.py ca_backoffice cancel|settlement — what happens on the marketplace side of ChannelAdvisor."""

import json
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from sandbox.channeladvisor import actions
from sandbox.channeladvisor import models as m
from sandbox.channeladvisor.settlement import settlement_csv
from sandbox.models import Sandbox


class Command(BaseCommand):
    help = ("Act as the marketplace of a ChannelAdvisor sandbox: a buyer cancels an order that has not shipped, or "
            "the marketplace's settlement report of the orders it pays out (CSV, for Marketplace payouts).")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        cancel = sub.add_parser("cancel", help="The buyer cancels the whole order (refused once anything shipped).")
        cancel.add_argument("--slug", required=True)
        cancel.add_argument("--order", required=True, type=int, help="The ChannelAdvisor order ID.")
        cancel.add_argument("--reason", default="BuyerCancelled", choices=m.ADJUSTMENT_REASONS)
        settle = sub.add_parser("settlement", help="Print the settlement CSV of the shipped orders.")
        settle.add_argument("--slug", required=True)
        settle.add_argument("--days", type=int, help="Only orders shipped in this many past days (default: all).")
        settle.add_argument("--fee-percent", type=Decimal, default=Decimal("15"), help="The marketplace's fee.")

    def handle(self, *args, action, slug, **options):
        try:
            sandbox = Sandbox.objects.get(slug=slug)
        except Sandbox.DoesNotExist:
            raise CommandError(f"No sandbox “{slug}”.") from None
        if action == "settlement":
            self.stdout.write(settlement_csv(sandbox, days=options["days"], fee_percent=options["fee_percent"]),
                              ending="")
            return
        try:
            result = actions.marketplace_cancel(sandbox, options["order"], options["reason"])
        except actions.Invalid as refused:
            raise CommandError(json.dumps({"error": "refused", "message": str(refused)})) from None
        self.stdout.write(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True))
