"""The likely-duplicate page in a real browser at a laptop's size: the buyer and the TIMS customers side by side,
one click links them (audited, the waiting order retried); the lists fit; the change log cannot be rewritten."""

import pytest
from django.urls import reverse

from customers.models import BuyerLink, CustomerChange, CustomerMatch, MatchStatus
from integrations.models import AuditEntry, RecordStatus, SyncRecord
from integrations.pipeline import records
from tests.factories import make_integration

pytestmark = pytest.mark.django_db(transaction=True)


def a_likely_duplicate(integration):
    record, _ = records.receive(integration, flow="orders", entity_type="order", source_id="7001",
                                reference="XKBKNABJ-7001")
    SyncRecord.objects.filter(pk=record.pk).update(status=RecordStatus.HELD, error_class="business_hold",
                                                   error_message="The buyer may be TIMS customer C000042.")
    buyer = {"name": "Maria-Dolores Fernández de la Vega y Castellanos", "email": "maria.dolores@example.com",
             "phone": "+34 91 123 45 67", "postal_code": "28013", "city": "Madrid", "line1": "Calle Mayor 1",
             "country": "ES", "keys": ["id:buyer-77", "email:maria.dolores@example.com"]}
    candidates = [{**buyer, "code": f"C00004{n}", "name": f"M. D. Fernández Castellanos {n}", "email": "",
                   "score": 80 - n, "reasons": ["names 60 % alike", "the same postal code", "the same phone"]}
                  for n in range(2, 5)]
    return CustomerMatch.objects.create(integration=integration, buyer_key="id:buyer-77", buyer=buyer,
                                        candidates=candidates, best_code="C000042", best_score=78, record=record,
                                        waiting=[record.pk]), record


@pytest.mark.browser
def test_a_person_links_a_likely_duplicate_in_one_click(page, live_server, cast, monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    integration = make_integration(cast.org_a, name="Acme Welding Supply — PrestaShop shop and TIMS (EU)")
    match, record = a_likely_duplicate(integration)
    CustomerChange.objects.create(integration=integration, customer_code="C000042", field="BillingAddress",
                                  before="Calle Mayor 1, 28013, Madrid, ES " * 3, after="Gran Vía 2, Madrid " * 3,
                                  source="PrestaShop customer 12", record=record)

    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", cast.operations.username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    assert "Likely duplicate customers" in page.locator("body").inner_text()  # the front page says it
    for name in ("customers_customermatch", "customers_customerchange", "customers_buyerlink"):
        page.goto(live_server.url + reverse(f"admin:{name}_changelist"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366, name

    page.goto(live_server.url + reverse("admin:customers_customermatch_change", args=[match.pk]))
    text = page.locator("body").inner_text()
    assert "Maria-Dolores" in text and "the same phone" in text and "C000043" in text
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    page.click("button[name=_link][value=C000043]")
    assert "linked to TIMS customer C000043" in page.locator(".messagelist").inner_text()

    match.refresh_from_db()
    assert match.status == MatchStatus.LINKED and match.decided_code == "C000043"
    assert set(BuyerLink.objects.filter(integration=integration).values_list("buyer_key", "customer_code")) == {
        ("id:buyer-77", "C000043"), ("email:maria.dolores@example.com", "C000043")}
    assert SyncRecord.objects.get(pk=record.pk).status == RecordStatus.RETRYING
    assert AuditEntry.objects.filter(action="customer_match.link", actor=cast.operations).exists()


def test_the_change_log_is_read_only(client, cast):
    integration = make_integration(cast.org_a)
    change = CustomerChange.objects.create(integration=integration, customer_code="C1", field="Phone", before="1",
                                           after="2", source="test")
    client.force_login(cast.operations)
    page = client.get(reverse("admin:customers_customerchange_change", args=[change.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(reverse("admin:customers_customerchange_delete", args=[change.pk]), {"post": "yes"}
                       ).status_code == 403
