"""Connections (an organization's account on one external system) and integrations (a channel paired with TIMS)."""

import secrets
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models.functions import Upper

from integrations import kinds
from portal.fields import EncryptedJSONField
from portal.models import Organization


class ConnectionStatus(models.TextChoices):
    NEW = "new", "Not checked yet"
    OK = "ok", "Working"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    FAILING = "failing", "Failing"


class Connection(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="connections")
    kind = models.CharField(max_length=30, choices=kinds.KIND_CHOICES)
    name = models.CharField(max_length=100)
    base_url = models.CharField(
        "base URL", max_length=500,
        help_text="The system's root, e.g. https://shop.example.com (PrestaShop), "
        "https://api.channeladvisor.com (ChannelAdvisor), https://tims.example.com (TIMS).",
    )
    credentials = EncryptedJSONField(help_text="Secrets, encrypted at rest; never shown again once saved.")
    token_cache = EncryptedJSONField(help_text="Access tokens the connector caches; secrets too.")
    settings = models.JSONField(default=dict, blank=True)
    sandbox = models.ForeignKey(
        "sandbox.Sandbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="connections",
        help_text="Set when this connection talks to one of our sandboxes (a local address is then allowed).",
    )
    on_premises = models.BooleanField(
        "on-premises host allowed", default=False,
        help_text="Allows a private address or plain HTTP (an on-premises TIMS). Only Integration admins may set it.",
    )
    on_premises_allowed_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        editable=False,
    )
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: the kind's default.")
    max_concurrent_requests = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: the kind's default.")
    status = models.CharField(max_length=20, choices=ConnectionStatus.choices, default=ConnectionStatus.NEW)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_message = models.TextField(blank=True)
    # Health from traffic, written by integrations.connectors.health (at most every few seconds per process).
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_message = models.TextField(blank=True, editable=False)
    auth_failed_at = models.DateTimeField(null=True, blank=True, editable=False)
    traffic_window_start = models.DateTimeField(null=True, blank=True, editable=False)
    traffic_calls = models.PositiveIntegerField(default=0, editable=False)
    traffic_failures = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="connection_name_unique_per_org")]
        indexes = [models.Index(fields=["status"])]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def health_summary(self):
        """Status, last success, error rate and last failure in one line (for the admin)."""
        from integrations.connectors.health import summary

        return summary(self)

    @property
    def kind_spec(self):
        return kinds.KINDS[self.kind]

    @property
    def effective_rate_limit(self):
        return self.rate_limit_per_minute or self.kind_spec.rate_per_minute

    @property
    def effective_max_concurrent(self):
        return self.max_concurrent_requests or self.kind_spec.max_concurrent

    @property
    def missing_secrets(self):
        return [label for name, label in self.kind_spec.secrets
                if not self.credentials.get(name) and name not in self.kind_spec.optional_secrets]

    def clean(self):
        errors = {}
        if self.kind not in kinds.KINDS:
            errors["kind"] = f"“{self.kind}” is not a kind of connection; choose one of {', '.join(kinds.KINDS)}."
        url_error = base_url_problem(self.base_url, allow_local=bool(self.sandbox_id or self.on_premises))
        if url_error:
            errors["base_url"] = url_error
        if "kind" not in errors:
            cleaned, problems = kinds.validate_settings(self.kind, self.settings)
            if problems:
                errors["settings"] = problems
            else:
                self.settings = cleaned
        if self.sandbox_id and self.sandbox.organization_id not in (None, self.organization_id):
            errors["sandbox"] = "That sandbox belongs to another organization."
        if errors:
            raise ValidationError(errors)


def base_url_problem(url, allow_local):
    """A plain-words reason the base URL is unacceptable, or None."""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        if not (allow_local and url.startswith(("http://localhost", "http://127.0.0.1", "http://[::1]"))):
            return f"“{url}” is not a web address; write it like https://shop.example.com."
    parts = urlsplit(url)
    if parts.username or parts.password:
        return "Put credentials in the secret fields, not in the address."
    if parts.query or parts.fragment:
        return "The base URL must not carry a query string or fragment."
    if parts.scheme != "https" and not django_settings.DEBUG and not allow_local:
        return "Use https: plain http is allowed only for sandboxes and on-premises hosts an Integration admin allows."
    return None


