"""Secrets are encrypted at rest, rotation keeps them readable, and they never reach logs."""

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db
from django.test import override_settings

from integrations.models import Connection
from portal import crypto
from tests.factories import SECRET_WS_KEY, make_connection

pytestmark = pytest.mark.django_db


def raw_credentials(pk):
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials, token_cache FROM integrations_connection WHERE id = %s", [pk])
        return cursor.fetchone()


def test_secret_is_not_in_the_raw_database_row(cast):
    connection = make_connection(cast.org_a, token_cache={"access_token": "ACCESS-TOKEN-XYZ"})
    stored, token_cache = raw_credentials(connection.pk)
    assert SECRET_WS_KEY not in stored and "ws_key" not in stored
    assert "ACCESS-TOKEN-XYZ" not in token_cache
    assert Connection.objects.get(pk=connection.pk).credentials == {"ws_key": SECRET_WS_KEY}


def test_rotation_reencrypts_with_the_first_key_and_keeps_every_secret_readable(cast, settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    connections = [make_connection(cast.org_a, name=f"shop {i}") for i in range(3)]
    before = [raw_credentials(c.pk)[0] for c in connections]

    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_encryption_key", stdout=open("/dev/null", "w"))

    after = [raw_credentials(c.pk)[0] for c in connections]
    assert all(a != b for a, b in zip(after, before, strict=True))
    # Readable with the new key alone: the old key can now be dropped.
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    for c in connections:
        assert Connection.objects.get(pk=c.pk).credentials["ws_key"] == SECRET_WS_KEY


def test_a_secret_written_with_a_dropped_key_fails_in_plain_words(cast, settings):
    connection = make_connection(cast.org_a)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.SecretUnreadable, match="FIELD_ENCRYPTION_KEYS"):
        Connection.objects.get(pk=connection.pk)


@override_settings(FIELD_ENCRYPTION_KEYS=["not-a-fernet-key"])
def test_a_malformed_key_is_a_configuration_error():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="Fernet"):
        crypto.encrypt("x")


def test_secrets_are_masked_in_every_log_record(caplog):
    logger = logging.getLogger("integrations.test")
    with caplog.at_level(logging.INFO):
        logger.info("GET https://shop.example.com/api/orders?ws_key=%s&display=full", SECRET_WS_KEY)
        logger.info("headers %s", {"Authorization": "Bearer eyJhbGciOi.secret.token"})
        logger.info("body client_secret=TIMS-CLIENT-SECRET-1&grant_type=client_credentials")
    text = caplog.text
    assert SECRET_WS_KEY not in text
    assert "eyJhbGciOi.secret.token" not in text
    assert "TIMS-CLIENT-SECRET-1" not in text
    assert "display=full" in text  # the rest of the message survives


def test_dumpdata_never_prints_plaintext(cast, capsys):
    make_connection(cast.org_a)
    call_command("dumpdata", "integrations.connection")
    assert SECRET_WS_KEY not in capsys.readouterr().out
