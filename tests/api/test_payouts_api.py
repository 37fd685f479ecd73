"""Payout files through the API: uploaded (multipart) → 202 with the upload and its job → the job run here → the
lines listed with their statuses; refusals in words (file and columns), scopes and tenants, and the remembered
mapping used for the next file."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from integrations.pipeline import records
from jobs import work
from jobs.models import Job
from payouts import parsing
from payouts.models import LineStatus, PayoutUpload, SettlementFormat, UploadStatus
from tests.payouts.conftest import paid_order

pytestmark = pytest.mark.django_db

FILE = ("Order reference,Amount,Fee,Date\r\n"
        "XKBKNABJK,100.00,12.50,2026-12-01\r\n"
        "NOPE-1,20.00,2.00,2026-12-01\r\n"
        "XKBKNABJK2,abc,1.00,2026-12-01\r\n")


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    """The test is the worker: nothing is queued; jobs are run with work.run()."""
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    monkeypatch.setattr(work, "_enqueue", lambda job_id: None)


def csv_file(text=FILE, name="settlement.csv"):
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text, content_type="text/csv")


def send(client, integration, text=FILE, name="settlement.csv", **mapping):
    return client.post(f"/api/integrations/{integration.pk}/payouts/", {"file": csv_file(text, name), **mapping},
                       format="multipart")


def test_upload_answers_202_the_job_reads_it_and_the_lines_are_listed(cast, key_for, api, integration_a):
    paid_order(integration_a, "41", "XKBKNABJK")
    client = api(key_for(cast.org_a, "operate", created_by=cast.owner_a))
    response = send(client, integration_a)
    assert response.status_code == 202, response.json()
    body = response.json()
    upload = PayoutUpload.objects.get()
    assert body["upload"]["id"] == upload.pk and body["upload"]["file_name"] == "settlement.csv"
    assert body["upload"]["status"] == UploadStatus.QUEUED and body["upload"]["lines"] == 0
    assert body["job"]["id"] == upload.job_id and body["job"]["status"] == "queued"
    assert body["job"]["progress_url"] == f"/admin/jobs/job/{upload.job_id}/progress/"
    assert f"/api/payouts/{upload.pk}/" in body["detail"]
    assert upload.uploaded_by == cast.owner_a and upload.mapping["reference_column"] == "Order reference"
    assert Job.objects.get(pk=upload.job_id).started_by == cast.owner_a

    assert work.run(upload.job_id) == "done"
    detail = client.get(f"/api/payouts/{upload.pk}/").json()
    assert (detail["status"], detail["lines"], detail["posted"], detail["unmatched"], detail["refused"]) == (
        "done", 3, 1, 1, 1)
    assert detail["summary"] == "3 lines: 1 posted, 0 matched but not posted, 1 unmatched, 1 refused, 0 duplicates."
    assert detail["job"]["status"] == "done" and detail["job"]["percent"] == 100

    lines = client.get(f"/api/payouts/{upload.pk}/lines/").json()
    assert [(line["row"], line["status"]) for line in lines["results"]] == [
        (2, LineStatus.POSTED), (3, LineStatus.UNMATCHED), (4, LineStatus.REFUSED)]
    posted = lines["results"][0]
    assert (posted["order_reference"], posted["amount"], posted["fee"], posted["date"], posted["order_id"],
            posted["sales_order_id"]) == ("XKBKNABJK", "100.00", "12.50", "2026-12-01", "41", "SO-41")
    unmatched = client.get(f"/api/payouts/{upload.pk}/lines/", {"status": "unmatched"}).json()["results"]
    assert [line["order_reference"] for line in unmatched] == ["NOPE-1"] and unmatched[0]["reason"]
    paged = client.get(f"/api/payouts/{upload.pk}/lines/", {"page_size": 2}).json()
    assert len(paged["results"]) == 2 and paged["next"]
    assert [line["row"] for line in client.get(paged["next"]).json()["results"]] == [4]

    listed = client.get(f"/api/integrations/{integration_a.pk}/payouts/").json()["results"]
    assert [(u["id"], u["status"], u["fees_total"], u["job"]["id"]) for u in listed] == [
        (upload.pk, "done", "14.50", upload.job_id)]  # fees of every line read


def test_uploads_are_listed_newest_first_and_filtered_by_status(cast, key_for, api, integration_a):
    client = api(key_for(cast.org_a, "operate"))
    first = send(client, integration_a, name="one.csv").json()["upload"]["id"]
    work.run(PayoutUpload.objects.get(pk=first).job_id)
    second = send(client, integration_a, name="two.csv").json()["upload"]["id"]
    reader = api(key_for(cast.org_a, "read"))
    url = f"/api/integrations/{integration_a.pk}/payouts/"
    assert [u["id"] for u in reader.get(url).json()["results"]] == [second, first]
    assert [u["id"] for u in reader.get(url, {"status": "done"}).json()["results"]] == [first]
    assert reader.get(url, {"sort": "x"}).status_code == 400


def test_a_bad_file_is_a_400_that_says_why_and_keeps_nothing(cast, key_for, api, integration_a, monkeypatch):
    client = api(key_for(cast.org_a, "operate"))
    latin = send(client, integration_a, text="Réf,Montant\n".encode("latin-1"))
    assert latin.status_code == 400 and "is not UTF-8 text" in latin.json()["detail"]
    assert "Save it as “CSV UTF-8”" in latin.json()["errors"]["file"][0]
    assert "is empty" in send(client, integration_a, text="  \n").json()["detail"]
    monkeypatch.setattr(parsing, "MAX_BYTES", 100)
    big = send(client, integration_a, text=FILE * 3)
    assert big.status_code == 400 and "at most" in big.json()["detail"]
    monkeypatch.setattr(parsing, "MAX_BYTES", 10 * 1024 * 1024)
    monkeypatch.setattr(parsing, "MAX_ROWS", 2)
    many = send(client, integration_a)
    assert many.status_code == 400 and "more than 2 lines" in many.json()["detail"]
    missing = client.post(f"/api/integrations/{integration_a.pk}/payouts/", {}, format="multipart")
    assert missing.status_code == 400 and "file" in missing.json()["errors"]
    as_json = client.post(f"/api/integrations/{integration_a.pk}/payouts/", {"file": "x"}, format="json")
    assert as_json.status_code == 415
    assert not PayoutUpload.objects.exists() and not SettlementFormat.objects.exists()


def test_a_mapping_that_is_incomplete_or_names_missing_columns_is_a_400_naming_them(cast, key_for, api,
                                                                                      integration_a):
    client = api(key_for(cast.org_a, "operate"))
    unguessable = "Ref,Value,Cut,When\r\nA,1,0,2026-12-01\r\n"
    response = send(client, integration_a, text=unguessable)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"reference_column", "amount_column", "fee_column", "date_column"}
    assert "headers are: Ref, Value, Cut, When" in errors["fee_column"][0]
    wrong = send(client, integration_a, text=unguessable, reference_column="Ref", amount_column="Value",
                 fee_column="Fee", date_column="When")
    assert wrong.status_code == 400 and set(wrong.json()["errors"]) == {"fee_column"}
    assert "The file has no column “Fee”" in wrong.json()["detail"]
    twice = send(client, integration_a, text=unguessable, reference_column="Ref", amount_column="Value",
                 fee_column="Value", date_column="When")
    assert twice.status_code == 400 and "chosen twice" in twice.json()["detail"]
    bad_choice = send(client, integration_a, delimiter="x")
    assert bad_choice.status_code == 400 and "delimiter" in bad_choice.json()["errors"]
    assert not PayoutUpload.objects.exists()

    named = send(client, integration_a, text=unguessable, reference_column="Ref", amount_column="Value",
                 fee_column="Cut", date_column="When")
    assert named.status_code == 202, named.json()
    assert named.json()["upload"]["mapping"]["fee_column"] == "Cut"


def test_the_remembered_mapping_is_used_for_the_next_file(cast, key_for, api, integration_a):
    paid_order(integration_a, "41", "XKBKNABJK")
    client = api(key_for(cast.org_a, "operate"))
    european = "Bestellung;Brutto;Provision;Tag;Auszahlung\r\nXKBKNABJK;100,00;12,50;01.12.2026;P-1\r\n"
    first = send(client, integration_a, text=european, reference_column="Bestellung", amount_column="Brutto",
                 fee_column="Provision", date_column="Tag", payout_column="Auszahlung", delimiter=";",
                 date_format="%d.%m.%Y", decimal_comma="true")
    assert first.status_code == 202, first.json()
    remembered = SettlementFormat.objects.get(integration=integration_a)
    assert (remembered.reference_column, remembered.delimiter, remembered.decimal_comma) == ("Bestellung", ";", True)

    again = "Bestellung;Brutto;Provision;Tag;Auszahlung\r\nXKBKNABJK;100,00;12,50;02.12.2026;P-2\r\n"
    second = send(client, integration_a, text=again, name="next.csv")  # no mapping: the remembered one
    assert second.status_code == 202, second.json()
    assert second.json()["upload"]["mapping"] == remembered.mapping()
    upload = PayoutUpload.objects.get(file_name="next.csv")
    assert work.run(upload.job_id) == "done"
    line = client.get(f"/api/payouts/{upload.pk}/lines/").json()["results"][0]
    assert (line["amount"], line["fee"], line["date"], line["payout_id"]) == ("100.00", "12.50", "2026-12-02", "P-2")

    changed = send(client, integration_a, text=again, name="third.csv", decimal_comma="false")
    assert changed.json()["upload"]["mapping"]["decimal_comma"] is False  # what is named overrides, the rest stays
    assert changed.json()["upload"]["mapping"]["delimiter"] == ";"
    assert SettlementFormat.objects.get(integration=integration_a).decimal_comma is False


def test_a_read_key_and_a_viewer_cannot_upload_but_may_look(cast, key_for, api, integration_a):
    operator = api(key_for(cast.org_a, "operate"))
    upload_id = send(operator, integration_a).json()["upload"]["id"]
    reader = api(key_for(cast.org_a, "read"))
    refused = send(reader, integration_a)
    assert refused.status_code == 403 and "operate" in refused.json()["detail"]
    viewer = api(user=cast.member_a)
    assert send(viewer, integration_a).status_code == 403
    assert PayoutUpload.objects.count() == 1
    for client in (reader, viewer):
        assert client.get(f"/api/integrations/{integration_a.pk}/payouts/").status_code == 200
        assert client.get(f"/api/payouts/{upload_id}/").status_code == 200
        assert client.get(f"/api/payouts/{upload_id}/lines/").status_code == 200


def test_another_tenants_integration_and_uploads_are_404(cast, key_for, api, integration_a, integration_b):
    theirs = send(api(key_for(cast.org_b, "operate")), integration_b).json()["upload"]["id"]
    for client in (api(key_for(cast.org_a, "admin")), api(user=cast.owner_a)):
        assert send(client, integration_b).status_code == 404
        assert client.get(f"/api/integrations/{integration_b.pk}/payouts/").status_code == 404
        assert client.get(f"/api/payouts/{theirs}/").status_code == 404
        assert client.get(f"/api/payouts/{theirs}/lines/").status_code == 404
    assert client.get("/api/payouts/notanumber/").status_code == 404
    assert PayoutUpload.objects.filter(integration=integration_b).count() == 1
    staff = api(key_for(None, "read"))
    assert staff.get(f"/api/payouts/{theirs}/").status_code == 200  # a staff key sees every organization's
