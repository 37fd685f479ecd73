"""API keys: hashed at rest, shown once, revocable, scoped; `Authorization: Api-Key <key>`."""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from api import keys
from api.models import ApiKey
from integrations.models import AuditEntry

pytestmark = pytest.mark.django_db


def every_text_in_the_database():
    """Every table's rows as text: what a leaked dump would show."""
    texts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            texts.extend(str(row) for row in cursor.fetchall())
    return "\n".join(texts)


def test_the_secret_is_nowhere_in_the_database(cast, key_for, api):
    whole = key_for(cast.org_a, "operate", created_by=cast.owner_a)
    secret = whole.rsplit("_", 1)[1]
    assert api(whole).get("/api/organizations/").status_code == 200
    dump = every_text_in_the_database()
    assert secret not in dump and whole not in dump
    key = ApiKey.objects.get()
    assert key.prefix in whole and key.secret_hash == keys.digest(secret)


def test_unknown_malformed_and_revoked_keys_are_401_in_plain_words(cast, key_for, api):
    whole = key_for(cast.org_a)
    for bad in ("ipk_nope_nope", whole[:-1] + ("A" if whole[-1] != "A" else "B"), "x" * 300, "ipk__"):
        response = api(bad).get("/api/records/")
        assert response.status_code == 401, bad
        assert response.json()["detail"] == "This API key is unknown or revoked."
        assert response["WWW-Authenticate"] == "Api-Key"
    assert api(whole).get("/api/records/").status_code == 200
    keys.revoke(ApiKey.objects.get(), cast.owner_a)
    response = api(whole).get("/api/records/")
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    assert AuditEntry.objects.filter(action="api_key_revoke", actor=cast.owner_a).exists()


def test_no_credentials_is_401(cast, api):
    assert api().get("/api/records/").status_code in (401, 403)
    response = api().get("/api/records/", HTTP_AUTHORIZATION="Api-Key")
    assert response.status_code == 401


def test_last_used_is_written_at_most_once_a_minute(cast, key_for, api, django_assert_max_num_queries):
    whole = key_for(cast.org_a)
    client = api(whole)
    client.get("/api/organizations/")
    first = ApiKey.objects.get().last_used_at
    assert first is not None
    client.get("/api/organizations/")
    assert ApiKey.objects.get().last_used_at == first  # within the minute: not written again
    ApiKey.objects.update(last_used_at=timezone.now() - timezone.timedelta(minutes=2))
    client.get("/api/organizations/")
    assert ApiKey.objects.get().last_used_at > first


def test_the_command_creates_lists_and_revokes(cast, api):
    out, err = io.StringIO(), io.StringIO()
    call_command("apikey", "create", "--organization", cast.org_a.name, "--scope", "operate", "--name", "ci",
                 stdout=out, stderr=err)
    whole = out.getvalue().strip()
    assert whole.startswith("ipk_") and "\n" not in whole and "shown only now" in err.getvalue()
    assert api(whole).get("/api/organizations/").json()["results"][0]["slug"] == cast.org_a.slug
    key = ApiKey.objects.get()
    assert key.scope == "operate" and key.organization == cast.org_a and key.name == "ci"

    listing = io.StringIO()
    call_command("apikey", "list", stdout=listing)
    assert key.prefix in listing.getvalue() and whole.rsplit("_", 1)[1] not in listing.getvalue()

    call_command("apikey", "revoke", key.prefix, stdout=io.StringIO())
    assert api(whole).get("/api/organizations/").status_code == 401
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="revoked already"):
        call_command("apikey", "revoke", str(key.pk), stdout=io.StringIO())
    with pytest.raises(CommandError, match="No organization"):
        call_command("apikey", "create", "--organization", "Nobody Ltd", "--scope", "read")


def test_a_staff_key_needs_staff_and_sees_every_tenant(cast, api, integration_a, integration_b):
    from tests.api.conftest import make_record

    make_record(integration_a)
    make_record(integration_b)
    out = io.StringIO()
    call_command("apikey", "create", "--staff", "--scope", "read", stdout=out, stderr=io.StringIO())
    client = api(out.getvalue().strip())
    assert ApiKey.objects.get().organization is None
    slugs = {row["organization"] for row in client.get("/api/records/").json()["results"]}
    assert slugs == {cast.org_a.slug, cast.org_b.slug}
    assert {o["slug"] for o in client.get("/api/organizations/").json()["results"]} == {cast.org_a.slug,
                                                                                         cast.org_b.slug}
