"""System checks that refuse to run production with development secrets."""

from django.conf import settings
from django.core.checks import Error, register

from portal import crypto


@register()
def production_secrets(app_configs, **kwargs):
    if settings.DEBUG:
        return []
    errors = []
    if settings.SECRET_KEY_IS_DEFAULT:
        errors.append(
            Error(
                "DJANGO_SECRET_KEY is not set, and production (DJANGO_DEBUG=false) must not use the development key.",
                hint="Set DJANGO_SECRET_KEY to a long random value (50+ characters).",
                id="portal.E001",
            )
        )
    if settings.FIELD_ENCRYPTION_KEYS_ARE_DEFAULT:
        errors.append(
            Error(
                "FIELD_ENCRYPTION_KEYS is not set, and production must not encrypt secrets with a development key.",
                hint="Set FIELD_ENCRYPTION_KEYS to one or more Fernet keys, comma-separated (see docs/operations.md).",
                id="portal.E002",
            )
        )
    return errors


@register()
def encryption_keys_valid(app_configs, **kwargs):
    try:
        crypto.fernet()
    except Exception as exc:  # ImproperlyConfigured with a plain-words message
        return [Error(str(exc), id="portal.E003")]
    return []