class IntegrationState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SHADOW = "shadow", "Shadow (reads and maps, writes nothing)"
    LIVE = "live", "Live"
    PAUSED = "paused", "Paused"


class Integration(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="integrations")
    name = models.CharField(max_length=100)
    template = models.CharField(max_length=40, choices=kinds.TEMPLATE_CHOICES)
    channel_connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="channel_integrations")
    tims_connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="tims_integrations")
    flows = models.JSONField(default=list, blank=True, help_text="Which flows run.")
    state = models.CharField(max_length=20, choices=IntegrationState.choices, default=IntegrationState.DRAFT)
    webhook_secret = EncryptedJSONField(help_text="{'secret': ...}: verifies webhooks sent to this integration.")
    options = models.JSONField(
        default=dict, blank=True,
        help_text="Import rules: paid_only (true), hold_days (7), unpaid_states / paid_statuses (see docs).",
    )
    cutover_at = models.DateTimeField(
        "import orders from", null=True, blank=True,
        help_text="Set when the integration goes live: orders placed before it are not imported.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="integration_name_unique_per_org")]
        indexes = [models.Index(fields=["state"])]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self.webhook_secret.get("secret"):
            self.webhook_secret = {"secret": secrets.token_urlsafe(32)}
        super().save(*args, **kwargs)

    def option(self, name):
        return self.options.get(name, kinds.DEFAULT_OPTIONS.get(self.template, {}).get(name))

    def new_webhook_secret(self):
        """Replace the webhook secret and return it: the only time it is shown."""
        self.webhook_secret = {"secret": secrets.token_urlsafe(32)}
        self.save(update_fields=["webhook_secret", "updated_at"])
        return self.webhook_secret["secret"]

    def clean(self):
        errors = {}
        if isinstance(self.options, dict) and "stock_rules" in self.options:
            from integrations.flows.inventory import rules_problems

            problems = rules_problems(self.options["stock_rules"])
            if problems:
                errors["options"] = problems
        if isinstance(self.options, dict) and "invoice_on" in self.options:
            from integrations.flows.invoices import POLICIES

            if self.options["invoice_on"] not in POLICIES:
                errors["options"] = [*errors.get("options", []),
                                     "invoice_on must be one of: " + ", ".join(POLICIES) + "."]
        if isinstance(self.options, dict) and "customer_updates" in self.options:
            from integrations.flows.customers import policy_problems

            problems = policy_problems(self.options["customer_updates"])
            if problems:
                errors["options"] = [*errors.get("options", []), *problems]
        if isinstance(self.options, dict) and "price_fields" in self.options:
            from integrations.connectors.channeladvisor.parsers import PRICE_FIELDS

            value = self.options["price_fields"]
            if not isinstance(value, list) or not value or any(kind not in PRICE_FIELDS for kind in value):
                errors["options"] = [*errors.get("options", []), "price_fields is a list of ChannelAdvisor prices: "
                                     + ", ".join(k for k in PRICE_FIELDS if k not in ("cost", "margin")) + "."]
        if self.template not in kinds.TEMPLATES:
            errors["template"] = f"“{self.template}” is not an integration template."
        else:
            _, channel_kind = kinds.TEMPLATES[self.template]
            if self.channel_connection_id and self.channel_connection.kind != channel_kind:
                errors["channel_connection"] = (
                    f"A {self.get_template_display()} integration needs a {kinds.KINDS[channel_kind].label} "
                    f"connection, not {self.channel_connection.get_kind_display()}."
                )
        if self.tims_connection_id and self.tims_connection.kind != "tims":
            errors["tims_connection"] = "Choose a TIMS connection."
        for field in ("channel_connection", "tims_connection"):
            connection = getattr(self, field) if getattr(self, f"{field}_id") else None
            if connection and self.organization_id and connection.organization_id != self.organization_id:
                errors[field] = "That connection belongs to another organization."
        from integrations.flows import registry

        if not isinstance(self.flows, list):
            errors["flows"] = "Flows must be a list of flow names."
        else:
            unknown = [flow for flow in self.flows if not (registry.get(flow) and registry.get(flow).offered_to(
                self.template))]
            if unknown:
                offered = ", ".join(f.name for f in registry.all_flows() if f.offered_to(self.template))
                errors["flows"] = f"Not a flow of this template: {', '.join(map(str, unknown))} (offered: {offered})."
        if errors:
            raise ValidationError(errors)


class RecordStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Waiting to retry"
    HELD = "held", "Held by a business rule"
    SUCCEEDED = "succeeded", "Succeeded"
    DEAD = "dead", "Dead letter: needs a human"
    DISCARDED = "discarded", "Discarded"
    SUPERSEDED = "superseded", "Superseded by a newer version"
    SKIPPED = "skipped", "Skipped: nothing to do"


FINISHED_STATUSES = (RecordStatus.SUCCEEDED, RecordStatus.DEAD, RecordStatus.DISCARDED, RecordStatus.SUPERSEDED,
                     RecordStatus.SKIPPED)
OPEN_STATUSES = (RecordStatus.PENDING, RecordStatus.RUNNING, RecordStatus.RETRYING, RecordStatus.HELD)


class ErrorClass(models.TextChoices):
    TRANSIENT = "transient", "Transient (retried)"
    PERMANENT = "permanent", "Permanent (needs a fix)"
    AUTH = "auth", "Authentication"
    UNMAPPED = "unmapped_value", "Unmapped value"
    HOLD = "business_hold", "Business hold"
    CRASH = "crash", "Unexpected error"


class SyncRecord(models.Model):
    """One unit of work: it exists as a row before anything is enqueued; the queue only carries its id."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="sync_records")
    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="sync_records")
    flow = models.CharField(max_length=30)
    entity_type = models.CharField(max_length=40)  # order, shipment, stock, ...
    source_system = models.CharField(max_length=30)
    source_id = models.CharField(max_length=100)
    source_version = models.CharField(max_length=100, blank=True, help_text="e.g. date_upd; one record per version")
    business_key = models.CharField(max_length=200, db_index=True, help_text="Work on one key runs one at a time.")
    batch_key = models.CharField(max_length=200, blank=True,
                                 help_text="Records of one batch key may be sent together by a batch step.")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children",
                               help_text="The record whose step made this one (a chained flow).")
    shadow = models.BooleanField(default=False, help_text="Read while the integration was in shadow mode.")
    sent_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When a write to the target was first started: from then on the target is always asked first.")
    reference = models.CharField(max_length=100, blank=True, db_index=True, help_text="Order reference, for search.")
    status = models.CharField(max_length=20, choices=RecordStatus.choices, default=RecordStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=100, blank=True)
    error_class = models.CharField(max_length=20, choices=ErrorClass.choices, blank=True)
    error_message = models.TextField(blank=True)
    error_cause = models.CharField(max_length=200, blank=True,
                                   help_text="The error with its ids taken out: records that fail alike share it.")
    suggested_fix = models.TextField(blank=True)
    error_details = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True, help_text="What staff should know even when it worked.")
    source_payload = models.JSONField(null=True, blank=True)
    payload_edited_at = models.DateTimeField(
        null=True, blank=True, help_text="A person edited the source payload: retries use it instead of re-reading.")
    mapped_payload = models.JSONField(null=True, blank=True)
    mapping_version = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    correlation_id = models.CharField(max_length=40, blank=True)
    search_text = models.TextField(
        blank=True, default="", editable=False,
        help_text="Reference, source id, and the payload's emails and SKUs, filled when the record is made: what the "
        "admin's search reads (a trigram index on PostgreSQL, made by migration 0012).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "entity_type", "source_id", "source_version", "shadow"],
                                    name="one_record_per_source_version"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["business_key", "id"]),
            models.Index(fields=["integration", "status"]),
            models.Index(fields=["batch_key", "status"], name="record_batch_key_status"),
            models.Index(fields=["status", "error_cause"], name="record_status_cause"),
            # The admin at a million records (migration 0012, which also makes the PostgreSQL-only trigram index on
            # search_text): the records list with one filter, newest first, and its count; search by "=target_id";
            # the front page (attention lines, the integrations' 24 hours) and the causes page, which group the
            # open and dead records or a time range, from the index alone.
            models.Index(fields=["flow", "id"], name="record_flow_id"),
            models.Index(fields=["shadow", "id"], name="record_shadow_id"),
            models.Index(fields=["created_at", "integration_id", "id"], name="record_created_at"),
            models.Index(fields=["finished_at", "integration_id", "status", "id"], name="record_finished_at"),
            models.Index(fields=["error_class", "id"], name="record_error_class_id",
                         condition=~models.Q(error_class="")),
            models.Index(fields=["status", "flow", "error_class", "error_cause", "updated_at", "id", "integration_id",
                                 "created_at"], name="record_open_and_dead",
                         condition=models.Q(status__in=[*OPEN_STATUSES, RecordStatus.DEAD])),
            models.Index(Upper("target_id"), name="record_target_id_upper"),
        ]

    def __str__(self):
        return f"{self.flow_label}: {self.entity_type} {self.reference or self.source_id}"

    @property
    def flow_label(self):
        from integrations.flows import registry

        declared = registry.get(self.flow)
        return declared.label if declared else self.flow


class SyncAttempt(models.Model):
    record = models.ForeignKey(SyncRecord, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.FloatField(default=0)
    outcome = models.CharField(max_length=20)  # succeeded, retrying, dead, held, crashed
    error_class = models.CharField(max_length=20, blank=True)
    error_message = models.TextField(blank=True)
    calls = models.JSONField(default=list, blank=True, help_text="The API calls this attempt made, secrets masked.")
    worker = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["record", "number"]

    def __str__(self):
        return f"attempt {self.number} of {self.record_id}: {self.outcome}"


class Link(models.Model):
    """Binds a source id to its target id, per integration and entity; unique both ways."""

    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="links")
    entity_type = models.CharField(max_length=40)
    source_id = models.CharField(max_length=100)
    target_id = models.CharField(max_length=100)
    record = models.ForeignKey(SyncRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "entity_type", "source_id"], name="link_source_unique"),
            models.UniqueConstraint(fields=["integration", "entity_type", "target_id"], name="link_target_unique"),
        ]

    def __str__(self):
        return f"{self.entity_type} {self.source_id} → {self.target_id}"


class AuditEntry(models.Model):
    """Every human action on work or configuration: who, what, before and after (secrets masked)."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(django_settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_name = models.CharField(max_length=150, blank=True)
    organization = models.ForeignKey(Organization, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=60)
    record = models.ForeignKey(SyncRecord, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="audit_entries")
    reason = models.TextField(blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.actor_name} {self.action} at {self.at:%Y-%m-%d %H:%M}"


class PollState(models.Model):
    """Where a stream's reader got to: a datetime watermark or an opaque cursor, moved only after the records it
    read are committed. Channel streams belong to an integration; TIMS streams to the TIMS connection."""

    integration = models.ForeignKey(Integration, null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="poll_states")
    connection = models.ForeignKey(Connection, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="poll_states")
    name = models.CharField(max_length=60)
    watermark = models.DateTimeField(null=True, blank=True)
    cursor = models.CharField(max_length=200, blank=True)
    started_from = models.DateTimeField(null=True, blank=True, help_text="Where the very first read began.")
    until = models.DateTimeField(null=True, blank=True, help_text="A backfill stops here.")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A poll is running until then.")
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True, help_text="When a poll last read to its end.")
    last_error = models.TextField(blank=True)
    received = models.PositiveIntegerField(default=0, help_text="Records received by the last poll.")
    received_total = models.PositiveIntegerField(default=0, help_text="Records received since this stream began.")
    unreadable = models.PositiveIntegerField(default=0, help_text="Items the last poll could not read.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "name"], name="one_poll_state_per_poller"),
            models.UniqueConstraint(fields=["connection", "name"], name="one_poll_state_per_connection_stream"),
            models.CheckConstraint(condition=models.Q(integration__isnull=True) ^ models.Q(connection__isnull=True),
                                   name="poll_state_has_one_owner"),
        ]

    def __str__(self):
        return f"{self.integration or self.connection} {self.name} @ {self.watermark or self.cursor or '-'}"


