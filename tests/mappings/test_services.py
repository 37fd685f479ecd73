"""Defaults on integration creation, versions and rollback, compile cache, value maps, unmapped values."""

import io

import pytest
from django.core.management import call_command

from mappings import services
from mappings.errors import UnmappedValueError
from mappings.models import FieldMapping, MappingSet, UnmappedValue, ValueMap, Version
from tests.factories import make_integration

pytestmark = pytest.mark.django_db


def test_a_new_integration_gets_its_mapping_sets_and_value_maps(integration_a):
    sets = {s.template_key: s for s in integration_a.mapping_sets.all()}
    assert set(sets) == {"order_to_tims", "item_to_channel", "stock_to_channel"}
    assert sets["order_to_tims"].name == "PrestaShop order → TIMS sales order"
    assert sets["item_to_channel"].target == "prestashop_product"
    assert all(s.version == 1 for s in sets.values())
    assert Version.objects.filter(mapping_set=sets["order_to_tims"], number=1, comment="Created from template").exists()
    own = ValueMap.objects.filter(organization=integration_a.organization)
    assert set(own.values_list("name", flat=True)) == {
        "prestashop_order_state", "prestashop_payment_status", "carriers", "countries", "tax_codes",
        "tims_carrier_to_prestashop", "tims_sku_to_prestashop", "prestashop_return_reason"}
    assert ValueMap.objects.get(organization=None, name="prestashop_order_state").strict
    # The shop's time zone and the TIMS default location were taken from the connections.
    order_set = sets["order_to_tims"]
    assert order_set.fields.get(target="OrderDate").transforms == "datetime:UTC:Europe/Paris"
    assert order_set.rules.filter(target="Location", value="'MAIN'").exists()


def test_new_integration_works_out_of_the_box(order, order_set, customer_lookup):
    result = services.map_record(order_set, order, customer_lookup)
    assert result.ok, result.errors
    assert result.version == 1 and result.output["OrderStatus"] == "Processing"


def test_channeladvisor_integration_gets_its_own_maps(cast):
    integration = make_integration(cast.org_b, "channeladvisor_tims")
    names = list(integration.mapping_sets.values_list("name", flat=True))
    assert "ChannelAdvisor order → TIMS sales order" in names and "TIMS item → ChannelAdvisor product" in names


def test_defaults_command_recreates_missing_sets_and_resets_on_request(integration_a):
    order_set = integration_a.mapping_sets.get(template_key="order_to_tims")
    integration_a.mapping_sets.filter(template_key="stock_to_channel").delete()
    order_set.fields.filter(target="OrderStatus").update(transforms="upper")
    out = io.StringIO()
    call_command("mapping_defaults", stdout=out)
    assert "TIMS stock → PrestaShop stock" in out.getvalue()
    assert integration_a.mapping_sets.filter(template_key="stock_to_channel").exists()
    assert order_set.fields.get(target="OrderStatus").transforms == "upper"  # kept without --reset
    call_command("mapping_defaults", "--reset", "--integration", str(integration_a.pk), stdout=io.StringIO())
    assert order_set.fields.get(target="OrderStatus").transforms == "value_map:prestashop_order_state"
    order_set.refresh_from_db()
    assert order_set.version == 1  # back to exactly version 1 (the update above bypassed versioning on purpose)


def test_versions_record_who_what_and_rollback_restores(order_set, cast):
    field = order_set.fields.get(target="ShippingMethod")
    field.transforms = "upper"
    field.save()
    order_set.fields.filter(target="CustomFields.TaxCode").delete()
    version = services.record_version(order_set, cast.operations, "tweak")
    assert version.number == 2 and version.created_by == cast.operations
    assert "field ShippingMethod: transforms 'value_map:carriers | truncate' → 'upper'" in version.changes
    assert "removed field CustomFields.TaxCode" in version.changes
    assert services.record_version(order_set, cast.operations) is None  # nothing changed, no version
    restored = services.rollback(Version.objects.get(mapping_set=order_set, number=1), cast.superuser)
    assert restored.number == 3 and restored.comment == "Rolled back to version 1"
    assert order_set.fields.get(target="ShippingMethod").transforms == "value_map:carriers | truncate"
    assert order_set.fields.filter(target="CustomFields.TaxCode").exists()


