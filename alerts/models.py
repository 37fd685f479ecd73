"""Alert rules staff edit, the alerts they raise (one per rule and subject while the condition lasts), and every
message sent about them."""

from django.conf import settings
from django.db import models

from portal.fields import EncryptedJSONField
from portal.models import Organization


class AlertKind(models.TextChoices):
    DEAD_LETTERS = "dead_letters", "Dead letters: at least N in the last M minutes"
    CIRCUIT_OPEN = "circuit_open", "A connection's circuit open for longer than M minutes"
    STREAM_SILENT = "stream_silent", "A stream without a successful poll for M minutes"
    BACKLOG_AGE = "backlog_age", "Backlog: a record waiting for longer than M minutes"
    RECONCILIATION = "reconciliation_mismatch", "A stock reconciliation found more than N drifted SKUs"
    CASH_RECONCILIATION = "cash_reconciliation", "Reconciliation differences: the latest day has N or more (or failed)"


class AlertRule(models.Model):
    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="alert_rules",
                                     help_text="Empty: watches every organization (company staff only).")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=30, choices=AlertKind.choices)
    threshold = models.PositiveIntegerField(default=1, help_text="N: how many dead letters, or drifted SKUs.")
    minutes = models.PositiveIntegerField(default=15, help_text="M: the window or the age, in minutes.")
    emails = models.TextField(blank=True, help_text="Addresses to mail, one per line or separated by commas.")
    webhook_url = models.URLField(blank=True, help_text="Receives a Slack-compatible JSON message, signed "
                                                        "(X-Webhook-Timestamp, X-Webhook-Signature).")
    webhook_signing = EncryptedJSONField(help_text="The webhook's signing secret, encrypted at rest.")
    digest_minutes = models.PositiveIntegerField(default=0, help_text="0: a message per alert as it fires and "
                                                 "recovers; otherwise one digest every this many minutes.")
    repeat_minutes = models.PositiveIntegerField(default=0, help_text="Remind every this many minutes while an "
                                                 "alert fires and nobody acknowledged it; 0: never.")
    active = models.BooleanField(default=True)
    last_digest_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__name", "name"]

    def __str__(self):
        return self.name

    @property
    def recipients(self):
        return [address.strip() for address in self.emails.replace(",", "\n").splitlines() if address.strip()]


class Alert(models.Model):
    """One condition of one rule about one subject (an integration, a connection, a stream), from when it was
    first seen until it cleared. A condition that lasts stays this one alert: nobody is told twice."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="alerts", help_text="Whose subject it is.")
    subject = models.CharField(max_length=100, help_text="e.g. integration:4, connection:2, stream:9")
    subject_label = models.CharField(max_length=200)
    message = models.TextField()
    url = models.CharField(max_length=300, blank=True, help_text="Where in the admin to look.")
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True, help_text="When every channel took the message.")
    reminded_at = models.DateTimeField(null=True, blank=True)
    recovery_notified_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgement = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [models.UniqueConstraint(fields=["rule", "subject"], condition=models.Q(resolved_at__isnull=True),
                                               name="one_open_alert_per_rule_and_subject")]
        indexes = [models.Index(fields=["resolved_at", "started_at"])]

    def __str__(self):
        return f"{self.rule}: {self.subject_label}"

    @property
    def firing(self):
        return self.resolved_at is None


class Delivery(models.Model):
    """One message to one channel, kept whether it went through or not."""

    class Kind(models.TextChoices):
        FIRING = "firing", "Alert"
        RECOVERY = "recovery", "Recovered"
        REMINDER = "reminder", "Reminder"
        DIGEST = "digest", "Digest"
        TEST = "test", "Test message"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="deliveries")
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    channel = models.CharField(max_length=10)  # email, webhook
    at = models.DateTimeField()
    ok = models.BooleanField()
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name_plural = "deliveries"

    def __str__(self):
        return f"{self.get_kind_display()} by {self.channel} at {self.at:%Y-%m-%d %H:%M}"
