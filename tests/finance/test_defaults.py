"""Every integration has posting rules: a new one gets them with its mappings, older ones from the migration; the
integration's admin page links to them, to the payout upload and to its reconciliation; who may change what."""

import importlib

import pytest
from django.apps import apps
from django.urls import reverse

from finance import rules as services
from finance.models import PostingRule, PostingRules
from mappings.services import create_defaults
from tests.factories import make_integration

pytestmark = pytest.mark.django_db
backfill = importlib.import_module("finance.migrations.0002_backfill_posting_rules").backfill


def test_a_new_integration_has_its_default_posting_rules(cast):
    shop = make_integration(cast.org_a, "prestashop_tims")
    marketplace = make_integration(cast.org_a, "channeladvisor_tims")
    assert shop.posting_rules.version == 1 and shop.posting_rules.versions.get().comment == "Defaults"
    assert services.rules_for(shop).account("clearing") == "1150"
    assert services.rules_for(marketplace).account("clearing") == "1160"
    assert shop.mapping_sets.exists()  # made in the same create_defaults


def test_create_defaults_again_keeps_edited_rules(cast):
    shop = make_integration(cast.org_a)
    PostingRule.objects.filter(rules__integration=shop, kind="bank").update(account="1010")
    create_defaults(shop, reset=True)
    assert services.rules_for(shop).account("bank") == "1010"
    assert PostingRules.objects.get(integration=shop).version == 1


@pytest.mark.parametrize("template", ["prestashop_tims", "channeladvisor_tims"])
def test_the_backfill_gives_what_a_new_integration_gets(cast, template):
    made = make_integration(cast.org_a, template, name="made")
    older = make_integration(cast.org_a, template, name="older")
    PostingRules.objects.filter(integration=older).delete()  # as before posting rules were created with integrations
    PostingRule.objects.filter(rules__integration=made, kind="bank").update(account="1010")
    backfill(apps, None)
    backfilled, kept = PostingRules.objects.get(integration=older), PostingRules.objects.get(integration=made)
    assert kept.rows.get(kind="bank").account == "1010" and kept.versions.count() == 1  # left alone
    PostingRule.objects.filter(rules=kept, kind="bank").update(account="1000")
    assert services.snapshot(backfilled) == services.snapshot(kept) == backfilled.versions.get().snapshot
    assert backfilled.version == 1
    assert backfilled.versions.get().changes == kept.versions.get().changes


def test_the_integration_page_links_to_posting_rules_payouts_and_reconciliation(cast, login):
    shop = make_integration(cast.org_a)
    body = login(cast.integration_admin).get(reverse("admin:integrations_integration_change",
                                                     args=[shop.pk])).content.decode()
    for url, label in ((reverse("admin:finance_postingrules_change", args=[shop.posting_rules.pk]), "Posting rules"),
                       (reverse("admin:payouts_payoutupload_upload") + f"?integration={shop.pk}",
                        "Upload a payout file"),
                       (reverse("admin:reconciliation_days", args=[shop.pk]), "Reconciliation")):
        assert f'<a href="{url}">{label}</a>' in body


def test_the_integration_page_says_when_there_are_no_posting_rules(cast, login):
    shop = make_integration(cast.org_a)
    PostingRules.objects.filter(integration=shop).delete()
    body = login(cast.superuser).get(reverse("admin:integrations_integration_change", args=[shop.pk])).content
    assert b"Posting rules: none yet" in body


def test_operations_upload_payouts_and_only_view_posting_rules(cast):
    assert cast.operations.has_perm("payouts.add_payoutupload")
    assert cast.operations.has_perm("finance.view_postingrules")
    assert not cast.operations.has_perm("finance.change_postingrules")
    assert cast.operations.has_perm("reconciliation.view_reconciliationreport")
    assert cast.integration_admin.has_perm("finance.change_postingrules")
