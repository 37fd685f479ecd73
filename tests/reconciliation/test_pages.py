"""The pages: days with their status, a day's columns and differences with links, CSV, Reconcile now as a job;
tenants never see each other's; and the alert rule that fires on differences and resolves on a clean day."""

from datetime import date, datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from alerts import evaluate
from alerts.models import Alert, AlertKind, AlertRule
from integrations.connectors import checks
from integrations.models import RecordStatus
from jobs import work
from jobs.models import Job, JobStatus
from reconciliation import jobs
from reconciliation.models import ReconciliationReport, ReportStatus
from tests.factories import make_integration
from tests.reconciliation.helpers import PARIS, FakeTims, clean_order, order_record

DAY = date(2026, 3, 2)


@pytest.fixture
def shop(cast):
    return make_integration(cast.org_a)


@pytest.fixture
def day_with_a_difference(shop):
    fake = FakeTims()
    clean_order(fake, shop, 1)
    dead = order_record(shop, "7", 25, status=RecordStatus.DEAD)
    return jobs.run_day(shop, DAY, tims=fake), dead


def day_url(integration, day=DAY):
    return reverse("admin:reconciliation_day", args=[integration.pk, day.isoformat()])


def test_the_day_page_shows_the_columns_and_each_difference_with_its_record(cast, login, shop,
                                                                           day_with_a_difference):
    report, dead = day_with_a_difference
    page = login(cast.operations).get(day_url(shop)).content.decode()
    assert "1 difference in 2 orders (gross 125.00 EUR)." in page
    assert "Order without a TIMS sales order" in page
    assert reverse("admin:integrations_syncrecord_change", args=[dead.pk]) in page
    assert "Channel orders" in page and "Posted to the GL" in page and "125.00" in page
    assert "Europe/Paris" in page and 'value="Reconcile this day again"' in page


def test_a_clean_day_says_so_on_the_page_and_in_the_csv(cast, login, shop):
    fake = FakeTims()
    clean_order(fake, shop, 1)
    jobs.run_day(shop, DAY, tims=fake)
    client = login(cast.owner_a)
    assert "No differences: 1 order, gross 100.00 EUR, all invoiced, paid and posted." in \
        client.get(day_url(shop)).content.decode()
    csv = client.get(reverse("admin:reconciliation_day_csv", args=[shop.pk, DAY.isoformat()])).content.decode()
    lines = csv.lstrip("\ufeff").splitlines()
    assert lines[0] == "integration,day,status,kind,order,reference,difference,amounts,records,what to do"
    assert lines[1].startswith(f"{shop.name},2026-03-02,ok,,,,\"No differences: 1 order, gross 100.00 EUR")


def test_the_csv_lists_each_difference_with_amounts_and_record_links(cast, login, shop, day_with_a_difference):
    _, dead = day_with_a_difference
    response = login(cast.superuser).get(reverse("admin:reconciliation_range_csv", args=[shop.pk])
                                         + "?from=2026-03-01&to=2026-03-03")
    assert response["Content-Disposition"].endswith(f'reconciliation-{shop.pk}-2026-03-01-to-2026-03-03.csv"')
    text = response.content.decode()
    assert "differences,no_sales_order,7,R7," in text
    assert "channel: 25.00 EUR; TIMS: —" in text
    assert f"http://testserver/admin/integrations/syncrecord/{dead.pk}/change/" in text


def test_the_days_list_shows_each_day_with_its_status(cast, login, shop, day_with_a_difference):
    yesterday = jobs.yesterday_of(shop)
    fake = FakeTims()
    jobs.run_day(shop, yesterday, tims=fake)
    page = login(cast.member_a).get(reverse("admin:reconciliation_days", args=[shop.pk])).content.decode()
    assert yesterday.strftime("%Y-%m-%d") in page and "No channel orders that day" in page
    assert "not reconciled" in page
    assert 'id="reconcile-now"' not in page  # a viewer looks, does not run
    changelist = login(cast.member_a).get(reverse("admin:reconciliation_reconciliationreport_changelist"))
    assert reverse("admin:reconciliation_days", args=[shop.pk]) in changelist.content.decode()


