"""What each channel is asked to charge: a rule per integration (from TIMS's UnitPrice or Cost, a markup or margin,
rounding, floor and ceiling, an exchange rate), time-bound promotions, the price last sent per SKU, and the price
changes that looked wrong and wait for a person."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from integrations.models import Integration, SyncRecord

MONEY = {"max_digits": 14, "decimal_places": 2}


class Base(models.TextChoices):
    UNIT_PRICE = "unit_price", "TIMS UnitPrice"
    COST = "cost", "TIMS Cost"


class Adjust(models.TextChoices):
    NONE = "none", "unchanged"
    MARKUP = "markup", "markup: base × (1 + percent)"
    MARGIN = "margin", "margin: base ÷ (1 − percent)"


class Rounding(models.TextChoices):
    CENTS = "cents", "to the cent"
    WHOLE = "whole", "to a whole amount"
    END_99 = "0.99", "up to .99"
    END_95 = "0.95", "up to .95"
    END_49 = "0.49", "up to .49 or .99"


class PriceRule(models.Model):
    """One per integration; the default (no row) sends TIMS's UnitPrice unchanged, so channel prices equal TIMS's."""

    integration = models.OneToOneField(Integration, on_delete=models.CASCADE, related_name="price_rule")
    base = models.CharField(max_length=20, choices=Base.choices, default=Base.UNIT_PRICE)
    adjust = models.CharField(max_length=20, choices=Adjust.choices, default=Adjust.NONE)
    percent = models.DecimalField(max_digits=7, decimal_places=2, default=Decimal("0"),
                                  help_text="The markup or margin in percent (e.g. 25).")
    rounding = models.CharField(max_length=10, choices=Rounding.choices, default=Rounding.CENTS)
    floor = models.DecimalField(**MONEY, null=True, blank=True, help_text="Never less than this.")
    ceiling = models.DecimalField(**MONEY, null=True, blank=True, help_text="Never more than this.")
    exchange_rate = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("1"),
                                        validators=[MinValueValidator(Decimal("0.000001"))],
                                        help_text="Channel currency per TIMS currency unit (1: the same currency).")
    currency = models.CharField(max_length=3, blank=True, help_text="The channel's currency, for the record.")
    hold_change_over = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal("30"), validators=[MinValueValidator(Decimal("0")),
                                                                           MaxValueValidator(Decimal("1000"))],
        help_text="A new price that moves more than this many percent from the last one sent waits for a person.")
    hold_below_cost = models.BooleanField(default=True, help_text="A price under TIMS's Cost waits for a person.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Price rule of {self.integration}"

    def in_words(self):
        words = [self.get_base_display()]
        if self.adjust != Adjust.NONE:
            words.append(f"{self.adjust} {self.percent.normalize():f} %")
        if self.exchange_rate != 1:
            words.append(f"× {self.exchange_rate.normalize():f}")
        words.append(f"rounded {self.get_rounding_display()}")
        if self.floor is not None:
            words.append(f"at least {self.floor}")
        if self.ceiling is not None:
            words.append(f"at most {self.ceiling}")
        return ", ".join(words)


class PromotionKind(models.TextChoices):
    PERCENT = "percent", "percent off"
    AMOUNT = "amount", "amount off"
    PRICE = "price", "a fixed price"


class Promotion(models.Model):
    """A time-bound price for some SKUs: it starts and ends on its own (the schedule sends the new prices)."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="promotions")
    name = models.CharField(max_length=100)
    skus = models.CharField("SKUs", max_length=500, help_text="SKUs or prefixes ending in *, separated by commas.")
    kind = models.CharField(max_length=10, choices=PromotionKind.choices, default=PromotionKind.PERCENT)
    value = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0"))])
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    started_sent = models.BooleanField(default=False, editable=False)
    ended_sent = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")),
                                              name="promotion_ends_after_it_starts")]

    def __str__(self):
        return self.name

    def covers(self, sku):
        for pattern in (p.strip() for p in self.skus.split(",")):
            if pattern and (sku == pattern or (pattern.endswith("*") and sku.startswith(pattern[:-1]))):
                return True
        return False


class SentPrice(models.Model):
    """The price a channel was last sent for a SKU: what a new price is compared with."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    sku = models.CharField("SKU", max_length=100)
    price = models.DecimalField(**MONEY)
    regular = models.DecimalField(**MONEY, help_text="The price without a promotion: what the next is compared with.")
    sent_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "sku"], name="one_sent_price_per_sku")]

    def __str__(self):
        return f"{self.sku} {self.price}"


class HoldStatus(models.TextChoices):
    OPEN = "open", "Waiting for a person"
    APPROVED = "approved", "Approved and sent"
    REJECTED = "rejected", "Rejected: not sent"
    REPLACED = "replaced", "Replaced by a newer price"


class PriceHold(models.Model):
    """A price change that looked wrong (a big move, under cost, zero): not sent until a person approves it."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="price_holds")
    sku = models.CharField("SKU", max_length=100)
    old_price = models.DecimalField(**MONEY, null=True, blank=True)
    new_price = models.DecimalField(**MONEY)
    cost = models.DecimalField(**MONEY, null=True, blank=True)
    rule = models.CharField(max_length=300, help_text="The rule that made the new price, in words.")
    reasons = models.JSONField(default=list)
    record = models.ForeignKey(SyncRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=20, choices=HoldStatus.choices, default=HoldStatus.OPEN)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "held price"
        constraints = [models.UniqueConstraint(fields=["integration", "sku"], condition=Q(status="open"),
                                               name="one_open_price_hold_per_sku")]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        return f"{self.sku}: {self.old_price} → {self.new_price}"
