"""The demo seeds a sandbox and an organization whose integrations point at it, with no plaintext secret anywhere."""

import pytest
from django.apps import apps
from django.db import connection as db
from django.db import models

from integrations.models import Connection, Integration
from portal.demo import seed_demo

pytestmark = pytest.mark.django_db


def tables_containing(text):
    """Every (table, column) whose stored value contains `text`, read with SQL."""
    hits = []
    with db.cursor() as cursor:
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if isinstance(field, models.CharField | models.TextField | models.JSONField):
                    table, column = db.ops.quote_name(model._meta.db_table), db.ops.quote_name(field.column)
                    cursor.execute(f"SELECT 1 FROM {table} WHERE CAST({column} AS TEXT) LIKE %s LIMIT 1",
                                   [f"%{text}%"])
                    if cursor.fetchone():
                        hits.append(f"{model._meta.db_table}.{field.column}")
    return hits


def test_demo_seed_is_idempotent_and_points_at_the_sandbox():
    first = seed_demo("http://127.0.0.1:8000")
    seed_demo("http://127.0.0.1:9000")
    assert first["organization"] == "Demo Distributor"
    connections = Connection.objects.filter(organization__name="Demo Distributor")
    assert sorted(c.kind for c in connections) == ["channeladvisor", "prestashop", "tims"]
    assert all(c.base_url.startswith("http://127.0.0.1:9000/sandbox/demo/") for c in connections)
    assert Integration.objects.filter(organization__name="Demo Distributor").count() == 2


def test_demo_database_holds_no_plaintext_secret():
    seed_demo("http://127.0.0.1:8000")
    public_identifiers = {"application_id", "client_id"}  # like user names: stored plainly by the sandbox
    secrets = [value for c in Connection.objects.all() for name, value in c.credentials.items()
               if name not in public_identifiers]
    assert len(secrets) == 4, "ws_key, shared_secret, refresh_token and client_secret"
    for secret in secrets:
        assert tables_containing(secret) == [], secret
