"""`python manage.py test_connection [NAME...]`: run the connection checks; exit 0 only if every check passes."""

from django.core.management.base import BaseCommand, CommandError

from integrations.connectors.checks import test_connection
from integrations.models import Connection


class Command(BaseCommand):
    help = "Check connections (reachability, TLS, authentication, permissions, clock, API version)."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="Connection names (all connections when none is given).")

    def handle(self, *names, **options):
        names = options["names"]
        connections = Connection.objects.all()
        if names:
            connections = connections.filter(name__in=names)
            unknown = sorted(set(names) - set(connections.values_list("name", flat=True)))
            if unknown:
                raise CommandError(f"No connection named {', '.join(unknown)}.")
        failures = 0
        for connection in connections.select_related("organization"):
            self.stdout.write(f"{connection.organization} / {connection} — {connection.base_url}")
            for result in test_connection(connection):
                line = f"  {result}"
                self.stdout.write(self.style.SUCCESS(line) if result.ok else self.style.ERROR(line))
                failures += not result.ok
        if failures:
            raise CommandError(f"{failures} check(s) failed.", returncode=1)
