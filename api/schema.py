"""The OpenAPI description: `Authorization: Api-Key <key>` (drf-spectacular finds extensions once imported) and the
errors every endpoint may answer, so a client (or a fuzzer) knows each status it can get and what its body is."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Api-Key <key>`: a key made on the organization's Developers page or with "
                               "`manage.py apikey create`. Its scope (read, operate, admin) decides what it may do."}


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What is wrong, in words.")
    errors = serializers.JSONField(required=False, help_text="A bad field's problems, by field.")


ERRORS = {
    "400": "Bad JSON or a bad value, an unknown filter, or a record not in a state for the action.",
    "401": "No key, or an unknown or revoked one.",
    "403": "The key's scope (or the user's role) does not allow this.",
    "404": "No such object, another organization's, a bad cursor, or no such endpoint.",
    "429": "Over the throttle; `Retry-After` says in how many seconds to try again.",
}
BODY_ERRORS = {"415": "The body is not `application/json`."}


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's schema plus the documented errors (docs/api.md, "Errors"), each `{"detail", "errors"?}`."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = {**ERRORS, **(BODY_ERRORS if self.method in ("POST", "PUT", "PATCH") else {})}
        for code, description in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), code, direction=direction)
        return responses
