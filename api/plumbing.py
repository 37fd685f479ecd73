"""What every endpoint shares: the throttle per key, a strict JSON parser with a size limit, the filter backend that
refuses unknown or unstorable query parameters, cursor pagination and errors that are always JSON in words."""

import json
from datetime import UTC

import django_filters
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, parsers, serializers, throttling
from rest_framework.pagination import CursorPagination
from rest_framework.views import exception_handler

from api.access import api_key
from integrations.webhooks import Refused, parse_json

MAX_BODY_BYTES = 1024 * 1024
_UNSTORABLE = ("\x00",)


class KeyRateThrottle(throttling.SimpleRateThrottle):
    """API_THROTTLE_RATE per key (or per signed-in user), read at each request so settings overrides apply."""

    scope = "api"

    def get_rate(self):
        return getattr(settings, "API_THROTTLE_RATE", "1200/min") or None

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        key = api_key(request)
        if key is not None:
            return f"throttle_api_key_{key.pk}"
        if request.user and request.user.is_authenticated:
            return f"throttle_api_user_{request.user.pk}"
        return f"throttle_api_anon_{self.get_ident(request)}"


class StrictJSONParser(parsers.JSONParser):
    """At most MAX_BODY_BYTES of UTF-8 JSON that PostgreSQL can store (the webhooks' reader, so both refuse alike)."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_BODY_BYTES:
            raise exceptions.ParseError(f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
        if not raw.strip():
            return {}
        try:
            data = parse_json(raw)
        except Refused as exc:
            raise exceptions.ParseError(str(exc)) from None
        try:  # 1e999 reads as infinity, which no JSON answer (or PostgreSQL jsonb) can hold
            json.dumps(data, allow_nan=False)
        except ValueError:
            raise exceptions.ParseError("The body has a number too large to be a JSON number.") from None
        return data


class StrictFilterBackend(DjangoFilterBackend):
    """A query parameter no filter knows is a 400 (a typo must not silently list everything)."""

    always_allowed = {"cursor", "page_size", "format"}

    def filter_queryset(self, request, queryset, view):
        for name, values in request.query_params.lists():
            if any(bad in value for value in values for bad in _UNSTORABLE):
                raise exceptions.ValidationError({name: "Query parameters cannot hold a NUL character."})
        filterset_class = self.get_filterset_class(view, queryset)
        known = set(filterset_class.base_filters) if filterset_class else set()
        allowed = known | self.always_allowed | set(getattr(view, "extra_query_params", ()))
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            offered = ", ".join(sorted(known)) or "none"
            raise exceptions.ValidationError(
                {"detail": f"Unknown filter: {', '.join(unknown)}. This list takes: {offered}."})
        return super().filter_queryset(request, queryset, view)


OUT_OF_RANGE = "This time is out of range: give a year from 1 to 9999 in UTC, with an offset of at most 15:59."


def in_utc(value):
    """An aware datetime in UTC, or None when PostgreSQL cannot store it: Python takes offsets up to ±23:59 and any
    year 1–9999 in local time, PostgreSQL offsets up to ±15:59 only (an error, a 500, at the query)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        return None


class UtcDateTimeFormField(IsoDateTimeField):
    def clean(self, value):
        value = super().clean(value)
        if value is None:
            return None
        utc = in_utc(value)
        if utc is None:
            raise DjangoValidationError(OUT_OF_RANGE, code="invalid")
        return utc


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 filter that refuses (400) what the database cannot compare with."""

    field_class = UtcDateTimeFormField


class UtcDateTimeField(serializers.DateTimeField):
    """A body's date-time, in UTC, refused (400) when the database could not store it."""

    def to_internal_value(self, value):
        utc = in_utc(super().to_internal_value(value))
        if utc is None:
            raise serializers.ValidationError(OUT_OF_RANGE)
        return utc


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def handle_exception(exc, context):
    """DRF's answer, plus a model's ValidationError as a 400 (full_clean's messages), and `detail` always set."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" not in response.data:
        fields = "; ".join(f"{name}: {' '.join(map(str, problems)) if isinstance(problems, list) else problems}"
                           for name, problems in response.data.items())
        response.data = {"detail": f"Invalid input — {fields}", "errors": response.data}
    elif response is not None and isinstance(response.data, list):
        response.data = {"detail": " ".join(map(str, response.data)), "errors": response.data}
    return response
