"""The engine on the shipped order mapping, without the database: output, validation, rules, custom fields."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mappings import templates
from mappings.engine import CompiledMapping
from mappings.errors import CompileError, MappingFailed, UnmappedValueError
from mappings.schemas import TIMS_SALES_ORDER, leaf_paths
from mappings.transforms import CompiledValueMap
from mappings.validation import validate

VALUE_MAPS = [CompiledValueMap(name, entries, default, strict, pk=index + 1)
              for index, (name, (_, strict, default, entries)) in enumerate(templates.VALUE_MAPS.items())]


ORDER_KEYS = ("source_system", "source_id", "reference", "created_at", "currency", "status", "payment_status",
              "total", "customer", "shipping_address", "billing_address", "lines", "carrier", "extra")


def order_mapping(template="prestashop_tims", **changes):
    definition = templates.mapping_sets_for(template, shop_timezone="Europe/Paris", default_location="MAIN")[0]
    return CompiledMapping({"name": definition["name"], "target": definition["target"], "version": 4,
                            "fields": definition["fields"], "rules": definition["rules"], **changes}, VALUE_MAPS)


def test_default_order_mapping_makes_a_valid_tims_sales_order(order, customer_lookup):
    result = order_mapping().apply(order, customer_lookup)
    assert result.ok, result.errors
    out = result.output
    assert out["ExternalOrderID"] == "XKBKNABJK"
    assert out["CustomerID"] == "C000123"
    assert out["OrderDate"] == "2026-03-02T09:15:00Z"  # shop-local Paris time read correctly
    assert out["OrderStatus"] == "Processing"
    assert out["PaymentStatus"] == "Paid"
    assert out["ShippingMethod"] == "UPS-GND"
    assert out["ShippingAddress"] == {"Line1": "Hauptstraße 1", "City": "Berlin", "PostalCode": "10115",
                                      "Country": "DE"}
    assert out["BillingAddress"]["Line2"] == "Hinterhaus"
    assert out["LineItems"] == [
        {"SKU": "ARG-00002", "Quantity": "2", "Price": "20.5000", "TaxAmount": "3.90", "DiscountAmount": "0.00"},
        {"SKU": "GLV-00004", "Quantity": "1", "Price": "12.1000", "TaxAmount": "0.20", "DiscountAmount": "0.00"},
    ]
    assert out["CustomFields"] == {"ChannelOrderID": "17", "Currency": "EUR", "GiftMessage": "Happy birthday!",
                                   "TaxCode": "VAT19"}
    # Enrichment rules: by channel, by SKU prefix, default location from the TIMS connection.
    assert (out["CostCenter"], out["ProjectCode"], out["Location"]) == ("WEB", "GAS", "MAIN")
    assert result.version == 4
    assert result.value_map_versions["prestashop_order_state"] == 0


def test_validation_names_the_field_and_line(order, customer_lookup):
    order["lines"][1]["sku"] = "S" * 65
    order["lines"][0]["quantity"] = "2.12345"
    order["reference"] = None
    order["source_id"] = None
    result = order_mapping().apply(order, customer_lookup)
    assert "LineItems[1].SKU: longer than 64 characters" in result.errors
    assert "LineItems[0].Quantity: more than 3 decimal places" in result.errors
    assert "ExternalOrderID: required, but the source gave nothing" in result.errors
    with pytest.raises(MappingFailed) as caught:
        result.raise_for_errors()
    assert caught.value.permanent


def test_an_unknown_status_in_a_strict_map_is_a_permanent_error_naming_map_and_value(order, customer_lookup):
    order["status"] = "Awaiting PayPal"
    result = order_mapping().apply(order, customer_lookup)
    assert result.unmapped == [("prestashop_order_state", "Awaiting PayPal")]
    with pytest.raises(UnmappedValueError) as caught:
        result.raise_for_errors()
    error = caught.value
    assert (error.map_name, error.value, error.permanent) == ("prestashop_order_state", "Awaiting PayPal", True)
    assert "prestashop_order_state" in str(error) and "Awaiting PayPal" in str(error)
    assert error.admin_url.startswith("/admin/mappings/valuemap/") and "add_source=Awaiting+PayPal" in error.admin_url


def test_channeladvisor_rules_hold_unpaid_orders(order, customer_lookup):
    order.update(source_system="channeladvisor", status="Unshipped", payment_status="NotYetSubmitted")
    result = order_mapping("channeladvisor_tims").apply(order, customer_lookup)
    assert result.ok, result.errors
    assert (result.output["OrderStatus"], result.output["PaymentStatus"]) == ("OnHold", "Unpaid")
    assert result.output["CostCenter"] == "MARKETPLACE"
    order["payment_status"] = "Cleared"
    assert order_mapping("channeladvisor_tims").apply(order, customer_lookup).output["OrderStatus"] == "Open"


def test_per_line_conditional_rule(order, customer_lookup):
    rules = [{"name": "5% off big orders", "target": "LineItems[].DiscountAmount", "mode": "set",
              "value": "round(decimal(lines[].unit_price) * decimal(lines[].quantity) * 0.05, 2)",
              "condition": "total >= 50 and lines[].sku != 'GLV-00004'"}]
    result = order_mapping(rules=rules).apply(order, customer_lookup)
    assert [line["DiscountAmount"] for line in result.output["LineItems"]] == ["2.05", "0.00"]


def test_extra_fields_map_to_custom_fields_and_conditions_skip_missing_ones(order, customer_lookup):
    fields = [{"target": "CustomFields.PONumber", "source": "extra.po_number"},
              {"target": "CustomFields.Gift", "source": "extra.gift_message", "condition": "extra.nope"}]
    definition = {"target": "tims_sales_order", "fields": fields}
    assert CompiledMapping(definition).apply(order, validate_output=False).output == {
        "CustomFields": {"PONumber": "PO-778"}}


@pytest.mark.parametrize("field, reason", [
    ({"target": "Nope", "source": "a"}, "not a field"),
    ({"target": "LineItems.SKU", "source": "a"}, "is a list"),
    ({"target": "ShippingAddress", "source": "a"}, "group of fields"),
    ({"target": "CustomFields", "source": "a"}, "custom fields"),
    ({"target": "Location", "source": "a +"}, "Location"),
    ({"target": "Location", "source": "a", "transforms": "explode"}, "unknown transform"),
    ({"target": "LineItems[].SKU", "source": "'X'"}, "which source list"),
])
def test_bad_definitions_fail_to_compile_with_a_reason(field, reason):
    with pytest.raises(CompileError, match=reason):
        CompiledMapping({"target": "tims_sales_order", "fields": [field]})


def test_a_source_of_the_wrong_shape_is_reported_not_raised(customer_lookup):
    result = order_mapping().apply({"lines": "not a list", "customer": ["x"], "total": {"a": 1}}, customer_lookup)
    assert not result.ok
    assert "LineItems: required" in result.errors
    assert any(message.startswith("TotalAmount:") for message in result.errors)


def test_validator_checks_types_enums_and_nesting():
    messages = validate(TIMS_SALES_ORDER, {
        "ExternalOrderID": "1", "CustomerID": "C1", "OrderDate": "2026-01-01T00:00:00", "OrderStatus": "Done",
        "LineItems": [{"SKU": "A", "Quantity": "x", "Price": "1.00001"}], "ShippingAddress": {"Country": "DEU"},
        "CustomFields": {"A": 5}, "Bogus": 1})
    assert messages == [
        "Bogus: not a field of this target",
        "OrderDate: timestamp has no time zone (add the datetime transform)",
        "OrderStatus: “Done” is not one of Open, Processing, Allocated, PartiallyShipped, Fulfilled, Invoiced, "
        "Closed, Cancelled, OnHold",
        "LineItems[0].Quantity: “x” is not a decimal number",
        "LineItems[0].Price: more than 4 decimal places",
        "ShippingAddress.Country: longer than 2 characters",
        "CustomFields.A: must be text",
    ]


def test_every_target_field_of_the_sales_order_is_known_to_the_schema():
    assert "LineItems[].SKU" in leaf_paths(TIMS_SALES_ORDER)
    assert "ShippingAddress.PostalCode" in leaf_paths(TIMS_SALES_ORDER)


def test_the_other_default_sets_compile_and_map():
    item_set, stock_set = templates.mapping_sets_for("channeladvisor_tims")[1:]
    item = CompiledMapping(item_set).apply({"sku": "ARG-00001", "name": "Argon", "price": "12.5", "cost": "7"})
    assert item.ok and item.output == {"Sku": "ARG-00001", "Title": "Argon", "Cost": "7.00", "RetailPrice": "12.50"}
    stock = CompiledMapping(stock_set).apply({"sku": "ARG-00001", "available": "-3", "location": "MAIN"})
    assert stock.ok and stock.output == {"SKU": "ARG-00001", "Quantity": 0, "Location": "MAIN"}
    ps_item = CompiledMapping(templates.mapping_sets_for("prestashop_tims")[1]).apply(
        {"sku": "A", "name": "B", "price": "1", "active": False})
    assert ps_item.ok and ps_item.output["active"] is False and ps_item.output["price"] == "1.000000"


def test_inactive_example_rules_can_be_switched_on(order, customer_lookup):
    definition = templates.mapping_sets_for("prestashop_tims", default_location="MAIN")[0]
    rules = [dict(rule, active=True) for rule in definition["rules"]]
    order["shipping_address"]["country"] = "US"
    order["total"] = "1500.00"
    result = CompiledMapping({**definition, "rules": rules}, VALUE_MAPS).apply(order, customer_lookup)
    assert result.ok, result.errors
    assert result.output["Location"] == "CHI"  # by country wins over the default location (which only fills)
    assert [line["DiscountAmount"] for line in result.output["LineItems"]] == ["0.82", "0.24"]


MAPPING = order_mapping()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["sku", "quantity", "unit_price", "email", "country", "line1", "x"]), children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(list(ORDER_KEYS)), JSON_VALUES, max_size=12))
def test_any_record_through_the_default_mapping_gives_a_result_never_an_exception(record):
    result = MAPPING.apply(record, {"tims_customer_by_email": lambda email: "C1"})
    assert isinstance(result.errors, list)
    if result.ok:
        assert validate(TIMS_SALES_ORDER, result.output) == []
