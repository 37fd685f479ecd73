"""Value maps from the command line: list, set an entry, export and import CSV.

    manage.py valuemap list [--org SLUG]                 maps (of an organization, or the global templates)
    manage.py valuemap list MAP [--org SLUG]             a map's entries
    manage.py valuemap set MAP SOURCE TARGET [--org SLUG]
    manage.py valuemap export MAP [--org SLUG] > map.csv
    manage.py valuemap import MAP FILE [--org SLUG] [--replace]
"""

from django.core.management.base import BaseCommand, CommandError

from mappings import services
from mappings.models import ValueMap
from portal.models import Organization


class Command(BaseCommand):
    help = "List, set, export and import value map entries."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List maps, or one map's entries.")
        listing.add_argument("map", nargs="?")
        setting = sub.add_parser("set", help="Add or change one entry.")
        setting.add_argument("map")
        setting.add_argument("source")
        setting.add_argument("target")
        export = sub.add_parser("export", help="Print a map as CSV.")
        export.add_argument("map")
        importing = sub.add_parser("import", help="Add or update entries from a CSV file.")
        importing.add_argument("map")
        importing.add_argument("file")
        importing.add_argument("--replace", action="store_true", help="Remove entries not in the file.")
        for action in (listing, setting, export, importing):
            action.add_argument("--org", help="Organization slug; without it, the global templates.")

    def handle(self, *args, **options):
        organization = None
        if options.get("org"):
            organization = Organization.objects.filter(slug=options["org"]).first()
            if organization is None:
                raise CommandError(f"No organization with slug “{options['org']}”.")
        action = options["action"]
        if action == "list" and not options.get("map"):
            for value_map in ValueMap.objects.filter(organization=organization):
                kind = "strict" if value_map.strict else f"default {value_map.default!r}"
                entries = value_map.entries.count()
                self.stdout.write(f"{value_map.name}\t{entries} entries\t{kind}\tv{value_map.version}")
            return
        value_map = self.find_map(options["map"], organization, create=action in ("set", "import"))
        if action == "list":
            for entry in value_map.entries.all():
                self.stdout.write(f"{entry.source}\t{entry.target}")
        elif action == "set":
            version = services.set_entry(value_map, options["source"], options["target"])
            self.stdout.write(f"{value_map.name}: {options['source']!r} → {options['target']!r}"
                              + (f" (version {version.number})" if version else " (unchanged)"))
        elif action == "export":
            self.stdout.write(services.export_csv(value_map), ending="")
        elif action == "import":
            try:
                with open(options["file"], encoding="utf-8-sig") as handle:
                    changed, removed = services.import_csv(value_map, handle.read(), replace=options["replace"])
            except (OSError, UnicodeDecodeError, services.CsvProblem) as error:
                raise CommandError(f"Nothing imported: {error}") from None
            self.stdout.write(f"{value_map.name}: {changed} added or changed, {removed} removed")

    def find_map(self, name, organization, create):
        value_map = ValueMap.objects.filter(organization=organization, name=name).first()
        if value_map is not None:
            return value_map
        template = ValueMap.objects.filter(organization__isnull=True, name=name).first()
        if organization is not None and template is not None:
            if create:  # edit the organization's own copy, never the global template by accident
                return services.copy_value_map(template, organization)
            return template
        if create and organization is not None:
            value_map = ValueMap.objects.create(organization=organization, name=name)
            return value_map
        raise CommandError(f"No value map named “{name}”" + (f" for {organization}." if organization else "."))
