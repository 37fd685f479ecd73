"""Who may do what through the API. A key's scope stands for an action (read→view, operate→operate,
admin→admin) on its organization, or on every organization for a staff key; a signed-in user's rights come
from portal.access.may(). Objects of organizations the caller cannot see are 404, never 403."""

from rest_framework.exceptions import PermissionDenied

from api.models import ApiKey, Scope
from portal.access import NEEDS, RANK, may
from portal.models import Organization
from portal.tenancy import is_company_staff, is_integration_admin, roles_of

SCOPE_ALLOWS = {Scope.READ: "view", Scope.OPERATE: "operate", Scope.ADMIN: "admin"}
ACTION_RANK = {action: RANK[role] for action, role in NEEDS.items()}


def api_key(request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


def sees_everything(request):
    key = api_key(request)
    if key is not None:
        return key.organization_id is None
    return bool(request.user and request.user.is_authenticated and is_company_staff(request.user))


def visible_organization_ids(request):
    """None for every organization, else the list of ids the caller may see."""
    key = api_key(request)
    if key is not None:
        return None if key.organization_id is None else [key.organization_id]
    if not request.user or not request.user.is_authenticated:
        return []  # the schema generator's fake requests come this way
    if is_company_staff(request.user):
        return None
    return list(roles_of(request.user))


def scoped(queryset, request, path="organization"):
    ids = visible_organization_ids(request)
    return queryset if ids is None else queryset.filter(**{f"{path}__in": ids})


def may_act(request, organization_id, action):
    key = api_key(request)
    if key is not None:
        if key.organization_id is not None and key.organization_id != organization_id:
            return False
        return ACTION_RANK[SCOPE_ALLOWS[key.scope]] >= ACTION_RANK[action]
    if organization_id is None:  # global templates and other company-wide things
        return is_integration_admin(request.user) if action != "view" else is_company_staff(request.user)
    return may(request.user, Organization(pk=organization_id), action)


def require(request, organization_id, action):
    """Raise a 403 in plain words unless the caller may do `action` on that organization."""
    if not may_act(request, organization_id, action):
        deny(request, action)


def deny(request, action):
    key = api_key(request)
    if key is not None:
        needed = {allowed: scope for scope, allowed in SCOPE_ALLOWS.items()}.get(action, action)
        raise PermissionDenied(f"This key's scope ({key.scope}) does not allow this; it needs the “{needed}” scope.")
    raise PermissionDenied("Your role on this organization does not allow this; ask an owner or admin.")


def organizations_allowing(request, action):
    """Ids of the organizations where the caller may do `action` (None: all of them)."""
    key = api_key(request)
    if key is not None:
        if ACTION_RANK[SCOPE_ALLOWS[key.scope]] < ACTION_RANK[action]:
            return []
        return None if key.organization_id is None else [key.organization_id]
    ids = visible_organization_ids(request)
    if ids is None:
        if may(request.user, Organization(pk=0), action):  # company staff rank the same everywhere
            return None
        return []
    return [pk for pk in ids if may(request.user, Organization(pk=pk), action)]
