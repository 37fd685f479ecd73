"""Default rules, the snapshot the ledger reads, the chart check, versions and restore, and the admin pages."""

import pytest
from django.urls import reverse

from finance import rules as services
from finance.ledger import PostingError
from finance.models import PostingRule, PostingRules
from tests.factories import make_integration

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(cast):
    return make_integration(cast.org_a, "prestashop_tims")


def test_defaults_are_idempotent_and_version_one(shop):
    first = services.ensure_default_rules(shop)
    again = services.ensure_default_rules(shop)
    assert first.pk == again.pk and again.version == 1 and first.versions.count() == 1
    rules = services.rules_for(shop)
    assert rules.account("clearing") == "1150" and rules.account("revenue", "prestashop") == "4000"
    assert services.check_accounts(rules, services.CHART) == []


def test_marketplace_clearing_for_channeladvisor(cast):
    marketplace = make_integration(cast.org_a, "channeladvisor_tims")
    services.ensure_default_rules(marketplace)
    assert services.rules_for(marketplace).account("clearing", "Amazon") == "1160"


def test_rules_for_without_rules_is_a_posting_error(shop):
    PostingRules.objects.filter(integration=shop).delete()
    with pytest.raises(PostingError, match="no posting rules"):
        services.rules_for(shop)


def test_check_accounts_lists_missing_accounts(shop):
    services.ensure_default_rules(shop)
    missing = services.check_accounts(services.rules_for(shop), set(services.CHART) - {"4010", "6900"})
    assert missing == ["revenue (channeladvisor) → 4010: no such account in TIMS",
                       "rounding (any) → 6900: no such account in TIMS"]


def test_versions_record_changes_and_restore_makes_a_new_version(shop, cast):
    posting_rules = services.ensure_default_rules(shop)
    PostingRule.objects.filter(rules=posting_rules, kind="revenue", key="channeladvisor").update(account="4011")
    PostingRule.objects.create(rules=posting_rules, kind="tax", key="FR", account="2210")
    version = services.record_version(posting_rules, cast.superuser)
    assert version.number == 2
    assert version.changes == ["revenue (channeladvisor): 4010 → 4011", "added tax (FR): 2210"]
    assert services.record_version(posting_rules) is None  # nothing changed
    restored = services.restore(posting_rules.versions.get(number=1), cast.superuser)
    assert restored.number == 3 and "revenue (channeladvisor): 4011 → 4010" in restored.changes
    assert services.rules_for(shop).account("revenue", "channeladvisor") == "4010"
    assert services.rules_for(shop).version == 3


def test_admin_pages_render_and_save_makes_a_version(shop, cast, login):
    posting_rules = services.ensure_default_rules(shop)
    client = login(cast.superuser)
    assert client.get(reverse("admin:finance_postingrules_changelist")).status_code == 200
    url = reverse("admin:finance_postingrules_change", args=[posting_rules.pk])
    page = client.get(url)
    assert page.status_code == 200 and b"Marketplace fees" in page.content
    rows = list(posting_rules.rows.all())
    data = {"rows-TOTAL_FORMS": str(len(rows)), "rows-INITIAL_FORMS": str(len(rows)), "rows-MIN_NUM_FORMS": "0",
            "rows-MAX_NUM_FORMS": "1000", "versions-TOTAL_FORMS": "1", "versions-INITIAL_FORMS": "1",
            "versions-MIN_NUM_FORMS": "0", "versions-MAX_NUM_FORMS": "0", "_save": "Save"}
    for index, row in enumerate(rows):
        account = "4011" if (row.kind, row.key) == ("revenue", "channeladvisor") else row.account
        data.update({f"rows-{index}-id": row.pk, f"rows-{index}-rules": posting_rules.pk,
                     f"rows-{index}-kind": row.kind, f"rows-{index}-key": row.key,
                     f"rows-{index}-account": account, f"rows-{index}-note": row.note})
    data["versions-0-id"] = posting_rules.versions.get().pk
    data["versions-0-rules"] = posting_rules.pk
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    latest = posting_rules.versions.order_by("-number").first()
    assert latest.number == 2 and latest.changes == ["revenue (channeladvisor): 4010 → 4011"]
    assert latest.saved_by == cast.superuser

    version_url = reverse("admin:finance_postingrulesversion_change", args=[posting_rules.versions.get(number=1).pk])
    page = client.get(version_url)
    assert page.status_code == 200 and b"Restore this version" in page.content
    assert client.post(version_url, {"_restore": "1"}).status_code == 302
    assert posting_rules.versions.order_by("-number").first().number == 3
    assert services.rules_for(shop).account("revenue", "channeladvisor") == "4010"


def test_customers_see_only_their_rules(shop, cast, login):
    services.ensure_default_rules(shop)
    other = services.ensure_default_rules(make_integration(cast.org_b, "prestashop_tims"))
    page = login(cast.owner_a).get(reverse("admin:finance_postingrules_changelist"))
    assert page.status_code == 200 and str(shop) in page.content.decode()
    assert str(other.integration) not in page.content.decode()
    assert login(cast.owner_a).get(reverse("admin:finance_postingrules_change",
                                           args=[other.pk])).status_code in (302, 404)
