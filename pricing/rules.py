"""A channel price from a TIMS item by the integration's rule, and whether a change looks wrong. Plain functions."""

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation

from pricing.models import Adjust, Base, PriceRule, PromotionKind, Rounding

CENT = Decimal("0.01")


class PricingError(Exception):
    """The rule cannot make a price from this item: said in words, with what to fix."""

    def __init__(self, message, fix):
        super().__init__(message)
        self.message, self.fix = message, fix


@dataclass
class Priced:
    price: Decimal  # what the channel is sent now
    regular: Decimal  # without a promotion
    promotion: object = None
    steps: list = field(default_factory=list)  # how it was made, in words


def rule_of(integration):
    """The integration's rule, or the default one (TIMS UnitPrice unchanged), unsaved."""
    return PriceRule.objects.filter(integration=integration).first() or PriceRule(integration=integration)


def amount(value, name, sku):
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise PricingError(f"TIMS item {sku} has {name} “{value}”, which is not a number.",
                           f"Correct the item's {name} in TIMS; the price is sent once it is a number.") from None
    if not number.is_finite():
        raise PricingError(f"TIMS item {sku} has {name} “{value}”, which is not a number.",
                           f"Correct the item's {name} in TIMS.")
    return number


def price(rule, sku, unit_price, cost, promotions=(), now=None):
    """The channel price of one item by `rule`, with a live promotion of `promotions` (the first that covers it)."""
    name = "UnitPrice" if rule.base == Base.UNIT_PRICE else "Cost"
    raw = unit_price if rule.base == Base.UNIT_PRICE else cost
    if raw in (None, ""):
        raise PricingError(f"TIMS item {sku} has no {name}, which the price rule starts from.",
                           f"Give the item a {name} in TIMS, or base the rule on the other one.")
    value = amount(raw, name, sku)
    steps = [f"{name} {value}"]
    percent = rule.percent / 100
    if rule.adjust == Adjust.MARKUP:
        value = value * (1 + percent)
        steps.append(f"markup {rule.percent.normalize():f} % → {value.quantize(CENT)}")
    elif rule.adjust == Adjust.MARGIN:
        if percent >= 1:
            raise PricingError(f"A margin of {rule.percent.normalize():f} % divides by zero (or below): no price "
                               "can have it.", "Set the rule's margin under 100 %, or use a markup.")
        value = value / (1 - percent)
        steps.append(f"margin {rule.percent.normalize():f} % → {value.quantize(CENT)}")
    if rule.exchange_rate != 1:
        value = value * rule.exchange_rate
        steps.append(f"× {rule.exchange_rate.normalize():f} {rule.currency or ''} → {value.quantize(CENT)}".replace(
            "  ", " "))
    regular = bounded(rule, rounded(rule.rounding, value), steps)
    live = next((p for p in promotions if p.covers(sku) and (now is None or p.starts_at <= now < p.ends_at)), None)
    if live is None:
        return Priced(regular, regular, None, steps)
    promoted = bounded(rule, rounded(rule.rounding, promotional(live, regular)), [])
    steps.append(f"promotion “{live.name}” ({live.get_kind_display()} {live.value}) → {promoted}")
    return Priced(promoted, regular, live, steps)


def promotional(promotion, regular):
    if promotion.kind == PromotionKind.PERCENT:
        return regular * (1 - min(promotion.value, Decimal(100)) / 100)
    if promotion.kind == PromotionKind.AMOUNT:
        return max(regular - promotion.value, Decimal(0))
    return promotion.value


def rounded(rounding, value):
    if rounding == Rounding.WHOLE:
        return value.quantize(Decimal(1), rounding=ROUND_HALF_UP).quantize(CENT)
    if rounding in (Rounding.END_99, Rounding.END_95):
        ending = Decimal(rounding)
        whole = (value - ending).quantize(Decimal(1), rounding=ROUND_CEILING)
        return max(whole + ending, ending)
    if rounding == Rounding.END_49:
        halves = ((value - Decimal("0.49")) * 2).quantize(Decimal(1), rounding=ROUND_CEILING)
        return max(halves / 2 + Decimal("0.49"), Decimal("0.49")).quantize(CENT)
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def bounded(rule, value, steps):
    if rule.floor is not None and value < rule.floor:
        steps.append(f"raised to the floor {rule.floor}")
        return rule.floor
    if rule.ceiling is not None and value > rule.ceiling:
        steps.append(f"lowered to the ceiling {rule.ceiling}")
        return rule.ceiling
    if steps is not None and value is not None:
        steps.append(f"rounded {rule.get_rounding_display()} → {value}")
    return value


def looks_wrong(rule, old, priced, cost):
    """Why a new price must wait for a person ([] when it may go): zero, under cost, or a regular price that moves
    over the threshold from the last regular price sent (a promotion starting or ending is meant)."""
    reasons = []
    new = priced.price
    if new <= 0:
        reasons.append("the new price is zero")
    if rule.hold_below_cost and cost not in (None, "") and new < Decimal(str(cost)) * rule.exchange_rate:
        reasons.append(f"it is below TIMS's cost ({Decimal(str(cost)) * rule.exchange_rate:.2f})")
    if old:
        moved = abs(priced.regular - old) / old * 100
        if moved > rule.hold_change_over:
            reasons.append(f"it moves {moved:.0f} % from the last price sent ({old}); the limit is "
                           f"{rule.hold_change_over.normalize():f} %")
    return reasons
