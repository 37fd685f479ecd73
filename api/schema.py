"""The OpenAPI description of `Authorization: Api-Key <key>` (drf-spectacular finds extensions once imported)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Api-Key <key>`: a key made on the organization's Developers page or with "
                               "`manage.py apikey create`. Its scope (read, operate, admin) decides what it may do."}
