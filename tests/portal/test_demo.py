"""The demo seeds a sandbox and an organization whose integrations point at it, with no plaintext secret anywhere."""

import io
import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection as db
from django.db import models
from django.utils import timezone

from finance.models import PostingRules
from integrations.models import Connection, Integration, RecordStatus, SyncRecord
from integrations.pipeline.records import receive
from portal.demo import DEMO_ORG, release_leases, seed_demo, tims_webhook_secret
from portal.management.commands.demo import Command as DemoCommand
from portal.models import Organization
from portal.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from sandbox.models import WebhookSubscription
from tests.factories import make_integration

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
    demo = Integration.objects.filter(organization__name="Demo Distributor")
    assert all(i.posting_rules.version == 1 for i in demo)  # made with the integrations, not again on a re-seed
    PostingRules.objects.filter(integration__in=demo).delete()  # a demo seeded before posting rules existed
    seed_demo("http://127.0.0.1:9000")
    assert PostingRules.objects.filter(integration__in=demo, rows__isnull=False).distinct().count() == 2


def test_demo_database_holds_no_plaintext_secret():
    seed_demo("http://127.0.0.1:8000")
    public_identifiers = {"application_id", "client_id"}  # like user names: stored plainly by the sandbox
    secrets = [value for c in Connection.objects.all() for name, value in c.credentials.items()
               if name not in public_identifiers]
    assert len(secrets) == 5, "ws_key, shared_secret, refresh_token, client_secret and TIMS's webhook secret"
    for secret in secrets:
        assert tables_containing(secret) == [], secret


def test_demo_subscribes_every_sandbox_webhook_to_the_portal(client):
    seed_demo("http://127.0.0.1:8000")
    summary = seed_demo("http://127.0.0.1:9000")  # a new port moves the subscriptions, it does not add some
    integrations = {i.channel_connection.kind: i for i in Integration.objects.filter(organization__name=DEMO_ORG)}
    tims = Connection.objects.get(organization__name=DEMO_ORG, kind="tims")
    expected = {"prestashop": f"http://127.0.0.1:9000/hooks/{integrations['prestashop'].pk}/prestashop/",
                "channeladvisor": f"http://127.0.0.1:9000/hooks/{integrations['channeladvisor'].pk}/channeladvisor/",
                "tims": f"http://127.0.0.1:9000/hooks/tims/{tims.pk}/"}
    assert summary["webhooks"] == expected
    subscriptions = {s.system: s for s in WebhookSubscription.objects.filter(sandbox__slug="demo", active=True)}
    assert {system: s.url for system, s in subscriptions.items()} == expected
    assert subscriptions["tims"].signing["secret"] == tims_webhook_secret(tims)
    # What the sandbox signs, the portal's endpoints accept.
    for system in ("prestashop", "channeladvisor", "tims"):
        body = json.dumps({"id_order": 1, "ID": 1, "Type": "inventory.changed", "Seq": 1}).encode()
        timestamp = str(int(time.time()))
        response = client.post(urlsplit(expected[system]).path, body, content_type="application/json", headers={
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(subscriptions[system].signing["secret"], timestamp, body)})
        assert response.status_code == 202, response.content


def test_release_leases_frees_only_records_of_dead_workers_on_this_host():
    integration = make_integration(Organization.objects.create(name="Leases"))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host, later = socket.gethostname(), timezone.now() + timedelta(minutes=2)
    owners = {"dead": f"{host}:{dead.pid}/aa", "alive": f"{host}:{os.getpid()}/bb", "elsewhere": f"other:{dead.pid}/cc"}
    records = {}
    for name, owner in owners.items():
        records[name], _ = receive(integration, flow="orders", entity_type="order", source_id=f"lease-{name}")
        SyncRecord.objects.filter(pk=records[name].pk).update(status=RecordStatus.RUNNING, lease_owner=owner,
                                                              lease_expires_at=later)
    assert release_leases() == 1
    leases = dict(SyncRecord.objects.filter(pk__in=[r.pk for r in records.values()])
                  .values_list("lease_owner", "lease_expires_at"))
    assert leases[owners["dead"]] <= timezone.now()  # the sweeper takes it back at its next run
    assert leases[owners["alive"]] == later and leases[owners["elsewhere"]] == later


def test_demo_binds_loopback_unless_told(monkeypatch):
    served, roots = [], []
    monkeypatch.setattr(DemoCommand, "serve", lambda self, addrport, watchdog: served.append(addrport))
    monkeypatch.setattr("portal.management.commands.demo.seed_demo", lambda root: roots.append(root) or {})
    monkeypatch.delenv("HOST", raising=False)
    call_command("demo", "--port", "8123", stdout=io.StringIO())
    monkeypatch.setenv("HOST", "0.0.0.0")
    call_command("demo", "--port", "8124", stdout=io.StringIO())
    call_command("demo", "--host", "::1", "--port", "8125", stdout=io.StringIO())
    assert served == ["127.0.0.1:8123", "0.0.0.0:8124", "[::1]:8125"]
    # Workers and webhooks reach a wildcard bind on loopback.
    assert roots == ["http://127.0.0.1:8123", "http://127.0.0.1:8124", "http://[::1]:8125"]


def test_demo_seeds_a_customer_an_api_key_and_a_newcomer_to_set_up(client):
    seed_demo("http://127.0.0.1:8000")
    summary = seed_demo("http://127.0.0.1:8000")
    from api.keys import find
    from api.models import ApiKey
    from sandbox import core
    from sandbox.channeladvisor.models import Application
    from sandbox.models import Sandbox

    # The customer owner signs in on the site's own page (not the admin) and lands on the demo organization.
    owner_name, owner_password = summary["self_service"]["customer_login"].split(" / ")
    signed_in = client.post("/accounts/login/", {"username": owner_name, "password": owner_password})
    assert signed_in.status_code == 302
    assert client.get("/app/").url == f"/app/{Organization.objects.get(name=DEMO_ORG).slug}/"
    # The key printed now works; the one printed at the last start was revoked (a key is shown only once).
    assert find(summary["self_service"]["api_key"]).organization.name == DEMO_ORG
    assert ApiKey.objects.filter(organization__name=DEMO_ORG, revoked_at__isnull=False).count() == 1
    # The newcomer has nothing connected yet, and the printed credentials are the newcomer sandbox's own.
    newcomer = summary["newcomer"]
    assert not Connection.objects.filter(organization__name=newcomer["organization"]).exists()
    sandbox = Sandbox.objects.get(slug="newco")
    ca = newcomer["channeladvisor"]
    assert core.secret_matches(sandbox, "channeladvisor", "shared_secret", ca["shared secret"],
                               identifier=ca["application id"])
    assert Application.objects.get(application_id=ca["application id"]).registered_redirect_uris() == [
        "http://127.0.0.1:8000/setup/channeladvisor/callback/"]
    assert core.secret_matches(sandbox, "tims", "client_secret", newcomer["tims"]["client secret"],
                               identifier=newcomer["tims"]["client id"])
