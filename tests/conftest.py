"""The shared cast, so access rules are tested everywhere: company staff, two customers' people and an outsider."""

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group

from portal.groups import sync_groups
from portal.models import Membership, Organization, Role
from portal.tenancy import INTEGRATION_ADMINS_GROUP, OPERATIONS_GROUP


@dataclass
class Cast:
    org_a: Organization
    org_b: Organization
    superuser: object
    operations: object
    integration_admin: object
    owner_a: object
    member_a: object
    outsider_b: object


@pytest.fixture
def cast(django_user_model, db):
    sync_groups()
    org_a = Organization.objects.create(name="Acme Welding Supply")
    org_b = Organization.objects.create(name="Borealis Gases")

    def user(name, staff=True, superuser=False, group=None, org=None, role=None):
        u = django_user_model.objects.create_user(name, f"{name}@example.com", "pw", is_staff=staff,
                                                  is_superuser=superuser)
        if group:
            u.groups.add(Group.objects.get(name=group))
        if org:
            Membership.objects.create(organization=org, user=u, role=role)
        return u

    return Cast(
        org_a=org_a,
        org_b=org_b,
        superuser=user("root", superuser=True),
        operations=user("ops", group=OPERATIONS_GROUP),
        integration_admin=user("integrator", group=INTEGRATION_ADMINS_GROUP),
        owner_a=user("owner_a", org=org_a, role=Role.OWNER),
        member_a=user("member_a", org=org_a, role=Role.VIEWER),
        outsider_b=user("outsider_b", org=org_b, role=Role.OWNER),
    )


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium from Debian's package, driven by Playwright (never a downloaded browser build)."""
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls in tests are still synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    from django.db import connections

    context = browser.new_context(timezone_id="Europe/Paris")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()
    connections.close_all()  # the ORM opened a connection in Playwright's context; the test database must drop
