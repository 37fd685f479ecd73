"""portal.access: roles decide each action; other tenants' organizations are 404, never a hint they exist."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from portal.access import may, organization_or_404, role_in
from portal.models import Membership, Role

pytestmark = pytest.mark.django_db


ACTIONS = ("view", "operate", "admin", "own")


def test_roles_rank_actions(cast):
    Membership.objects.create(organization=cast.org_a, user=cast.outsider_b, role=Role.OPERATOR)
    assert [may(cast.member_a, cast.org_a, a) for a in ACTIONS] == [True, False, False, False]
    assert [may(cast.outsider_b, cast.org_a, a) for a in ACTIONS] == [True, True, False, False]
    assert [may(cast.owner_a, cast.org_a, a) for a in ACTIONS] == [True, True, True, True]


def test_company_staff_act_on_every_organization(cast):
    assert role_in(cast.integration_admin, cast.org_b) == Role.OWNER
    assert role_in(cast.operations, cast.org_b) == Role.OPERATOR
    assert not may(cast.operations, cast.org_b, "admin")


def test_another_tenants_organization_is_not_found(cast):
    with pytest.raises(Http404):
        organization_or_404(cast.owner_a, cast.org_b.slug)
    with pytest.raises(PermissionDenied):
        organization_or_404(cast.member_a, cast.org_a.slug, "operate")
    assert organization_or_404(cast.owner_a, cast.org_a.slug, "own") == cast.org_a


def test_customer_pages_need_sign_in_and_stay_in_their_tenant(cast, client, login):
    assert client.get("/app/").status_code == 302
    assert client.get("/").url == "/app/"
    login(cast.owner_a)
    assert client.get("/app/").url == f"/app/{cast.org_a.slug}/"
    page = client.get(f"/app/{cast.org_a.slug}/")
    assert page.status_code == 200 and cast.org_a.name in page.content.decode()
    assert client.get(f"/app/{cast.org_b.slug}/").status_code == 404


def test_staff_front_door_is_the_admin(cast, client, login):
    login(cast.operations)
    assert client.get("/").url == "/admin/"
