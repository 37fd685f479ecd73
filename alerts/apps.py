from django.apps import AppConfig


class AlertsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        from alerts.conditions import firing_alerts_attention
        from portal.admin_site import ADDITIONAL_ATTENTION

        ADDITIONAL_ATTENTION.append(firing_alerts_attention)
