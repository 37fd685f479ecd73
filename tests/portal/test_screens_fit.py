"""At a laptop's 1,366 × 768 every list shows its columns without sideways scrolling, with long names and long
errors in it; durations read as people say them."""

import pytest
from django.urls import reverse

from alerts import evaluate
from alerts.models import AlertKind, AlertRule
from integrations.admin import rounded_ms
from integrations.models import RecordStatus, SyncRecord
from integrations.pipeline import records
from tests.factories import make_integration

LISTS = ["integrations_syncrecord", "integrations_connection", "integrations_integration", "mappings_valuemap",
         "alerts_alert", "alerts_alertrule", "integrations_auditentry", "integrations_skuissue",
         "integrations_stockreport"]


def test_durations_are_rounded():
    assert [rounded_ms(v) for v in (None, 0.4, 142.49, 2267.52, 61_500)] == ["—", "0 ms", "142 ms", "2.3 s",
                                                                             "1 min 1 s"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_list_fits_a_laptop_screen(page, live_server, cast, monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)
    integration = make_integration(cast.org_a, name="Acme Welding Supply — PrestaShop shop and TIMS (EU)")
    for index in range(30):
        record, _ = records.receive(integration, flow="orders", entity_type="order", source_id=f"{index}",
                                    reference=f"XKBKNABJ{index}")
        SyncRecord.objects.filter(pk=record.pk).update(
            status=RecordStatus.DEAD, error_class="unmapped_value",
            error_message="The value map “prestashop_order_state” does not map “Awaiting cheque payment in the "
                          f"back office of the shop number {index}” to a TIMS OrderStatus; add it, then retry.")
    AlertRule.objects.create(organization=cast.org_a, name="Dead letters in the European shop integration",
                             kind=AlertKind.DEAD_LETTERS, threshold=1, emails="ops@example.com")
    evaluate.run()

    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", cast.operations.username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    too_wide = {}
    for name in LISTS + ["index", "dashboard", "causes"]:
        url = {"index": reverse("admin:index"), "dashboard": reverse("admin:dashboard"),
               "causes": reverse("admin:integrations_syncrecord_causes")}.get(name) or reverse(
            f"admin:{name}_changelist")
        page.goto(live_server.url + url)
        width = page.evaluate("document.documentElement.scrollWidth")
        hidden = page.evaluate("Array.from(document.querySelectorAll('.results, .module')).map("
                               "(e) => e.scrollWidth - e.clientWidth).reduce((a, b) => Math.max(a, b), 0)")
        if width > 1366 or hidden > 1:  # the page, or a list inside its own scroll box
            too_wide[name] = (width, hidden)
    assert not too_wide
    page.goto(live_server.url + reverse("admin:integrations_syncrecord_changelist"))
    header = page.locator("#result_list thead").inner_text()
    assert "error" in header.lower() and "when" in header.lower()
    assert page.locator("#result_list tbody tr").first.locator("td.field-flow_name").inner_text() != "orders"
