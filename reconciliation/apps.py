from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    verbose_name = "Reconciliation: orders to cash"

    def ready(self):
        from django.db.models.signals import post_migrate

        from reconciliation import jobs  # noqa: F401 - registers its kind of job (workers need it too)

        post_migrate.connect(_after_migrate, sender=self)


def _after_migrate(**kwargs):
    from reconciliation.jobs import ensure_schedule

    ensure_schedule()
