"""The REST API's endpoints: thin views over the same plain functions the admin and the console use. Every queryset
is scoped to the caller's organizations (another tenant's object is a 404); every change checks the action it needs
on the object's organization (a 403 in words) and is audited by the function it calls."""

import django_filters
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from api import access, services
from api import serializers as api_serializers
from api.models import Delivery
from api.plumbing import NewestFirst, UtcDateTimeFilter
from api.schema import ApiAutoSchema
from customers import services as customer_services
from customers.models import CustomerChange, CustomerMatch, MatchStatus
from integrations.admin import act_on_dead, dead_letter_causes, fix_target
from integrations.models import (
    AuditEntry,
    Connection,
    Integration,
    IntegrationState,
    RecordStatus,
    SyncAttempt,
    SyncRecord,
)
from integrations.pipeline import actions, bulk, golive
from mappings import services as mapping_services
from mappings.models import MappingSet, ValueMap, ValueMapEntry
from payouts import parsing
from payouts import services as payout_services
from payouts.models import LineStatus, PayoutLine, PayoutUpload, UploadStatus
from portal.models import Organization

DIGITS = r"[0-9]+"  # a non-numeric id is a 404 from the router, never a database error


def actor_for_job(request):
    """Who a job started from the API runs as: the signed-in user, or the person who made the key."""
    key = access.api_key(request)
    return key.created_by if key is not None else request.user


class ScopedViewSet(viewsets.GenericViewSet):
    lookup_value_regex = DIGITS
    schema = ApiAutoSchema()  # documents the errors each endpoint may answer
    organization_path = "organization"

    def scoped(self, queryset):
        return access.scoped(queryset, self.request, self.organization_path)

    def organization_id_of(self, obj):
        return obj.organization_id

    def require(self, obj, action_name):
        access.require(self.request, self.organization_id_of(obj), action_name)


# ---- organizations ---------------------------------------------------------------------------------------------

class OrganizationViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The organizations this key or user sees (one for an organization's key, every one for staff)."""

    serializer_class = api_serializers.OrganizationSerializer
    pagination_class = NewestFirst
    filterset_fields = ["slug"]

    def get_queryset(self):
        return access.scoped(Organization.objects.all(), self.request, "pk")


# ---- connections -----------------------------------------------------------------------------------------------

class ConnectionFilter(django_filters.FilterSet):
    organization = django_filters.CharFilter(field_name="organization__slug")

    class Meta:
        model = Connection
        fields = ["organization", "kind", "status"]


@extend_schema_view(create=extend_schema(description="Needs the admin scope. Secrets go in `credentials` and are "
                                                      "never returned."),
                    partial_update=extend_schema(description="Needs the admin scope; `credentials` are merged."),
                    update=extend_schema(description="Needs the admin scope; `credentials` are merged."))
class ConnectionViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                        mixins.UpdateModelMixin):
    serializer_class = api_serializers.ConnectionSerializer
    pagination_class = NewestFirst
    filterset_class = ConnectionFilter

    def get_queryset(self):
        return self.scoped(Connection.objects.select_related("organization"))

    def get_object(self):
        connection = super().get_object()
        if self.action in ("update", "partial_update"):
            self.require(connection, "admin")  # a 403 before anything is said about the body
        return connection

    def create(self, request, *args, **kwargs):
        if access.organizations_allowing(request, "admin") == []:
            access.deny(request, "admin")  # may change no connection anywhere: a 403 before the body is read
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        organization = data.pop("organization", None)
        key = access.api_key(self.request)
        if organization is None:
            if key is None or key.organization_id is None:
                raise ValidationError({"organization": "Say which organization (its slug)."})
            organization = key.organization
        ids = access.visible_organization_ids(self.request)
        if ids is not None and organization.pk not in ids:
            raise ValidationError({"organization": "No such organization."})  # never confirm another tenant exists
        access.require(self.request, organization.pk, "admin")
        if "kind" not in data:
            raise ValidationError({"kind": "Say which kind of connection (prestashop, channeladvisor or tims)."})
        serializer.instance = services.save_connection(
            Connection(organization=organization, credentials={}, settings={}), data, self.request.user)

    def perform_update(self, serializer):
        self.require(serializer.instance, "admin")
        data = dict(serializer.validated_data)
        if "organization" in data and data.pop("organization") != serializer.instance.organization:
            raise ValidationError({"organization": "A connection cannot move to another organization."})
        services.save_connection(serializer.instance, data, self.request.user)

    @extend_schema(request=None, responses=api_serializers.TestResultSerializer(many=True), filters=False,
                   description="Run the connection's checks (reachability, TLS, authentication, permissions); "
                               "needs the operate scope.")
    @action(detail=True, methods=["post"], pagination_class=None)  # a plain list of checks, not a page
    def test(self, request, pk=None):
        from integrations.connectors.checks import test_connection

        connection = self.get_object()
        self.require(connection, "operate")
        results = test_connection(connection)
        actions.audit(request.user, "connection_test", organization=connection.organization,
                      after={"connection": connection.pk, "ok": all(r.ok for r in results)})
        return Response([{"name": r.name, "ok": r.ok, "message": r.message} for r in results])


