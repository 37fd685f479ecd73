"""The engine on the shipped order mapping, without the database: output, validation, rules, custom fields."""

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations import canonical as c
from mappings import templates
from mappings.engine import CompiledMapping
from mappings.errors import CompileError, MappingFailed, UnmappedValueError
from mappings.schemas import TIMS_SALES_ORDER, leaf_paths
from mappings.transforms import CompiledValueMap
from mappings.validation import validate

VALUE_MAPS = [CompiledValueMap(name, entries, default, strict, pk=index + 1)
              for index, (name, (_, strict, default, entries)) in enumerate(templates.VALUE_MAPS.items())]


ORDER_KEYS = tuple(field.name for field in dataclasses.fields(c.Order))


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
        {"SKU": "ARG-00002", "Quantity": 2, "Price": "20.50", "TaxAmount": "3.90", "DiscountAmount": "0.00"},
        {"SKU": "GLV-00004", "Quantity": 1, "Price": "12.10", "TaxAmount": "0.20", "DiscountAmount": "0.00"},
    ]
    assert out["TotalAmount"] == "64.10"
    assert out["CustomFields"] == {"ChannelOrderID": "17", "Currency": "EUR", "GiftMessage": "Happy birthday!",
                                   "TaxCode": "VAT19"}
    # Enrichment rules: by channel, by SKU prefix, default location from the TIMS connection.
    assert (out["CostCenter"], out["ProjectCode"], out["Location"]) == ("WEB", "GAS", "MAIN")
    assert result.version == 4
    assert result.value_map_versions["prestashop_order_state"] == 0


def test_validation_names_the_field_and_line(order, customer_lookup):
    order["lines"][1]["sku"] = "S" * 65
    order["lines"][0]["quantity"] = "2.12345"
    order["number"] = ""
    order["source_id"] = None
    result = order_mapping().apply(order, customer_lookup)
    assert "LineItems[1].SKU: longer than 64 characters" in result.errors
    assert "LineItems[0].Quantity: '2.12345' is not a whole number" in result.errors
    assert "ExternalOrderID: required, but the source gave nothing" in result.errors
    with pytest.raises(MappingFailed) as caught:
        result.raise_for_errors()
    assert caught.value.permanent


def test_an_unknown_status_in_a_strict_map_is_a_permanent_error_naming_map_and_value(order, customer_lookup):
    order["status"] = "Awaiting PayPal"
    result = order_mapping().apply(order, customer_lookup)
    # PrestaShop's payment status is read from the state too, so a new state is listed for both maps at once.
    assert result.unmapped == [("prestashop_order_state", "Awaiting PayPal"),
                               ("prestashop_payment_status", "Awaiting PayPal")]
    assert result.output["PaymentStatus"] == "Unpaid"  # not strict: TIMS's own default, never an error
    with pytest.raises(UnmappedValueError) as caught:
        result.raise_for_errors()
    error = caught.value
    assert (error.map_name, error.value, error.permanent) == ("prestashop_order_state", "Awaiting PayPal", True)
    assert "prestashop_order_state" in str(error) and "Awaiting PayPal" in str(error)
    assert error.admin_url.startswith("/admin/mappings/valuemap/") and "add_source=Awaiting+PayPal" in error.admin_url


def test_channeladvisor_rules_hold_unpaid_orders(order, customer_lookup):
    # ChannelAdvisor: CheckoutStatus in `status`, PaymentStatus and ShippingStatus in their own fields.
    order.update(source="channeladvisor", status="Completed", payment_status="NotYetSubmitted",
                 shipping_status="Unshipped")
    result = order_mapping("channeladvisor_tims").apply(order, customer_lookup)
    assert result.ok, result.errors
    assert (result.output["OrderStatus"], result.output["PaymentStatus"]) == ("OnHold", "Unpaid")
    assert result.output["CostCenter"] == "MARKETPLACE"
    order["payment_status"] = "Cleared"
    assert order_mapping("channeladvisor_tims").apply(order, customer_lookup).output["OrderStatus"] == "Open"
    order["shipping_status"] = "Shipped"
    assert order_mapping("channeladvisor_tims").apply(order, customer_lookup).output["OrderStatus"] == "Fulfilled"


