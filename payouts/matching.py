"""One payout line against the portal's orders: found by any reference people quote, checked, and its fees handed
to the journal flow. Every outcome is a status and a reason in plain words."""

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum

from integrations.models import Link, SyncRecord
from integrations.pipeline import records
from payouts.models import COUNTED, LineStatus, PayoutLine, PayoutUpload

MATCHABLE = (LineStatus.UNMATCHED, LineStatus.MATCHED)


def find_order(integration, reference):
    """(channel order id, its newest order record) or (None, problem). The reference may be the order number (the
    PrestaShop reference, ChannelAdvisor's site order id) or the channel's own order id; the number wins a tie."""
    found = (SyncRecord.objects.filter(integration=integration, flow="orders", entity_type="order")
             .filter(Q(reference=reference) | Q(source_id=reference)).order_by("-pk")
             .values_list("source_id", "reference", "pk")[:200])
    by_number = list(dict.fromkeys(source_id for source_id, ref, _ in found if ref == reference))
    any_way = list(dict.fromkeys(source_id for source_id, _, _ in found))
    candidates = by_number or any_way
    if not candidates:
        return None, (f"no order with reference {reference} in this integration: check the reference, or wait "
                      "until the order is imported, then Match again")
    if len(candidates) > 1:
        return None, (f"reference {reference} matches several orders ({', '.join(candidates[:5])}): match it by "
                      "the channel order id instead")
    newest = next(pk for source_id, _, pk in found if source_id == candidates[0])
    return candidates[0], SyncRecord.objects.get(pk=newest)


def order_currency(payload):
    payload = payload or {}
    total = payload.get("total") or {}
    return str(payload.get("currency") or (total.get("currency") if isinstance(total, dict) else "") or "").upper()


def match_and_post(line):
    """Match one line (in the caller's transaction) and, matched, post its fees. Saves the line."""
    integration = line.integration
    order_id, order = find_order(integration, line.order_reference)
    if order_id is None:
        return _save(line, LineStatus.UNMATCHED, order)
    payload = order.source_payload or {}
    currency = order_currency(payload)
    if line.currency and currency and line.currency != currency:
        return _save(line, LineStatus.REFUSED, f"currency mismatch: line in {line.currency}, order in {currency}",
                     order_id=order_id)
    line.currency = line.currency or currency
    order_link = Link.objects.filter(integration=integration, entity_type="order", source_id=order_id).first()
    if order_link is None:
        return _save(line, LineStatus.UNMATCHED, f"order {line.order_reference} (channel id {order_id}) has no TIMS "
                     "sales order yet: Match again once it is imported", order_id=order_id)
    payments = list(Link.objects.filter(integration=integration, entity_type="payment",
                                        source_id__startswith=f"{order_id}:").order_by("pk"))
    if not payments:
        return _save(line, LineStatus.UNMATCHED, f"order {line.order_reference} (TIMS sales order "
                     f"{order_link.target_id}) has no payment in TIMS yet: Match again once its payment is posted",
                     order_id=order_id, sales_order_id=order_link.target_id)
    _save(line, LineStatus.MATCHED, "", order_id=order_id, sales_order_id=order_link.target_id,
          payment_link_ids=[link.pk for link in payments])
    return post(line, payload.get("payment_method") or "")


def post(line, method):
    """Hand the line's fees to the journal flow. The journal record's source id is the line's, so a line matched
    again is the same record: it is never posted twice."""
    try:
        with transaction.atomic():
            record, _ = records.receive(
                line.integration, flow="journal", entity_type="journal", source_id=f"payout:{line.pk}",
                reference=line.order_reference[:100],
                payload={"document": "payout", "reference": f"PAYOUT-{line.upload_id}-{line.number}",
                         "entry_date": line.date.isoformat(), "amount": str(line.amount), "fee": str(line.fee),
                         "method": method, "currency": line.currency, "order_id": line.order_id,
                         "sales_order_id": line.sales_order_id})
    except Exception as exc:  # the line stays matched; Match again posts it once the cause is fixed
        return _save(line, LineStatus.MATCHED, f"matched, but its fees could not be handed to the journal "
                     f"({type(exc).__name__}: {exc}): Match again when that is fixed")
    if record is None:
        return _save(line, LineStatus.MATCHED, "matched, but the journal flow took it for an echo of the portal's "
                     "own write: nothing was posted; tell the portal's developers")
    return _save(line, LineStatus.POSTED, "", journal_record=record)


