"""Integrations made before posting rules were created with them get the defaults, as version 1 — the same rows,
snapshot and history that finance.rules.ensure_default_rules gives a new one. Self-contained: the defaults are
copied as they were when this migration was written, so a later change to finance.rules does not rewrite history."""

from django.db import migrations

DEFAULT_RULES = [  # (kind, key, account), as in finance.rules at the time
    ("receivables", "", "1100"),
    ("revenue", "prestashop", "4000"),
    ("revenue", "channeladvisor", "4010"),
    ("revenue", "", "4000"),
    ("tax", "", "2200"),
    ("shipping", "", "4100"),
    ("discounts", "", "4200"),
    ("clearing", "", "1150"),  # 1160 Marketplace clearing for a ChannelAdvisor integration
    ("fees", "", "6100"),
    ("rounding", "", "6900"),
    ("bank", "", "1000"),
]


def backfill(apps, schema_editor):
    Integration = apps.get_model("integrations", "Integration")
    PostingRules = apps.get_model("finance", "PostingRules")
    PostingRule = apps.get_model("finance", "PostingRule")
    PostingRulesVersion = apps.get_model("finance", "PostingRulesVersion")
    for integration in Integration.objects.filter(posting_rules__isnull=True).select_related("channel_connection"):
        marketplace = integration.channel_connection.kind == "channeladvisor"
        rows = sorted((kind, key, "1160" if marketplace and (kind, key) == ("clearing", "") else account)
                      for kind, key, account in DEFAULT_RULES)
        posting_rules = PostingRules.objects.create(integration=integration, version=1)
        PostingRule.objects.bulk_create(PostingRule(rules=posting_rules, kind=kind, key=key, account=account)
                                        for kind, key, account in rows)
        PostingRulesVersion.objects.create(
            rules=posting_rules, number=1, comment="Defaults",
            snapshot=[{"kind": kind, "key": key, "account": account, "note": ""} for kind, key, account in rows],
            changes=[f"added {kind} ({key or 'any'}): {account}" for kind, key, account in rows])


class Migration(migrations.Migration):

    dependencies = [
        ("finance", "0001_initial"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