def test_per_line_conditional_rule(order, customer_lookup):
    rules = [{"name": "5% off big orders", "target": "LineItems[].DiscountAmount", "mode": "set",
              "value": "round(decimal(lines[].unit_price.amount) * decimal(lines[].quantity) * 0.05, 2)",
              "condition": "total.amount >= 50 and lines[].sku != 'GLV-00004'"}]
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
    result = order_mapping().apply({"lines": "not a list", "customer": ["x"], "total": {"amount": {"a": 1}}},
                                   customer_lookup)
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
        "LineItems[0].Quantity: must be a whole number",
        "LineItems[0].Price: more than 2 decimal places",
        "ShippingAddress.Country: longer than 2 characters",
        "CustomFields.A: must be text",
    ]


def test_every_target_field_of_the_sales_order_is_known_to_the_schema():
    assert "LineItems[].SKU" in leaf_paths(TIMS_SALES_ORDER)
    assert "ShippingAddress.PostalCode" in leaf_paths(TIMS_SALES_ORDER)


def test_the_other_default_sets_compile_and_map():
    item_set, stock_set = templates.mapping_sets_for("channeladvisor_tims")[1:]
    product = c.Product(source="tims", source_id="ARG-00001", sku="ARG-00001", name="Argon",
                        price=c.Money("12.5", "USD"), cost=c.Money("7", "USD"), brand="Acme",
                        weight=Decimal("1.25"), extra={"manufacturer": "Acme Gas Works"})
    item = CompiledMapping(item_set).apply(product.to_dict())
    assert item.ok, item.errors
    assert item.output == {"Sku": "ARG-00001", "Title": "Argon", "Brand": "Acme", "Manufacturer": "Acme Gas Works",
                           "Cost": "7.00", "RetailPrice": "12.50", "Weight": "1.250"}
    stock = CompiledMapping(stock_set).apply(
        c.StockLevel(sku="ARG-00001", available=-3, source="tims", location="MAIN", on_hand=0).to_dict())
    assert stock.ok and stock.output == {"SKU": "ARG-00001", "Quantity": 0, "Location": "MAIN"}
    ps_set = templates.mapping_sets_for("prestashop_tims")[1]
    ps_item = CompiledMapping(ps_set).apply(
        c.Product(source="tims", source_id="A", sku="A", name="B", price=c.Money("1", "EUR"), active=False).to_dict())
    assert ps_item.ok and ps_item.output["active"] is False and ps_item.output["price"] == "1.000000"
    assert "wholesale_price" not in ps_item.output  # a null cost is left out, not an error
    no_price = CompiledMapping(ps_set).apply(c.Product(source="tims", source_id="A", sku="A", name="B").to_dict())
    assert no_price.errors == ["price: required, but the source gave nothing"]


def test_inactive_example_rules_can_be_switched_on(order, customer_lookup):
    definition = templates.mapping_sets_for("prestashop_tims", default_location="MAIN")[0]
    rules = [dict(rule, active=True) for rule in definition["rules"]]
    order["shipping_address"]["country"] = "US"
    order["total"] = {"amount": "1500.00", "currency": "EUR"}
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


# ---- the real canonical model ------------------------------------------------------------------------------------

