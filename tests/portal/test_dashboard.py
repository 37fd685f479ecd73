"""The day at a glance: counts and charts per integration from the records' own times, scoped to the user's
organizations; in a real browser, the dashboard's charts drawn with data."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from integrations.connectors.models import BreakerState, CircuitBreaker
from integrations.models import PollState, RecordStatus, SyncRecord
from integrations.pipeline import records
from integrations.pipeline.causes import cause_of
from portal import dashboard
from tests.factories import make_integration

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)


def make(integration, n, status, finished_hours_ago=None, message="", start=0):
    now = timezone.now()
    for index in range(start, start + n):
        record, _ = records.receive(integration, flow="orders", entity_type="order", source_id=f"{status}{index}")
        changes = {"status": status}
        if finished_hours_ago is not None:
            changes["finished_at"] = now - timedelta(hours=finished_hours_ago)
        if message:
            changes.update(error_message=message, error_cause=cause_of(message), updated_at=now)
        SyncRecord.objects.filter(pk=record.pk).update(**changes)


def world(cast):
    shop = make_integration(cast.org_a, name="Shop")
    make(shop, 5, RecordStatus.SUCCEEDED, finished_hours_ago=1)
    make(shop, 2, RecordStatus.SUCCEEDED, finished_hours_ago=30, start=10)  # yesterday: in the week, not the day
    make(shop, 3, RecordStatus.DEAD, finished_hours_ago=2, message="SKU “X-1” in order 4 does not exist in TIMS")
    make(shop, 4, RecordStatus.PENDING, start=20)
    other = make_integration(cast.org_b, name="Other company's")
    make(other, 6, RecordStatus.SUCCEEDED, finished_hours_ago=1, start=40)
    return shop, other


def test_each_integration_shows_its_day_and_customers_see_their_own(cast):
    shop, other = world(cast)
    rows = {row["integration"].name: row for row in dashboard.integration_summaries(cast.operations)}
    assert set(rows) == {"Shop", "Other company's"}
    assert (rows["Shop"]["received"], rows["Shop"]["succeeded"], rows["Shop"]["waiting"], rows["Shop"]["dead"]) == \
        (14, 5, 4, 3)
    assert rows["Shop"]["chart"].count('fill="#2e7d32"') == 1 and rows["Shop"]["chart"].count('fill="#c62828"') == 1
    assert "5 succeeded, 0 dead" in rows["Shop"]["chart"]
    assert [row["integration"].name for row in dashboard.integration_summaries(cast.owner_a)] == ["Shop"]


def test_the_week_and_the_causes(cast):
    world(cast)
    week = dashboard.week_chart(cast.owner_a)
    assert week.count('fill="#2e7d32"') == 2  # today's and yesterday's successes
    (cause,) = dashboard.failures_by_cause(cast.owner_a)
    assert cause["error_cause"] == "SKU “…” in order # does not exist in TIMS"
    assert (cause["day"], cause["week"]) == (3, 3)


def test_streams_and_connections_show_lag_circuit_and_budget(cast):
    shop = make_integration(cast.org_a, name="Shop")
    PollState.objects.create(integration=shop, name="orders", last_success_at=timezone.now() - timedelta(minutes=7))
    CircuitBreaker.objects.create(connection=shop.tims_connection, state=BreakerState.OPEN)
    (stream,) = dashboard.streams(cast.owner_a)
    assert stream["lag"] == "7 min" and stream["owner"] == "Shop"
    assert dashboard.streams(cast.outsider_b) == []
    circuits = {row["connection"].pk: row["circuit"] for row in dashboard.connections(cast.owner_a)}
    assert circuits[shop.tims_connection_id].startswith("Open")
    assert all(row["used"] == 0 and row["limit"] > 0 for row in dashboard.connections(cast.owner_a))


def test_the_front_page_and_the_dashboard_answer(cast, login):
    world(cast)
    client = login(cast.owner_a)
    front = client.get(reverse("admin:index")).content.decode()
    assert 'id="glance"' in front and "Other company" not in front
    page = client.get(reverse("admin:dashboard")).content.decode()
    assert 'id="causes"' in page and "does not exist in TIMS" in page and "Other company" not in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_draws_its_charts_in_the_browser(page, live_server, cast):
    world(cast)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/dashboard/")
    page.fill("#id_username", cast.operations.username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    expect(page.locator("#glance svg.chart").first).to_be_visible()
    assert page.locator("#glance svg.chart rect[fill='#2e7d32']").count() >= 2  # both integrations' successes
    assert page.locator("#week svg.chart rect[fill='#2e7d32']").count() == 2
    box = page.locator("#week svg.chart").bounding_box()
    assert box["width"] > 300 and box["height"] > 50
    expect(page.locator("#causes")).to_contain_text("does not exist in TIMS")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366  # no sideways scrolling
