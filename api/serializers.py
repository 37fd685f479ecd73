"""What the API shows and accepts. Secrets are write-only: a connection says which credential keys are set,
never their values."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.models import Delivery, Subscription
from api.plumbing import UtcDateTimeField
from customers.models import CustomerChange, CustomerMatch, MatchStatus
from integrations import kinds
from integrations.models import AuditEntry, Connection, ErrorClass, Integration, SyncAttempt, SyncRecord
from mappings.models import MappingSet, ValueMap, ValueMapEntry
from payouts.models import DATE_FORMATS, Delimiter, LineStatus, PayoutLine, PayoutUpload, UploadStatus
from payouts.parsing import MAX_BYTES
from payouts.parsing import MAX_ROWS as MAX_PAYOUT_ROWS
from portal.models import Organization

MAX_PAYOUT_MB = MAX_BYTES // 1024 // 1024


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "created_at"]


class ConnectionSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", queryset=Organization.objects.all(),
                                                required=False, help_text="The organization's slug; a key tied to "
                                                "one organization may leave it out.")
    credentials = serializers.DictField(
        child=serializers.CharField(allow_blank=False, trim_whitespace=False, max_length=2000, allow_null=True),
        write_only=True, required=False,
        help_text="Secrets by name (e.g. {\"ws_key\": \"...\"}). Write-only: merged into what is stored; null removes "
                  "one. Never returned.")
    credentials_set = serializers.SerializerMethodField(help_text="Which credential keys have a value.")

    class Meta:
        model = Connection
        fields = ["id", "organization", "kind", "name", "base_url", "settings", "credentials", "credentials_set",
                  "status", "last_checked_at", "last_check_message", "last_success_at", "last_failure_at",
                  "rate_limit_per_minute", "max_concurrent_requests", "created_at", "updated_at"]
        read_only_fields = ["status", "last_checked_at", "last_check_message", "last_success_at", "last_failure_at",
                            "created_at", "updated_at"]
        validators = []  # the model's full_clean() checks the unique name per organization, in words

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_credentials_set(self, connection):
        return sorted(name for name, value in (connection.credentials or {}).items() if value)

    def validate(self, data):
        kind = data.get("kind") or getattr(self.instance, "kind", None)
        if self.instance is not None and "kind" in data and data["kind"] != self.instance.kind:
            raise serializers.ValidationError({"kind": "A connection's kind cannot change; make a new connection."})
        if kind in kinds.KINDS and data.get("credentials"):
            allowed = {name for name, _ in kinds.KINDS[kind].secrets}
            unknown = sorted(set(data["credentials"]) - allowed)
            if unknown:
                label, takes = kinds.KINDS[kind].label, ", ".join(sorted(allowed))
                raise serializers.ValidationError(
                    {"credentials": f"Not a secret of a {label} connection: {', '.join(unknown)} (it takes {takes})."})
        return data


class IntegrationSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Integration
        fields = ["id", "organization", "name", "template", "channel_connection", "tims_connection", "flows", "state",
                  "options", "cutover_at", "created_at", "updated_at"]
        read_only_fields = fields


class GoLiveSerializer(serializers.Serializer):
    cutover = UtcDateTimeField(help_text="Orders placed from this time on are imported (ISO 8601).")
    dry_run = serializers.BooleanField(default=False, help_text="Only say how many shadow-read orders it would "
                                                                "import.")


class StateAnswerSerializer(serializers.Serializer):
    integration = IntegrationSerializer()
    detail = serializers.CharField()
    imported = serializers.IntegerField(required=False, help_text="Go-live: shadow-read orders it imports.")


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncAttempt
        fields = ["number", "started_at", "duration_ms", "outcome", "error_class", "error_message", "calls", "worker"]


class RecordSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    # Read-only model fields lose allow_blank, and the schema's enum would then refuse a record that has not failed
    error_class = serializers.ChoiceField(choices=ErrorClass.choices, allow_blank=True, read_only=True,
                                          help_text="Empty unless the record failed.")

    class Meta:
        model = SyncRecord
        fields = ["id", "organization", "integration", "flow", "entity_type", "source_system", "source_id",
                  "source_version", "reference", "status", "shadow", "attempts", "next_attempt_at", "error_class",
                  "error_message", "suggested_fix", "target_id", "parent", "created_at", "updated_at", "finished_at"]
        read_only_fields = fields


class AuditEntrySerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = AuditEntry
        fields = ["id", "at", "actor_name", "organization", "action", "record", "reason", "before", "after"]
        read_only_fields = fields


class RecordDetailSerializer(RecordSerializer):
    attempts_made = AttemptSerializer(source="attempt_rows", many=True, read_only=True)
    audit = AuditEntrySerializer(source="audit_entries", many=True, read_only=True)

    class Meta(RecordSerializer.Meta):
        fields = RecordSerializer.Meta.fields + ["error_details", "notes", "source_payload", "mapped_payload",
                                                 "mapping_version", "attempts_made", "audit"]
        read_only_fields = fields


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class RequiredReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why: kept in the audit log.")


class CountAnswerSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    detail = serializers.CharField()
    job = serializers.IntegerField(allow_null=True, required=False, help_text="A job doing it, for thousands.")


class FixSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="value_map, connection or mapping")
    label = serializers.CharField()
    value_map = serializers.CharField(required=False, help_text="The value map's name")
    value_map_id = serializers.IntegerField(required=False, allow_null=True,
                                            help_text="Add the value at /api/value-maps/{id}/entries/")
    value = serializers.CharField(required=False, help_text="The value to add to it")
    connection = serializers.IntegerField(required=False)
    mapping_set = serializers.IntegerField(required=False)


class FailureGroupSerializer(serializers.Serializer):
    flow = serializers.CharField()
    flow_label = serializers.CharField()
    error_class = serializers.CharField()
    error_cause = serializers.CharField()
    count = serializers.IntegerField()
    first = serializers.DateTimeField()
    last = serializers.DateTimeField()
    message = serializers.CharField(help_text="The newest record's error")
    suggested_fix = serializers.CharField()
    fix = FixSerializer(allow_null=True)
    example_record_ids = serializers.ListField(child=serializers.IntegerField())


class CauseActionSerializer(serializers.Serializer):
    flow = serializers.CharField(max_length=30)
    error_cause = serializers.CharField(max_length=200, allow_blank=True)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class ValueMapEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = ValueMapEntry
        fields = ["id", "source", "target"]

    def validate_source(self, value):
        if not value.strip():
            raise serializers.ValidationError("The source value cannot be empty.")
        return value


class ValueMapSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    entries = ValueMapEntrySerializer(many=True, read_only=True)
    valid_targets = serializers.SerializerMethodField()

    class Meta:
        model = ValueMap
        fields = ["id", "organization", "name", "description", "strict", "default", "version", "updated_at",
                  "entries", "valid_targets"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_valid_targets(self, value_map):
        if not self.context.get("detail"):
            return []
        from mappings.services import valid_targets

        return valid_targets(value_map)


class EntryAnswerSerializer(serializers.Serializer):
    entry = ValueMapEntrySerializer(allow_null=True)
    version = serializers.IntegerField(help_text="The value map's version after the change.")
    waiting_records = serializers.IntegerField(help_text="Dead letters stopped by this value (retry them with "
                                                         "retry_waiting).")
    retried = serializers.IntegerField()


class MappingSetSerializer(serializers.ModelSerializer):
    class Meta:
        model = MappingSet
        fields = ["id", "integration", "name", "flow", "source", "target", "description", "active", "version",
                  "updated_at"]
        read_only_fields = fields


class PreviewSerializer(serializers.Serializer):
    payload = serializers.JSONField(help_text="A source record as JSON (an object), e.g. a pasted order.")

    def validate_payload(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("The payload must be a JSON object, e.g. {\"id\": 1, ...}.")
        return value


class PreviewAnswerSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    output = serializers.JSONField()
    errors = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())
    unmapped = serializers.ListField(child=serializers.DictField())
    version = serializers.IntegerField(allow_null=True)


class TestResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    ok = serializers.BooleanField()
    message = serializers.CharField()


class SubscriptionSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Subscription
        fields = ["id", "organization", "url", "events", "active", "created_at"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    subscription = serializers.PrimaryKeyRelatedField(read_only=True)
    url = serializers.CharField(source="subscription.url", read_only=True)

    class Meta:
        model = Delivery
        fields = ["id", "subscription", "url", "event", "status", "attempts", "response_code", "last_error",
                  "next_attempt_at", "last_attempt_at", "created_at", "delivered_at"]
        read_only_fields = fields



# ---- payouts (marketplace settlement files) ---------------------------------------------------------------------

class PayoutJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="queued, running, done, failed or cancelled")
    done = serializers.IntegerField(help_text="Lines read so far.")
    total = serializers.IntegerField(help_text="Lines in the file (0 until the job has counted them).")
    percent = serializers.IntegerField()
    result = serializers.CharField(help_text="What it did, in words, once done.")
    error = serializers.CharField()
    progress_url = serializers.SerializerMethodField(
        help_text="The job's progress as JSON for a signed-in user (the admin's); with a key, poll the upload at "
                  "/api/payouts/{id}/, whose `job` is this.")

    def get_progress_url(self, job) -> str:
        from django.urls import reverse

        return reverse("admin:jobs_job_progress", args=[job.pk])


class PayoutUploadSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=UploadStatus.choices, read_only=True,
                                     help_text="queued, running, done, failed, or cancelled (read on from where it "
                                               "stopped with the admin's Continue reading); draft: admin only")
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(source="uploaded_at", read_only=True)
    job = PayoutJobSerializer(read_only=True, allow_null=True)
    summary = serializers.SerializerMethodField(help_text="The counts in words.")

    class Meta:
        model = PayoutUpload
        fields = ["id", "integration", "file_name", "status", "error", "lines", "matched", "posted", "unmatched",
                  "refused", "duplicates", "fees_total", "amount_total", "mapping", "uploaded_by", "created_at",
                  "job", "summary"]
        read_only_fields = fields

    def get_summary(self, upload) -> str:
        lines = "1 line" if upload.lines == 1 else f"{upload.lines} lines"
        duplicates = "1 duplicate" if upload.duplicates == 1 else f"{upload.duplicates} duplicates"
        return (f"{lines}: {upload.posted} posted, {upload.matched - upload.posted} matched but not posted, "
                f"{upload.unmatched} unmatched, {upload.refused} refused, {duplicates}.")


class PayoutLineSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=LineStatus.choices, read_only=True,
                                     help_text="unmatched (needs a human: see `reason`), refused (cannot be read), "
                                               "matched (not posted yet), posted or duplicate")
    row = serializers.IntegerField(source="number", read_only=True, help_text="Its row in the file (header = 1).")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True, allow_null=True)
    fee = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True, allow_null=True)
    date = serializers.DateField(read_only=True, allow_null=True)

    class Meta:
        model = PayoutLine
        fields = ["id", "row", "order_reference", "amount", "fee", "date", "currency", "payout_id", "status",
                  "reason", "order_id", "sales_order_id", "updated_at"]
        read_only_fields = fields



class PayoutFileSerializer(serializers.Serializer):
    """A settlement file and, optionally, its columns (headers of the file); what is left out is taken from the
    integration's last file, else guessed from the headers."""

    file = serializers.FileField(help_text=f"CSV, UTF-8, at most {MAX_PAYOUT_MB} MB and {MAX_PAYOUT_ROWS} lines.")
    reference_column = serializers.CharField(required=False, allow_blank=True, max_length=100)
    amount_column = serializers.CharField(required=False, allow_blank=True, max_length=100)
    fee_column = serializers.CharField(required=False, allow_blank=True, max_length=100)
    date_column = serializers.CharField(required=False, allow_blank=True, max_length=100)
    currency_column = serializers.CharField(required=False, allow_blank=True, max_length=100,
                                            help_text="Empty: each line takes its order's currency.")
    payout_column = serializers.CharField(required=False, allow_blank=True, max_length=100,
                                          help_text="The marketplace's payout id, if any.")
    delimiter = serializers.ChoiceField(choices=Delimiter.choices, required=False)
    date_format = serializers.ChoiceField(choices=DATE_FORMATS, required=False)
    decimal_comma = serializers.BooleanField(required=False, allow_null=True, default=None,
                                             help_text="Amounts are written 1.234,56.")

    def validate(self, data):
        for name, value in data.items():
            if isinstance(value, str) and "\x00" in value:
                raise serializers.ValidationError({name: "It cannot hold a NUL character."})
        return data