def test_compiled_once_per_version_and_value_map_edits_take_effect(order, order_set, customer_lookup,
                                                                     django_assert_max_num_queries):
    first = services.compiled_mapping(order_set)
    with django_assert_max_num_queries(1):
        assert services.compiled_mapping(order_set) is first
    value_map = ValueMap.objects.get(organization=order_set.integration.organization, name="prestashop_order_state")
    services.set_entry(value_map, "Payment accepted", "Allocated")
    second = services.compiled_mapping(order_set)
    assert second is not first
    assert second.apply(order, customer_lookup).output["OrderStatus"] == "Allocated"
    FieldMapping.objects.filter(mapping_set=order_set, target="TotalAmount").update(transforms="decimal:3")
    services.record_version(order_set)
    result = services.map_record(order_set, order, customer_lookup)
    assert result.output["TotalAmount"] == "64.100" and result.version == 2


def test_organization_maps_shadow_global_templates(order, order_set, cast, customer_lookup):
    ValueMap.objects.filter(organization=order_set.integration.organization, name="carriers").delete()
    assert services.map_record(order_set, order, customer_lookup).output["ShippingMethod"] == "UPS-GND"  # global
    other = ValueMap.objects.get(organization=None, name="carriers")
    services.set_entry(other, "UPS Ground", "GLOBAL-UPS")
    assert services.map_record(order_set, order, customer_lookup).output["ShippingMethod"] == "GLOBAL-UPS"


def test_unmapped_values_are_noted_and_cleared_when_mapped(order, order_set, customer_lookup):
    order["shipping_method"] = "Pigeon Post"
    services.map_record(order_set, order, customer_lookup, example="XKBKNABJK")
    services.map_record(order_set, order, customer_lookup, example="XKBKNABJK")
    noted = UnmappedValue.objects.get(value="Pigeon Post")
    assert (noted.value_map.name, noted.times_seen, noted.example) == ("carriers", 2, "XKBKNABJK")
    services.set_entry(noted.value_map, "Pigeon Post", "PIGEON")
    assert not UnmappedValue.objects.filter(value="Pigeon Post").exists()


def test_strict_map_error_from_the_pipeline_api(order, order_set, customer_lookup):
    order["status"] = "Awaiting PayPal"
    result = services.map_record(order_set, order, customer_lookup)
    value_map = ValueMap.objects.get(organization=order_set.integration.organization, name="prestashop_order_state")
    with pytest.raises(UnmappedValueError) as caught:
        result.raise_for_errors()
    assert caught.value.value_map_id == value_map.pk
    assert caught.value.admin_url == f"/admin/mappings/valuemap/{value_map.pk}/change/?add_source=Awaiting+PayPal"
    assert UnmappedValue.objects.filter(value_map=value_map, value="Awaiting PayPal").exists()


def test_preview_has_no_side_effects_and_shows_lookups_as_placeholders(order, order_set):
    order["shipping_method"] = "Pigeon Post"
    result = services.preview(order_set, order)
    assert result.ok, result.errors
    assert result.output["CustomerID"] == "<lookup>"
    assert "the pipeline asks it for 'zoe.muller@example.com'" in result.warnings[0]
    assert not UnmappedValue.objects.exists()