class EchoGuard(models.Model):
    """What the portal just wrote to a system: the same values read back from it are our own echo, not new work."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    entity_type = models.CharField(max_length=40)
    source_id = models.CharField(max_length=100)
    written = models.JSONField(help_text="{path in the canonical payload: value written}")
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["integration", "entity_type", "source_id"], name="echo_guard_key")]

    def __str__(self):
        return f"{self.entity_type} {self.source_id}: {self.written}"


class WebhookReceipt(models.Model):
    """A signed webhook already accepted: a replay within the signature window is refused."""

    digest = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"{self.digest[:12]} at {self.received_at:%H:%M:%S}"


# --- inventory broadcast ---------------------------------------------------------------------------------------

class StockLevel(models.Model):
    """TIMS's latest Available of one SKU at one location, as its change feed said it (the newest Seq wins). One
    TIMS connection keeps one set, read once and published to every integration of it."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="stock_levels")
    sku = models.CharField(max_length=100)
    location = models.CharField(max_length=40)
    available = models.IntegerField()
    seq = models.BigIntegerField(help_text="TIMS's feed position of the change that set it.")
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "sku", "location"], name="one_stock_level")]
        indexes = [models.Index(fields=["connection", "sku"], name="stock_level_sku")]

    def __str__(self):
        return f"{self.sku}@{self.location}: {self.available} (seq {self.seq})"


