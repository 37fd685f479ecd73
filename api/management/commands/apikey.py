"""manage.py apikey create|revoke|list: API keys from a shell, for scripts and the demo.

`create` prints the whole key alone on standard output (so `KEY=$(manage.py apikey create ...)` works) and what it
is on standard error; the key is not stored and cannot be shown again."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from api import keys
from api.models import ApiKey, Scope
from portal.models import Organization


class Command(BaseCommand):
    help = "Create, revoke or list API keys."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", required=True)
        create = commands.add_parser("create", help="Make a key and print it once.")
        create.add_argument("--organization", help="The organization's name or slug.")
        create.add_argument("--scope", required=True, choices=Scope.values)
        create.add_argument("--name", default="", help="What the key is for, e.g. “CI exports”.")
        create.add_argument("--staff", action="store_true", help="A staff key that sees every organization.")
        revoke = commands.add_parser("revoke", help="End a key at once.")
        revoke.add_argument("key", help="The key's prefix (as listed) or its id.")
        listing = commands.add_parser("list", help="List keys (never their secrets).")
        listing.add_argument("--organization", help="Only this organization's keys (name or slug).")
        listing.add_argument("--all", action="store_true", help="Revoked keys too.")

    def handle(self, *args, command, **options):
        return getattr(self, f"handle_{command}")(**options)

    def _organization(self, name):
        found = Organization.objects.filter(Q(name__iexact=name) | Q(slug=name)).first()
        if found is None:
            raise CommandError(f"No organization is named “{name}” (give its name or slug).")
        return found

    def handle_create(self, organization=None, scope=None, name="", staff=False, **_):
        if staff == bool(organization):
            raise CommandError("Give --organization NAME, or --staff for a key that sees every organization.")
        owner = None if staff else self._organization(organization)
        key, whole = keys.create(organization=owner, scope=scope, name=name)
        self.stderr.write(f"API key {key.prefix} ({scope}) for {owner or 'every organization (staff)'}; it is shown "
                          "only now:")
        self.stdout.write(whole)

    def handle_revoke(self, key=None, **_):
        found = ApiKey.objects.filter(prefix=key).first() or (
            ApiKey.objects.filter(pk=int(key)).first() if key.isdigit() else None)
        if found is None:
            raise CommandError(f"No API key has the prefix or id “{key}”.")
        if not keys.revoke(found):
            raise CommandError(f"API key {found.prefix} was revoked already, at {found.revoked_at:%Y-%m-%d %H:%M}.")
        self.stdout.write(f"Revoked API key {found.prefix}.")

    def handle_list(self, organization=None, all=False, **_):
        chosen = ApiKey.objects.select_related("organization").order_by("organization__name", "created_at")
        if organization:
            chosen = chosen.filter(organization=self._organization(organization))
        if not all:
            chosen = chosen.filter(revoked_at__isnull=True)
        for key in chosen:
            used = timezone.localtime(key.last_used_at).strftime("%Y-%m-%d %H:%M") if key.last_used_at else "never"
            state = f"revoked {timezone.localtime(key.revoked_at):%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            self.stdout.write(f"{key.pk}\t{key.prefix}\t{key.scope}\t{key.organization or 'staff (every tenant)'}\t"
                              f"{key.name or '-'}\tlast used {used}\t{state}")
