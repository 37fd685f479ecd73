"""The admin: scoping, form errors for bad expressions, versions on save, rollback, preview, CSV, unmapped values."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mappings import services
from mappings.models import MappingSet, UnmappedValue, ValueMap, Version
from tests.factories import make_integration

pytestmark = pytest.mark.django_db


def set_form(integration, name="Test set", fields=(), rules=()):
    data = {"integration": integration.pk, "name": name, "flow": "orders", "source": "canonical_order",
            "target": "tims_sales_order", "active": "on", "description": "",
            "fields-TOTAL_FORMS": len(fields), "fields-INITIAL_FORMS": 0,
            "rules-TOTAL_FORMS": len(rules), "rules-INITIAL_FORMS": 0}
    for index, row in enumerate(fields):
        for key, value in {"position": index, "transforms": "", "condition": "", "active": "on", **row}.items():
            data[f"fields-{index}-{key}"] = value
    for index, row in enumerate(rules):
        for key, value in {"position": index, "kind": "enrichment", "mode": "default", "transforms": "",
                           "condition": "", "active": "on", **row}.items():
            data[f"rules-{index}-{key}"] = value
    return data


def test_outsider_sees_no_other_organizations_mapping_sets_value_maps_or_versions(integration_a, cast, login):
    client = login(cast.outsider_b)
    order_set = integration_a.mapping_sets.get(template_key="order_to_tims")
    value_map = ValueMap.objects.get(organization=cast.org_a, name="carriers")
    services.note_unmapped(value_map, "Pigeon")
    for name in ("mappingset", "valuemap", "version", "unmappedvalue"):
        listing = client.get(reverse(f"admin:mappings_{name}_changelist"))
        assert listing.status_code == 200
        assert "PrestaShop order" not in listing.content.decode() and "Pigeon" not in listing.content.decode()
    assert client.get(reverse("admin:mappings_mappingset_change", args=[order_set.pk])).status_code == 404
    assert client.get(reverse("admin:mappings_mappingset_preview", args=[order_set.pk])).status_code == 404
    assert client.get(reverse("admin:mappings_valuemap_change", args=[value_map.pk])).status_code == 404
    assert client.get(reverse("admin:mappings_valuemap_export", args=[value_map.pk])).status_code == 404
    html = client.get(reverse("admin:mappings_mappingset_add")).content.decode()
    assert integration_a.name not in html  # cannot attach a set to another organization's integration


def test_members_and_company_staff_see_their_sets(integration_a, cast, login):
    order_set = integration_a.mapping_sets.get(template_key="order_to_tims")
    for user in (cast.owner_a, cast.member_a, cast.operations):
        listing = login(user).get(reverse("admin:mappings_mappingset_changelist")).content.decode()
        assert order_set.name in listing, user.username
    page = login(cast.operations).get(reverse("admin:mappings_mappingset_change", args=[order_set.pk]))
    assert page.status_code == 200 and "Preview" in page.content.decode()


def test_a_bad_expression_or_transform_is_a_form_error_not_a_crash(integration_a, cast, login):
    client = login(cast.operations)
    data = set_form(integration_a, fields=[
        {"target": "CostCenter", "source": "customer.email +", "transforms": "trim"},
        {"target": "Location", "source": "'MAIN'", "transforms": "explode"},
        {"target": "Nope", "source": "'x'"},
        {"target": "PaymentStatus", "source": "payment_status", "transforms": "value_map:no_such_map"},
    ])
    response = client.post(reverse("admin:mappings_mappingset_add"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "expected" in html or "unexpected" in html
    assert "unknown transform “explode”" in html
    assert "“Nope” is not a field here" in html
    assert not MappingSet.objects.filter(name="Test set").exists()
    data = set_form(integration_a, fields=[{"target": "PaymentStatus", "source": "payment_status",
                                            "transforms": "value_map:no_such_map"}])
    html = client.post(reverse("admin:mappings_mappingset_add"), data).content.decode()
    assert "No value map named no_such_map" in html
    data = set_form(integration_a, fields=[{"target": "LineItems[].SKU", "source": "'X'"}])
    html = client.post(reverse("admin:mappings_mappingset_add"), data).content.decode()
    assert "say which source list it iterates" in html
    assert not MappingSet.objects.filter(name="Test set").exists()


def test_saving_in_the_admin_makes_a_version_and_rollback_action_restores(integration_a, cast, login):
    client = login(cast.operations)
    data = set_form(integration_a, fields=[{"target": "CostCenter", "source": "'WEB'"}],
                    rules=[{"name": "Big orders", "target": "ProjectCode", "value": "'BIG'",
                            "condition": "total.amount > 1000"}])
    response = client.post(reverse("admin:mappings_mappingset_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    mapping_set = MappingSet.objects.get(name="Test set")
    first = mapping_set.versions.get()
    assert (first.number, first.created_by, first.changes) == (1, cast.operations, ["created"])
    mapping_set.fields.update(source="'SHOP'")
    services.record_version(mapping_set, cast.owner_a)
    response = client.post(reverse("admin:mappings_version_changelist"),
                           {"action": "roll_back", "_selected_action": [first.pk]})
    assert response.status_code == 302
    assert mapping_set.fields.get().source == "'WEB'"
    latest = mapping_set.versions.first()
    assert (latest.number, latest.comment, latest.created_by) == (3, "Rolled back to version 1", cast.operations)
    listing = client.get(reverse("admin:mappings_version_changelist") + f"?mapping_set__id__exact={mapping_set.pk}")
    assert "Rolled back to version 1" in listing.content.decode()


def test_viewer_cannot_roll_back(integration_a, cast, login):
    version = Version.objects.filter(mapping_set__integration=integration_a).first()
    client = login(cast.member_a)
    client.post(reverse("admin:mappings_version_changelist"), {"action": "roll_back", "_selected_action": [version.pk]})
    assert Version.objects.filter(mapping_set=version.mapping_set).count() == 1


def test_preview_view_shows_output_and_validation_messages(integration_a, cast, login, order):
    order_set = integration_a.mapping_sets.get(template_key="order_to_tims")
    url = reverse("admin:mappings_mappingset_preview", args=[order_set.pk])
    client = login(cast.owner_a)
    order["lines"][0]["sku"] = "S" * 70
    html = client.post(url, {"payload": json.dumps(order)}).content.decode()
    assert "LineItems[0].SKU: longer than 64 characters" in html
    assert "&quot;ExternalOrderID&quot;: &quot;XKBKNABJK&quot;" in html
    assert "extra.po_number" in html  # an unused custom field is suggested
    order["status"] = "Awaiting PayPal"
    html = client.post(url, {"payload": json.dumps(order)}).content.decode()
    assert "add_source=Awaiting+PayPal" in html
    assert "not JSON" in client.post(url, {"payload": "{nope"}).content.decode()
    assert "one JSON object" in client.post(url, {"payload": "[1]"}).content.decode()


def test_value_map_inline_prefills_an_unmapped_value_and_save_clears_it(integration_a, cast, login):
    value_map = ValueMap.objects.get(organization=cast.org_a, name="prestashop_order_state")
    services.note_unmapped(value_map, "Awaiting PayPal")
    client = login(cast.owner_a)
    url = reverse("admin:mappings_valuemap_change", args=[value_map.pk])
    html = client.get(url + "?add_source=Awaiting+PayPal").content.decode()
    assert 'value="Awaiting PayPal"' in html
    entries = list(value_map.entries.all())
    data = {"organization": cast.org_a.pk, "name": value_map.name, "description": value_map.description,
            "strict": "on", "default": "", "entries-TOTAL_FORMS": len(entries) + 1,
            "entries-INITIAL_FORMS": len(entries)}
    for index, entry in enumerate(entries):
        data.update({f"entries-{index}-id": entry.pk, f"entries-{index}-value_map": value_map.pk,
                     f"entries-{index}-source": entry.source, f"entries-{index}-target": entry.target})
    data.update({f"entries-{len(entries)}-source": "Awaiting PayPal", f"entries-{len(entries)}-target": "OnHold"})
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert value_map.entries.get(source="Awaiting PayPal").target == "OnHold"
    assert not UnmappedValue.objects.filter(value_map=value_map).exists()
    value_map.refresh_from_db()
    assert value_map.version == 2  # 1 was the copy of the global template
    assert "added 'Awaiting PayPal' → 'OnHold'" in value_map.versions.first().changes


def test_strict_map_with_a_default_is_refused(cast, login):
    data = {"organization": cast.org_a.pk, "name": "x", "description": "", "strict": "on", "default": "Open",
            "entries-TOTAL_FORMS": 0, "entries-INITIAL_FORMS": 0}
    html = login(cast.owner_a).post(reverse("admin:mappings_valuemap_add"), data).content.decode()
    assert "A strict map has no default" in html


def test_csv_export_and_import_views(integration_a, cast, login):
    value_map = ValueMap.objects.get(organization=cast.org_a, name="carriers")
    client = login(cast.owner_a)
    exported = client.get(reverse("admin:mappings_valuemap_export", args=[value_map.pk]))
    assert exported["Content-Type"].startswith("text/csv") and "UPS Ground,UPS-GND" in exported.content.decode()
    upload = SimpleUploadedFile("m.csv", b"source,target\nPigeon,PIGEON\n")
    response = client.post(reverse("admin:mappings_valuemap_import", args=[value_map.pk]), {"file": upload})
    assert response.status_code == 302
    assert value_map.entries.get(source="Pigeon").target == "PIGEON"
    bad = SimpleUploadedFile("m.csv", b"source,target\na,b,c\n")
    html = client.post(reverse("admin:mappings_valuemap_import", args=[value_map.pk]), {"file": bad}).content
    assert "Nothing imported" in html.decode()
    viewer = login(cast.member_a)
    upload = SimpleUploadedFile("m.csv", b"source,target\nX,Y\n")
    assert viewer.post(reverse("admin:mappings_valuemap_import", args=[value_map.pk]),
                       {"file": upload}).status_code == 403


def test_unmapped_values_list_links_to_the_map(integration_a, cast, login):
    value_map = ValueMap.objects.get(organization=cast.org_a, name="carriers")
    services.note_unmapped(value_map, "Pigeon", example="XK1")
    html = login(cast.owner_a).get(reverse("admin:mappings_unmappedvalue_changelist")).content.decode()
    assert "Pigeon" in html and f"/admin/mappings/valuemap/{value_map.pk}/change/?add_source=Pigeon" in html
    front = login(cast.owner_a).get(reverse("admin:index")).content.decode()
    assert "Unmapped values (passed through)" in front  # on the front page's "needs your attention" list
    assert "Unmapped values (passed through)" not in login(cast.outsider_b).get(reverse("admin:index")).content.decode()


def test_other_organization_cannot_use_this_organizations_value_maps(cast):
    integration_b = make_integration(cast.org_b)
    ValueMap.objects.filter(organization=cast.org_b, name="carriers").delete()
    ValueMap.objects.filter(organization=None, name="carriers").delete()
    found = services.value_maps_for(integration_b.organization_id, ["carriers"])
    assert found == {}  # org A's copy is not visible to org B


def form_data_of(response):
    """The POST data a browser would send back for an admin change page, inlines included."""
    from django.forms import BooleanField

    def add(form, data):
        for name, field in form.fields.items():
            value = form[name].value()
            if isinstance(field, BooleanField):
                if value:
                    data[form.add_prefix(name)] = "on"
            elif value is not None:
                data[form.add_prefix(name)] = value

    data = {}
    add(response.context["adminform"].form, data)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form, data)
        for form in inline.formset.forms:
            add(form, data)
    return data


def test_owner_edits_a_set_in_the_admin_and_only_real_changes_make_versions(integration_a, cast, login):
    order_set = integration_a.mapping_sets.get(template_key="order_to_tims")
    client = login(cast.owner_a)
    url = reverse("admin:mappings_mappingset_change", args=[order_set.pk])
    page = client.get(url)
    assert page.status_code == 200
    data = form_data_of(page)
    assert client.post(url, data).status_code == 302
    assert order_set.versions.count() == 1  # saved without changes: no new version
    index = next(i for i in range(100) if data.get(f"fields-{i}-target") == "ShippingMethod")
    data[f"fields-{index}-transforms"] = "value_map:carriers | upper | truncate"
    assert client.post(url, data).status_code == 302
    latest = order_set.versions.first()
    assert latest.number == 2 and latest.created_by == cast.owner_a
    assert latest.changes == ["field ShippingMethod: transforms 'value_map:carriers | truncate' → "
                              "'value_map:carriers | upper | truncate'"]
    viewer = login(cast.member_a)
    assert viewer.post(url, data).status_code == 403


def test_preview_starts_with_a_sample_record_that_maps_cleanly(integration_a, cast, login):
    from mappings.templates import SAMPLE_RECORDS, sample_record

    for mapping_set in integration_a.mapping_sets.all():
        page = login(cast.owner_a).get(reverse("admin:mappings_mappingset_preview", args=[mapping_set.pk]))
        assert "ARG-00002" in page.content.decode()
        result = services.preview(mapping_set, SAMPLE_RECORDS[mapping_set.source])
        assert result.ok, (mapping_set.name, result.errors)
    integration = make_integration(cast.org_b, "channeladvisor_tims")
    order_set = integration.mapping_sets.get(template_key="order_to_tims")
    html = login(cast.operations).get(reverse("admin:mappings_mappingset_preview", args=[order_set.pk])).content
    assert "shipping_status&quot;: &quot;Unshipped" in html.decode()  # the channel's own shape of order
    result = services.preview(order_set, sample_record("canonical_order", "channeladvisor_tims"))
    assert result.ok and result.output["OrderStatus"] == "Open", result.errors
