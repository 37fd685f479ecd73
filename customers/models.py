"""Channel buyers and the TIMS customers they are: how each was linked, the likely duplicates a person decides,
and every change the portal made to a TIMS customer."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from integrations.models import Integration, SyncRecord


class LinkedBy(models.TextChoices):
    ID = "id", "the channel's customer id"
    EMAIL = "email", "the same e-mail"
    MATCHED = "matched", "a close match (name, postal code, phone)"
    REVIEWED = "reviewed", "a person's decision"
    CREATED = "created", "created for this buyer"


class BuyerLink(models.Model):
    """A channel buyer (by `id:<channel customer id>` or `email:<normalized e-mail>`) → one TIMS customer code.
    Many buyers may be one TIMS customer (that is what de-duplication is for), so the code is not unique."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="buyer_links")
    buyer_key = models.CharField(max_length=120)
    customer_code = models.CharField(max_length=100, db_index=True)
    linked_by = models.CharField(max_length=20, choices=LinkedBy.choices)
    score = models.PositiveSmallIntegerField(null=True, blank=True, help_text="For a close match: how close.")
    details_digest = models.CharField(max_length=64, blank=True,
                                      help_text="The buyer's details last compared with TIMS (changed: compare again).")
    record = models.ForeignKey(SyncRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "buyer_key"], name="buyer_link_unique")]

    def __str__(self):
        return f"{self.buyer_key} → {self.customer_code}"


class MatchStatus(models.TextChoices):
    OPEN = "open", "Waiting for a person"
    LINKED = "linked", "Linked to an existing customer"
    CREATED = "created", "A new customer"


class CustomerMatch(models.Model):
    """A new buyer who looks like an existing TIMS customer, but not surely: a person links or creates. The orders
    of that buyer wait on a hold until then."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="customer_matches")
    buyer_key = models.CharField(max_length=120)
    buyer = models.JSONField(help_text="The buyer as the channel has them: name, e-mail, phone, address.")
    candidates = models.JSONField(default=list, help_text="TIMS customers alike, best first, with score and why.")
    best_code = models.CharField(max_length=100, blank=True)
    best_score = models.PositiveSmallIntegerField(default=0)
    record = models.ForeignKey(SyncRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                               help_text="The first order that waits on this decision.")
    waiting = models.JSONField(default=list, help_text="The records (orders) the decision releases.")
    status = models.CharField(max_length=20, choices=MatchStatus.choices, default=MatchStatus.OPEN)
    decided_code = models.CharField(max_length=100, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "likely duplicate customer"
        constraints = [models.UniqueConstraint(fields=["integration", "buyer_key"], condition=Q(status="open"),
                                               name="one_open_match_per_buyer")]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        return f"{self.buyer.get('name') or self.buyer_key} ~ {self.best_code} ({self.best_score})"


class CustomerChange(models.Model):
    """One field of a TIMS customer the portal changed (or left, when TIMS wins), and where the change came from."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="customer_changes")
    customer_code = models.CharField(max_length=100, db_index=True)
    field = models.CharField(max_length=40)
    before = models.TextField(blank=True)
    after = models.TextField(blank=True)
    applied = models.BooleanField("written to TIMS", default=True,
                                  help_text="False: TIMS's value was kept (the policy says TIMS wins).")
    source = models.CharField(max_length=200, help_text="What in the channel said so.")
    record = models.ForeignKey(SyncRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        return f"{self.customer_code} {self.field}: {self.before} → {self.after}"