def real_order(channel):
    """An order built with the canonical dataclasses, as the channel's connector would produce it."""
    def pln(amount):
        return c.Money(amount, "PLN")

    warsaw = timezone(timedelta(hours=1))  # an aware time with an offset other than UTC and the shop's zone
    address = c.Address(first_name="Zażółć", last_name="Gęślą-Jaźń", line1="ul. Żółkiewskiego 5 m. 7",
                        line2="Klatka B", city="Łódź", postal_code="90-001", country="Polska", phone="+48 42 000 00 00")
    order = c.Order(
        source=channel, source_id="9001", currency="PLN", total=pln("260.00"), number="ŁDZ-0001",
        ordered_at=datetime(2026, 3, 2, 0, 30, tzinfo=warsaw),  # still 1 March in UTC
        customer=c.Customer(source=channel, source_id="77", email="zazolc@example.pl", first_name="Zażółć",
                            last_name="Gęślą-Jaźń"),
        billing_address=address, shipping_address=address,
        lines=[
            c.OrderLine(sku="ARG-00001", quantity=3, unit_price=pln("50.00"), tax=pln("34.50"),
                        discount=pln("1.505"), source_id="1"),
            c.OrderLine(sku="CO2-00009", quantity=1, unit_price=pln("75.5"), tax=None, discount=None,
                        source_id="2"),  # no tax, no discount: null in to_dict()
        ],
        shipping=pln("0.00"), tax=pln("34.50"), discount=None, shipping_method="DHL Express")
    if channel == "channeladvisor":
        order.status, order.payment_status, order.shipping_status = "Completed", "Cleared", "PendingShipment"
    else:
        order.status = "Payment accepted"  # PrestaShop: the state name; payment_status stays empty
    return order.to_dict()


@pytest.mark.parametrize("template, channel, status, payment", [
    ("prestashop_tims", "prestashop", "Processing", "Paid"),
    ("channeladvisor_tims", "channeladvisor", "Processing", "Paid"),
])
def test_a_real_canonical_order_maps_through_both_default_templates(template, channel, status, payment,
                                                                     customer_lookup):
    record = real_order(channel)
    assert record["lines"][1]["tax"] is None and record["lines"][1]["discount"] is None
    assert record["ordered_at"] == "2026-03-02T00:30:00+01:00"
    result = order_mapping(template).apply(record, customer_lookup)
    assert result.ok, result.errors
    assert validate(TIMS_SALES_ORDER, result.output) == []
    out = result.output
    assert out["ExternalOrderID"] == "ŁDZ-0001"  # from number, not source_id
    assert out["CustomFields"]["ChannelOrderID"] == "9001"
    assert out["OrderDate"] == "2026-03-01T23:30:00Z"  # the offset wins over the shop's zone (Europe/Paris)
    assert (out["OrderStatus"], out["PaymentStatus"]) == (status, payment)
    assert out["TotalAmount"] == "260.00"
    assert out["ShippingMethod"] == "DHL-EXP"
    assert out["LineItems"] == [
        {"SKU": "ARG-00001", "Quantity": 3, "Price": "50.00", "TaxAmount": "34.50", "DiscountAmount": "1.51"},
        {"SKU": "CO2-00009", "Quantity": 1, "Price": "75.50"},  # null tax and discount are left out
    ]
    assert out["ShippingAddress"] == out["BillingAddress"] == {
        "Line1": "ul. Żółkiewskiego 5 m. 7", "Line2": "Klatka B", "City": "Łódź", "PostalCode": "90-001",
        "Country": "PL"}
    assert out["CustomFields"]["Currency"] == "PLN"
    assert out["ProjectCode"] == "GAS"


def test_channeladvisor_status_comes_from_shipping_status_not_checkout_status(customer_lookup):
    record = real_order("channeladvisor")
    record["status"] = "Canceled"  # CheckoutStatus: not what TIMS's OrderStatus follows
    assert order_mapping("channeladvisor_tims").apply(record, customer_lookup).output["OrderStatus"] == "Processing"
    record["shipping_status"] = ""
    result = order_mapping("channeladvisor_tims").apply(record, customer_lookup)
    assert result.errors == ["OrderStatus: required, but the source gave nothing"]
    assert result.unmapped == []  # an empty status is missing, not an unmapped value