# ---- integrations ----------------------------------------------------------------------------------------------

class IntegrationFilter(django_filters.FilterSet):
    organization = django_filters.CharFilter(field_name="organization__slug")

    class Meta:
        model = Integration
        fields = ["organization", "state", "template"]


class IntegrationViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = api_serializers.IntegrationSerializer
    pagination_class = NewestFirst
    filterset_class = IntegrationFilter

    def get_queryset(self):
        return self.scoped(Integration.objects.select_related("organization"))

    def _answer(self, integration, detail, **extra):
        return Response({"integration": api_serializers.IntegrationSerializer(integration).data, "detail": detail,
                         **extra})

    @extend_schema(request=None, responses=api_serializers.StateAnswerSerializer,
                   description="Stop reading and writing (needs operate). Subscribers hear `integration.paused`.")
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        integration = self.get_object()
        self.require(integration, "operate")
        try:
            services.pause(integration, request.user)
        except ValueError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return self._answer(integration, f"{integration.name} is paused.")

    @extend_schema(request=None, responses=api_serializers.StateAnswerSerializer,
                   description="Back to the state it was paused from (needs operate).")
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        integration = self.get_object()
        self.require(integration, "operate")
        try:
            services.resume(integration, request.user)
        except ValueError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return self._answer(integration, f"{integration.name} is {integration.get_state_display().lower()} again.")

    @extend_schema(request=api_serializers.GoLiveSerializer, responses=api_serializers.StateAnswerSerializer,
                   description="Go live after a shadow run (needs admin): orders placed from `cutover` on are "
                               "imported, including those the shadow run only read. `dry_run` only counts them.")
    @action(detail=True, methods=["post"], url_path="go-live")
    def go_live(self, request, pk=None):
        integration = self.get_object()
        self.require(integration, "admin")
        body = api_serializers.GoLiveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cutover = body.validated_data["cutover"]
        if integration.state == IntegrationState.LIVE:
            raise ValidationError({"detail": f"{integration.name} is live already."})
        if body.validated_data["dry_run"]:
            count = len(golive.shadow_orders_since(integration, cutover))
            return self._answer(integration, f"Going live would import {count} orders read in shadow mode.",
                                imported=count)
        count = golive.go_live(integration, cutover, request.user)
        return self._answer(integration, f"{integration.name} is live: {count} orders read in shadow mode are being "
                            "imported; older ones are not.", imported=count)


# ---- records ---------------------------------------------------------------------------------------------------

class RecordFilter(django_filters.FilterSet):
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = UtcDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    updated_before = UtcDateTimeFilter(field_name="updated_at", lookup_expr="lt")
    search = django_filters.CharFilter(method="search_text", max_length=200,
                                       help_text="Reference, source id, emails or SKUs (part of a word is enough).")
    status = django_filters.ChoiceFilter(choices=RecordStatus.choices)
    integration = django_filters.NumberFilter(field_name="integration_id")
    error_cause = django_filters.CharFilter(max_length=200)

    class Meta:
        model = SyncRecord
        fields = ["integration", "flow", "status", "entity_type", "error_class", "error_cause", "source_id",
                  "reference"]

    def search_text(self, queryset, name, value):
        return queryset.filter(search_text__icontains=value.strip()) if value.strip() else queryset


class RecordViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    pagination_class = NewestFirst
    filterset_class = RecordFilter

    def get_serializer_class(self):
        return api_serializers.RecordDetailSerializer if self.action == "retrieve" else api_serializers.RecordSerializer

    def get_queryset(self):
        records = self.scoped(SyncRecord.objects.select_related("organization"))
        if self.action == "retrieve":
            records = records.prefetch_related(
                Prefetch("attempt_rows", SyncAttempt.objects.order_by("number")),
                Prefetch("audit_entries", AuditEntry.objects.select_related("organization").order_by("at")))
        else:  # the list carries no payloads: they may be large
            records = records.defer("source_payload", "mapped_payload", "error_details", "search_text")
        return records

    @extend_schema(request=api_serializers.ReasonSerializer, responses=api_serializers.RecordDetailSerializer,
                   description="Try again now with a fresh set of attempts (needs operate; audited).")
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        record = self.get_object()
        self.require(record, "operate")
        body = api_serializers.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if not actions.retry(SyncRecord.objects.filter(pk=record.pk), request.user,
                             body.validated_data.get("reason", "")):
            raise ValidationError({"detail": f"Not retried: the record is {record.get_status_display().lower()}."})
        return Response(api_serializers.RecordDetailSerializer(self.get_object()).data)

    @extend_schema(request=api_serializers.RequiredReasonSerializer, responses=api_serializers.RecordDetailSerializer,
                   description="Give up on the record, saying why (needs operate; audited).")
    @action(detail=True, methods=["post"])
    def discard(self, request, pk=None):
        record = self.get_object()
        self.require(record, "operate")
        body = api_serializers.RequiredReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if not actions.discard(SyncRecord.objects.filter(pk=record.pk), request.user, body.validated_data["reason"]):
            raise ValidationError({"detail": f"Not discarded: the record is {record.get_status_display().lower()}."})
        return Response(api_serializers.RecordDetailSerializer(self.get_object()).data)


# ---- failures --------------------------------------------------------------------------------------------------

class FailureFilter(django_filters.FilterSet):
    organization = django_filters.CharFilter(field_name="organization__slug")
    integration = django_filters.NumberFilter(field_name="integration_id")

    class Meta:
        model = SyncRecord
        fields = ["organization", "integration", "flow"]


def describe_fix(record):
    target = fix_target(record)
    if target is None:
        return None
    if target[0] == "value_map":
        details, name = target[1], str(target[1].get("name", ""))
        found = mapping_services.value_maps_for(record.organization_id, [name]).get(name)
        return {"kind": "value_map", "label": f"Add “{details.get('value')}” to {name}", "value_map": name,
                "value_map_id": found.pk if found else None, "value": str(details.get("value", ""))}
    if target[0] == "connection":
        return {"kind": "connection", "label": f"Fix the credentials of {target[1].name}", "connection": target[1].pk}
    return {"kind": "mapping", "label": f"Open the mapping “{target[1].name}”", "mapping_set": target[1].pk}


