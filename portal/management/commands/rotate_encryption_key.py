"""Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS.

Rotation: put the new key first and keep the old ones after it, deploy, run this command, then drop the old keys.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from portal import crypto
from portal.fields import encrypted_fields


class Command(BaseCommand):
    help = "Re-encrypt every secret with the first key in FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        total = 0
        with transaction.atomic():  # all or nothing: a row no key can read stops the rotation untouched
            for model, field in encrypted_fields():
                label = f"{model._meta.label}.{field.name}"
                done = 0
                for pk, token in _raw_tokens(model, field):
                    try:
                        _write_raw_token(model, field, pk, crypto.rotate(token))
                    except crypto.SecretUnreadable as exc:
                        raise CommandError(f"{label} of row {pk}: {exc}") from None
                    done += 1
                self.stdout.write(f"{label}: {done} re-encrypted")
                total += done
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} secrets with the first key."))


def _names(model, field):
    quote = connection.ops.quote_name
    return quote(model._meta.db_table), quote(field.column), quote(model._meta.pk.column)


def _raw_tokens(model, field):
    """The stored tokens as they are in the database (the field would decrypt them)."""
    table, column, pk = _names(model, field)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {pk}, {column} FROM {table} WHERE {column} <> '' ORDER BY {pk} FOR UPDATE"
                       if connection.vendor == "postgresql" else
                       f"SELECT {pk}, {column} FROM {table} WHERE {column} <> '' ORDER BY {pk}")
        return cursor.fetchall()


def _write_raw_token(model, field, pk_value, token):
    table, column, pk = _names(model, field)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {pk} = %s", [token, pk_value])
