"""Issuing, finding and revoking API keys. The secret is shown once and only its SHA-256 is kept: it is 238 random
bits, so a fast hash is enough (a password hash is for guessable secrets) and checking a key costs nothing."""

import hashlib
import hmac
import secrets
import string
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from api.models import ApiKey, Scope
from integrations.pipeline.actions import audit

KEY_START = "ipk_"
SECRET_ALPHABET = string.ascii_letters + string.digits
LAST_USED_EVERY = timedelta(minutes=1)  # at most one write per key a minute, however busy it is


def digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def create(*, organization, scope, name="", created_by=None):
    """A new key; returns (ApiKey, the whole key). The whole key is never stored: show it now or never."""
    if scope not in Scope.values:
        raise ValueError(f"The scope must be one of {', '.join(Scope.values)}, not “{scope}”.")
    prefix = secrets.token_hex(4)
    while ApiKey.objects.filter(prefix=prefix).exists():
        prefix = secrets.token_hex(4)
    secret = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(40))  # 238 bits, no _ or - inside
    key = ApiKey.objects.create(organization=organization, scope=scope, name=name[:100], prefix=prefix,
                                secret_hash=digest(secret), created_by=created_by)
    audit(created_by, "api_key_create", organization=organization,
          after={"prefix": prefix, "scope": scope, "name": key.name, "staff": organization is None})
    return key, f"{KEY_START}{prefix}_{secret}"


def find(whole_key):
    """The active key for this text, or None (unknown, malformed or revoked)."""
    if not whole_key.startswith(KEY_START) or len(whole_key) > 200:
        return None
    prefix, _, secret = whole_key[len(KEY_START):].partition("_")
    if not prefix or not secret:
        return None
    key = ApiKey.objects.select_related("organization").filter(prefix=prefix, revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.secret_hash, digest(secret)):
        return None
    return key


def touch(key, now=None):
    now = now or timezone.now()
    if key.last_used_at and now - key.last_used_at < LAST_USED_EVERY:
        return
    # Conditional, so many processes using one key still write once a minute.
    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY)).update(last_used_at=now)
    key.last_used_at = now


def revoke(key, revoked_by=None):
    """End a key at once; True when it was active."""
    if key.revoked_at is not None:
        return False
    key.revoked_at, key.revoked_by = timezone.now(), revoked_by
    key.save(update_fields=["revoked_at", "revoked_by"])
    audit(revoked_by, "api_key_revoke", organization=key.organization,
          before={"prefix": key.prefix, "scope": key.scope}, after={"revoked": True})
    return True
