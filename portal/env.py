"""Strict parsers for environment variables: a typo fails loudly instead of meaning 'off'."""

import base64
import hashlib

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


def parse_bool(name, raw, default):
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no/on/off, not {raw!r}.")


def parse_int(name, raw, default, minimum=None):
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def parse_list(raw):
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


# Development gets a fixed, clearly insecure key; production must set one (see portal/checks.py).
DEV_SECRET_KEY = "django-insecure-development-only-do-not-use-in-production"


def development_encryption_key(secret_key=DEV_SECRET_KEY):
    """Development only: a Fernet key derived from the secret key, so a demo database stays readable."""
    return base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest()).decode()