class ItemStatus(models.Model):
    """Whether TIMS sells an item (its Active flag, from item.updated events): an inactive item shows 0 everywhere."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="item_statuses")
    sku = models.CharField(max_length=100)
    active = models.BooleanField()
    seq = models.BigIntegerField(help_text="TIMS's event feed position of the change that set it.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "sku"], name="one_item_status")]

    def __str__(self):
        return f"{self.sku}: {'active' if self.active else 'inactive'}"


class PublishedStock(models.Model):
    """What one channel was last sent for one TIMS SKU, and from which TIMS seq: an older value is never sent over
    it, and an unchanged one is not sent again."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="published_stock")
    sku = models.CharField(max_length=100, help_text="The TIMS SKU.")
    channel_sku = models.CharField(max_length=100)
    quantity = models.IntegerField(help_text="The total sent (all distribution centers).")
    quantities = models.JSONField(default=dict, help_text="{distribution center: quantity}; {\"\": n} for a shop.")
    seq = models.BigIntegerField(help_text="The newest TIMS seq the value was computed from.")
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "sku"], name="one_published_stock")]

    def __str__(self):
        return f"{self.channel_sku} = {self.quantity} (seq {self.seq})"


class SkuIssue(models.Model):
    """A SKU whose stock could not be published to a channel: listed once (not a dead letter per change), with
    what to do; it resolves itself when a later value is published."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="sku_issues")
    sku = models.CharField(max_length=100, help_text="The TIMS SKU.")
    channel_sku = models.CharField(max_length=100, blank=True)
    code = models.CharField(max_length=40, help_text="unknown_sku, ambiguous_sku, no_stock_row, ...")
    message = models.TextField()
    fix = models.TextField(blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    times = models.PositiveIntegerField(default=1, help_text="Changes that could not be published.")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "sku"], name="one_sku_issue")]
        ordering = ["resolved_at", "-last_seen"]
        verbose_name = "SKU not published"
        verbose_name_plural = "SKUs not published"

    def __str__(self):
        return f"{self.sku}: {self.code}"


class StockReport(models.Model):
    """One reconciliation: every SKU's quantity read from the channel, compared with what it should show, and
    drift corrected (through the inventory flow, so it is still one writer per SKU)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="stock_reports")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_by = models.CharField(max_length=150, blank=True, help_text="Empty: the schedule.")
    total = models.PositiveIntegerField(default=0, help_text="SKUs to check.")
    checked = models.PositiveIntegerField(default=0)
    drifted = models.PositiveIntegerField(default=0)
    corrected = models.PositiveIntegerField(default=0, help_text="Drifted SKUs sent the right value again.")
    unknown = models.PositiveIntegerField(default=0, help_text="SKUs the channel does not have or cannot take.")
    error = models.TextField(blank=True)
    drift = models.JSONField(default=list, blank=True, help_text="[{sku, channel_shows, should_show}] (first 500).")

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"
        verbose_name = "stock reconciliation"

    def __str__(self):
        return f"Reconciliation of {self.integration} at {self.started_at:%Y-%m-%d %H:%M}"
