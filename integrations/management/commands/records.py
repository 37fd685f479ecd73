"""python manage.py records list [--status S] [--json] | records retry [--status S] [--id N ...] | records sweep"""

import json

from django.core.management.base import BaseCommand, CommandError

from integrations.models import RecordStatus, SyncRecord
from integrations.pipeline import actions, records


class Command(BaseCommand):
    help = "List, retry and sweep sync records from the shell."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List records, newest first.")
        listing.add_argument("--status", choices=RecordStatus.values)
        listing.add_argument("--limit", type=int, default=100)
        listing.add_argument("--json", action="store_true")
        retry = sub.add_parser("retry", help="Queue records for a retry now.")
        retry.add_argument("--status", choices=RecordStatus.values)
        retry.add_argument("--id", type=int, nargs="+", dest="ids")
        retry.add_argument("--reason", default="retried from the shell")
        sub.add_parser("sweep", help="Re-dispatch due and abandoned records now.")

    def handle(self, *args, action, **options):
        return getattr(self, f"do_{action}")(**options)

    def _select(self, status, ids=None):
        queryset = SyncRecord.objects.all()
        if status:
            queryset = queryset.filter(status=status)
        if ids:
            queryset = queryset.filter(pk__in=ids)
        return queryset

    def do_list(self, status, limit, json, **_):
        rows = list(self._select(status).select_related("integration")[:limit])
        if json:
            self.stdout.write(_json([as_dict(record) for record in rows]))
            return
        for r in rows:
            self.stdout.write(f"{r.pk:>8} {r.status:<10} {r.flow:<10} {r.reference or r.source_id:<20} "
                              f"{r.attempts:>2} {r.error_message[:80]}")

    def do_retry(self, status, ids, reason, **_):
        if not status and not ids:
            raise CommandError("Say which records: --status dead, or --id 12 13.")
        count = actions.retry(self._select(status, ids), "shell", reason)
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
