from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from django_q.signals import post_spawn

        from integrations.pipeline import ticker

        post_spawn.connect(ticker.start, dispatch_uid="integrations-feed-ticker")

        from integrations.flows import registry

        registry.load()  # declared in FLOW_MODULES order, whatever imports a flow module first
        from integrations.flows import inventory
        from integrations.pipeline import bulk  # noqa: F401 - registers its kinds of job
        from portal.admin_site import ADDITIONAL_ATTENTION

        if inventory.attention not in ADDITIONAL_ATTENTION:
            ADDITIONAL_ATTENTION.append(inventory.attention)
