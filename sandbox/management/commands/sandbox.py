"""python manage.py sandbox create|reset|credentials|faults|generate|corrupt|act|stats|serve|deliver-webhooks"""

import json
import os
import random
import subprocess
import sys
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from sandbox import core, corruption, services
from sandbox.channeladvisor import actions as ca_actions
from sandbox.faults import FIELDS, PROFILES
from sandbox.models import Sandbox
from sandbox.prestashop import backoffice as ps_backoffice


def _order(options):
    if options.get("order") is None:
        raise ca_actions.Invalid("Name the order with --order ID.")
    return options["order"]


def _ps_order(options):
    if options.get("order") is None:
        raise ps_backoffice.Refused("Name the order with --order ID.")
    return options["order"]


def _ps_edit_customer(sandbox, o):
    if o.get("customer") is None:
        raise ps_backoffice.Refused("Name the customer with --customer ID.")
    fields = ("firstname", "lastname", "email", "company", "address1", "address2", "postcode", "city", "phone",
              "phone_mobile")
    return ps_backoffice.edit_customer(sandbox, o["customer"], o.get("address"), **{f: o.get(f) for f in fields})


# The back-office acts of each system: what staff (or the marketplace's buyer) do outside the API.
ACTS = {
    "channeladvisor": {
        "return": lambda sandbox, o: ca_actions.buyer_return(sandbox, _order(o), o.get("sku"), o.get("quantity"),
                                                             o.get("refunded", False), o.get("tracking_number", "")),
        "refund": lambda sandbox, o: ca_actions.seller_refund(sandbox, _order(o), o.get("sku"), o.get("quantity"),
                                                              o.get("amount"), o.get("reason") or "GeneralAdjustment"),
        "cancel": lambda sandbox, o: ca_actions.back_office_cancel(sandbox, _order(o),
                                                                   o.get("reason") or "BuyerCancelled"),
        "complete-refund": lambda sandbox, o: ca_actions.settle_refund(sandbox, _order(o), o.get("adjustment")),
        "fail-refund": lambda sandbox, o: ca_actions.settle_refund(sandbox, _order(o), o.get("adjustment"), "fail"),
    },
    "prestashop": {
        "refund": lambda sandbox, o: ps_backoffice.refund(sandbox, _ps_order(o), o.get("sku"), o.get("quantity"),
                                                          o.get("shipping"), keep_state=o.get("keep_state", False)),
        "edit-customer": _ps_edit_customer,
    },
}


