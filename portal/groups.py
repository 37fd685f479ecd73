"""The company's two staff groups and what they may do; kept in sync after every migrate so new models are covered."""

from portal.tenancy import INTEGRATION_ADMINS_GROUP, OPERATIONS_GROUP

OUR_APPS = {"portal", "integrations", "connectors", "mappings", "alerts", "jobs", "sandbox", "sandbox_prestashop",
            "sandbox_channeladvisor", "sandbox_tims", "django_q", "finance", "payouts", "reconciliation",
            "customers", "pricing", "catalog"}
# Operations see everything but act only on work and maps; credentials live on connections, which they only view.
# They change alert rules, acknowledge, cancel jobs, upload payout files and decide likely duplicate customers.
# GL posting rules (finance) are the integration admins' to change; reconciliation reports are made by runs only.
OPERATIONS_MAY_CHANGE_APPS = {"mappings", "alerts", "jobs", "payouts", "customers"}
OPERATIONS_MAY_NOT_CHANGE = {("integrations", "connection"), ("integrations", "integration")}
OPERATIONS_MAY_CHANGE_MODELS_OF = {"integrations"}  # sync records and their attempts, when they exist


def permissions_for(group_name, Permission):
    perms = Permission.objects.filter(content_type__app_label__in=OUR_APPS).select_related("content_type")
    chosen = []
    for perm in perms:
        app, model = perm.content_type.app_label, perm.content_type.model
        action = perm.codename.split("_", 1)[0]
        if group_name == INTEGRATION_ADMINS_GROUP:
            if app != "django_q" or action == "view" or model in ("ormq", "schedule"):
                chosen.append(perm)
        elif action == "view":
            chosen.append(perm)
        elif app in OPERATIONS_MAY_CHANGE_APPS or (
            app in OPERATIONS_MAY_CHANGE_MODELS_OF and (app, model) not in OPERATIONS_MAY_NOT_CHANGE
        ):
            chosen.append(perm)
    return chosen


def sync_groups(Group=None, Permission=None, **kwargs):
    if Group is None:
        from django.contrib.auth.models import Group, Permission
    for name in (OPERATIONS_GROUP, INTEGRATION_ADMINS_GROUP):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions_for(name, Permission))
