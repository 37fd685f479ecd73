"""The admin at a million records (issue #13 item 7): a search text per record, and indexes for the records list,
its search, the front page and the dead letters by cause.

Not atomic, so a big table stays in use while it runs: the search text is filled in batches of their own
transactions, and on PostgreSQL every index is built CONCURRENTLY (writes go on). The trigram index is
PostgreSQL-only (pg_trgm) and kept out of the model's state; on other databases (the SQLite demo) it is skipped.
Each step may be run again: indexes are made IF NOT EXISTS (an invalid one left by a failed run is rebuilt) and the
backfill only fills empty search texts.
"""

import django.db.models.functions.text
from django.db import migrations, models, transaction

BATCH = 2000

# The records list with one filter, newest first, and its count (show_full_result_count is off, the filtered count
# is not); search by "=target_id"; the front page (attention lines, each integration's last 24 hours) and the causes
# page, which group the open and dead records or a time range, read from the index alone.
INDEXES = [
    models.Index(fields=['flow', 'id'], name='record_flow_id'),
    models.Index(fields=['shadow', 'id'], name='record_shadow_id'),
    models.Index(fields=['created_at', 'integration_id', 'id'], name='record_created_at'),
    models.Index(fields=['finished_at', 'integration_id', 'status', 'id'], name='record_finished_at'),
    models.Index(condition=models.Q(('error_class', ''), _negated=True), fields=['error_class', 'id'],
                 name='record_error_class_id'),
    models.Index(condition=models.Q(('status__in', ['pending', 'running', 'retrying', 'held', 'dead'])),
                 fields=['status', 'flow', 'error_class', 'error_cause', 'updated_at', 'id', 'integration_id',
                         'created_at'], name='record_open_and_dead'),
    models.Index(django.db.models.functions.text.Upper('target_id'), name='record_target_id_upper'),
]

# name: the indexed expression. Django's icontains on PostgreSQL is UPPER(col::text) LIKE UPPER('%term%').
TRIGRAM_INDEXES = {"record_search_text_trgm": "UPPER(search_text) gin_trgm_ops"}


def fill_search_text(apps, schema_editor):
    from integrations.pipeline.records import search_text_of

    connection = schema_editor.connection
    SyncRecord = apps.get_model("integrations", "SyncRecord")
    empty = SyncRecord.objects.using(connection.alias).filter(search_text="").order_by("pk")
    last = 0
    while True:
        rows = list(empty.filter(pk__gt=last).values_list("pk", "reference", "source_id", "source_payload")[:BATCH])
        if not rows:
            return
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.executemany("UPDATE integrations_syncrecord SET search_text = %s WHERE id = %s",
                               [(search_text_of(reference, source_id, payload), pk)
                                for pk, reference, source_id, payload in rows])
        last = rows[-1][0]


def _drop_if_invalid(cursor, name):
    cursor.execute("SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                   "WHERE c.relname = %s", [name])
    row = cursor.fetchone()
    if row and row[0]:
        cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


def add_indexes(apps, schema_editor):
    model = apps.get_model("integrations", "SyncRecord")
    connection = schema_editor.connection
    for index in INDEXES:
        if connection.vendor != "postgresql":
            schema_editor.add_index(model, index)
            continue
        sql = str(index.create_sql(model, schema_editor, concurrently=True))
        with connection.cursor() as cursor:
            _drop_if_invalid(cursor, index.name)
            cursor.execute(sql.replace("CREATE INDEX CONCURRENTLY", "CREATE INDEX CONCURRENTLY IF NOT EXISTS", 1))


def remove_indexes(apps, schema_editor):
    model = apps.get_model("integrations", "SyncRecord")
    for index in INDEXES:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, index, concurrently=True)
        else:
            schema_editor.remove_index(model, index)


def add_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # the demo's SQLite searches by scanning, which its size allows
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, expression in TRIGRAM_INDEXES.items():
            _drop_if_invalid(cursor, name)
            cursor.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON integrations_syncrecord '
                           f"USING gin ({expression})")


def remove_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in TRIGRAM_INDEXES:
            cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')  # pg_trgm stays: others may use it


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('integrations', '0011_pollstate_last_success_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='syncrecord',
            name='search_text',
            field=models.TextField(
                blank=True, default='', editable=False,
                help_text="Reference, source id, and the payload's emails and SKUs, filled when the record is made: "
                "what the admin's search reads (a trigram index on PostgreSQL, made by migration 0012)."),
        ),
        migrations.RunPython(fill_search_text, migrations.RunPython.noop),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name='syncrecord', index=index) for index in INDEXES],
            database_operations=[migrations.RunPython(add_indexes, remove_indexes)],
        ),
        migrations.RunPython(add_trigram_indexes, remove_trigram_indexes),
    ]
