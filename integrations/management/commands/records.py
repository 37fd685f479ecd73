"""python manage.py records list [--status S] [--flow F] [--json] | records retry [--status S] [--flow F] [--id N ...]
| records sweep | records flows"""

import json

from django.core.management.base import BaseCommand, CommandError

from integrations.flows import registry
from integrations.models import RecordStatus, SyncRecord
from integrations.pipeline import actions, records


class Command(BaseCommand):
    help = "List, retry and sweep sync records from the shell."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List records, newest first.")
        listing.add_argument("--status", choices=RecordStatus.values)
        listing.add_argument("--flow", choices=[name for name, _ in registry.choices()])
        listing.add_argument("--limit", type=int, default=100)
        listing.add_argument("--json", action="store_true")
        retry = sub.add_parser("retry", help="Queue records for a retry now.")
        retry.add_argument("--status", choices=RecordStatus.values)
        retry.add_argument("--flow", choices=[name for name, _ in registry.choices()])
        retry.add_argument("--id", type=int, nargs="+", dest="ids")
        retry.add_argument("--reason", default="retried from the shell")
        sub.add_parser("sweep", help="Re-dispatch due and abandoned records now.")
        sub.add_parser("flows", help="The declared flows: systems, triggers, templates.")

    def handle(self, *args, action, **options):
        return getattr(self, f"do_{action}")(**options)

    def _select(self, status, ids=None, flow=None):
        queryset = SyncRecord.objects.all()
        if flow:
            queryset = queryset.filter(flow=flow)
        if status:
            queryset = queryset.filter(status=status)
        if ids:
            queryset = queryset.filter(pk__in=ids)
        return queryset

    def do_flows(self, **_):
        for flow in registry.all_flows():
            triggers = ", ".join(type(t).__name__ + f"({getattr(t, 'stream', '') or getattr(t, 'id_field', '')})"
                                 for t in flow.triggers)
            self.stdout.write(f"{flow.name:<12} {flow.source} → {flow.target}  {flow.entity_type:<10} {triggers}  "
                              f"templates: {', '.join(flow.templates)}")

    def do_list(self, status, limit, json, flow=None, **_):
        rows = list(self._select(status, flow=flow).select_related("integration")[:limit])
        if json:
            self.stdout.write(_json([as_dict(record) for record in rows]))
            return
        for r in rows:
            self.stdout.write(f"{r.pk:>8} {r.status:<10} {r.flow:<10} {r.reference or r.source_id:<20} "
                              f"{r.attempts:>2} {r.error_message[:80]}")

    def do_retry(self, status, ids, reason, flow=None, **_):
        if not status and not ids:
            raise CommandError("Say which records: --status dead, or --id 12 13.")
        count = actions.retry(self._select(status, ids, flow), "shell", reason)
        self.stdout.write(f"{count} record(s) queued for retry.")

    def do_sweep(self, **_):
        self.stdout.write(_json(records.sweep()))


def _json(data):
    return json.dumps(data, indent=2, default=str, ensure_ascii=False)


def as_dict(record):
    data = {"id": record.pk, "status": record.status, "flow": record.flow, "entity_type": record.entity_type,
            "integration": record.integration.name, "source_id": record.source_id, "reference": record.reference,
            "attempts": record.attempts, "target_id": record.target_id, "updated_at": record.updated_at}
    if record.status == RecordStatus.DEAD:
        data["error"] = {"class": record.error_class, "message": record.error_message, "fix": record.suggested_fix}
        if record.error_details.get("value_map"):
            data["value_map"] = record.error_details["value_map"]
    return data
