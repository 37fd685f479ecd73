from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"

    def ready(self):
        from api import events, schema  # noqa: F401 - schema registers the Api-Key scheme with drf-spectacular

        events.watch_pauses()
