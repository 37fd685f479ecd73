"""python manage.py ca_backoffice cancel — what happens on the marketplace side of ChannelAdvisor, as JSON."""

import json

from django.core.management.base import BaseCommand, CommandError

from sandbox.channeladvisor import actions
from sandbox.channeladvisor import models as m
from sandbox.models import Sandbox


class Command(BaseCommand):
    help = "Act as a marketplace buyer on a ChannelAdvisor sandbox: cancel an order that has not shipped."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        cancel = sub.add_parser("cancel", help="The buyer cancels the whole order (refused once anything shipped).")
        cancel.add_argument("--slug", required=True)
        cancel.add_argument("--order", required=True, type=int, help="The ChannelAdvisor order ID.")
        cancel.add_argument("--reason", default="BuyerCancelled", choices=m.ADJUSTMENT_REASONS)

    def handle(self, *args, action, slug, **options):
        try:
            sandbox = Sandbox.objects.get(slug=slug)
        except Sandbox.DoesNotExist:
            raise CommandError(f"No sandbox “{slug}”.") from None
        try:
            result = actions.marketplace_cancel(sandbox, options["order"], options["reason"])
        except actions.Invalid as refused:
            raise CommandError(json.dumps({"error": "refused", "message": str(refused)})) from None
        self.stdout.write(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True))