def test_valuemap_command_sets_lists_and_exports(integration_a, tmp_path):
    slug = integration_a.organization.slug
    out = io.StringIO()
    call_command("valuemap", "set", "carriers", "Pigeon Post", "PIGEON", "--org", slug, stdout=out)
    assert "'Pigeon Post' → 'PIGEON'" in out.getvalue()
    value_map = ValueMap.objects.get(organization=integration_a.organization, name="carriers")
    assert value_map.entries.get(source="Pigeon Post").target == "PIGEON"
    assert value_map.versions.first().created_by is None and value_map.version == 2
    out = io.StringIO()
    call_command("valuemap", "list", "--org", slug, stdout=out)
    assert "carriers\t" in out.getvalue()
    out = io.StringIO()
    call_command("valuemap", "export", "carriers", "--org", slug, stdout=out)
    assert "Pigeon Post,PIGEON" in out.getvalue()
    csv_file = tmp_path / "m.csv"
    csv_file.write_text("source,target\nRaven,RAVEN\n", encoding="utf-8")
    call_command("valuemap", "import", "carriers", str(csv_file), "--org", slug, stdout=io.StringIO())
    assert value_map.entries.get(source="Raven").target == "RAVEN"
    with pytest.raises(Exception, match="No value map named"):
        call_command("valuemap", "list", "nope", stdout=io.StringIO())


def test_csv_import_is_all_or_nothing_and_can_replace(integration_a):
    value_map = ValueMap.objects.get(organization=integration_a.organization, name="carriers")
    before = value_map.entries.count()
    with pytest.raises(services.CsvProblem, match="line 3"):
        services.import_csv(value_map, "source,target\nA,B\nbroken\n")
    assert value_map.entries.count() == before
    assert services.import_csv(value_map, "source,target\nUPS,UPS-X\nNew,NEW\n", replace=True) == (2, before - 1)
    assert dict(value_map.entries.values_list("source", "target")) == {"UPS": "UPS-X", "New": "NEW"}


def test_suggestions_and_custom_field_extension_point(order, order_set):
    order_set.fields.filter(target__in=["TotalAmount", "ShippingAddress.City"]).delete()
    found = {item["target"]: item["sources"] for item in services.suggestions(order_set)}
    assert found["ShippingAddress.City"][0]["source"] == "shipping_address.city"
    assert found["ShippingAddress.City"][0]["confidence"] >= 0.9
    assert found["TotalAmount"][0]["source"] == "total.amount"
    assert services.unused_extra_fields(order_set, order) == [
        {"source": "extra.po_number", "target": "CustomFields.po_number"}]
    created = []
    missing = services.ensure_custom_fields(order_set, ["Currency"],
                                            lambda entity, name: created.append((entity, name)))
    assert missing == ["ChannelOrderID", "GiftMessage", "TaxCode"]
    assert created[0] == ("sales_order", "ChannelOrderID")


def test_deleting_an_integration_takes_its_mapping_sets_and_their_versions(integration_a):
    assert Version.objects.filter(mapping_set__integration=integration_a).count() == 3
    integration_a.delete()
    assert not MappingSet.objects.exists()
    assert not Version.objects.filter(mapping_set__isnull=False).exists()


def test_value_map_rollback_restores_entries_and_settings(integration_a, cast):
    value_map = ValueMap.objects.get(organization=cast.org_a, name="carriers")
    original = dict(value_map.entries.values_list("source", "target"))
    services.import_csv(value_map, "source,target\nUPS,UPS-X\n", cast.owner_a, replace=True)
    value_map.default = "OTHER"
    value_map.save()
    services.record_version(value_map, cast.owner_a)
    assert value_map.versions.first().changes == ["default: 'STANDARD' → 'OTHER'"]
    services.rollback(value_map.versions.get(number=1), cast.operations)
    value_map.refresh_from_db()
    assert dict(value_map.entries.values_list("source", "target")) == original
    assert (value_map.default, value_map.version) == ("STANDARD", 4)


def test_two_mappings_for_one_target_are_told_apart_in_the_diff(order_set):
    FieldMapping.objects.create(mapping_set=order_set, target="ShippingMethod", source="'PICKUP'",
                                condition="shipping_method == 'Click and collect'", position=55)
    version = services.record_version(order_set)
    assert version.changes == ["added field ShippingMethod #2"]
