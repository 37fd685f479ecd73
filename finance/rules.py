"""Posting rules as plain functions: the defaults (the TIMS chart of accounts), versions and restore, the
immutable snapshot the ledger builder reads, and a check against TIMS's chart."""

from django.db import transaction

from finance.ledger import PostingError, Rules  # noqa: F401  (PostingError is part of this module's interface)
from finance.models import PostingRule, PostingRules, PostingRulesVersion

# The TIMS sandbox's chart of accounts, which the defaults point at.
CHART = {
    "1000": "Bank", "1100": "Accounts receivable", "1150": "Payment clearing", "1151": "Card clearing",
    "1152": "PayPal clearing", "1160": "Marketplace clearing", "2200": "Sales tax payable", "2210": "VAT payable",
    "4000": "Sales — web shop", "4010": "Sales — marketplaces", "4100": "Shipping income",
    "4200": "Sales discounts", "6100": "Marketplace fees", "6900": "Rounding differences",
}

DEFAULT_RULES = [  # (kind, key, account)
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


def default_rules_for(integration):
    marketplace = integration.channel_connection.kind == "channeladvisor"  # the marketplace holds the money
    return [(kind, key, "1160" if marketplace and (kind, key) == ("clearing", "") else account)
            for kind, key, account in DEFAULT_RULES]


def snapshot(posting_rules):
    return [{"kind": row.kind, "key": row.key, "account": row.account, "note": row.note}
            for row in posting_rules.rows.order_by("kind", "key")]


def _label(row):
    return f"{row['kind']} ({row['key'] or 'any'})"


def diff(old, new):
    """Plain-words changes between two snapshots: "revenue (channeladvisor): 4010 → 4011"."""
    old_by, new_by = {_label(r): r for r in old}, {_label(r): r for r in new}
    changes = []
    for label, row in new_by.items():
        before = old_by.get(label)
        if before is None:
            changes.append(f"added {label}: {row['account']}")
        elif before["account"] != row["account"]:
            changes.append(f"{label}: {before['account']} → {row['account']}")
        elif before["note"] != row["note"]:
            changes.append(f"{label}: note {before['note']!r} → {row['note']!r}")
    changes += [f"removed {label} ({row['account']})" for label, row in old_by.items() if label not in new_by]
    return changes


def record_version(posting_rules, user=None, comment=""):
    """Snapshot the rules after a save; None when nothing changed since the last version."""
    with transaction.atomic():
        locked = PostingRules.objects.select_for_update().get(pk=posting_rules.pk)  # one number per change
        previous = locked.versions.order_by("-number").first()
        current = snapshot(locked)
        if previous is not None and previous.snapshot == current:
            return None
        number = (previous.number if previous else 0) + 1
        version = PostingRulesVersion.objects.create(
            rules=locked, number=number, snapshot=current, comment=comment, saved_by=user,
            changes=diff(previous.snapshot if previous else [], current))
        PostingRules.objects.filter(pk=locked.pk).update(version=number, updated_by=user)
    posting_rules.version = number
    return version


def restore(version, user=None):
    """Put an older version's rules back; the restore is itself a new version (history is never rewritten)."""
    with transaction.atomic():
        posting_rules = version.rules
        posting_rules.rows.all().delete()
        PostingRule.objects.bulk_create(PostingRule(rules=posting_rules, **row) for row in version.snapshot)
        return record_version(posting_rules, user, comment=f"Restored version {version.number}")


def ensure_default_rules(integration, user=None):
    """Give an integration its default posting rules (version 1); an integration that has rules keeps them."""
    with transaction.atomic():
        posting_rules, created = PostingRules.objects.get_or_create(integration=integration)
        if not created and posting_rules.rows.exists():
            return posting_rules
        PostingRule.objects.bulk_create(PostingRule(rules=posting_rules, kind=kind, key=key, account=account)
                                        for kind, key, account in default_rules_for(integration))
        record_version(posting_rules, user, comment="Defaults")
    return posting_rules


def rules_for(integration) -> Rules:
    """The integration's rules as an immutable snapshot for the ledger builder."""
    posting_rules = PostingRules.objects.filter(integration=integration).first()
    if posting_rules is None:
        raise PostingError(f"Integration {integration} has no posting rules.",
                           fix="Open the integration's posting rules in the admin (defaults are created with it).",
                           rule={"kind": "", "key": ""})
    rows = tuple(posting_rules.rows.values_list("kind", "key", "account"))
    return Rules(rows=rows, version=posting_rules.version, integration_id=integration.pk)


def check_accounts(rules: Rules, chart) -> list[str]:
    """The rules that point at accounts missing from `chart` (the account numbers TIMS's GET /gl/accounts has)."""
    chart = {str(account) for account in chart}
    return [f"{kind} ({key or 'any'}) → {account}: no such account in TIMS"
            for kind, key, account in rules.rows if account not in chart]
