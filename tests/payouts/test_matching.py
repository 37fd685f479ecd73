"""Each line against the orders: by order number, marketplace order id or channel order id, within the
integration; unmatched with a reason a human can act on; fees posted through the journal flow exactly once."""

from decimal import Decimal

import pytest

from integrations.models import Link, SyncRecord
from payouts import jobs
from payouts.models import LineStatus, PayoutLine
from tests.factories import make_integration
from tests.payouts.conftest import MAPPING, order, paid_order, read

pytestmark = pytest.mark.django_db


def journal_records():
    return SyncRecord.objects.filter(flow="journal", entity_type="journal")


def test_a_line_found_by_its_order_number_posts_its_fees(shop, cast):
    paid_order(shop, "41", "XKBKNABJK")
    upload = read(shop, "XKBKNABJK,100.00,12.34,2026-12-01\r\n", user=cast.superuser)
    line = upload.payout_lines.get()
    assert (line.status, line.reason, line.order_id, line.sales_order_id) == (LineStatus.POSTED, "", "41", "SO-41")
    assert line.payment_link_ids == [Link.objects.get(entity_type="payment").pk]
    record = journal_records().get()
    assert line.journal_record == record
    assert (record.source_id, record.reference, record.integration) == (f"payout:{line.pk}", "XKBKNABJK", shop)
    assert record.source_payload == {
        "document": "payout", "reference": f"PAYOUT-{upload.pk}-2", "entry_date": "2026-12-01", "amount": "100.00",
        "fee": "12.34", "method": "Payments by check", "currency": "USD", "order_id": "41",
        "sales_order_id": "SO-41"}
    assert (upload.lines, upload.matched, upload.posted, upload.fees_total, upload.amount_total) == (
        1, 1, 1, Decimal("12.34"), Decimal("100.00"))


def test_a_line_found_by_the_channel_order_id_or_a_marketplace_order_id(cast):
    marketplace = make_integration(cast.org_a, template="channeladvisor_tims")
    paid_order(marketplace, "900001", "111-2222222-3333333")  # ChannelAdvisor: ID and SiteOrderID
    paid_order(marketplace, "900002", "111-4444444-5555555")
    upload = read(marketplace, "900001,50,5,2026-12-01\r\n111-4444444-5555555,20,2,2026-12-01\r\n")
    assert list(upload.payout_lines.values_list("order_id", "status")) == [
        ("900001", LineStatus.POSTED), ("900002", LineStatus.POSTED)]


def test_an_order_the_portal_never_saw_or_another_integrations_is_unmatched(shop, cast):
    other = make_integration(cast.org_b)
    paid_order(other, "41", "XKBKNABJK")  # the same number in another organization's shop
    upload = read(shop, "XKBKNABJK,100,1,2026-12-01\r\n")
    line = upload.payout_lines.get()
    assert line.status == LineStatus.UNMATCHED
    assert line.reason.startswith("no order with reference XKBKNABJK in this integration")
    assert upload.unmatched == 1 and not journal_records().exists()


def test_no_tims_sales_order_yet_then_no_payment_then_match_again_posts(shop):
    record = order(shop, "41", "XKBKNABJK")
    upload = read(shop, "XKBKNABJK,100,1,2026-12-01\r\n")
    line = upload.payout_lines.get()
    assert line.status == LineStatus.UNMATCHED and "has no TIMS sales order yet" in line.reason
    Link.objects.create(integration=shop, entity_type="order", source_id="41", target_id="SO-41", record=record)
    assert jobs.match_again(PayoutLine.objects.all(), None) == ({LineStatus.UNMATCHED: 1}, None)
    line.refresh_from_db()
    assert line.sales_order_id == "SO-41" and "has no payment in TIMS yet" in line.reason
    Link.objects.create(integration=shop, entity_type="payment", source_id="41:T1:INV-1", target_id="PAY-1")
    assert jobs.match_again(PayoutLine.objects.all(), None) == ({LineStatus.POSTED: 1}, None)
    line.refresh_from_db()
    upload.refresh_from_db()
    assert line.status == LineStatus.POSTED and line.journal_record is not None
    assert (upload.unmatched, upload.posted) == (0, 1)
    assert jobs.match_again(PayoutLine.objects.all(), None) == ({}, None)  # posted: nothing to do again
    assert journal_records().count() == 1


def test_a_currency_other_than_the_orders_is_refused(shop):
    paid_order(shop, "41", "XKBKNABJK", currency="USD")
    paid_order(shop, "42", "YYYYYYYYY", currency="EUR")
    mapping = {**MAPPING, "currency_column": "Currency"}
    upload = read(shop, "XKBKNABJK,100,1,2026-12-01,EUR\r\nYYYYYYYYY,10,1,2026-12-01,\r\n", mapping=mapping,
                  header="Order reference,Amount,Fee,Date,Currency\r\n")
    refused, taken = upload.payout_lines.order_by("number")
    assert (refused.status, refused.reason) == (LineStatus.REFUSED, "currency mismatch: line in EUR, order in USD")
    assert (taken.status, taken.currency) == (LineStatus.POSTED, "EUR")  # no currency column value: the order's
    assert journal_records().count() == 1


def test_the_same_file_uploaded_twice_posts_once(shop):
    paid_order(shop, "41", "XKBKNABJK")
    body = "XKBKNABJK,100,1,2026-12-01\r\nNEVERSEEN,5,1,2026-12-01\r\n"
    first = read(shop, body)
    second = read(shop, body)
    assert list(second.payout_lines.values_list("status", flat=True)) == [LineStatus.DUPLICATE] * 2
    line = second.payout_lines.get(number=2)
    assert line.reason == (f"duplicate: the same reference, amount, fee and date as row 2 of upload #{first.pk} "
                           "(posted to the journal): not posted again")
    assert "(unmatched)" in second.payout_lines.get(number=3).reason
    assert journal_records().count() == 1
    assert (second.duplicates, second.posted, second.fees_total) == (2, 0, Decimal("0"))


def test_a_bad_line_does_not_stop_the_others(shop):
    paid_order(shop, "41", "XKBKNABJK")
    upload = read(shop, "XKBKNABJK,abc,1,2026-12-01\r\nXKBKNABJK,100,1,2026-12-01\r\n")
    assert list(upload.payout_lines.values_list("status", flat=True)) == [LineStatus.REFUSED, LineStatus.POSTED]
    assert (upload.refused, upload.posted) == (1, 1)
