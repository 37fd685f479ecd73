"""What a signed-in user may do on one organization's customer pages and API calls.

Roles rank viewer < operator < admin < owner. Company staff act on every organization: integration admins and
superusers as owners, operations staff as operators (they fix and retry, they do not change connections)."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from portal.models import Organization, Role
from portal.tenancy import is_company_staff, is_integration_admin, roles_of

RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2, Role.OWNER: 3}
# What each action needs; pages and API permissions name the action, never the role.
NEEDS = {"view": Role.VIEWER, "operate": Role.OPERATOR, "admin": Role.ADMIN, "own": Role.OWNER}


def role_in(user, organization) -> str | None:
    """The user's role on the organization, or None when they have none (and are not company staff)."""
    if not user.is_authenticated or not user.is_active:
        return None
    if is_integration_admin(user):
        return Role.OWNER
    role = roles_of(user).get(organization.pk)
    if role is None and is_company_staff(user):
        return Role.OPERATOR
    return role


def may(user, organization, action) -> bool:
    role = role_in(user, organization)
    return role is not None and RANK[Role(role)] >= RANK[NEEDS[action]]


def organization_or_404(user, slug, action="view") -> Organization:
    """The organization by slug if the user may see it (else 404, so other tenants' names never leak), and may do
    `action` there (else 403)."""
    organization = get_object_or_404(Organization, slug=slug)
    if role_in(user, organization) is None:
        raise Http404("No such organization.")
    if not may(user, organization, action):
        raise PermissionDenied(f"Your role on {organization.name} does not allow this; ask an owner or admin.")
    return organization


def customer_view(action="view"):
    """Decorate a view taking `org` (a slug): it gets request.organization and request.role, or 404/403."""
    def decorate(view):
        @login_required
        @wraps(view)
        def wrapped(request, org, *args, **kwargs):
            request.organization = organization_or_404(request.user, org, action)
            request.role = role_in(request.user, request.organization)
            return view(request, *args, **kwargs)
        return wrapped
    return decorate
