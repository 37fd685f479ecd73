"""Order-to-cash, the cash side, end to end over real HTTP against the sandboxes: a shipment becomes a TIMS invoice,
the channel's payment is applied to it, and each posts one balanced journal entry, counted through TIMS's own API;
lost answers, the invoicing policies, bad money and a posting rule that points nowhere."""

from decimal import Decimal

import pytest

from finance.models import PostingRule
from finance.rules import ensure_default_rules
from integrations.connectors import errors
from integrations.connectors.checks import client_for
from integrations.connectors.tims.client import TimsClient
from integrations.models import RecordStatus, SyncRecord
from integrations.pipeline import actions, records
from integrations.pipeline.timeline import timeline
from sandbox.prestashop.models import Currency, Order, OrderPayment
from tests.integrations.flows.test_channeladvisor_orders import connect_marketplace
from tests.integrations.flows.test_fulfillment import import_orders, new_sandbox, split
from tests.integrations.flows.test_prestashop_orders import connect_shop, work_off

pytestmark = pytest.mark.django_db(transaction=True)
FLOWS = ["orders", "shipments", "invoices", "payments", "journal"]


def with_cash(integration, sandbox, **options):
    integration.flows = FLOWS
    integration.options = {**integration.options, **options}
    integration.save()
    ensure_default_rules(integration)
    world = import_orders(integration, sandbox)
    world.tims = client_for(integration.tims_connection)
    return world


@pytest.fixture
def shop(live_server, cast, monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)  # the test drives the workers itself
    sandbox, secrets, made = new_sandbox(live_server, "cash-ps", "prestashop", 4, 5, customers=3,
                                         state="Payment accepted")
    return with_cash(connect_shop(cast, sandbox, secrets, made["timezone"]), sandbox)


