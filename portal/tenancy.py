"""Who may see what: company staff see every organization, everyone else only their own."""

from portal.models import Organization, Role

OPERATIONS_GROUP = "Operations"
INTEGRATION_ADMINS_GROUP = "Integration admins"
COMPANY_GROUPS = (OPERATIONS_GROUP, INTEGRATION_ADMINS_GROUP)

# What a customer's role allows on their own organization's objects.
ROLES_THAT_CHANGE_CONNECTIONS = {Role.OWNER, Role.ADMIN}
ROLES_THAT_OPERATE = {Role.OWNER, Role.ADMIN, Role.OPERATOR}


def _group_names(user):
    if not hasattr(user, "_portal_group_names"):
        user._portal_group_names = set(user.groups.values_list("name", flat=True))
    return user._portal_group_names


def is_company_staff(user):
    return user.is_active and (user.is_superuser or (user.is_staff and bool(_group_names(user) & set(COMPANY_GROUPS))))


def is_integration_admin(user):
    return user.is_active and (user.is_superuser or (user.is_staff and INTEGRATION_ADMINS_GROUP in _group_names(user)))


def visible_organizations(user):
    if not user.is_authenticated:
        return Organization.objects.none()
    if is_company_staff(user):
        return Organization.objects.all()
    return Organization.objects.filter(memberships__user=user)


def roles_of(user):
    """{organization_id: role} for a customer user."""
    if not hasattr(user, "_portal_roles"):
        user._portal_roles = dict(user.memberships.values_list("organization_id", "role"))
    return user._portal_roles


def scope(queryset, user, path="organization"):
    """Limit any queryset to the user's organizations; `path` leads from the model to its organization."""
    if is_company_staff(user):
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(**{f"{path}__in": list(roles_of(user))})
