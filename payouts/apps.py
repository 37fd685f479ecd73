from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "payouts"
    verbose_name = "Marketplace payouts"

    def ready(self):
        from payouts import jobs  # noqa: F401 - registers its kinds of job (workers need them too)