def _save(line, status, reason, **fields):
    line.status, line.reason = status, reason
    for name, value in fields.items():
        setattr(line, name, value)
    line.save()
    return line


def fingerprint(row):
    return f"{row.reference}|{row.amount}|{row.fee}|{row.date.isoformat()}"[:200]


def take_row(upload, row):
    """A parsed row becomes its line: refused, a duplicate of a line already counted, or matched (and posted).
    One transaction per row; the journal's doorbell rings after it commits."""
    line = PayoutLine(upload=upload, integration=upload.integration, number=row.number, raw=row.raw,
                      order_reference=row.reference, amount=row.amount, fee=row.fee, date=row.date,
                      currency=row.currency, payout_id=row.payout_id)
    with transaction.atomic():
        if row.refusal:
            return _save(line, LineStatus.REFUSED, row.refusal)
        line.fingerprint = fingerprint(row)
        earlier = (PayoutLine.objects.filter(integration=upload.integration, fingerprint=line.fingerprint,
                                             status__in=COUNTED).first())
        if earlier is not None:
            return _save(line, LineStatus.DUPLICATE, _duplicate_of(earlier))
        try:
            with transaction.atomic():
                line.save()
        except IntegrityError:
            done = PayoutLine.objects.filter(upload=upload, number=row.number).first()
            if done is not None:  # another run of this job read the row already
                return done
            line.pk = None
            earlier = PayoutLine.objects.filter(integration=upload.integration, fingerprint=line.fingerprint,
                                                status__in=COUNTED).first()
            return _save(line, LineStatus.DUPLICATE, _duplicate_of(earlier) if earlier else
                         "the same line was read from another upload at the same moment: not posted again")
        return match_and_post(line)


def _duplicate_of(earlier):
    return (f"duplicate: the same reference, amount, fee and date as row {earlier.number} of upload "
            f"#{earlier.upload_id} ({earlier.get_status_display().split(':')[0].lower()}): not posted again")


def match_again(lines):
    """Lines still unmatched (or matched but not posted) are tried again, one transaction each. Returns
    {status: count} of what they became."""
    outcome, uploads = {}, set()
    for pk in list(lines.filter(status__in=MATCHABLE).values_list("pk", flat=True)):
        with transaction.atomic():
            line = (PayoutLine.objects.select_for_update().select_related("integration")
                    .filter(pk=pk, status__in=MATCHABLE).first())
            if line is None:
                continue
            match_and_post(line)
        outcome[line.status] = outcome.get(line.status, 0) + 1
        uploads.add(line.upload_id)
    for upload_id in uploads:
        recount(upload_id)
    return outcome


def recount(upload_id):
    lines = PayoutLine.objects.filter(upload_id=upload_id)
    by_status = dict(lines.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    totals = lines.filter(status__in=COUNTED).aggregate(fees=Sum("fee"), amount=Sum("amount"))
    PayoutUpload.objects.filter(pk=upload_id).update(
        lines=sum(by_status.values()), posted=by_status.get(LineStatus.POSTED, 0),
        matched=by_status.get(LineStatus.POSTED, 0) + by_status.get(LineStatus.MATCHED, 0),
        unmatched=by_status.get(LineStatus.UNMATCHED, 0), refused=by_status.get(LineStatus.REFUSED, 0),
        duplicates=by_status.get(LineStatus.DUPLICATE, 0), fees_total=totals["fees"] or 0,
        amount_total=totals["amount"] or 0)


def summary(upload):
    upload.refresh_from_db()
    lines = "1 line" if upload.lines == 1 else f"{upload.lines} lines"
    duplicates = "1 duplicate" if upload.duplicates == 1 else f"{upload.duplicates} duplicates"
    return (f"{lines}: {upload.posted} posted, {upload.matched - upload.posted} matched but not posted, "
            f"{upload.unmatched} unmatched, {upload.refused} refused, {duplicates}.")
