from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PortalConfig(AppConfig):
    default = True
    name = "portal"
    verbose_name = "Portal: organizations and people"

    def ready(self):
        from django.db.models.signals import post_migrate

        from portal import checks  # noqa: F401  (registers the system checks)
        from portal.logging import install_record_factory

        install_record_factory()
        post_migrate.connect(_after_migrate)


def _after_migrate(app_config, **kwargs):
    from django.apps import apps

    from portal.groups import sync_groups
    from portal.schedules import ensure_schedules

    if app_config is not list(apps.get_app_configs())[-1]:
        return  # every app's permissions exist only once the last app has migrated

    sync_groups()
    ensure_schedules()


class PortalAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "portal.admin_site.PortalAdminSite"
