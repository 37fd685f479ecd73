"""A person's decision on a likely duplicate: this buyer is that TIMS customer, or a new one. Audited; the orders
that waited go on at once."""

from django.db import transaction
from django.utils import timezone

from customers.models import BuyerLink, CustomerMatch, LinkedBy, MatchStatus
from integrations.models import SyncRecord
from integrations.pipeline import actions


class Undecidable(Exception):
    pass


def decide(match, actor, *, link_to=None):
    """Link the buyer to TIMS customer `link_to` (one of the candidates or any code), or with None make a new
    customer when the order is retried. Returns how many waiting records were retried."""
    link_to = (link_to or "").strip().upper() or None
    with transaction.atomic():
        match = CustomerMatch.objects.select_for_update().get(pk=match.pk)
        if match.status != MatchStatus.OPEN:
            raise Undecidable(f"This buyer was decided already ({match.get_status_display().lower()}"
                              + (f" {match.decided_code}" if match.decided_code else "") + ").")
        match.status = MatchStatus.LINKED if link_to else MatchStatus.CREATED
        match.decided_code, match.decided_by, match.decided_at = link_to or "", actor, timezone.now()
        match.save(update_fields=["status", "decided_code", "decided_by", "decided_at"])
        if link_to:
            for key in match.buyer.get("keys") or [match.buyer_key]:
                BuyerLink.objects.update_or_create(
                    integration_id=match.integration_id, buyer_key=key,
                    defaults={"customer_code": link_to, "linked_by": LinkedBy.REVIEWED, "score": None,
                              "details_digest": ""})
        actions.audit(actor, "customer_match.link" if link_to else "customer_match.create",
                      organization=match.integration.organization, reason=str(match),
                      before={"status": MatchStatus.OPEN, "candidates": [c["code"] for c in match.candidates]},
                      after={"status": match.status, "customer": link_to or "new"})
        retried = actions.retry(SyncRecord.objects.filter(pk__in=match.waiting, integration=match.integration),
                                actor, reason=f"Likely duplicate #{match.pk} decided")
    return retried
