"""GL posting rules per integration: which account each part of an invoice, payment or payout goes to,
versioned like the value maps so staff can see who changed what and restore an older version."""

from django.conf import settings
from django.db import models

from integrations.models import Integration


class Kind(models.TextChoices):
    RECEIVABLES = "receivables", "Receivables"
    REVENUE = "revenue", "Revenue"
    TAX = "tax", "Tax payable"
    SHIPPING = "shipping", "Shipping income"
    DISCOUNTS = "discounts", "Discounts"
    CLEARING = "clearing", "Payment clearing"
    FEES = "fees", "Marketplace fees"
    ROUNDING = "rounding", "Rounding differences"
    BANK = "bank", "Bank"


KIND_HELP = {
    Kind.RECEIVABLES: "What customers owe: debited by an invoice's total, credited when it is paid.",
    Kind.REVENUE: "Sales: credited with price × quantity. Key: the channel (prestashop, channeladvisor) or blank.",
    Kind.TAX: "Sales tax / VAT owed: credited with each line's tax. Key: a tax code, a country code, or blank.",
    Kind.SHIPPING: "Freight billed to the customer: credited with the invoice's shipping.",
    Kind.DISCOUNTS: "Discounts given: debited with the lines' discounts.",
    Kind.CLEARING: "Money received by the channel, not yet in the bank: debited by a payment, credited by a "
                   "payout. Key: the payment method as the channel names it (any case), or blank.",
    Kind.FEES: "What the marketplace keeps: debited by a payout's fee. Key: the channel or blank.",
    Kind.ROUNDING: "Cent differences between an invoice's total and its lines (at most one cent per line).",
    Kind.BANK: "The bank account payouts arrive in.",
}


class PostingRules(models.Model):
    integration = models.OneToOneField(Integration, on_delete=models.CASCADE, related_name="posting_rules")
    version = models.PositiveIntegerField(default=0, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = "posting rules"
        verbose_name_plural = "posting rules"
        ordering = ["integration__organization__name", "integration__name"]

    def __str__(self):
        return f"Posting rules of {self.integration}"


class PostingRule(models.Model):
    rules = models.ForeignKey(PostingRules, on_delete=models.CASCADE, related_name="rows")
    kind = models.CharField(max_length=20, choices=Kind.choices,
                            help_text=" ".join(f"{kind.label}: {text}" for kind, text in KIND_HELP.items()))
    key = models.CharField(max_length=60, blank=True,
                           help_text="Blank: any. Otherwise a channel, tax code, country or payment method "
                                     "(see the kind); the most specific rule wins.")
    account = models.CharField(max_length=20, help_text="The GL account number in TIMS (e.g. 4000).")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["kind", "key"]
        constraints = [models.UniqueConstraint(fields=["rules", "kind", "key"], name="posting_rule_unique_key")]

    def __str__(self):
        return f"{self.kind} ({self.key or 'any'}) → {self.account}"

    def save(self, *args, **kwargs):
        self.key, self.account = self.key.strip(), self.account.strip()
        super().save(*args, **kwargs)


class PostingRulesVersion(models.Model):
    rules = models.ForeignKey(PostingRules, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    snapshot = models.JSONField(default=list, help_text="Every rule at this version.")
    changes = models.JSONField(default=list, help_text="Plain-words list of what changed since the previous one.")
    comment = models.CharField(max_length=200, blank=True)
    saved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    saved_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rules", "-number"]
        constraints = [models.UniqueConstraint(fields=["rules", "number"], name="posting_rules_version_unique")]

    def __str__(self):
        return f"{self.rules.integration} posting rules v{self.number}"
