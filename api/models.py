"""API keys (hashed at rest), event subscriptions and their deliveries."""

from django.conf import settings
from django.db import models

from portal.fields import EncryptedJSONField
from portal.models import Organization


class Scope(models.TextChoices):
    READ = "read", "Read"
    OPERATE = "operate", "Operate (retry, discard, pause)"
    ADMIN = "admin", "Admin (connections, value maps)"


class ApiKey(models.Model):
    """A key is `ipk_<prefix>_<secret>`; only the prefix (to find it) and a SHA-256 of the secret are kept."""

    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="api_keys", help_text="Empty: a staff key that sees every tenant.")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.prefix} ({self.name or self.get_scope_display()})"

    @property
    def is_staff_key(self):
        return self.organization_id is None

    @property
    def active(self):
        return self.revoked_at is None


class Event(models.TextChoices):
    RECORD_DEAD = "record.dead", "A record became a dead letter"
    RECORD_RECOVERED = "record.recovered", "A record succeeded after a retry"
    INTEGRATION_PAUSED = "integration.paused", "An integration was paused"
    PING = "ping", "Test event"


class Subscription(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="event_subscriptions")
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="Event names, e.g. record.dead.")
    signing_secret = EncryptedJSONField(help_text="{'secret': ...}: signs every delivery; shown once.")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__name", "url"]

    def __str__(self):
        return f"{self.url} ({', '.join(self.events)})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed: no more retries"


class Delivery(models.Model):
    """One event for one subscription: a row first, then sent (and retried with backoff) by a worker."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    body = models.TextField(help_text="The exact JSON sent each time, so every try signs the same bytes.")
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="api_delivery_due")]

    def __str__(self):
        return f"{self.event} to {self.subscription.url}: {self.status}"
