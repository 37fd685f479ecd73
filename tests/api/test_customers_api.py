"""Likely duplicate customers and the customer change log through the API: listed per tenant, decided once with the
operate scope (the waiting order retried), refusals in words."""

import pytest

from customers.models import BuyerLink, CustomerChange, CustomerMatch, MatchStatus
from integrations.models import AuditEntry, RecordStatus
from integrations.pipeline import records
from tests.api.conftest import make_record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)


def a_match(integration):
    waiting = make_record(integration, status="held")
    buyer = {"name": "Mary Smith", "email": "mary@example.com", "keys": ["id:b-1", "email:mary@example.com"]}
    return CustomerMatch.objects.create(
        integration=integration, buyer_key="id:b-1", buyer=buyer, best_code="C000042", best_score=80,
        candidates=[{"code": "C000042", "name": "Johanna Smith", "score": 80, "reasons": ["the same phone"]}],
        record=waiting, waiting=[waiting.pk]), waiting


def test_a_likely_duplicate_is_listed_and_decided_once(cast, key_for, api, integration_a):
    match, waiting = a_match(integration_a)
    reader = api(key_for(cast.org_a, "read"))
    listed = reader.get("/api/customer-matches/?status=open").json()["results"]
    assert [m["id"] for m in listed] == [match.pk] and listed[0]["candidates"][0]["code"] == "C000042"
    refused = reader.post(f"/api/customer-matches/{match.pk}/decide/", {"link_to": "C000042"}, format="json")
    assert refused.status_code == 403 and "operate" in refused.json()["detail"]

    operator = api(key_for(cast.org_a, "operate", created_by=cast.owner_a))
    unclear = operator.post(f"/api/customer-matches/{match.pk}/decide/", {}, format="json")
    assert unclear.status_code == 400 and "link_to" in str(unclear.json())
    bad_code = operator.post(f"/api/customer-matches/{match.pk}/decide/", {"link_to": "C1|C2"}, format="json")
    assert bad_code.status_code == 400
    decided = operator.post(f"/api/customer-matches/{match.pk}/decide/", {"link_to": "c000042"}, format="json")
    assert decided.status_code == 200, decided.json()
    assert decided.json()["status"] == MatchStatus.LINKED and decided.json()["decided_code"] == "C000042"
    assert set(BuyerLink.objects.values_list("buyer_key", "customer_code")) == {
        ("id:b-1", "C000042"), ("email:mary@example.com", "C000042")}
    waiting.refresh_from_db()
    assert waiting.status == RecordStatus.RETRYING
    assert AuditEntry.objects.filter(action="customer_match.link", actor=cast.owner_a).exists()
    again = operator.post(f"/api/customer-matches/{match.pk}/decide/", {"create": True}, format="json")
    assert again.status_code == 400 and "decided already" in again.json()["detail"]


def test_another_tenants_matches_and_changes_are_not_seen(cast, key_for, api, integration_a, integration_b):
    theirs, _ = a_match(integration_b)
    CustomerChange.objects.create(integration=integration_b, customer_code="C9", field="Phone", before="1",
                                  after="2", source="PrestaShop customer 9")
    ours = CustomerChange.objects.create(integration=integration_a, customer_code="C1", field="Phone", before="1",
                                         after="2", source="PrestaShop customer 1", applied=False)
    client = api(key_for(cast.org_a, "admin"))
    assert client.get(f"/api/customer-matches/{theirs.pk}/").status_code == 404
    assert client.post(f"/api/customer-matches/{theirs.pk}/decide/", {"create": True},
                       format="json").status_code == 404
    changes = client.get("/api/customer-changes/").json()["results"]
    assert [c["id"] for c in changes] == [ours.pk] and changes[0]["applied"] is False
    assert client.get("/api/customer-changes/?customer=C1&field=Phone").json()["results"][0]["id"] == ours.pk