class FailureViewSet(ScopedViewSet):
    """Dead letters grouped by cause, as on the admin's "Dead letters by cause" page."""

    serializer_class = api_serializers.FailureGroupSerializer
    filterset_class = FailureFilter
    pagination_class = None
    EXAMPLES = 5

    def get_queryset(self):
        return self.scoped(SyncRecord.objects.filter(status=RecordStatus.DEAD))

    @extend_schema(responses=api_serializers.FailureGroupSerializer(many=True))
    def list(self, request):
        dead = self.filter_queryset(self.get_queryset())
        groups = dead_letter_causes(dead, fix_url=lambda record: "", limit=100)
        answer = []
        for group in groups:
            examples = list(dead.filter(flow=group["flow"], error_cause=group["error_cause"])
                            .order_by("-id").values_list("pk", flat=True)[:self.EXAMPLES])
            answer.append({**{name: group[name] for name in ("flow", "flow_label", "error_class", "error_cause",
                                                                "count", "first", "last", "message")},
                           "suggested_fix": group["fix"], "fix": describe_fix(group["record"]),
                           "example_record_ids": examples})
        return Response(api_serializers.FailureGroupSerializer(answer, many=True).data)

    def _act(self, request, verb):
        allowed = access.organizations_allowing(request, "operate")
        if allowed == []:
            access.deny(request, "operate")
        body = api_serializers.CauseActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        filters = {"flow": body.validated_data["flow"], "error_cause": body.validated_data["error_cause"]}
        chosen = self.filter_queryset(self.get_queryset()).filter(**filters)
        if allowed is not None:
            chosen = chosen.filter(organization_id__in=allowed)
        user = actor_for_job(request) if chosen.count() > bulk.INLINE_LIMIT else request.user
        try:
            count, job = act_on_dead(chosen, user, verb, body.validated_data.get("reason", ""), filters, allowed)
        except ValueError as exc:
            raise ValidationError({"reason": str(exc)}) from None
        done = "queued for retry" if verb == "retry" else "discarded"
        detail = f"{count} records are being {done.split()[0]} by job {job.pk}." if job else f"{count} records {done}."
        return Response({"count": count, "detail": detail, "job": job.pk if job else None})

    @extend_schema(request=api_serializers.CauseActionSerializer, responses=api_serializers.CountAnswerSerializer,
                   description="Retry every dead letter of one flow and cause (needs operate). Thousands run as a "
                               "job.")
    @action(detail=False, methods=["post"], url_path="retry-all")
    def retry_all(self, request):
        return self._act(request, "retry")

    @extend_schema(request=api_serializers.CauseActionSerializer, responses=api_serializers.CountAnswerSerializer,
                   description="Discard every dead letter of one flow and cause, with a reason (needs operate).")
    @action(detail=False, methods=["post"], url_path="discard-all")
    def discard_all(self, request):
        return self._act(request, "discard")


# ---- value maps ------------------------------------------------------------------------------------------------

class ValueMapFilter(django_filters.FilterSet):
    organization = django_filters.CharFilter(field_name="organization__slug")

    class Meta:
        model = ValueMap
        fields = ["organization", "name"]


class ValueMapViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """An organization's value maps (company staff also see the global templates)."""

    serializer_class = api_serializers.ValueMapSerializer
    pagination_class = NewestFirst
    filterset_class = ValueMapFilter

    def get_queryset(self):
        maps = ValueMap.objects.select_related("organization").prefetch_related("entries")
        if access.sees_everything(self.request):
            return maps
        return self.scoped(maps)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "detail": self.action == "retrieve"}


class EntryViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Entries of one value map. Changing them needs the admin scope; every change is a new version of the map and
    an audit entry, like the admin's."""

    serializer_class = api_serializers.ValueMapEntrySerializer
    pagination_class = None
    filterset_fields = ["source", "target"]
    extra_query_params = ("retry_waiting",)

    def value_map(self):
        if not hasattr(self, "_value_map"):
            maps = ValueMap.objects.select_related("organization")
            if not access.sees_everything(self.request):
                maps = access.scoped(maps, self.request)
            self._value_map = get_object_or_404(maps, pk=self.kwargs["value_map_pk"])
        return self._value_map

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ValueMapEntry.objects.none()
        return self.value_map().entries.all()

    def _changed(self, entry, waiting=0, retried=0):
        value_map = ValueMap.objects.get(pk=self.value_map().pk)
        return {"entry": api_serializers.ValueMapEntrySerializer(entry).data if entry else None,
                "version": value_map.version, "waiting_records": waiting, "retried": retried}

    def _retry_waiting(self):
        return str(self.request.query_params.get("retry_waiting", "")).lower() in ("1", "true", "yes")

    def _save(self, source, target):
        value_map = self.value_map()
        access.require(self.request, value_map.organization_id, "admin")
        entry, waiting, retried = services.set_entry(value_map, source, target, self.request.user,
                                                     retry_waiting=self._retry_waiting())
        return entry, waiting, retried

    retry_parameter = OpenApiParameter("retry_waiting", bool, description="Also retry the dead letters this value "
                                       "stopped (needs operate too).")

    @extend_schema(request=api_serializers.ValueMapEntrySerializer,
                   responses={201: api_serializers.EntryAnswerSerializer}, parameters=[retry_parameter])
    def create(self, request, value_map_pk=None):
        value_map = self.value_map()  # another tenant's map (or none) is a 404 before anything about the body
        access.require(self.request, value_map.organization_id, "admin")  # and a 403 before it too
        body = api_serializers.ValueMapEntrySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if self.value_map().entries.filter(source=body.validated_data["source"]).exists():
            raise ValidationError({"source": "This value has an entry already; change it with PUT or PATCH."})
        entry, waiting, retried = self._save(body.validated_data["source"], body.validated_data.get("target", ""))
        return Response(self._changed(entry, waiting, retried), status=status.HTTP_201_CREATED)

    @extend_schema(request=api_serializers.ValueMapEntrySerializer, responses=api_serializers.EntryAnswerSerializer,
                   parameters=[retry_parameter])
    def update(self, request, value_map_pk=None, pk=None, partial=False):
        entry = self.get_object()
        access.require(self.request, self.value_map().organization_id, "admin")
        body = api_serializers.ValueMapEntrySerializer(entry, data=request.data, partial=partial)
        body.is_valid(raise_exception=True)
        source = body.validated_data.get("source", entry.source)
        target = body.validated_data.get("target", entry.target)
        if source != entry.source:
            if self.value_map().entries.filter(source=source).exists():
                raise ValidationError({"source": "Another entry has this value."})
            services.delete_entry(entry, request.user)
        entry, waiting, retried = self._save(source, target)
        return Response(self._changed(entry, waiting, retried))

    @extend_schema(request=api_serializers.ValueMapEntrySerializer, responses=api_serializers.EntryAnswerSerializer,
                   parameters=[retry_parameter])
    def partial_update(self, request, value_map_pk=None, pk=None):
        return self.update(request, value_map_pk, pk, partial=True)

    @extend_schema(responses={200: api_serializers.EntryAnswerSerializer})  # it answers the map's new version
    def destroy(self, request, value_map_pk=None, pk=None):
        entry = self.get_object()
        access.require(self.request, self.value_map().organization_id, "admin")
        services.delete_entry(entry, request.user)
        return Response(self._changed(None))


# ---- mapping sets and preview ----------------------------------------------------------------------------------

class MappingSetViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = api_serializers.MappingSetSerializer
    pagination_class = NewestFirst
    filterset_fields = ["integration", "flow", "active"]
    organization_path = "integration__organization"

    def get_queryset(self):
        return self.scoped(MappingSet.objects.select_related("integration"))

    def organization_id_of(self, obj):
        return obj.integration.organization_id

    @extend_schema(request=api_serializers.PreviewSerializer, responses=api_serializers.PreviewAnswerSerializer,
                   description="Map a pasted source record with the set's current lines, writing nothing: the "
                               "output, or the errors that would stop it.")
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        mapping_set = self.get_object()
        body = api_serializers.PreviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = mapping_services.preview(mapping_set, body.validated_data["payload"])
        except Exception as exc:  # noqa: BLE001 - a payload must never make a 500; what broke is said in words
            raise ValidationError({"payload": f"The mapping could not read this payload: {type(exc).__name__}: "
                                              f"{exc}"[:500]}) from None
        return Response({"ok": result.ok, "output": result.output, "errors": list(result.errors),
                         "warnings": list(result.warnings),
                         "unmapped": [{"value_map": name, "value": value} for name, value in result.unmapped],
                         "version": result.version})


# ---- audit log and event deliveries ----------------------------------------------------------------------------

class AuditFilter(django_filters.FilterSet):
    after = UtcDateTimeFilter(field_name="at", lookup_expr="gte")
    before = UtcDateTimeFilter(field_name="at", lookup_expr="lt")
    organization = django_filters.CharFilter(field_name="organization__slug")
    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="icontains", max_length=150)
    record = django_filters.NumberFilter(field_name="record_id")

    class Meta:
        model = AuditEntry
        fields = ["action", "record", "organization", "actor"]


class AuditPagination(NewestFirst):
    ordering = "-at"


class AuditViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Every human action: who, what, before and after (secrets are never in it)."""

    serializer_class = api_serializers.AuditEntrySerializer
    pagination_class = AuditPagination
    filterset_class = AuditFilter

    def get_queryset(self):
        return self.scoped(AuditEntry.objects.select_related("organization"))


class DeliveryViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Event deliveries to the organization's subscribed URLs, newest first."""

    serializer_class = api_serializers.DeliverySerializer
    pagination_class = NewestFirst
    filterset_fields = ["event", "status", "subscription"]
    organization_path = "subscription__organization"

    def get_queryset(self):
        return self.scoped(Delivery.objects.select_related("subscription"))


@csrf_exempt  # it changes nothing; else any POST, PUT or DELETE here is the CSRF middleware's HTML 403
def not_found(request, *args, **kwargs):
    """Anything else under /api/ answers JSON too, whatever the method."""
    from django.http import JsonResponse

    return JsonResponse({"detail": "No such API endpoint; the reference is at /api/docs/."}, status=404)


# ---- payouts (marketplace settlement files) ---------------------------------------------------------------------

class PayoutUploadFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=UploadStatus.choices)

    class Meta:
        model = PayoutUpload
        fields = ["status"]


class PayoutLineFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=LineStatus.choices)

    class Meta:
        model = PayoutLine
        fields = ["status", "order_reference"]


class ByRow(NewestFirst):
    ordering = "number"  # a file's lines in the order of its rows


INTEGRATION_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The integration's id.")
UPLOAD_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The payout upload's id.")


@extend_schema_view(list=extend_schema(parameters=[INTEGRATION_ID],
                                       description="The integration's payout files, newest first: status, counts, "
                                                   "totals and the job that reads each."))
class IntegrationPayoutViewSet(ScopedViewSet, mixins.ListModelMixin):
    """Settlement files of one integration: the admin's "Upload a payout file", for a marketplace or a script that
    sends the file itself. The URL's `id` is the integration's (the name every /api/integrations/{id}/ path uses)."""

    serializer_class = api_serializers.PayoutUploadSerializer
    pagination_class = NewestFirst
    filterset_class = PayoutUploadFilter
    parser_classes = [MultiPartParser]
    organization_path = "integration__organization"

    def integration(self):
        if not hasattr(self, "_integration"):
            self._integration = get_object_or_404(
                access.scoped(Integration.objects.select_related("organization"), self.request),
                pk=self.kwargs["id"])
        return self._integration

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PayoutUpload.objects.none()
        return self.integration().payout_uploads.select_related("job", "uploaded_by")

    @extend_schema(request={"multipart/form-data": api_serializers.PayoutFileSerializer},
                   responses={202: api_serializers.PayoutAnswerSerializer}, parameters=[INTEGRATION_ID],
                   description="Upload a settlement file (multipart, field `file`) and start reading and matching "
                               "it (needs operate). Columns left out are the integration's remembered ones, else "
                               "guessed from the headers; a file that cannot be read, or a column missing or not in "
                               "the file, is a 400 that says which. The mapping used is remembered for the next "
                               "file. Answers 202: follow the job at /api/payouts/{upload id}/.")
    def create(self, request, id=None):
        integration = self.integration()  # another tenant's (or none) is a 404 before anything about the body
        access.require(request, integration.organization_id, "operate")  # and a 403 before it too
        body = api_serializers.PayoutFileSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        given = {name: value for name, value in body.validated_data.items()  # only what the request names: a
                 if name != "file" and name in request.data}  # form's absent checkbox is not "no decimal comma"
        uploaded = body.validated_data["file"]
        data = uploaded.read(parsing.MAX_BYTES + 1)
        name = "".join(c for c in (uploaded.name or "") if c.isprintable()).strip() or "payout.csv"
        try:
            upload, job = payout_services.upload_file(integration, name, data,
                                                      actor_for_job(request), given)
        except parsing.FileRefused as exc:
            raise ValidationError({"file": [str(exc)]}) from None
        except payout_services.MappingRefused as exc:
            raise ValidationError({name: [text] for name, text in exc.problems.items()}) from None
        answer = {"upload": api_serializers.PayoutUploadSerializer(upload).data,
                  "job": api_serializers.PayoutJobSerializer(job).data,
                  "detail": f"Reading {upload.file_name}: job {job.pk} reads and matches its lines; "
                            f"GET /api/payouts/{upload.pk}/ shows how far."}
        return Response(answer, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(retrieve=extend_schema(parameters=[UPLOAD_ID],
                                           description="One payout file: its counts, totals, the mapping it was "
                                                       "read with, its job's progress and a summary in words."))
class PayoutViewSet(ScopedViewSet, mixins.RetrieveModelMixin):
    serializer_class = api_serializers.PayoutUploadSerializer
    organization_path = "integration__organization"
    filterset_class = None  # the lines' filters are the lines action's

    def get_queryset(self):
        if self.action == "lines":  # the lines of the upload in the URL (see lines())
            return self.scoped(PayoutLine.objects.all())
        return self.scoped(PayoutUpload.objects.select_related("job", "uploaded_by"))

    @extend_schema(responses=api_serializers.PayoutLineSerializer(many=True), parameters=[UPLOAD_ID],
                   description="The file's lines in the order of its rows: each with its status (`?status=unmatched` "
                               "for those a human must work), the reason, and the order and TIMS sales order it "
                               "matched.")
    @action(detail=True, methods=["get"], pagination_class=ByRow, filterset_class=PayoutLineFilter,
            serializer_class=api_serializers.PayoutLineSerializer)
    def lines(self, request, pk=None):
        upload = get_object_or_404(self.scoped(PayoutUpload.objects.all()), pk=pk)
        lines = self.filter_queryset(self.get_queryset().filter(upload=upload))
        page = self.paginate_queryset(lines)
        return self.get_paginated_response(api_serializers.PayoutLineSerializer(page, many=True).data)


# ---- customers (likely duplicates a person decides, and what changed in TIMS) -------------------------------------

class CustomerMatchFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=MatchStatus.choices)
    integration = django_filters.NumberFilter(field_name="integration_id")

    class Meta:
        model = CustomerMatch
        fields = ["status", "integration"]


class CustomerMatchViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """New buyers who may be a TIMS customer already (`?status=open`: their orders wait), with the candidates side by
    side; deciding links the buyer or makes a new customer, and the waiting orders go on."""

    serializer_class = api_serializers.CustomerMatchSerializer
    pagination_class = NewestFirst
    filterset_class = CustomerMatchFilter
    organization_path = "integration__organization"

    def get_queryset(self):
        return self.scoped(CustomerMatch.objects.select_related("integration", "decided_by"))

    def organization_id_of(self, obj):
        return obj.integration.organization_id

    @extend_schema(request=api_serializers.CustomerDecisionSerializer,
                   responses=api_serializers.CustomerMatchSerializer,
                   description="Decide (needs operate; audited): `{\"link_to\": \"C000123\"}` — the buyer is that "
                               "TIMS customer — or `{\"create\": true}` — a different buyer, made a new customer. "
                               "The orders that waited are retried at once. A decided one is a 400.")
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        match = self.get_object()
        self.require(match, "operate")
        body = api_serializers.CustomerDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            customer_services.decide(match, actor_for_job(request), link_to=body.validated_data.get("link_to"))
        except customer_services.Undecidable as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(api_serializers.CustomerMatchSerializer(self.get_object()).data)


class CustomerChangeFilter(django_filters.FilterSet):
    integration = django_filters.NumberFilter(field_name="integration_id")
    customer = django_filters.CharFilter(field_name="customer_code", max_length=100)

    class Meta:
        model = CustomerChange
        fields = ["integration", "customer", "field", "applied"]


class ChangesNewestFirst(NewestFirst):
    ordering = "-at"


class CustomerChangeViewSet(ScopedViewSet, mixins.ListModelMixin):
    """Each field of a TIMS customer that differed from the channel: before, after, whether it was written (the
    policy) and where it came from, newest first."""

    serializer_class = api_serializers.CustomerChangeSerializer
    pagination_class = ChangesNewestFirst
    filterset_class = CustomerChangeFilter
    organization_path = "integration__organization"

    def get_queryset(self):
        return self.scoped(CustomerChange.objects.all())