@pytest.fixture
def marketplace(live_server, cast, monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    sandbox, secrets, _ = new_sandbox(live_server, "cash-ca", "channeladvisor", 6, 8, customers=0, state=None)
    integration, _ = connect_marketplace(cast, sandbox, secrets)
    return with_cash(integration, sandbox)


def books(world, sales_order):
    """What TIMS holds for one sales order: its total, invoices, payments and every entry, read over its API."""
    tims = world.tims
    order = tims.get_sales_order(sales_order)
    invoices = tims.find_invoices(sales_order_id=sales_order)
    payments = [p for i in invoices for p in tims.find_payments(invoice_id=i.source_id)]
    entries = {ref: tims.find_journal_entries(reference=ref)
               for ref in [i.source_id for i in invoices] + [p.source_id for p in payments]}
    return order, invoices, payments, entries


def total(items, attribute="total"):
    return sum((getattr(item, attribute).amount for item in items), Decimal("0"))


def cash_records(world, flow, **filters):
    return SyncRecord.objects.filter(integration=world.integration, flow=flow, **filters)


def assert_settled(world, sales_order, invoices=None):
    order, found, payments, entries = books(world, sales_order)
    assert invoices is None or len(found) == invoices
    assert total(found) == order.total.amount  # the parts add up to the order
    assert total(payments, "amount") == order.total.amount and all(i.balance.amount == 0 for i in found)
    assert all(len(posted) == 1 for posted in entries.values()), entries  # one entry per document
    for (posted,) in entries.values():
        assert posted.debits == posted.credits and posted.debits > 0
    return order, found, payments, entries


# --- invoices, payments and entries, each once ----------------------------------------------------------------

def test_each_shipment_is_invoiced_paid_and_posted_once_and_the_parts_add_up(shop):
    order_id, sales_order = shop.multi_line_order()
    first, rest = split(shop.lines(sales_order))
    shop.ship(sales_order, first, tracking="1ZFIRST0001")
    _, invoices, payments, _ = books(shop, sales_order)
    assert len(invoices) == 1 and invoices[0].shipment_id and len(payments) == 1
    assert payments[0].amount == invoices[0].total and payments[0].reference.startswith("TX")

    shop.ship(sales_order, rest, tracking="1ZSECOND002")
    order, invoices, payments, entries = assert_settled(shop, sales_order, invoices=2)
    assert {p.reference for p in payments} == {payments[0].reference}  # one transaction, applied to both
    assert len(entries) == 4

    # The order's page tells the story on to the money.
    order_record = cash_records(shop, "orders", source_id=order_id).first()
    story = [(step.system, step.what) for step in timeline(order_record)]
    assert sum(what.startswith("Invoice IN") for _, what in story) == 2
    assert sum(what.startswith("Journal entry JE") for _, what in story) == 4
    assert any(system == "TIMS" and "payment(s) applied now" in what for system, what in story)

    # Replays write nothing: every flow asks TIMS before it writes.
    SyncRecord.objects.filter(flow__in=["invoices", "payments", "journal"]).update(
        status=RecordStatus.RETRYING, next_attempt_at=None, sent_at=None)
    work_off()
    assert books(shop, sales_order)[1:] == (invoices, payments, entries)
    assert not cash_records(shop, "invoices").exclude(status=RecordStatus.SUCCEEDED).exists()


def test_marketplace_payments_post_to_the_marketplace_clearing_account(marketplace):
    order_id, sales_order = sorted(marketplace.orders.items())[0]
    marketplace.ship(sales_order, tracking="1ZMARKET001")
    _, invoices, payments, entries = assert_settled(marketplace, sales_order, invoices=1)
    (payment,) = payments
    (entry,) = entries[payment.source_id]
    assert [(line.account, line.debit) for line in entry.lines if line.debit] == [("1160", payment.amount.amount)]
    (invoice_entry,) = entries[invoices[0].source_id]
    assert "4010" in {line.account for line in invoice_entry.lines}  # marketplace revenue


@pytest.mark.parametrize("method", ["create_invoice", "create_payment", "post_journal_entry"])
def test_a_lost_answer_after_tims_committed_writes_nothing_twice(shop, monkeypatch, method):
    order_id, sales_order = sorted(shop.orders.items())[0]
    real, lost = getattr(TimsClient, method), []

    def write_then_lose(self, *args, **kwargs):
        done = real(self, *args, **kwargs)
        if not lost:
            lost.append(done)
            raise errors.TransientError("The answer was lost.", system="TIMS")
        return done

    monkeypatch.setattr(TimsClient, method, write_then_lose)
    shop.ship(sales_order, tracking="1ZLOSTANSWER")
    assert lost
    assert_settled(shop, sales_order, invoices=1)
    retried = SyncRecord.objects.filter(flow__in=["invoices", "payments", "journal"], attempts__gt=1)
    assert retried.count() == 1 and retried.get().status == RecordStatus.SUCCEEDED


# --- the invoicing policies -----------------------------------------------------------------------------------

def test_fully_shipped_policy_invoices_the_whole_order_once_after_its_last_shipment(shop):
    shop.integration.options = {**shop.integration.options, "invoice_on": "fully_shipped"}
    shop.integration.save()
    order_id, sales_order = shop.multi_line_order()
    first, rest = split(shop.lines(sales_order))
    shop.ship(sales_order, first, tracking="1ZPART00001")
    assert shop.tims.find_invoices(sales_order_id=sales_order) == []
    assert "not fully shipped" in cash_records(shop, "invoices").get().notes
    shop.ship(sales_order, rest, tracking="1ZPART00002")
    _, (invoice,), _, _ = assert_settled(shop, sales_order, invoices=1)
    assert invoice.shipment_id == ""


def test_import_policy_invoices_and_takes_the_payment_at_import(live_server, cast, monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    sandbox, secrets, made = new_sandbox(live_server, "cash-import", "prestashop", 3, 6, customers=2,
                                         state="Payment accepted")
    world = with_cash(connect_shop(cast, sandbox, secrets, made["timezone"]), sandbox, invoice_on="import")
    for sales_order in world.orders.values():
        assert_settled(world, sales_order, invoices=1)


def test_an_unknown_policy_is_a_dead_letter_that_names_the_choices(shop):
    shop.integration.options = {**shop.integration.options, "invoice_on": "someday"}
    shop.integration.save()
    order_id, sales_order = sorted(shop.orders.items())[0]
    shop.ship(sales_order, tracking="1ZPOLICY001")
    shipment = cash_records(shop, "shipments").get()
    assert shipment.status == RecordStatus.DEAD and "invoice_on" in shipment.suggested_fix
    assert shop.tims.find_invoices(sales_order_id=sales_order) == []


# --- bad money is for a person, never forced ------------------------------------------------------------------

def shop_payment(world, order_id):
    reference = Order.objects.get(sandbox=world.sandbox, pk=order_id).reference
    return OrderPayment.objects.get(sandbox=world.sandbox, order_reference=reference)


def test_an_overpayment_is_held_with_the_amounts_side_by_side_and_nothing_applied(shop):
    order_id, sales_order = sorted(shop.orders.items())[0]
    payment = shop_payment(shop, order_id)
    payment.amount += Decimal("5.00")
    payment.save()
    shop.ship(sales_order, tracking="1ZOVERPAID1")
    held = cash_records(shop, "payments").get(status=RecordStatus.DEAD)
    assert held.error_class == "business_hold" and "more than" in held.error_message
    amounts = held.error_details["amounts"]
    assert Decimal(amounts["paid on the channel"]) - Decimal(amounts["invoiced in TIMS"]) == Decimal("5.00")
    (invoice,) = shop.tims.find_invoices(sales_order_id=sales_order)
    assert shop.tims.find_payments(invoice_id=invoice.source_id) == [] and invoice.balance == invoice.total
    assert len(shop.tims.find_journal_entries(reference=invoice.source_id)) == 1  # the invoice still posts


@pytest.mark.parametrize("change, words", [
    ({"amount": Decimal("10.005")}, "more than two decimals"),
    ({"currency": True}, "but the TIMS sales order is in"),
])
def test_bad_channel_money_is_a_dead_letter_before_anything_is_applied(shop, change, words):
    order_id, sales_order = sorted(shop.orders.items())[0]
    payment = shop_payment(shop, order_id)
    if "amount" in change:
        payment.amount = change["amount"]
    else:
        payment.id_currency = Currency.objects.filter(sandbox=shop.sandbox).exclude(pk=payment.id_currency).first().pk
    payment.save()
    shop.ship(sales_order, tracking="1ZBADMONEY1")
    dead = cash_records(shop, "payments").get(status=RecordStatus.DEAD)
    assert words in dead.error_message and dead.suggested_fix
    (invoice,) = shop.tims.find_invoices(sales_order_id=sales_order)
    assert shop.tims.find_payments(invoice_id=invoice.source_id) == []


# --- posting rules ------------------------------------------------------------------------------------------

def test_a_rule_pointing_at_a_missing_account_is_a_dead_letter_naming_it_and_posts_once_fixed(shop, cast):
    rule = PostingRule.objects.get(rules__integration=shop.integration, kind="revenue", key="prestashop")
    rule.account = "4999"
    rule.save()
    order_id, sales_order = sorted(shop.orders.items())[0]
    shop.ship(sales_order, tracking="1ZRULES0001")
    (invoice,) = shop.tims.find_invoices(sales_order_id=sales_order)
    dead = cash_records(shop, "journal", source_id=f"invoice:{invoice.source_id}").get()
    assert dead.status == RecordStatus.DEAD and "4999" in dead.error_message
    assert dead.error_details["accounts"] == ["4999"] and "posting rule" in dead.suggested_fix
    assert shop.tims.find_journal_entries(reference=invoice.source_id) == []  # never half-posted

    rule.account = "4000"
    rule.save()
    actions.retry(SyncRecord.objects.filter(pk=dead.pk), cast.operations)
    work_off()
    assert len(shop.tims.find_journal_entries(reference=invoice.source_id)) == 1


def test_an_unknown_policy_is_refused_when_the_integration_is_saved(shop):
    from django.core.exceptions import ValidationError

    shop.integration.options = {**shop.integration.options, "invoice_on": "someday"}
    with pytest.raises(ValidationError, match="invoice_on must be one of: shipment, fully_shipped, import"):
        shop.integration.full_clean()


def test_a_day_whose_orders_all_shipped_reconciles_to_the_cent(marketplace):
    from django.utils import timezone

    from reconciliation.compute import reconcile, zone_of

    for sales_order in marketplace.orders.values():
        marketplace.ship(sales_order, tracking=f"1Z{sales_order}")
    day = timezone.localdate(timezone=zone_of(marketplace.integration))
    report = reconcile(marketplace.integration, day)
    assert report.differences == [] and report.in_progress == []
    assert report.invoices.count == len(marketplace.orders) and report.payments.total == report.invoices.total
    assert report.journal.count == 2 * len(marketplace.orders)  # an entry per invoice and per payment


def test_a_marketplace_settlement_posts_its_fees_once_and_the_day_still_reconciles(marketplace, cast, monkeypatch):
    from django.utils import timezone

    from jobs import work
    from payouts import forms, jobs, parsing
    from payouts.models import LineStatus, PayoutUpload
    from reconciliation.compute import reconcile, zone_of
    from sandbox.channeladvisor.settlement import settlement_csv

    monkeypatch.setattr(work, "_enqueue", lambda job_id: None)  # the test is the worker
    for sales_order in marketplace.orders.values():
        marketplace.ship(sales_order, tracking=f"1Z{sales_order}")
    text = parsing.read_text(settlement_csv(marketplace.sandbox, fee_percent=Decimal("15")).encode())
    mapping = forms.initial_mapping(parsing.headers(text, ","), None, ",")
    assert (mapping["reference_column"], mapping["fee_column"], mapping["payout_column"]) == (
        "order-id", "fee", "settlement-id")  # guessed from the header words
    mapping["date_format"] = "%Y-%m-%d"
    unknown = f"{text.splitlines()[1].split(',')[0]},2026-12-04,NEVER-SEEN,Amazon,EUR,10.00,1.50\n"
    upload = PayoutUpload.objects.create(integration=marketplace.integration, file_name="settlement.csv",
                                         content=text + unknown, mapping=mapping, uploaded_by=cast.operations)
    assert work.run(jobs.start(upload, cast.operations).pk) == "done"
    work_off()

    lines = {line.order_reference: line for line in upload.payout_lines.all()}
    assert lines["NEVER-SEEN"].status == LineStatus.UNMATCHED and "no order" in lines["NEVER-SEEN"].reason
    posted = [line for ref, line in lines.items() if ref != "NEVER-SEEN"]
    assert len(posted) == len(marketplace.orders) and all(line.status == LineStatus.POSTED for line in posted)
    for line in posted:
        (entry,) = marketplace.tims.find_journal_entries(reference=f"PAYOUT-{upload.pk}-{line.number}")
        assert entry.debits == entry.credits == line.amount
        assert {(x.account, x.debit or -x.credit) for x in entry.lines} == {
            ("1000", line.amount - line.fee), ("6100", line.fee), ("1160", -line.amount)}

    # The same file again finds every line posted already: nothing is posted twice.
    again = PayoutUpload.objects.create(integration=marketplace.integration, file_name="settlement.csv",
                                        content=text, mapping=mapping, uploaded_by=cast.operations)
    assert work.run(jobs.start(again, cast.operations).pk) == "done"
    work_off()
    assert again.payout_lines.filter(status=LineStatus.DUPLICATE).count() == len(posted)
    for line in posted:
        assert len(marketplace.tims.find_journal_entries(reference=f"PAYOUT-{upload.pk}-{line.number}")) == 1

    day = timezone.localdate(timezone=zone_of(marketplace.integration))
    assert reconcile(marketplace.integration, day).differences == []
