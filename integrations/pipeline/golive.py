"""Going live after a shadow run: import for real what shadow mode only read, from a cut-over time the user picks."""

from datetime import datetime

from django.db import transaction

from integrations.models import IntegrationState, PollState, SyncRecord
from integrations.pipeline import actions


def shadow_orders_since(integration, cutover):
    """The channel orders read in shadow mode that were placed at or after `cutover`: what going live imports."""
    seen = {}
    rows = SyncRecord.objects.filter(integration=integration, shadow=True, flow="orders").values_list(
        "source_id", "source_payload")
    for source_id, payload in rows.iterator():
        placed = _placed_at((payload or {}).get("ordered_at"))
        if placed is None or placed >= cutover:
            seen[source_id] = placed
    return sorted(seen)


def _placed_at(value):
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def go_live(integration, cutover, actor):
    """Live from now on; orders placed since `cutover` are imported, older ones are not. Streams that poll by
    watermark are rewound to the cut-over so they read those orders again (the records read in shadow mode stay
    as they were: new live records are made beside them). Returns how many shadow-read orders will be imported."""
    pending = shadow_orders_since(integration, cutover)
    with transaction.atomic():
        before = {"state": integration.state,
                  "cutover_at": integration.cutover_at.isoformat() if integration.cutover_at else None}
        integration.state = IntegrationState.LIVE
        integration.cutover_at = cutover
        integration.save(update_fields=["state", "cutover_at", "updated_at"])
        for state in PollState.objects.filter(integration=integration, watermark__gt=cutover):
            PollState.objects.filter(pk=state.pk).update(watermark=cutover)
        actions.audit(actor, "go_live", reason=f"cut-over {cutover.isoformat()}; {len(pending)} orders read in "
                      "shadow mode will be imported", before=before,
                      after={"state": IntegrationState.LIVE, "cutover_at": cutover.isoformat()},
                      organization=integration.organization)
    return len(pending)