class Command(BaseCommand):
    help = "Create, reset, fill, fault and serve the PrestaShop, ChannelAdvisor and TIMS sandboxes."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a sandbox with reference data.")
        create.add_argument("--slug", required=True)
        create.add_argument("--name", default="")
        reset = sub.add_parser("reset", help="Remove a sandbox's business data and call counts.")
        reset.add_argument("--slug", required=True)
        reset.add_argument("--system", choices=services.SYSTEM_NAMES)
        creds = sub.add_parser("credentials", help="Issue a fresh set of secrets and print them as JSON.")
        creds.add_argument("--slug", required=True)
        creds.add_argument("--server-root", default="", help="Prefix for base URLs, e.g. http://127.0.0.1:8000")
        creds.add_argument("--revoke-old", action="store_true", help="Older secrets stop working.")
        faults = sub.add_parser("faults", help="Set the faults a system injects.")
        faults.add_argument("--slug", required=True)
        faults.add_argument("--system", required=True, choices=services.SYSTEM_NAMES)
        faults.add_argument("--profile", choices=list(PROFILES))
        faults.add_argument("--seed", type=int)
        for field in FIELDS:
            faults.add_argument(f"--{field.replace('_', '-')}", type=float if "rate" in field or field ==
                                "hang_seconds" else int, dest=field)
        gen = sub.add_parser("generate", help="Make realistic data and print JSON naming it.")
        gen.add_argument("--slug", required=True)
        gen.add_argument("--system", required=True, choices=services.SYSTEM_NAMES)
        gen.add_argument("--orders", type=int, default=0)
        gen.add_argument("--products", type=int, default=0)
        gen.add_argument("--customers", type=int, default=0)
        gen.add_argument("--state", default=None, help="Put new orders in this state (created if missing).")
        gen.add_argument("--unknown-sku", type=int, default=0, help="How many orders carry a SKU TIMS lacks.")
        gen.add_argument("--seed", type=int, default=None)
        gen.add_argument("--history-days", type=int, default=0,
                         help="Date new orders over the past N days instead of now (a poller skips history).")
        corrupt = sub.add_parser("corrupt", help="Serve a raw value for one field of one order (or --clear).")
        corrupt.add_argument("--slug", required=True)
        corrupt.add_argument("--system", required=True, choices=corruption.SYSTEMS)
        corrupt.add_argument("--order", type=int, help="The order's ID.")
        corrupt.add_argument("--field", help="e.g. total_paid_tax_incl, date_upd (PrestaShop), TotalPrice (CA).")
        what = corrupt.add_mutually_exclusive_group()
        what.add_argument("--value", help="The raw value to serve, as a string.")
        what.add_argument("--json-value", help="The raw value as a JSON literal: 12.5, null, true, [] ...")
        what.add_argument("--remove", action="store_true", help="Leave the field out of the answer.")
        what.add_argument("--clear", action="store_true",
                          help="Serve stored values again (all of the system's, or of --order / --field).")
        act = sub.add_parser("act", help="Act in a system's back office (returns, refunds, customer edits); JSON.")
        act.add_argument("--slug", required=True)
        act.add_argument("--system", required=True, choices=sorted(ACTS))
        act.add_argument("what", help="channeladvisor: return, refund, cancel, complete-refund, fail-refund; "
                                      "prestashop: refund, edit-customer")
        act.add_argument("--order", type=int, help="The order's ID.")
        act.add_argument("--adjustment", type=int,
                         help="channeladvisor complete-refund/fail-refund: this adjustment (default: every pending "
                              "one of the order).")
        act.add_argument("--sku", help="Only this SKU (default: every unit left).")
        act.add_argument("--quantity", type=int, help="Units of --sku (default: all that are left).")
        act.add_argument("--amount", type=Decimal, help="channeladvisor refund: this amount instead of the price.")
        act.add_argument("--reason", help="channeladvisor refund/cancel: an AdjustmentReason.")
        act.add_argument("--refunded", action="store_true",
                         help="channeladvisor return: the marketplace refunded at once (else the refund is pending).")
        act.add_argument("--tracking-number", default="", help="channeladvisor return: the return parcel's.")
        shipping = act.add_mutually_exclusive_group()
        shipping.add_argument("--shipping", dest="shipping", action="store_true", default=None,
                              help="prestashop refund: refund the shipping too.")
        shipping.add_argument("--no-shipping", dest="shipping", action="store_false",
                              help="prestashop refund: keep the shipping (a whole-order refund includes it).")
        act.add_argument("--keep-state", action="store_true",
                         help="prestashop refund: do not move a fully refunded order to Refunded.")
        act.add_argument("--customer", type=int, help="prestashop edit-customer: the customer's id.")
        act.add_argument("--address", type=int, help="prestashop edit-customer: which address (default: newest).")
        for name in ("firstname", "lastname", "email", "company", "address1", "address2", "postcode", "city",
                     "phone", "phone-mobile"):
            act.add_argument(f"--{name}", dest=name.replace("-", "_"), help="prestashop edit-customer: new value.")
        stats = sub.add_parser("stats", help="Print call counts as JSON.")
        stats.add_argument("--slug", required=True)
        serve = sub.add_parser("serve", help="Serve the sandboxes alone, multi-process (gunicorn).")
        serve.add_argument("--port", type=int, default=8100)
        serve.add_argument("--workers", type=int, default=4)
        sub.add_parser("deliver-webhooks", help="Send due webhook deliveries now.")

    def handle(self, *args, action, **options):
        handler = getattr(self, "do_" + action.replace("-", "_"))
        return handler(**options)

    def _sandbox(self, slug):
        try:
            return Sandbox.objects.get(slug=slug)
        except Sandbox.DoesNotExist:
            raise CommandError(f"No sandbox “{slug}”. Create it with: manage.py sandbox create --slug {slug}") from None

    def _json(self, data):
        self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))

    def do_create(self, slug, name, **_):
        sandbox, created = services.create_sandbox(slug, name)
        self._json({"slug": sandbox.slug, "created": created})

    def do_reset(self, slug, system, **_):
        sandbox = self._sandbox(slug)
        services.reset_sandbox(sandbox, [system] if system else services.SYSTEM_NAMES)
        self._json({"slug": slug, "reset": system or "all"})

    def do_credentials(self, slug, server_root, revoke_old, **_):
        sandbox = self._sandbox(slug)
        if revoke_old:
            services.revoke_credentials(sandbox)
        self._json(services.issue_credentials(sandbox, server_root.rstrip("/")))

    def do_faults(self, slug, system, profile, seed, **options):
        sandbox = self._sandbox(slug)
        overrides = {field: options.get(field) for field in FIELDS}
        try:
            row = services.set_faults(sandbox, system, profile, seed, **overrides)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self._json({"slug": slug, "system": system, "profile": row.profile, "seed": row.seed,
                    **{field: getattr(row, field) for field in FIELDS}})

    def do_generate(self, slug, system, orders, products, customers, state, unknown_sku, seed, history_days, **_):
        sandbox = self._sandbox(slug)
        if min(orders, products, customers, unknown_sku, history_days) < 0:
            raise CommandError("Counts must be zero or more.")
        rng = random.Random(seed)
        try:
            result = services.system_module(system).generate(
                sandbox, orders=orders, products=products, customers=customers, state=state,
                unknown_sku=unknown_sku, rng=rng, history_days=history_days)
        except ValueError as exc:  # e.g. a state that system does not know
            raise CommandError(str(exc)) from None
        self._json(result)

    def do_corrupt(self, slug, system, order, field, value, json_value, remove, clear, **_):
        sandbox = self._sandbox(slug)
        if clear:
            removed = corruption.clear(sandbox, system, order, field)
            return self._json({"slug": slug, "cleared": removed, "corruptions": corruption.describe(sandbox, system)})
        if order is None or not field or (value is None and json_value is None and not remove):
            raise CommandError("Name the --order and --field, and give --value, --json-value, --remove or --clear.")
        if json_value is not None:
            try:
                value = json.loads(json_value)
            except ValueError:
                raise CommandError(f"--json-value {json_value!r} is not JSON; use --value for text.") from None
        try:
            corruption.corrupt(sandbox, system, order, field, value, removed=remove)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self._json({"slug": slug, "corruptions": corruption.describe(sandbox, system)})

    def do_act(self, slug, system, what, **options):
        sandbox = self._sandbox(slug)
        acts = ACTS[system]
        if what not in acts:
            raise CommandError(json.dumps({"error": "unknown_action", "message": f"{system} can do "
                                           f"{', '.join(sorted(acts))}, not '{what}'."}))
        try:
            result = acts[what](sandbox, options)
        except (ca_actions.Invalid, ps_backoffice.Refused) as refused:
            raise CommandError(json.dumps({"error": "refused", "message": str(refused)}, ensure_ascii=False)) \
                from None
        self.stdout.write(json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False, default=str))

    def do_stats(self, slug, **_):
        self._json(core.stats(self._sandbox(slug)))

    def do_deliver_webhooks(self, **_):
        self._json({"sent": core.deliver_due()})

    def do_serve(self, port, workers, **_):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "portal.settings")}
        command = [sys.executable, "-m", "gunicorn", "portal.wsgi:application", "--bind", f"127.0.0.1:{port}",
                   "--workers", str(workers), "--threads", "4", "--timeout", "60", "--access-logfile", "-"]
        self.stderr.write(f"Serving sandboxes on http://127.0.0.1:{port}/sandbox/ with {workers} processes")
        raise SystemExit(subprocess.call(command, env=env))
