"""Connector state shared by every worker: rate windows and leases (the governor) and circuit breakers."""

from django.db import models


class RateState(models.Model):
    """A connection's sliding request window (two fixed windows blended) and any pause the remote asked for."""

    connection = models.OneToOneField("integrations.Connection", on_delete=models.CASCADE, primary_key=True,
                                      related_name="rate_state")
    window_start = models.DateTimeField()
    window_count = models.PositiveIntegerField(default=0)
    previous_count = models.PositiveIntegerField(default=0)
    paused_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "rate window"

    def __str__(self):
        return f"{self.connection}: {self.window_count} in the current window"


class RateLease(models.Model):
    """One request in flight; leases expire on their own so a killed worker cannot hold a slot forever."""

    connection = models.ForeignKey("integrations.Connection", on_delete=models.CASCADE, related_name="+")
    lane = models.CharField(max_length=10)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["connection", "expires_at"])]

    def __str__(self):
        return f"{self.connection_id} {self.lane} until {self.expires_at:%H:%M:%S}"


class BreakerState(models.TextChoices):
    CLOSED = "closed", "Closed (calls flow)"
    OPEN = "open", "Open (calls paused)"
    HALF_OPEN = "half_open", "Half-open (one probe call allowed)"


class CircuitBreaker(models.Model):
    connection = models.OneToOneField("integrations.Connection", on_delete=models.CASCADE, primary_key=True,
                                      related_name="circuit_breaker")
    state = models.CharField(max_length=10, choices=BreakerState.choices, default=BreakerState.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    times_opened = models.PositiveIntegerField(default=0, help_text="Opens since the last close; sets the pause.")
    opened_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True, help_text="When a probe call may be tried.")
    probe_started_at = models.DateTimeField(null=True, blank=True)
    last_failure = models.TextField(blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection__name"]
        indexes = [models.Index(fields=["state"])]

    def __str__(self):
        return f"{self.connection}: {self.get_state_display()}"
