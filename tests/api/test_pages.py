"""The developer pages: keys made (shown once), listed and revoked; subscriptions with a test event and the
deliveries listed; admins and owners only."""

import re

import pytest
from django.urls import reverse

from api.models import ApiKey, Delivery, Subscription
from integrations.models import AuditEntry
from portal.models import Membership, Role

pytestmark = pytest.mark.django_db


def test_only_admins_and_owners_reach_the_pages_and_other_tenants_are_404(cast, login):
    keys_a = reverse("api_pages:keys", kwargs={"org": cast.org_a.slug})
    subscriptions_a = reverse("api_pages:subscriptions", kwargs={"org": cast.org_a.slug})
    assert login(cast.member_a).get(keys_a).status_code == 403
    assert login(cast.outsider_b).get(keys_a).status_code == 404
    assert login(cast.outsider_b).get(subscriptions_a).status_code == 404
    assert login(cast.owner_a).get(keys_a).status_code == 200
    assert login(cast.owner_a).get(subscriptions_a).status_code == 200


def test_a_key_is_shown_once_listed_by_prefix_and_revoked_with_a_confirmation(cast, login, api):
    client = login(cast.owner_a)
    url = reverse("api_pages:keys", kwargs={"org": cast.org_a.slug})
    made = client.post(url, {"name": "nightly export", "scope": "operate"}).content.decode()
    whole = re.search(r'id="new-key-value">(ipk_[^<]+)<', made).group(1)
    assert "shown only this once" in made
    key = ApiKey.objects.get()
    assert (key.organization, key.scope, key.created_by, key.name) == (cast.org_a, "operate", cast.owner_a,
                                                                        "nightly export")
    listed = client.get(url).content.decode()
    assert key.prefix in listed and whole not in listed and "never" in listed
    assert api(whole).get("/api/organizations/").status_code == 200

    revoke = reverse("api_pages:revoke_key", kwargs={"org": cast.org_a.slug, "key_id": key.pk})
    assert "stops working at once" in client.get(revoke).content.decode()
    assert ApiKey.objects.get().revoked_at is None  # the GET only asks
    client.post(revoke)
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == cast.owner_a
    assert api(whole).get("/api/organizations/").status_code == 401
    assert AuditEntry.objects.filter(action="api_key_revoke", actor=cast.owner_a).exists()
    assert AuditEntry.objects.filter(action="api_key_create", actor=cast.owner_a).exists()
    other = login(cast.outsider_b)
    assert other.post(reverse("api_pages:revoke_key", kwargs={"org": cast.org_b.slug, "key_id": key.pk})
                      ).status_code == 404


def test_an_org_admin_makes_org_keys_only(cast, login):
    Membership.objects.filter(user=cast.owner_a).update(role=Role.ADMIN)
    login(cast.owner_a).post(reverse("api_pages:keys", kwargs={"org": cast.org_a.slug}),
                             {"name": "", "scope": "admin"})
    assert ApiKey.objects.get().organization == cast.org_a


def test_subscribe_shows_the_secret_once_sends_a_test_and_lists_deliveries(cast, login, monkeypatch):
    from api import events

    monkeypatch.setattr(events, "enqueue", lambda pk: None)  # the test sends it itself
    client = login(cast.owner_a)
    url = reverse("api_pages:subscriptions", kwargs={"org": cast.org_a.slug})
    page = client.post(url, {"action": "subscribe", "url": "https://hooks.example.com/portal",
                             "events": ["record.dead", "integration.paused"]}).content.decode()
    secret = re.search(r'id="new-secret-value">([^<]+)<', page).group(1)
    subscription = Subscription.objects.get()
    assert subscription.signing_secret == {"secret": secret} and subscription.events == ["record.dead",
                                                                                        "integration.paused"]
    assert secret not in client.get(url).content.decode()
    client.post(url, {"action": "test", "subscription": subscription.pk})
    delivery = Delivery.objects.get()
    assert delivery.event == "ping"
    listed = client.get(url).content.decode()
    assert 'id="delivery-list"' in listed and "Waiting to be sent" in listed
    bad = client.post(url, {"action": "subscribe", "url": "ftp://x", "events": []}).content.decode()
    assert "errorlist" in bad and Subscription.objects.count() == 1
    client.post(url, {"action": "unsubscribe", "subscription": subscription.pk})
    assert Subscription.objects.get().active is False
    assert set(AuditEntry.objects.filter(organization=cast.org_a).values_list("action", flat=True)) >= {
        "event_subscribe", "event_unsubscribe"}
    theirs = login(cast.outsider_b).post(reverse("api_pages:subscriptions", kwargs={"org": cast.org_b.slug}),
                                         {"action": "test", "subscription": subscription.pk})
    assert theirs.status_code == 404


def test_production_refuses_plain_http_and_private_receivers(cast, login, settings):
    settings.API_EVENTS_ALLOW_PRIVATE = False
    client = login(cast.owner_a)
    url = reverse("api_pages:subscriptions", kwargs={"org": cast.org_a.slug})
    for address, word in (("http://hooks.example.com/x", "https://"), ("https://127.0.0.1/x", "loopback"),
                          ("https://user:pw@hooks.example.com/", "credentials")):
        page = client.post(url, {"action": "subscribe", "url": address, "events": ["record.dead"]}).content.decode()
        assert word in page, address
    assert not Subscription.objects.exists()


def test_times_are_shown_in_the_users_time_zone(cast, login):
    from datetime import UTC, datetime

    from api import keys
    from portal.models import UserProfile

    UserProfile.objects.create(user=cast.owner_a, timezone="Asia/Tokyo")
    key, _ = keys.create(organization=cast.org_a, scope="read", created_by=cast.owner_a)
    ApiKey.objects.filter(pk=key.pk).update(created_at=datetime(2026, 12, 1, 23, 30, tzinfo=UTC),
                                            last_used_at=datetime(2026, 12, 2, 1, 5, tzinfo=UTC))
    page = login(cast.owner_a).get(reverse("api_pages:keys", kwargs={"org": cast.org_a.slug})).content.decode()
    assert "2026-12-02 08:30" in page and "2026-12-02 10:05" in page and "Asia/Tokyo" in page
