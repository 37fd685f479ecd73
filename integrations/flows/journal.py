"""Order-to-cash, the books: every invoice, payment and payout the portal brought into TIMS posts one GL journal
entry, built by the integration's posting rules.

Chained after the invoice, the payment and the return's refund (payouts receive theirs from the settlement
upload) → build the entry in Decimal and check it balances to the cent → every account must be in TIMS's chart →
look TIMS up by the source document's reference → post with an Idempotency-Key → link. A rule that is missing or
points at an account TIMS does not have is a dead letter naming the rule: never a half-posted entry.
"""

from datetime import date

from integrations import canonical as c
from integrations.connectors.checks import client_for
from integrations.flows import registry
from integrations.pipeline import records
from integrations.pipeline.outcomes import Rejected

RULES_FIX = "Correct the integration's posting rules (Finance › Posting rules), then retry this record."


def post_entry(record):
    from finance import ledger
    from finance.rules import rules_for

    integration = record.integration
    payload = record.source_payload or {}
    try:
        entry = build(payload, rules_for(integration), integration.channel_connection.kind)
    except ledger.PostingError as exc:
        details = {"rule": getattr(exc, "rule", None) or {}, "posting_rules_url": rules_url(integration)}
        raise Rejected(f"No journal entry for {record.source_id}: {exc.message}", fix=exc.fix or RULES_FIX,
                       details=details) from exc
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise Rejected(f"The stored document of {record.source_id} cannot be read: {exc!r}",
                       fix="Edit the stored payload here, then retry; or discard it.") from exc
    records.save_fields(record, reference=entry.reference[:100])
    tims = client_for(integration.tims_connection, lane=JOURNAL.lane)
    found = tims.find_journal_entries(reference=entry.reference)
    if not found:
        chart = tims.gl_accounts()
        missing = sorted({line.account for line in entry.lines if line.account not in chart
                          or not chart[line.account].get("active", True)})
        if missing:
            raise Rejected(f"The entry for {entry.reference} posts to account(s) {', '.join(missing)}, which TIMS's "
                           "chart of accounts does not have (or has closed).",
                           fix="Point the posting rule at an account TIMS has (or open the account in TIMS), "
                               "then retry.",
                           details={"accounts": missing, "posting_rules_url": rules_url(integration)})
    if record.shadow:
        records.save_fields(record, notes="Shadow mode: would post " + describe(entry))
        return
    if found:
        posted, what = found[0], "was already in TIMS"
    else:
        records.mark_sent(record)
        posted = tims.post_journal_entry(entry, key=f"journal:{integration.pk}:{record.source_id}")
        what = "posted"
    records.link(record, posted.source_id)
    records.save_fields(record, notes=f"Journal entry {posted.source_id} {what}: {describe(entry)}"[:2000])


def build(payload, rules, channel_kind):
    """The entry a stored document posts (pure: the same payload and rules always give the same entry)."""
    from finance import ledger

    document = payload.get("document")
    if document == "invoice":
        return ledger.invoice_entry(rules, c.Invoice.from_dict(payload["invoice"]), channel_kind=channel_kind,
                                    country=payload.get("country") or "")
    if document == "payment":
        payment = c.Payment.from_dict(payload["payment"])
        return ledger.payment_entry(rules, payment, channel_kind=channel_kind, reference=payment.source_id)
    if document == "payout":
        return ledger.payout_entry(
            rules, reference=payload["reference"], entry_date=date.fromisoformat(payload["entry_date"]),
            amount=c.decimal(payload["amount"]), fee=c.decimal(payload["fee"]), method=payload.get("method") or "",
            channel_kind=channel_kind)
    if document == "refund":
        parts = payload.get("parts") or {}
        return ledger.refund_entry(
            rules, reference=payload["reference"], entry_date=date.fromisoformat(payload["entry_date"]),
            goods=c.decimal(parts.get("goods") or "0"), tax=c.decimal(parts.get("tax") or "0"),
            shipping=c.decimal(parts.get("shipping") or "0"), refund=c.decimal(payload["refund"]),
            method=payload.get("method") or "", channel_kind=channel_kind, country=payload.get("country") or "")
    raise ValueError(f"unknown document {document!r}")


def describe(entry):
    lines = "; ".join(f"{line.account} " + (f"Dr {line.debit}" if line.debit else f"Cr {line.credit}")
                      for line in entry.lines)
    return f"{entry.reference}, {lines} (debits {entry.debits} = credits {entry.credits})."


def rules_url(integration):
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("admin:finance_postingrules_changelist") + f"?integration__id__exact={integration.pk}"
    except NoReverseMatch:
        return ""


# --- what follows which record --------------------------------------------------------------------------------

def after_invoice(record):
    return [{"source_id": f"invoice:{item['invoice']['source_id']}", "reference": item["invoice"]["source_id"],
             "payload": {"document": "invoice", "invoice": item["invoice"], "country": item.get("country") or "",
                         "order_id": item.get("order_id") or ""}}
            for item in getattr(record, "produced", [])]


def after_payment(record):
    return [{"source_id": f"payment:{item['payment']['source_id']}", "reference": item["payment"]["source_id"],
             "payload": {"document": "payment", "payment": item["payment"], "order_id": item.get("order_id") or ""}}
            for item in getattr(record, "produced", [])]


def after_return(record):
    """A return that gave money back posts its refund (one that gave back only goods posts nothing, nor does the
    share of a refund for goods TIMS had not invoiced yet: it billed them no more)."""
    made = []
    for item in getattr(record, "produced", []):
        ret = c.Return.from_dict(item["return"])
        refunded = c.decimal(item["refunded"]) if item.get("refunded") is not None else (
            ret.refund.amount if ret.refund else c.decimal("0"))
        if not refunded:
            continue
        order = order_facts(record.integration, item.get("order_id") or "")
        day = (ret.created_at.date() if ret.created_at else record.created_at.date()).isoformat()
        made.append({"source_id": f"return:{ret.source_id}", "reference": ret.source_id, "payload": {
            "document": "refund", "reference": ret.source_id, "entry_date": day, "refund": str(refunded),
            "parts": item.get("parts") or {}, "method": order["method"], "country": order["country"],
            "order_id": item.get("order_id") or ""}})
    return made


def order_facts(integration, order_id):
    """The payment method and country of a channel order, from its newest record (the clearing and tax rules)."""
    from integrations.models import SyncRecord

    payload = (SyncRecord.objects.filter(integration=integration, flow="orders", source_id=str(order_id))
               .order_by("-pk").values_list("source_payload", flat=True).first()) or {}
    address = payload.get("billing_address") or payload.get("shipping_address") or {}
    return {"method": str(payload.get("payment_method") or ""), "country": str(address.get("country") or "")}


JOURNAL = registry.declare(registry.Flow(
    name="journal", label="GL journal entries in TIMS", source=registry.TIMS, target=registry.TIMS,
    entity_type="journal",
    triggers=(registry.Chained(after="invoices", follow=after_invoice),
              registry.Chained(after="payments", follow=after_payment),
              registry.Chained(after="returns", follow=after_return)),
    step=post_entry, lane="low",
    templates={"prestashop_tims": True, "channeladvisor_tims": True},
))
