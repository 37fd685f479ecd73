"""The demo: a sandbox called `demo` and a demo organization whose integrations point at it."""

import logging
import os
import random
import secrets
import socket
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from integrations.kinds import KINDS
from integrations.models import Connection, Integration, IntegrationState, RecordStatus, SyncRecord
from portal.models import Membership, Organization, Role
from sandbox import services
from sandbox.models import WebhookSubscription

log = logging.getLogger(__name__)
DEMO_SLUG = "demo"
DEMO_ORG = "Demo Distributor"
DEMO_DATA = {"tims": {"products": 60, "customers": 20},
             "prestashop": {"products": 60, "customers": 30, "orders": 40},
             "channeladvisor": {"products": 60, "orders": 40}}
CONNECTION_SETTINGS = {"prestashop": {"timezone": "Europe/Paris"},
                       "channeladvisor": {"profile_id": 12345678, "distribution_center_id": 0},
                       "tims": {"default_location": "MAIN", "default_customer_code": "C-GUEST"}}


def seed_demo(server_root):
    """Idempotent: creates what is missing, points the demo connections at `server_root`. Returns a summary."""
    summary = {"sandbox": DEMO_SLUG, "generated": {}}
    sandbox, created = services.create_sandbox(DEMO_SLUG, "Demo sandbox")
    if created:
        rng = random.Random(2026)
        for system, counts in DEMO_DATA.items():
            try:
                summary["generated"][system] = services.system_module(system).generate(
                    sandbox, orders=counts.get("orders", 0), products=counts.get("products", 0),
                    customers=counts.get("customers", 0), state=None, unknown_sku=0, rng=rng)
            except NotImplementedError as exc:
                summary["generated"][system] = f"skipped: {exc}"
    with transaction.atomic():
        organization, _ = Organization.objects.get_or_create(name=DEMO_ORG)
        connections = {}
        for system in services.SYSTEM_NAMES:
            base_url = server_root + services.base_path(sandbox, system)
            connection = Connection.objects.filter(organization=organization, kind=system, sandbox=sandbox).first()
            if connection is None:
                issued = services.system_module(system).issue_credentials(sandbox, base_url)
                secret_names = [name for name, _ in KINDS[system].secrets]
                connection = Connection(organization=organization, kind=system, sandbox=sandbox,
                                        name=f"Demo {system}", settings=CONNECTION_SETTINGS[system],
                                        credentials={k: str(issued[k]) for k in secret_names if k in issued})
            connection.base_url = base_url
            connection.full_clean()
            connection.save()
            connections[system] = connection
        from integrations.flows import registry

        integrations = []
        for template, channel in (("prestashop_tims", "prestashop"), ("channeladvisor_tims", "channeladvisor")):
            integration, _ = Integration.objects.get_or_create(
                organization=organization, template=template,
                defaults={"name": f"Demo {channel} + TIMS", "channel_connection": connections[channel],
                          "tims_connection": connections["tims"], "flows": registry.default_flows(template),
                          "state": IntegrationState.LIVE})
            missing = [name for name in registry.default_flows(template) if name not in (integration.flows or [])]
            if missing:  # a demo seeded before a flow existed gets it, as a new demo would
                integration.flows = [*(integration.flows or []), *missing]
                integration.save(update_fields=["flows"])
            integrations.append(integration)
        summary["webhooks"] = subscribe_webhooks(sandbox, server_root, integrations, connections["tims"])
        admin = ensure_demo_superuser()
        Membership.objects.get_or_create(organization=organization, user=admin, defaults={"role": Role.OWNER})
        from alerts.defaults import ensure_default_rules

        ensure_default_rules(organization, emails="operations@demo.example")  # the demo mails to its console
    summary["organization"] = organization.name
    return summary


def subscribe_webhooks(sandbox, server_root, integrations, tims):
    """Subscribe each sandbox system's webhooks to the portal, so a demo order moves on its webhook within a second
    or two instead of waiting for the next poll. Idempotent; a new `server_root` moves the subscriptions."""
    targets = [(i.channel_connection.kind, f"/hooks/{i.pk}/{i.channel_connection.kind}/", i.webhook_secret["secret"])
               for i in integrations]
    # TIMS events belong to the TIMS connection (its streams fan out to every integration that uses it).
    targets.append(("tims", f"/hooks/tims/{tims.pk}/", tims_webhook_secret(tims)))
    urls = {}
    for system, path, secret in targets:
        mine = [s for s in WebhookSubscription.objects.filter(sandbox=sandbox, system=system).order_by("pk")
                if urlsplit(s.url).path == path]
        subscription = mine[0] if mine else WebhookSubscription(sandbox=sandbox, system=system)
        subscription.url, subscription.signing, subscription.active = server_root + path, {"secret": secret}, True
        if system == "tims":  # only what a flow reads: TIMS sends one webhook per event, stock moves included
            from integrations.flows import registry

            subscription.events = registry.tims_events_read()
        subscription.save()
        urls[system] = subscription.url
    return urls


def tims_webhook_secret(tims):
    """The secret the TIMS-connection endpoint verifies with (`credentials["webhook_secret"]`). Made once, then kept."""
    if not tims.credentials.get("webhook_secret"):
        tims.credentials = {**tims.credentials, "webhook_secret": secrets.token_urlsafe(32)}
        tims.save(update_fields=["credentials"])
    return tims.credentials["webhook_secret"]


def release_leases(now=None):
    """Let the leases of records whose worker process on this host is gone lapse now, so the sweeper takes them
    back at its next run instead of after PIPELINE_LEASE_SECONDS. Only dead processes: a live worker (this demo's
    or anyone's) keeps its records. Returns how many were released."""
    now = now or timezone.now()
    host = socket.gethostname()
    dead = []
    running = SyncRecord.objects.filter(status=RecordStatus.RUNNING, lease_expires_at__gt=now,
                                        lease_owner__startswith=f"{host}:")
    for pk, owner in running.values_list("pk", "lease_owner"):
        pid = owner[len(host) + 1:].split("/", 1)[0]  # lease_owner is "<host>:<pid>/<claim>"
        if pid.isdigit() and not _alive(int(pid)):
            dead.append(pk)
    # Conditional on the lease still being held, so a record finished meanwhile is left alone.
    return SyncRecord.objects.filter(pk__in=dead, status=RecordStatus.RUNNING, lease_expires_at__gt=now).update(
        lease_expires_at=now)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ensure_demo_superuser():
    User = get_user_model()
    user = User.objects.filter(username="admin").first()
    if user is None:
        user = User.objects.create_superuser("admin", "admin@example.com", "admin")
    return user
