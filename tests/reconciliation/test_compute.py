"""The day's comparison against a fake TIMS: a clean day says so, and each kind of difference is found and points
at the record that explains it."""

from datetime import date, datetime

import pytest
from django.urls import reverse

from integrations.connectors.errors import TransientError
from integrations.models import RecordStatus, SyncRecord
from reconciliation import jobs
from reconciliation.compute import reconcile
from reconciliation.models import ReportStatus
from tests.factories import make_integration
from tests.reconciliation.helpers import PARIS, FakeTims, cash_record, clean_order, order_record

DAY = date(2026, 3, 2)
TODAY = date(2026, 3, 3)


@pytest.fixture
def shop(cast):
    return make_integration(cast.org_a)


def url(record):
    return reverse("admin:integrations_syncrecord_change", args=[record.pk])


def kinds(report):
    return sorted(d.kind for d in report.differences)


def test_a_clean_day_says_so_in_four_list_calls(shop):
    fake = FakeTims()
    clean_order(fake, shop, 1, 100)
    clean_order(fake, shop, 2, "49.90")
    report = reconcile(shop, DAY, tims=fake, today=TODAY)
    assert report.ok and report.differences == []
    assert report.summary == "No differences: 2 orders, gross 149.90 EUR, all invoiced, paid and posted."
    assert [(col.count, str(col.total)) for col in report.columns] == [
        (2, "149.90"), (2, "149.90"), (2, "149.90"), (2, "149.90"), (4, "149.90")]  # GL: every entry
    assert report.journal.count == 4 and str(report.posted_payments) == "149.90"
    assert [call[0] for call in fake.calls] == ["sales_orders_between", "find_invoices", "find_payments",
                                               "find_journal_entries"]
    assert report.api_calls == 4


def test_the_day_is_the_shops_day_and_shadow_orders_are_not_counted(shop):
    fake = FakeTims()
    clean_order(fake, shop, 1, 100)
    order_record(shop, "late", 10, at=datetime(2026, 3, 2, 23, 30, tzinfo=PARIS), sales_order_id="SO-late")
    fake.sales_order(shop, "late", "SO-late", 10)
    fake.invoice("INV-late", "SO-late", 10)
    fake.payment("PAY-late", "INV-late", 10)
    order_record(shop, "next-day", 20, at=datetime(2026, 3, 3, 0, 30, tzinfo=PARIS))  # 23:30 UTC on the 2nd
    order_record(shop, "shadow", 30, shadow=True)
    report = reconcile(shop, DAY, tims=fake, today=TODAY)
    assert report.orders.count == 2 and report.orders.total == 110
    assert report.ok


def test_an_empty_day_says_there_is_nothing_to_reconcile(shop):
    report = reconcile(shop, DAY, tims=FakeTims(), today=TODAY)
    assert report.ok and report.summary == "No channel orders that day: nothing to reconcile."


def test_an_order_without_a_tims_sales_order_links_its_record(shop):
    fake = FakeTims()
    clean_order(fake, shop, 1)
    dead = order_record(shop, "7", 25, status=RecordStatus.DEAD)
    report = reconcile(shop, DAY, tims=fake, today=TODAY)
    (difference,) = report.differences
    assert difference.kind == "no_sales_order" and difference.order_id == "7"
    assert "R7 (25.00 EUR) has no TIMS sales order; its record is a dead letter" in difference.sentence
    assert difference.records[0].url == url(dead)
    assert difference.amounts == {"channel": "25.00 EUR", "TIMS": "—"}


def test_an_order_held_by_a_rule_is_in_progress_not_a_difference(shop):
    fake = FakeTims()
    clean_order(fake, shop, 1)
    held = order_record(shop, "8", 30, status=RecordStatus.HELD)
    SyncRecord.objects.filter(pk=held.pk).update(error_message="Order R8 is not paid yet.")
    report = reconcile(shop, DAY, tims=fake, today=TODAY)
    assert report.ok and report.orders.count == 2
    assert report.in_progress == ["Order R8 (30.00 EUR) waits in the portal, held by a business rule: Order R8 is "
                                  "not paid yet."]


def test_a_link_to_a_sales_order_tims_does_not_have(shop):
    fake = FakeTims()
    record = order_record(shop, "8", 25, sales_order_id="SO-gone")
    report = reconcile(shop, DAY, tims=fake, today=TODAY)
    assert kinds(report) == ["no_sales_order"] and "which TIMS does not have" in report.differences[0].sentence
    assert report.differences[0].records[0].url == url(record)
    assert ("get_sales_order", "SO-gone") in fake.calls


def test_tims_total_differs_from_the_channel(shop):
    fake = FakeTims()
    record = clean_order(fake, shop, 1, 100)
    fake.orders["SO1"].total.amount = fake.orders["SO1"].total.amount - 10
    report = reconcile(shop, DAY, tims=fake, today=TODAY)
    assert "sales_order_total" in kinds(report)
    difference = next(d for d in report.differences if d.kind == "sales_order_total")
    assert difference.amounts == {"channel": "100.00 EUR", "TIMS": "90.00 EUR"}
    assert "(-10.00 EUR)" in difference.sentence and difference.records[0].url == url(record)


