"""The admin: upload a file, choose its columns from its headers with a preview, start the job, find it on the
upload's page; the second file of an integration comes with the remembered columns; a customer's user sees and
uploads only to their own organization's integrations, and only from the operator role up."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jobs import work
from jobs.models import Job
from payouts.models import LineStatus, PayoutLine, PayoutUpload, SettlementFormat
from portal.models import Membership, Role
from tests.factories import make_integration
from tests.payouts.conftest import paid_order, read

pytestmark = pytest.mark.django_db
FILE = ("\ufeffSettlement;Order;Gross;Commission;Day\r\nP-1;XKBKNABJK;100,00;12,34;01.12.2026\r\n"
        "P-1;NOPE;5;1;01.12.2026\r\n")
UPLOAD = reverse("admin:payouts_payoutupload_upload")


def choose_columns(client, upload_pk, **extra):
    return client.post(reverse("admin:payouts_payoutupload_map", args=[upload_pk]), {
        "delimiter": ";", "reference_column": "Order", "amount_column": "Gross", "fee_column": "Commission",
        "date_column": "Day", "currency_column": "", "payout_column": "Settlement", "date_format": "%d.%m.%Y",
        "decimal_comma": "on", **extra})


def send(client, integration, content=FILE, name="payout.csv"):
    return client.post(UPLOAD, {"integration": integration.pk,
                                "file": SimpleUploadedFile(name, content.encode("utf-8"), "text/csv")})


def test_upload_choose_columns_preview_start_and_the_second_time_they_are_remembered(shop, cast, login):
    paid_order(shop, "41", "XKBKNABJK")
    client = login(cast.superuser)
    assert client.get(reverse("admin:payouts_payoutupload_add")).url == UPLOAD
    page = client.get(UPLOAD)
    assert page.status_code == 200 and shop.name in page.content.decode()
    sent = send(client, shop)
    upload = PayoutUpload.objects.get()
    assert sent.url == reverse("admin:payouts_payoutupload_map", args=[upload.pk])
    mapping_page = client.get(sent.url)
    form = mapping_page.context["form"]
    assert [c for c, _ in form.fields["reference_column"].choices] == ["", "Settlement", "Order", "Gross",
                                                                        "Commission", "Day"]
    assert form.initial["delimiter"] == ";"  # sniffed from the header
    preview = choose_columns(client, upload.pk, preview="1")
    assert [(r.reference, str(r.amount), r.refusal) for r in preview.context["preview"]] == [
        ("XKBKNABJK", "100.00", ""), ("NOPE", "5.00", "")]
    assert PayoutUpload.objects.get().job is None  # a preview starts nothing
    started = choose_columns(client, upload.pk, start="1")
    job = Job.objects.get()
    assert started.url == reverse("admin:jobs_job_change", args=[job.pk])
    assert work.run(job.pk) == "done"
    upload.refresh_from_db()
    assert (upload.posted, upload.unmatched) == (1, 1)
    assert PayoutLine.objects.get(order_reference="XKBKNABJK").payout_id == "P-1"
    change = client.get(reverse("admin:payouts_payoutupload_change", args=[upload.pk])).content.decode()
    assert reverse("admin:jobs_job_change", args=[job.pk]) in change
    assert reverse("admin:payouts_payoutupload_unmatched", args=[upload.pk]) in change

    remembered = SettlementFormat.objects.get(integration=shop)
    assert (remembered.reference_column, remembered.decimal_comma, remembered.updated_by) == (
        "Order", True, cast.superuser)
    send(client, shop, name="next.csv")
    second = PayoutUpload.objects.get(file_name="next.csv")
    initial = client.get(reverse("admin:payouts_payoutupload_map", args=[second.pk])).context["form"].initial
    assert {k: initial[k] for k in ("reference_column", "amount_column", "fee_column", "date_column",
                                    "payout_column", "delimiter", "date_format", "decimal_comma")} == {
        "reference_column": "Order", "amount_column": "Gross", "fee_column": "Commission", "date_column": "Day",
        "payout_column": "Settlement", "delimiter": ";", "date_format": "%d.%m.%Y", "decimal_comma": True}


def test_a_file_that_is_not_utf8_is_refused_on_the_upload_page(shop, cast, login):
    client = login(cast.superuser)
    response = client.post(UPLOAD, {"integration": shop.pk,
                                    "file": SimpleUploadedFile("p.csv", "Réf,Montant\n".encode("latin-1"))})
    assert response.status_code == 200 and "is not UTF-8 text" in response.content.decode()
    assert not PayoutUpload.objects.exists()


def test_lines_list_unmatched_first_with_their_reason_and_their_csv(shop, cast, login):
    paid_order(shop, "41", "XKBKNABJK")
    upload = read(shop, "XKBKNABJK,100,1,2026-12-01\r\n=HYPERLINK(\"x\"),5,1,2026-12-01\r\n")
    client = login(cast.superuser)
    listed = client.get(reverse("admin:payouts_payoutline_changelist"))
    assert [line.status for line in listed.context["cl"].result_list] == [LineStatus.UNMATCHED, LineStatus.POSTED]
    assert "no order with reference" in listed.content.decode()
    only = client.get(reverse("admin:payouts_payoutline_changelist"), {"status": "posted", "upload": upload.pk})
    assert [line.status for line in only.context["cl"].result_list] == [LineStatus.POSTED]
    exported = client.get(reverse("admin:payouts_payoutupload_unmatched", args=[upload.pk]))
    text = exported.content.decode("utf-8-sig")
    assert exported["Content-Type"].startswith("text/csv")
    assert text.splitlines()[1].startswith(f"{upload.pk},3,\"'=HYPERLINK(\"\"x\"\")\",5.00,1.00,2026-12-01,")
    assert "XKBKNABJK" not in text
    journal = PayoutLine.objects.get(status=LineStatus.POSTED).journal_record
    page = client.get(reverse("admin:payouts_payoutline_change", args=[PayoutLine.objects.get(
        status=LineStatus.POSTED).pk])).content.decode()
    assert reverse("admin:integrations_syncrecord_change", args=[journal.pk]) in page


def test_match_again_from_the_lines_admin(shop, cast, login):
    from integrations.models import Link

    upload = read(shop, "XKBKNABJK,100,1,2026-12-01\r\n")
    paid_order(shop, "41", "XKBKNABJK")
    client = login(cast.superuser)
    line = upload.payout_lines.get()
    client.post(reverse("admin:payouts_payoutline_changelist"), {"action": "match_again",
                                                                 "_selected_action": [line.pk]})
    line.refresh_from_db()
    assert line.status == LineStatus.POSTED and Link.objects.filter(entity_type="payment").exists()


def test_customers_see_and_upload_only_to_their_own_integrations(shop, cast, login):
    paid_order(shop, "41", "XKBKNABJK")
    upload = read(shop, "XKBKNABJK,100,1,2026-12-01\r\n")
    theirs = make_integration(cast.org_b)
    outsider = login(cast.outsider_b)
    page = outsider.get(UPLOAD).content.decode()
    assert theirs.name in page and shop.name not in page
    refused = send(outsider, shop)
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert PayoutUpload.objects.count() == 1
    assert outsider.get(reverse("admin:payouts_payoutupload_change", args=[upload.pk])).status_code == 404
    assert outsider.get(reverse("admin:payouts_payoutupload_map", args=[upload.pk])).status_code == 404
    assert outsider.get(reverse("admin:payouts_payoutupload_unmatched", args=[upload.pk])).status_code == 404
    assert list(outsider.get(reverse("admin:payouts_payoutline_changelist")).context["cl"].result_list) == []
    assert list(outsider.get(reverse("admin:payouts_payoutupload_changelist")).context["cl"].result_list) == []

    viewer = login(cast.member_a)  # a viewer of the shop's organization looks, does not upload
    assert viewer.get(reverse("admin:payouts_payoutupload_changelist")).status_code == 200
    assert viewer.get(UPLOAD).status_code == 403

    Membership.objects.filter(user=cast.member_a).update(role=Role.OPERATOR)
    operator = login(cast.member_a)
    assert send(operator, shop).status_code == 302
    assert PayoutUpload.objects.filter(uploaded_by=cast.member_a, integration=shop).exists()
