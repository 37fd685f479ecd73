"""What the API shows and accepts. Secrets are write-only: a connection says which credential keys are set,
never their values."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.models import Delivery, Subscription
from api.plumbing import UtcDateTimeField
from integrations import kinds
from integrations.models import AuditEntry, Connection, ErrorClass, Integration, SyncAttempt, SyncRecord
from mappings.models import MappingSet, ValueMap, ValueMapEntry
from portal.models import Organization


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

