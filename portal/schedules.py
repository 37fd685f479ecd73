"""The periodic tasks every deployment runs, (re)created after each migrate."""

from datetime import timedelta

from django.utils import timezone

# name: (dotted function, minutes between runs)
SCHEDULES = {
    "portal: worker heartbeat": ("portal.health.beat", 1),
    "sandbox: deliver due webhooks": ("sandbox.core.deliver_due", 1),
    "pipeline: sweep due and abandoned records": ("integrations.pipeline.records.sweep", 1),
    "pipeline: poll live integrations": ("integrations.pipeline.pollers.poll_all", 1),
    "inventory: reconcile channels that are due": ("integrations.flows.inventory.reconcile_due", 60),
    "prices: send the prices of promotions that start or end": ("integrations.flows.prices.promotions_due", 1),
    "pipeline: prune old succeeded records": ("integrations.pipeline.records.prune_succeeded", 60 * 24),
    "pipeline: forget expired echo guards": ("integrations.pipeline.records.prune_echo_guards", 60),
    "webhooks: forget receipts past the replay window": ("integrations.webhooks.prune_webhook_receipts", 60),
    "alerts: evaluate the rules": ("alerts.evaluate.run", 1),
    "jobs: queue again what lost its worker": ("jobs.work.take_back_stalled", 1),
    "api: send due event deliveries": ("api.events.deliver_due", 1),
}


def ensure_schedules():
    from django_q.models import Schedule

    for name, (func, minutes) in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1,
                      "next_run": timezone.now() + timedelta(seconds=5)},
        )
