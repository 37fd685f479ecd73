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
        summary["likely_duplicate"] = seed_likely_duplicate(sandbox)
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
        from finance.rules import ensure_default_rules as ensure_posting_rules
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
            ensure_posting_rules(integration)  # made with a new integration; a demo seeded before they existed too
            integrations.append(integration)
        summary["webhooks"] = subscribe_webhooks(sandbox, server_root, integrations, connections["tims"])
        admin = ensure_demo_superuser()
        Membership.objects.get_or_create(organization=organization, user=admin, defaults={"role": Role.OWNER})
        from alerts.defaults import ensure_default_rules

        ensure_default_rules(organization, emails="operations@demo.example")  # the demo mails to its console
        summary["self_service"] = seed_self_service(organization, sandbox, server_root, admin)
    summary["organization"] = organization.name
    with transaction.atomic():
        summary["newcomer"] = seed_newcomer(server_root)
    return summary


def seed_likely_duplicate(sandbox):
    """A TIMS customer at a marketplace buyer's address and phone under a name only somewhat like theirs, so the
    demo shows a likely duplicate waiting for a person (Customers › Likely duplicate customers). Returns its code."""
    from customers import matching
    from sandbox.channeladvisor.models import Order as MarketplaceOrder
    from sandbox.tims import operations
    from sandbox.tims.models import Customer as TimsCustomer

    order = (MarketplaceOrder.objects.filter(sandbox=sandbox, payment_status="Cleared").exclude(buyer_user_id="")
             .order_by("id").first())
    billing = (order.billing or {}) if order else {}
    if not billing.get("DaytimePhone") or not billing.get("PostalCode"):
        return ""
    name = billing.get("CompanyName") or f"{billing.get('FirstName', '')} {billing.get('LastName', '')}".strip()
    me = {"name": name, "email": order.buyer_email_address, "phone": billing["DaytimePhone"],
          "postal_code": billing["PostalCode"]}
    alike = next((n for n in (f"{name.split()[0]} Household", f"{name.split()[-1]} Household",
                              f"{name[:3]}. {name.split()[-1]} & Family", "Household account")
                  if matching.REVIEW_AT <= matching.likeness(
        me, {**me, "name": n, "email": ""})[0] < matching.LINK_AT), None)
    if alike is None:
        return ""
    code = operations.free_customer_code(sandbox)
    TimsCustomer.objects.create(sandbox=sandbox, code=code, name=alike, email="", phone=billing["DaytimePhone"],
                                billing_address={"Line1": billing.get("AddressLine1", ""),
                                                 "City": billing.get("City", ""), "PostalCode": billing["PostalCode"],
                                                 "Country": billing.get("Country", "")})
    return code


DEMO_CUSTOMER = ("owner", "owner")  # demo only: a customer user with no admin access
DEMO_KEY_NAME = "demo (printed at start)"


def seed_self_service(organization, sandbox, server_root, admin):
    """What a customer of the running demo needs to try their pages and the API: an owner of the demo organization
    who signs in on /accounts/login/, and a fresh API key (the previous start's is revoked: a key is shown once)."""
    from api import keys
    from api.models import ApiKey

    username, password = DEMO_CUSTOMER
    owner = _demo_user(username, password, "owner@demo.example", "Olivia", "Owner")
    Membership.objects.get_or_create(organization=organization, user=owner, defaults={"role": Role.OWNER})
    for old in ApiKey.objects.filter(organization=organization, name=DEMO_KEY_NAME, revoked_at__isnull=True):
        keys.revoke(old, revoked_by=admin)
    _, api_key = keys.create(organization=organization, scope="operate", name=DEMO_KEY_NAME, created_by=admin)
    return {"customer_login": f"{username} / {password}", "api_key": api_key}


NEWCOMER = {"sandbox": "newco", "organization": "Newco Supplies", "login": ("newco", "newco")}
NEWCOMER_DATA = {"tims": {"products": 40, "customers": 10},
                 "prestashop": {"products": 40, "customers": 20, "orders": 30},
                 "channeladvisor": {"products": 40, "orders": 30}}
NEWCOMER_WIZARD_APP = "Newco's portal connection"


def seed_newcomer(server_root):
    """A customer who has not connected anything yet, to walk the self-service setup from sign-in to go-live: an
    organization with an owner and no connections, and a sandbox of their own systems holding ten days of orders.
    The credentials to type into the wizards are new at every start (the sandbox keeps only their hashes): a shop
    webservice key, a TIMS client, and a ChannelAdvisor application whose redirect URI is this portal's callback."""
    from django.urls import reverse

    from sandbox import core
    from sandbox.channeladvisor import auth as ca_auth
    from sandbox.channeladvisor.models import Application
    from sandbox.models import SandboxCredential
    from sandbox.prestashop import provision as ps_provision
    from sandbox.prestashop.models import Shop
    from sandbox.tims import provision as tims_provision

    sandbox, created = services.create_sandbox(NEWCOMER["sandbox"], "Newco's shop, marketplace account and TIMS")
    if created:
        rng = random.Random(2027)
        for system, counts in NEWCOMER_DATA.items():
            services.system_module(system).generate(
                sandbox, orders=counts.get("orders", 0), products=counts.get("products", 0),
                customers=counts.get("customers", 0), state=None, unknown_sku=0, rng=rng, history_days=10)
    organization, _ = Organization.objects.get_or_create(name=NEWCOMER["organization"])
    username, password = NEWCOMER["login"]
    user = _demo_user(username, password, "nina@newco.example", "Nina", "Newcomer")
    Membership.objects.get_or_create(organization=organization, user=user, defaults={"role": Role.OWNER})
    address = {system: server_root + services.base_path(sandbox, system) for system in services.SYSTEM_NAMES}
    application = Application.objects.filter(sandbox=sandbox, name=NEWCOMER_WIZARD_APP).first()
    if application is None:
        application, shared_secret, _ = ca_auth.new_application(sandbox, name=NEWCOMER_WIZARD_APP)
    else:  # one application, a new shared secret each start
        SandboxCredential.objects.filter(sandbox=sandbox, system="channeladvisor", kind="shared_secret",
                                         identifier=application.application_id).update(active=False)
        shared_secret = core.new_secret()
        core.store_secret(sandbox, "channeladvisor", "shared_secret", shared_secret,
                          identifier=application.application_id)
    ca_auth.register_redirect_uri(application, server_root + reverse("setup:channeladvisor_callback"))
    tims = tims_provision.issue_credentials(sandbox, address["tims"])
    return {"organization": organization.name, "login": f"{username} / {password}",
            "prestashop": {"address": address["prestashop"],
                           "webservice key": ps_provision.issue_credentials(sandbox, address["prestashop"])["ws_key"],
                           "time zone": Shop.objects.get_or_create(sandbox=sandbox)[0].timezone},
            "tims": {"address": address["tims"], "client id": tims["client_id"],
                     "client secret": tims["client_secret"]},
            "channeladvisor": {"address": address["channeladvisor"], "application id": application.application_id,
                               "shared secret": shared_secret}}


def _demo_user(username, password, email, first_name, last_name):
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_user(username, email, password, first_name=first_name, last_name=last_name)
    return user


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
