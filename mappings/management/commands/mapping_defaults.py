"""(Re)create the default mapping sets and value maps for existing integrations.

    manage.py mapping_defaults                 add what is missing, for every integration
    manage.py mapping_defaults --integration 3 one integration
    manage.py mapping_defaults --reset         also reset existing default sets to the template (a new version;
                                               roll back in the admin if that was a mistake)
"""

from django.core.management.base import BaseCommand

from integrations.models import Integration
from mappings import services


class Command(BaseCommand):
    help = "Create the template mapping sets and value maps for integrations that lack them."

    def add_arguments(self, parser):
        parser.add_argument("--integration", type=int, action="append", help="Integration id (repeatable).")
        parser.add_argument("--reset", action="store_true", help="Reset existing default sets to the template.")

    def handle(self, *args, **options):
        services.ensure_global_value_maps()
        integrations = Integration.objects.select_related("channel_connection", "tims_connection", "organization")
        if options["integration"]:
            integrations = integrations.filter(pk__in=options["integration"])
        for integration in integrations:
            made = services.create_defaults(integration, reset=options["reset"])
            names = ", ".join(mapping_set.name for mapping_set in made) or "nothing to do"
            self.stdout.write(f"{integration} ({integration.organization}): {names}")
