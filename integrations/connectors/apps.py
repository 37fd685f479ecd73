from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "integrations.connectors"
    label = "connectors"
    verbose_name = "Connectors"
