"""What every sandbox shares: the instance, the hashes of the secrets it accepts, faults, call counts, webhooks."""

import hashlib

from django.db import models

from portal.fields import EncryptedJSONField

SYSTEMS = [("prestashop", "PrestaShop"), ("channeladvisor", "ChannelAdvisor"), ("tims", "TIMS")]


def digest(secret: str) -> str:
    """Secrets the sandbox issues are long and random, so a plain SHA-256 is a safe one-way store."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Sandbox(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200, blank=True)
    organization = models.ForeignKey(
        "portal.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="sandboxes",
        help_text="Set for a customer's private trial sandbox; empty for shared ones such as the demo.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug


class SandboxCredential(models.Model):
    """One secret a sandbox accepts, stored as a hash. `identifier` is the public half, if any (an app id)."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="credentials")
    system = models.CharField(max_length=20, choices=SYSTEMS)
    kind = models.CharField(max_length=40)  # ws_key, shared_secret, refresh_token, client_secret, ...
    identifier = models.CharField(max_length=200, blank=True)
    secret_hash = models.CharField(max_length=64, db_index=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sandbox", "system", "kind", "-created_at"]

    def __str__(self):
        return f"{self.sandbox} {self.system} {self.kind} {self.identifier or ''}".strip()


class FaultProfile(models.Model):
    """Faults a sandbox injects into one system's answers; all chances are 0..1 per call."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="fault_profiles")
    system = models.CharField(max_length=20, choices=SYSTEMS)
    profile = models.CharField(max_length=20, default="none")
    seed = models.BigIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    jitter_ms = models.PositiveIntegerField(default=0)
    error_rate = models.FloatField(default=0, help_text="Chance of a 500/502/503 answer.")
    throttle_rate = models.FloatField(default=0, help_text="Chance that a call starts a burst of 429s.")
    throttle_burst = models.PositiveIntegerField(default=3)
    retry_after_seconds = models.PositiveIntegerField(default=1)
    hang_rate = models.FloatField(default=0, help_text="Chance of a hang longer than a client's timeout.")
    hang_seconds = models.FloatField(default=35)
    commit_then_fail_rate = models.FloatField(default=0, help_text="Chance a write is done, then answered with 500.")
    webhook_duplicate_rate = models.FloatField(default=0)
    webhook_reorder_rate = models.FloatField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "system"], name="one_fault_profile_per_system")]

    def __str__(self):
        return f"{self.sandbox} {self.system}: {self.profile}"


class SandboxCall(models.Model):
    """One call a sandbox answered; `sandbox stats` aggregates these."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="calls")
    system = models.CharField(max_length=20, choices=SYSTEMS)
    method = models.CharField(max_length=10)
    endpoint = models.CharField(max_length=200)  # the route pattern, not the concrete path
    status = models.PositiveSmallIntegerField()
    duration_ms = models.FloatField()
    fault = models.CharField(max_length=30, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["sandbox", "system"])]

    def __str__(self):
        return f"{self.method} {self.endpoint} → {self.status}"


class WebhookSubscription(models.Model):
    """Where a sandbox system POSTs its events, and the secret it signs them with."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="webhook_subscriptions")
    system = models.CharField(max_length=20, choices=SYSTEMS)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, blank=True, help_text="Empty: every event.")
    signing = EncryptedJSONField()  # {"secret": ...}: the sandbox must know it to sign, so it is encrypted
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.sandbox} {self.system} → {self.url}"


class WebhookDelivery(models.Model):
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=60)
    body = models.TextField()
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True, null=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.event} to {self.subscription.url}"


class Corruption(models.Model):
    """A raw value a channel sandbox serves for one field of one order instead of the stored one, so clients can be
    tried against the bad data real shops hold (`sandbox corrupt`). `removed`: the field is left out altogether."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="corruptions")
    system = models.CharField(max_length=20, choices=SYSTEMS)
    order_id = models.BigIntegerField()
    field = models.CharField(max_length=100)
    value = models.JSONField(null=True, blank=True, help_text="Served as is in JSON; as text in XML.")
    removed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sandbox", "system", "order_id", "field"]
        constraints = [models.UniqueConstraint(fields=["sandbox", "system", "order_id", "field"],
                                               name="one_corruption_per_field")]

    def __str__(self):
        return f"{self.sandbox} {self.system} order {self.order_id} {self.field}"