def test_other_tenants_get_404_and_a_viewer_may_not_run(cast, login, shop, day_with_a_difference):
    client = login(cast.outsider_b)
    for url in (reverse("admin:reconciliation_days", args=[shop.pk]), day_url(shop),
                reverse("admin:reconciliation_day_csv", args=[shop.pk, DAY.isoformat()]),
                reverse("admin:reconciliation_range_csv", args=[shop.pk])):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("admin:reconciliation_run", args=[shop.pk]), {"day": "2026-03-02"}).status_code == 404
    listing = client.get(reverse("admin:reconciliation_reconciliationreport_changelist")).content.decode()
    assert shop.name not in listing
    viewer = login(cast.member_a)
    assert viewer.post(reverse("admin:reconciliation_run", args=[shop.pk]), {"day": "2026-03-02"}).status_code == 403
    assert not Job.objects.exists()


def test_reconcile_now_runs_as_a_job_and_the_day_page_shows_its_report(cast, login, shop, monkeypatch,
                                                                        django_capture_on_commit_callbacks):
    fake = FakeTims()
    clean_order(fake, shop, 1)
    monkeypatch.setattr(checks, "client_for", lambda connection, **kwargs: fake)
    monkeypatch.setattr(work, "_enqueue", lambda job_id: None)
    response = login(cast.owner_a).post(reverse("admin:reconciliation_run", args=[shop.pk]),
                                        {"day_from": "2026-03-01", "day_to": "2026-03-02"})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:jobs_job_change", args=[job.pk])
    assert job.arguments["days"] == ["2026-03-01", "2026-03-02"] and job.organization == cast.org_a
    assert work.run(job.pk) == "done"
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.done == job.total == 10
    assert "2026-03-02: No differences: 1 order" in job.result
    assert ReconciliationReport.objects.filter(integration=shop).count() == 2
    tomorrow = timezone.localdate() + timedelta(days=2)
    refused = login(cast.owner_a).post(reverse("admin:reconciliation_run", args=[shop.pk]),
                                       {"day": tomorrow.isoformat()})
    assert refused.status_code == 302 and Job.objects.count() == 1


def test_the_nightly_run_reconciles_yesterday_once_per_live_integration(cast, shop, monkeypatch):
    fake = FakeTims()
    monkeypatch.setattr(checks, "client_for", lambda connection, **kwargs: fake)
    shop.state = "live"
    shop.save()
    make_integration(cast.org_b)  # a draft: not reconciled
    assert jobs.reconcile_yesterday() == 1
    assert jobs.reconcile_yesterday() == 0
    assert ReconciliationReport.objects.get().day == jobs.yesterday_of(shop)


def test_the_alert_fires_on_differences_and_resolves_on_a_later_clean_day(cast, shop, day_with_a_difference,
                                                                            settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    rule = AlertRule.objects.create(organization=cast.org_a, name="Reconciliation differences",
                                    kind=AlertKind.CASH_RECONCILIATION, threshold=1, emails="ops@example.com")
    other = AlertRule.objects.create(organization=cast.org_b, name="Theirs", kind=AlertKind.CASH_RECONCILIATION)
    assert evaluate.run()[rule.pk] == (1, 0)
    alert = Alert.objects.get(rule=rule)
    assert alert.url == day_url(shop) and alert.subject == f"integration:{shop.pk}"
    assert alert.message == (f"The reconciliation of {shop.name} for 2026-03-02 found 1 difference: "
                             "1 × order without a TIMS sales order.")
    assert len(mail.outbox) == 1 and not other.alerts.exists()

    fake = FakeTims()
    clean_order(fake, shop, 5, at=datetime(2026, 3, 3, 9, 0, tzinfo=PARIS))
    later = jobs.run_day(shop, DAY + timedelta(days=1), tims=fake)
    assert later.status == ReportStatus.OK and later.orders_count == 1
    assert evaluate.run()[rule.pk] == (0, 1)
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_a_failed_run_fires_too(cast, shop):
    rule = AlertRule.objects.create(organization=cast.org_a, name="R", kind=AlertKind.CASH_RECONCILIATION)
    ReconciliationReport.objects.create(integration=shop, day=DAY, computed_at=timezone.now(),
                                        status=ReportStatus.FAILED, error="CircuitOpen: calls to TIMS are paused")
    evaluate.run()
    assert "could not run: CircuitOpen" in Alert.objects.get(rule=rule).message
