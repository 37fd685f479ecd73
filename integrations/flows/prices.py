"""Prices, TIMS → each channel: an item's price by the integration's rule, sent only when it changed, and held for a
person when it looks wrong (zero, under cost, a big move) — a 0.99 instead of 99 must not reach a marketplace.

TIMS item.updated (read once per TIMS connection, fanned out to every integration) → the item read again from TIMS
→ the rule (and a live promotion) → the same as the channel was last sent: nothing to do → looks wrong: held, with
approve / reject in Pricing › Held prices → the channel's price written → remembered as the last one sent.
Promotions start and end on their own: a schedule makes a record for each SKU they cover when they do.
"""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from integrations.connectors.checks import client_for
from integrations.flows import registry
from integrations.pipeline import records
from integrations.pipeline.outcomes import Hold, Rejected, Skipped
from pricing import rules
from pricing.models import HoldStatus, PriceHold, Promotion, SentPrice

ENTITY = "price"
HOLD_RECHECK = timedelta(hours=6)


def publish_price(record):
    integration = record.integration
    sku = record.source_id
    tims = client_for(integration.tims_connection, lane=PRICES.lane)
    item = tims.get_json(f"items/{sku}")  # the event is a hint: the price is read as TIMS has it now
    if item.get("Active") is False:
        raise Skipped(f"TIMS item {sku} is inactive: its price is not sent (its stock shows 0).")
    rule = rules.rule_of(integration)
    promotions = list(Promotion.objects.filter(integration=integration))
    try:
        priced = rules.price(rule, sku, item.get("UnitPrice"), item.get("Cost"), promotions, now=timezone.now())
    except rules.PricingError as exc:
        raise Rejected(exc.message, fix=exc.fix) from exc
    last = SentPrice.objects.filter(integration=integration, sku=sku).first()
    records.save_fields(record, mapped_payload={"price": str(priced.price), "regular": str(priced.regular),
                                                "how": priced.steps}, reference=sku[:100])
    if last is not None and last.price == priced.price:
        raise Skipped(f"{sku} is {priced.price} in the channel already.")
    approved = PriceHold.objects.filter(record=record, status=HoldStatus.APPROVED, new_price=priced.price).exists()
    reasons = [] if approved else rules.looks_wrong(rule, last.regular if last else None, priced, item.get("Cost"))
    if reasons:
        raise held(integration, record, sku, last, priced, item.get("Cost"), rule, reasons)
    if record.shadow:
        records.save_fields(record, notes=f"Shadow mode: would send {sku} at {priced.price}.")
        return
    channel = client_for(integration.channel_connection, lane=PRICES.lane)
    channel.set_price(sku, priced.price, **price_kinds(integration))
    with transaction.atomic():
        SentPrice.objects.update_or_create(integration=integration, sku=sku,
                                           defaults={"price": priced.price, "regular": priced.regular})
        PriceHold.objects.filter(integration=integration, sku=sku, status=HoldStatus.OPEN).update(
            status=HoldStatus.REPLACED, decided_at=timezone.now())  # a price that may go ends the one that waited
    was = f" (was {last.price})" if last else ""
    records.save_fields(record, notes=f"Sent {sku} at {priced.price}{was}: " + "; ".join(priced.steps) + ".")


def price_kinds(integration):
    kinds = integration.option("price_fields")
    return {"kinds": tuple(kinds)} if kinds else {}


def held(integration, record, sku, last, priced, cost, rule, reasons):
    """One open hold per SKU: a newer price replaces the one that waited (its record is superseded anyway)."""
    with transaction.atomic():
        PriceHold.objects.filter(integration=integration, sku=sku, status=HoldStatus.OPEN).exclude(
            record=record).update(status=HoldStatus.REPLACED, decided_at=timezone.now())
        hold, _ = PriceHold.objects.update_or_create(
            integration=integration, sku=sku, status=HoldStatus.OPEN,
            defaults={"old_price": last.price if last else None, "new_price": priced.price,
                      "cost": Decimal(str(cost)) if cost not in (None, "") else None,
                      "rule": rule.in_words()[:300], "reasons": reasons, "record": record})
    old = f"{last.price}" if last else "nothing yet"
    return Hold(f"{sku}: the new price {priced.price} (was {old}) was not sent: " + "; ".join(reasons) + ".",
                recheck_after=HOLD_RECHECK,
                fix=f"Check the price in TIMS and the rule ({rule.in_words()}), then approve or reject it in "
                    f"Pricing › Held prices › #{hold.pk}.")


def promotions_due(now=None):
    """Schedule: promotions that started or ended since the last run send the prices of the SKUs they cover."""
    from integrations.models import IntegrationState

    now = now or timezone.now()
    made = 0
    for promotion in Promotion.objects.filter(integration__state=IntegrationState.LIVE).select_related(
            "integration"):
        for moment, flag in ((promotion.starts_at, "started_sent"), (promotion.ends_at, "ended_sent")):
            if moment > now or getattr(promotion, flag):
                continue
            sent = SentPrice.objects.filter(integration=promotion.integration).values_list("sku", flat=True)
            with transaction.atomic():
                for sku in (s for s in sent if promotion.covers(s)):
                    records.receive(promotion.integration, flow=PRICES.name, entity_type=ENTITY, source_id=sku,
                                    source_version=f"promotion-{promotion.pk}-{flag}", reference=sku)
                    made += 1
                Promotion.objects.filter(pk=promotion.pk).update(**{flag: True})
    return made


PRICES = registry.declare(registry.Flow(
    name="prices", label="Prices to the channel", source=registry.TIMS, target=registry.CHANNEL, entity_type=ENTITY,
    triggers=(registry.Poll("events", position="cursor", system=registry.TIMS, events=("item.updated",)),),
    step=publish_price, supersedes=True, lane="low",
    templates={"prestashop_tims": True, "channeladvisor_tims": True},
))
