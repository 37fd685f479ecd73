"""A staff user edits a value map in the admin and previews a record, in a real (headless) Chromium."""

import json

import pytest
from django.db import connections

from tests.factories import make_integration

pytestmark = pytest.mark.browser  # the page comes from tests/conftest.py: one Chromium for the whole run


@pytest.mark.django_db(transaction=True)
def test_staff_edits_a_value_map_and_previews_a_record(live_server, page, cast, order):
    try:
        check_edit_and_preview(live_server, page, cast, order)
    finally:
        # While Playwright runs, the ORM works in another context (greenlet) and opens its own connection there;
        # close it, or it would keep the test database from being dropped.
        connections.close_all()


def check_edit_and_preview(live_server, page, cast, order):
    from mappings.models import ValueMap

    integration = make_integration(cast.org_a)
    value_map = ValueMap.objects.get(organization=cast.org_a, name="prestashop_order_state")
    order_set = integration.mapping_sets.get(template_key="order_to_tims")

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", cast.operations.username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    # Add an entry for a state the shop just introduced, through the inline's empty row.
    page.goto(f"{live_server.url}/admin/mappings/valuemap/{value_map.pk}/change/")
    empty_row = value_map.entries.count()
    page.fill(f"#id_entries-{empty_row}-source", "Awaiting PayPal")
    page.fill(f"#id_entries-{empty_row}-target", "OnHold")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist")
    assert "Saved as version 2" in page.inner_text(".messagelist")

    # Preview an order in that state.
    order["status"] = "Awaiting PayPal"
    page.goto(f"{live_server.url}/admin/mappings/mappingset/{order_set.pk}/change/")
    page.click("text=Preview")
    page.fill("#id_payload", json.dumps(order))
    page.click("#preview-submit")
    page.wait_for_selector("#preview-output")
    output = json.loads(page.inner_text("#preview-output"))
    assert output["OrderStatus"] == "OnHold"
    assert output["LineItems"][0]["SKU"] == "ARG-00002"
    assert page.inner_text("#preview-status") == "valid"

    # A too-long SKU shows a field-level message instead of an output that TIMS would refuse.
    order["lines"][1]["sku"] = "S" * 65
    page.fill("#id_payload", json.dumps(order))
    page.click("#preview-submit")
    page.wait_for_selector("#preview-errors")
    assert "LineItems[1].SKU: longer than 64 characters" in page.inner_text("#preview-errors")
    assert value_map.entries.get(source="Awaiting PayPal").target == "OnHold"
