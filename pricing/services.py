"""A person's decision on a held price: approved (sent now) or rejected (the channel keeps its price). Audited."""

from django.db import transaction
from django.utils import timezone

from integrations.models import SyncRecord
from integrations.pipeline import actions
from pricing.models import HoldStatus, PriceHold


class Undecidable(Exception):
    pass


def decide(hold, actor, *, approve, reason=""):
    with transaction.atomic():
        hold = PriceHold.objects.select_for_update().get(pk=hold.pk)
        if hold.status != HoldStatus.OPEN:
            raise Undecidable(f"This price was decided already ({hold.get_status_display().lower()}).")
        hold.status = HoldStatus.APPROVED if approve else HoldStatus.REJECTED
        hold.decided_by, hold.decided_at = actor, timezone.now()
        hold.save(update_fields=["status", "decided_by", "decided_at"])
        actions.audit(actor, "price_hold.approve" if approve else "price_hold.reject", record=hold.record,
                      organization=hold.integration.organization, reason=reason or str(hold),
                      before={"status": HoldStatus.OPEN, "old": str(hold.old_price), "new": str(hold.new_price)},
                      after={"status": hold.status})
        waiting = SyncRecord.objects.filter(pk=hold.record_id)
        if approve:
            actions.retry(waiting, actor, reason=f"Price {hold.new_price} for {hold.sku} approved")
        else:
            actions.discard(waiting, actor, reason or f"Price {hold.new_price} for {hold.sku} rejected: the channel "
                                                      f"keeps {hold.old_price}")
    return hold