class PayoutAnswerSerializer(serializers.Serializer):
    upload = PayoutUploadSerializer()
    job = PayoutJobSerializer()
    detail = serializers.CharField()


# ---- customers ---------------------------------------------------------------------------------------------------

class CustomerMatchSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=MatchStatus.choices, read_only=True,
                                     help_text="open (its orders wait for a decision), linked or created")
    buyer = serializers.JSONField(read_only=True, help_text="The buyer as the channel has them: name, email, phone, "
                                                            "line1, postal_code, city, country.")
    candidates = serializers.JSONField(read_only=True, help_text="TIMS customers alike, best first: code, the same "
                                                                 "fields, score (0–100) and reasons in words.")
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    waiting = serializers.ListField(child=serializers.IntegerField(), read_only=True,
                                    help_text="The records (orders) the decision releases.")

    class Meta:
        model = CustomerMatch
        fields = ["id", "integration", "status", "buyer", "candidates", "best_code", "best_score", "waiting",
                  "decided_code", "decided_by", "decided_at", "created_at"]
        read_only_fields = fields


class CustomerDecisionSerializer(serializers.Serializer):
    link_to = serializers.RegexField(r"^[A-Za-z0-9-]{1,100}$", required=False,
                                     help_text="The TIMS customer code this buyer is (a candidate's or any other).")
    create = serializers.BooleanField(required=False, default=False,
                                      help_text="true: a different buyer; a new TIMS customer is made.")

    def validate(self, data):
        if bool(data.get("link_to")) == bool(data.get("create")):
            raise serializers.ValidationError("Give either link_to (a TIMS customer code) or create: true.")
        return data


class CustomerChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = CustomerChange
        fields = ["id", "integration", "customer_code", "field", "before", "after", "applied", "source", "record",
                  "at"]
        read_only_fields = fields
