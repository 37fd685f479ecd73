"""Orders the portal imported, their TIMS links, and uploads read by the test (the test is the worker)."""

import pytest

from integrations.models import Link, SyncRecord
from integrations.pipeline import records
from jobs import work
from payouts import jobs, parsing
from payouts.models import PayoutUpload
from tests.factories import make_integration

HEADER = "Order reference,Amount,Fee,Date\r\n"
MAPPING = {"reference_column": "Order reference", "amount_column": "Amount", "fee_column": "Fee",
           "date_column": "Date", "currency_column": "", "payout_column": "", "delimiter": ",",
           "date_format": "%Y-%m-%d", "decimal_comma": False}


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    monkeypatch.setattr(work, "_enqueue", lambda job_id: None)


@pytest.fixture
def shop(cast):
    return make_integration(cast.org_a)


def order(integration, source_id, number, currency="USD", sales_order="", payments=(), method="Payments by check"):
    """An imported order; with a sales order id it is in TIMS, with payments (transaction, PaymentID) paid there."""
    record = SyncRecord.objects.create(
        organization_id=integration.organization_id, integration=integration, flow="orders", entity_type="order",
        source_system=integration.channel_connection.kind, source_id=source_id, business_key=f"o{source_id}",
        reference=number, status="succeeded",
        source_payload={"number": number, "currency": currency, "total": {"amount": "100.00", "currency": currency},
                        "payment_method": method, "extra": {}})
    if sales_order:
        Link.objects.create(integration=integration, entity_type="order", source_id=source_id, target_id=sales_order)
    for transaction_id, payment_id in payments:
        Link.objects.create(integration=integration, entity_type="payment",
                            source_id=f"{source_id}:{transaction_id}:INV-{source_id}", target_id=payment_id)
    return record


def paid_order(integration, source_id, number, **extra):
    return order(integration, source_id, number, sales_order=f"SO-{source_id}",
                 payments=[(f"T{source_id}", f"PAY-{source_id}")], **extra)


def read(integration, body, mapping=None, user=None, header=HEADER):
    """Upload a file and run its job here; returns the upload, fresh."""
    upload = PayoutUpload.objects.create(integration=integration, file_name="payout.csv",
                                         content=parsing.read_text((header + body).encode()),
                                         mapping=mapping or MAPPING, uploaded_by=user)
    job = jobs.start(upload, user)
    assert work.run(job.pk) == "done"
    upload.refresh_from_db()
    return upload
