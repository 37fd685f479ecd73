"""The demo: a sandbox called `demo` and a demo organization whose integrations point at it."""

import logging
import random

from django.contrib.auth import get_user_model
from django.db import transaction

from integrations.kinds import KINDS
from integrations.models import Connection, Integration, IntegrationState
from portal.models import Membership, Organization, Role
from sandbox import services

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
        for template, channel in (("prestashop_tims", "prestashop"), ("channeladvisor_tims", "channeladvisor")):
            Integration.objects.get_or_create(
                organization=organization, template=template,
                defaults={"name": f"Demo {channel} + TIMS", "channel_connection": connections[channel],
                          "tims_connection": connections["tims"], "flows": ["orders", "shipments", "inventory"],
                          "state": IntegrationState.LIVE})
        admin = ensure_demo_superuser()
        Membership.objects.get_or_create(organization=organization, user=admin, defaults={"role": Role.OWNER})
    summary["organization"] = organization.name
    return summary


def ensure_demo_superuser():
    User = get_user_model()
    user = User.objects.filter(username="admin").first()
    if user is None:
        user = User.objects.create_superuser("admin", "admin@example.com", "admin")
    return user
