from django.apps import AppConfig


class SetupConfig(AppConfig):
    name = "setup"
    verbose_name = "Guided setup"

    def ready(self):
        from setup.integrations import review  # noqa: F401 - registers its kind of job (workers need it too)