def test_a_fully_shipped_order_invoiced_short_is_a_difference(shop):
    fake = FakeTims()
    order_record(shop, "3", 100, sales_order_id="SO3")
    fake.sales_order(shop, "3", "SO3", 100, status="Fulfilled")
    fake.invoice("INV3", "SO3", 80)
    fake.payment("PAY3", "INV3", 80)
    invoice_record = cash_record(shop, "invoices", "SHP3", target_id="INV3", payload={"sales_order_id": "SO3"})
    report = reconcile(shop, DAY, tims=fake, today=TODAY)
    assert kinds(report) == ["invoiced_total"]
    difference = report.differences[0]
    assert difference.amounts == {"order": "100.00 EUR", "invoiced": "80.00 EUR"}
    assert url(invoice_record) in [r.url for r in difference.records]


def test_a_partly_shipped_order_is_in_progress_not_a_difference(shop):
    fake = FakeTims()
    clean_order(fake, shop, 1)
    order_record(shop, "4", 100, sales_order_id="SO4")
    fake.sales_order(shop, "4", "SO4", 100, status="PartiallyShipped")
    fake.invoice("INV4", "SO4", 40)
    fake.payment("PAY4", "INV4", 100)  # paid at checkout, billed per shipment
    report = reconcile(shop, DAY, tims=fake, today=TODAY)
    assert report.ok
    assert report.in_progress == ["Order R4 (TIMS SO4, PartiallyShipped): 40.00 EUR of 100.00 EUR invoiced so far "
                                  "— not fully shipped yet, not a difference."]
    assert report.summary == ("No differences: 2 orders, gross 200.00 EUR; 1 still in progress (not fully shipped "
                              "and invoiced yet), the rest invoiced, paid and posted.")


def test_paid_differs_from_invoiced_links_the_payment_record(shop):
    fake = FakeTims()
    clean_order(fake, shop, 1, 100)
    fake.payments[0].amount.amount -= 10
    fake.drop_entry("PAY1")
    fake.entry("PAY1", debit=90, account="1150", other="1100")
    report = reconcile(shop, DAY, tims=fake, today=TODAY)
    assert kinds(report) == ["paid_total"]
    difference = report.differences[0]
    assert difference.sentence.startswith("Order R1 is under-paid: 90.00 EUR applied in TIMS against 100.00 EUR")
    payments_record = shop.sync_records.get(flow="payments")
    assert url(payments_record) in [r.url for r in difference.records]


def test_a_payment_without_a_journal_entry_links_its_journal_record(shop):
    fake = FakeTims()
    clean_order(fake, shop, 1)
    fake.drop_entry("PAY1")
    report = reconcile(shop, DAY, tims=fake, today=TODAY)
    assert kinds(report) == ["not_posted"]
    journal = shop.sync_records.get(flow="journal", source_id="payment:PAY1")
    assert url(journal) in [r.url for r in report.differences[0].records]
    assert ("find_journal_entries", "PAY1", None) in fake.calls  # missed by the window: asked by reference


def test_an_unbalanced_entry_and_an_entry_of_another_amount(shop):
    fake = FakeTims()
    clean_order(fake, shop, 1, 100)
    fake.drop_entry("INV1")
    fake.entry("INV1", debit=100, credit=99, account="1100", other="4000")
    fake.drop_entry("PAY1")
    fake.entry("PAY1", debit=95, account="1150", other="1100")
    report = reconcile(shop, DAY, tims=fake, today=TODAY)
    assert kinds(report) == ["posted_amount", "unbalanced"]
    unbalanced = next(d for d in report.differences if d.kind == "unbalanced")
    assert unbalanced.amounts == {"debits": "100.00", "credits": "99.00"}
    amount = next(d for d in report.differences if d.kind == "posted_amount")
    assert amount.amounts == {"payment": "100.00 EUR", "posted": "95.00 EUR"}


def test_dead_letters_of_the_cash_flows_for_these_orders(shop):
    fake = FakeTims()
    clean_order(fake, shop, 1)
    dead = cash_record(shop, "payments", "1:TXN-2", status=RecordStatus.DEAD)
    cash_record(shop, "payments", "99:TXN-9", status=RecordStatus.DEAD)  # another day's order
    report = reconcile(shop, DAY, tims=fake, today=TODAY)
    assert kinds(report) == ["dead_letter"]
    assert report.differences[0].records[-1].url == url(dead)
    assert "the invoice is closed" in report.differences[0].sentence


def test_an_old_day_asks_per_sales_order_and_finds_the_same(shop):
    fake = FakeTims()
    clean_order(fake, shop, 1)
    fake.drop_entry("PAY1")
    report = reconcile(shop, DAY, tims=fake, today=date(2026, 6, 1))
    assert kinds(report) == ["not_posted"]
    assert [call[0] for call in fake.calls] == ["get_sales_order", "find_invoices", "find_payments",
                                               "find_journal_entries", "find_journal_entries"]


def test_another_channels_order_in_tims_is_not_taken_for_ours(shop):
    fake = FakeTims()
    clean_order(fake, shop, 1)
    fake.orders["SO1"].extra["CustomFields"]["PortalOrderKey"] = "999:1"
    report = reconcile(shop, DAY, tims=fake, today=TODAY)
    assert kinds(report) == ["no_sales_order"]


def test_a_run_is_stored_and_a_failure_is_kept_with_its_error(shop):
    fake = FakeTims()
    clean_order(fake, shop, 1)
    stored = jobs.run_day(shop, DAY, tims=fake)
    assert stored.status == ReportStatus.OK and stored.orders_count == 1 and str(stored.paid_total) == "100.00"
    assert stored.summary.startswith("No differences: 1 order")

    class Down(FakeTims):
        def get_sales_order(self, sales_order_id):
            raise TransientError("TIMS answered 503", status=503, system="tims")

    failed = jobs.run_day(shop, DAY, tims=Down())
    assert failed.status == ReportStatus.FAILED and "TIMS answered 503" in failed.error