def test_order_dates_aware_are_converted_naive_are_read_in_the_shop_zone(order, customer_lookup):
    mapping = order_mapping()  # shop zone Europe/Paris
    for ordered_at, expected in [
        ("2026-03-02T04:15:00-05:00", "2026-03-02T09:15:00Z"),
        ("2026-07-02T10:15:00+02:00", "2026-07-02T08:15:00Z"),
        ("2026-03-02T09:15:00+00:00", "2026-03-02T09:15:00Z"),
        ("2026-03-02T09:15:00Z", "2026-03-02T09:15:00Z"),
        ("2026-03-02 10:15:00", "2026-03-02T09:15:00Z"),  # naive: shop-local (Paris, winter)
        ("2026-07-02 10:15:00", "2026-07-02T08:15:00Z"),  # naive: shop-local (Paris, summer)
    ]:
        order["ordered_at"] = ordered_at
        assert mapping.apply(order, customer_lookup).output["OrderDate"] == expected, ordered_at
    order["ordered_at"] = datetime(2026, 3, 2, 9, 15, tzinfo=UTC).isoformat()
    assert order_mapping("channeladvisor_tims").apply(order, customer_lookup).output["OrderDate"] == \
        "2026-03-02T09:15:00Z"


def test_prestashop_payment_status_comes_from_the_state_and_carrier_ids_pass_the_carriers_map(order, customer_lookup):
    assert order["payment_status"] == ""
    order.update(status="Awaiting bank wire payment", shipping_method="2")  # the connector's id_carrier as text
    result = order_mapping().apply(order, customer_lookup)
    assert result.ok, result.errors
    assert (result.output["OrderStatus"], result.output["PaymentStatus"]) == ("OnHold", "Unpaid")
    assert result.output["ShippingMethod"] == "STANDARD"  # the non-strict map's default until "2" is mapped
    assert result.unmapped == [("carriers", "2")]
    order["payment_status"] = "partial"  # a shop or module that does fill it wins over the state
    assert order_mapping().apply(order, customer_lookup).output["PaymentStatus"] == "PartiallyPaid"


def test_shipped_status_maps_cover_each_other_and_only_give_values_tims_accepts():
    from mappings.schemas import ORDER_STATUSES, PAYMENT_STATUSES

    maps = {name: entries for name, (_, _, _, entries) in templates.VALUE_MAPS.items()}
    assert set(maps["prestashop_order_state"]) <= set(maps["prestashop_payment_status"])
    for name in ("prestashop_order_state", "channeladvisor_shipping_status"):
        assert set(maps[name].values()) <= set(ORDER_STATUSES), name
    for name in ("prestashop_payment_status", "channeladvisor_payment_status"):
        assert set(maps[name].values()) <= set(PAYMENT_STATUSES), name


def test_samples_are_canonical_records_that_map_cleanly(customer_lookup):
    for template in templates.CHANNEL_LABELS:
        for definition in templates.mapping_sets_for(template, shop_timezone="Europe/Paris"):
            sample = templates.sample_record(definition["source"], template)
            model = {"canonical_order": c.Order, "canonical_item": c.Product, "canonical_stock": c.StockLevel}[
                definition["source"]]
            assert model.from_dict(sample).to_dict() == sample  # exactly the canonical shape
            result = CompiledMapping(definition, VALUE_MAPS).apply(sample, customer_lookup)
            assert result.ok, (template, definition["key"], result.errors)


def test_every_default_source_path_is_a_canonical_path():
    from mappings.expr import Expression
    from mappings.schemas import CANONICAL_SOURCES

    def paths(tree):
        if tree[0] == "path":
            yield ".".join("[]" if s[0] == "each" else s[1] for s in tree[1]).replace(".[]", "[]")
        for part in tree[1:]:
            items = part if isinstance(part, tuple) and part and isinstance(part[0], tuple) else (part,)
            for item in items:
                if isinstance(item, tuple) and item and isinstance(item[0], str) and item[0] != "key":
                    yield from paths(item)

    for template in templates.CHANNEL_LABELS:
        for definition in templates.mapping_sets_for(template):
            known = set(CANONICAL_SOURCES[definition["source"]][1])
            for row in definition["fields"] + definition["rules"]:
                for text in (row.get("source") or row.get("value"), row.get("condition")):
                    for path in paths(Expression(text).tree) if text else ():
                        assert path in known or path.startswith("extra."), (template, row["target"], path)
