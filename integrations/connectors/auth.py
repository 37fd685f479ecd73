"""OAuth access tokens cached encrypted in connection.token_cache and shared by every worker.

A refresh happens under a row lock on the connection (select_for_update), and whoever gets the lock second finds the
fresh token already there: many workers hitting an expired token make one token call, not many.
"""

import time

from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from integrations.models import Connection, ConnectionStatus

EARLY_REFRESH_SECONDS = 120  # refresh a little before expiry so a call does not start with a dying token


def cached_token(connection):
    cache = connection.token_cache or {}
    if cache.get("access_token") and cache.get("expires_at", 0) > time.time() + EARLY_REFRESH_SECONDS:
        return cache["access_token"]
    return None


def access_token(connection, fetch, *, stale=None):
    """A valid access token. `fetch()` returns (token, expires_in seconds) and is called at most once, under the lock.

    `stale` is a token the remote just refused (401): it is never returned again, even if not yet expired.
    """
    token = cached_token(connection)
    if token and token != stale:
        return token
    if db.vendor != "postgresql":
        # SQLite (the demo) locks the whole file for a writing transaction: holding it across the token call would
        # block the sandbox answering that call. Without row locks a rare double refresh is the lesser evil.
        token, expires_in = fetch()
        _store(connection, token, expires_in)
        return token
    with transaction.atomic():
        row = Connection.objects.select_for_update().get(pk=connection.pk)
        token = cached_token(row)
        if token and token != stale:
            connection.token_cache = row.token_cache  # another worker refreshed while we waited
            return token
        token, expires_in = fetch()
        _store(row, token, expires_in)
        connection.token_cache = row.token_cache
        return token


def _store(connection, token, expires_in):
    connection.token_cache = {**(connection.token_cache or {}), "access_token": token,
                              "expires_at": time.time() + float(expires_in or 3600), "refreshed_at": time.time()}
    Connection.objects.filter(pk=connection.pk).update(token_cache=connection.token_cache)


def mark_needs_attention(connection, message):
    """Tell staff this connection needs a person (bad or expired credentials, missing permission)."""
    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(
        status=ConnectionStatus.NEEDS_ATTENTION, last_check_message=message, last_checked_at=now)
    connection.status, connection.last_check_message, connection.last_checked_at = (
        ConnectionStatus.NEEDS_ATTENTION, message, now)
