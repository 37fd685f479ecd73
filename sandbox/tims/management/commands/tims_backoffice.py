"""python manage.py tims_backoffice ship|cancel|invoice|allocate|stock|item|token-lifetime — what TIMS staff do,
as JSON. A refusal is one line on stderr and exit status 1."""

import json

from django.core.management.base import BaseCommand, CommandError

from sandbox.models import Sandbox
from sandbox.tims import backoffice
from sandbox.tims.operations import ActionRefused


class Command(BaseCommand):
    help = "Act as TIMS staff on a sandbox: ship, cancel, invoice, allocate, count stock, change an item."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ship = sub.add_parser("ship", help="Ship a sales order: all that stock allows, or the --lines given.")
        ship.add_argument("--slug", required=True)
        ship.add_argument("--order", required=True, help="SalesOrderID, e.g. SO000001")
        ship.add_argument("--lines", default=None, help="SKU:QTY[,SKU:QTY] for a partial shipment. "
                                                        "Default: everything that stock allows.")
        ship.add_argument("--carrier", default="UPS")
        ship.add_argument("--tracking", default="", help="Default: a generated tracking number.")
        ship.add_argument("--shipping-class", "--class", dest="shipping_class", default="Ground")
        for name, text in (("invoice", "Invoice a sales order."), ("allocate", "Reserve stock for a sales order."),
                           ("cancel", "Cancel a sales order that has not shipped (releases its stock).")):
            action = sub.add_parser(name, help=text)
            action.add_argument("--slug", required=True)
            action.add_argument("--order", required=True)
        stock = sub.add_parser("stock", help="Set OnHand of an item at a location (a stock count).")
        stock.add_argument("--slug", required=True)
        stock.add_argument("--sku", required=True)
        stock.add_argument("--quantity", type=int, required=True)
        stock.add_argument("--location", default=None, help="Default: MAIN.")
        item = sub.add_parser("item", help="Change an item's price, description or active flag (item.updated).")
        item.add_argument("--slug", required=True)
        item.add_argument("--sku", required=True)
        item.add_argument("--price", default=None)
        item.add_argument("--description", default=None)
        item.add_argument("--active", choices=["yes", "no"], default=None)
        lifetime = sub.add_parser("token-lifetime", help="How many seconds new access tokens live.")
        lifetime.add_argument("--slug", required=True)
        lifetime.add_argument("--seconds", type=int, required=True)

    def handle(self, *args, action, slug, **options):
        try:
            sandbox = Sandbox.objects.get(slug=slug)
        except Sandbox.DoesNotExist:
            raise CommandError(f"No sandbox “{slug}”.") from None
        try:
            result = self.run(action, sandbox, options)
        except ActionRefused as refused:
            problem = {"error": refused.code, "message": refused.message}
            if refused.field:
                problem["field"] = refused.field
            raise CommandError(json.dumps(problem, ensure_ascii=False)) from None
        self.stdout.write(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True))

    def run(self, action, sandbox, options):
        if action == "ship":
            lines = None if options["lines"] is None else backoffice.parse_lines(options["lines"])
            return backoffice.ship(sandbox, options["order"], carrier=options["carrier"],
                                   tracking_number=options["tracking"], shipping_class=options["shipping_class"],
                                   lines=lines)
        if action == "cancel":
            return backoffice.cancel(sandbox, options["order"])
        if action == "invoice":
            return backoffice.invoice(sandbox, options["order"])
        if action == "allocate":
            return backoffice.allocate(sandbox, options["order"])
        if action == "stock":
            return backoffice.set_stock(sandbox, options["sku"], options["quantity"], options["location"])
        if action == "item":
            active = None if options["active"] is None else options["active"] == "yes"
            return backoffice.update_item(sandbox, options["sku"], unit_price=options["price"],
                                          description=options["description"], active=active)
        return backoffice.set_token_lifetime(sandbox, options["seconds"])
