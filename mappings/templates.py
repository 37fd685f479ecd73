"""Default mapping sets and value maps: what a new integration gets so it works out of the box.

Plain data, usable without the database (the benchmark compiles ORDER_FIELDS directly). The canonical
records we map from are described in mappings/schemas.py (CANONICAL_SOURCES).
"""

# ---- value maps -------------------------------------------------------------------------------------------------
# name -> (description, strict, default, {source: target})
VALUE_MAPS = {
    "prestashop_order_state": (
        "PrestaShop order state name → TIMS OrderStatus", True, "", {
            "Awaiting check payment": "OnHold",
            "Awaiting bank wire payment": "OnHold",
            "Awaiting Cash On Delivery validation": "OnHold",
            "Remote payment accepted": "Processing",
            "Payment accepted": "Processing",
            "Processing in progress": "Processing",
            "On backorder (paid)": "Processing",
            "On backorder (not paid)": "OnHold",
            "Shipped": "Fulfilled",
            "Delivered": "Fulfilled",
            "Canceled": "Cancelled",
            "Refunded": "Cancelled",
            "Payment error": "OnHold",
        }),
    "prestashop_payment_status": (
        "PrestaShop payment state → TIMS PaymentStatus", False, "", {
            "paid": "Paid", "unpaid": "Unpaid", "partial": "PartiallyPaid", "refunded": "Refunded",
            "Payment accepted": "Paid", "Remote payment accepted": "Paid",
            "Awaiting bank wire payment": "Pending", "Awaiting check payment": "Pending",
            "Payment error": "Failed", "Refunded": "Refunded",
        }),
    "channeladvisor_shipping_status": (
        "ChannelAdvisor ShippingStatus → TIMS OrderStatus", True, "", {
            "Unshipped": "Open", "PendingShipment": "Processing", "PartiallyShipped": "PartiallyShipped",
            "Shipped": "Fulfilled", "Canceled": "Cancelled", "ThirdPartyManaged": "Fulfilled",
        }),
    "channeladvisor_payment_status": (
        "ChannelAdvisor PaymentStatus → TIMS PaymentStatus", True, "", {
            "NotYetSubmitted": "Unpaid", "Submitted": "Pending", "Cleared": "Paid", "Deposited": "Paid",
            "Failed": "Failed",
        }),
    "carriers": (
        "Channel carrier → TIMS shipping method", False, "STANDARD", {
            "UPS": "UPS", "UPS Ground": "UPS-GND", "UPS Next Day Air": "UPS-NDA", "FedEx": "FEDEX",
            "FedEx Ground": "FEDEX-GND", "USPS": "USPS", "DHL": "DHL", "DHL Express": "DHL-EXP",
            "Colissimo": "COLISSIMO", "Chronopost": "CHRONOPOST", "My carrier": "STANDARD",
            "Click and collect": "PICKUP", "Pick up in-store": "PICKUP",
        }),
    "countries": (
        "Country name or ISO3 code → ISO 3166 alpha-2 (codes already in alpha-2 pass through)", False, "", {
            "Germany": "DE", "Deutschland": "DE", "DEU": "DE", "France": "FR", "FRA": "FR", "Spain": "ES",
            "España": "ES", "ESP": "ES", "United States": "US", "USA": "US", "United States of America": "US",
            "Poland": "PL", "Polska": "PL", "POL": "PL", "Sweden": "SE", "Sverige": "SE", "SWE": "SE",
            "Italy": "IT", "Italia": "IT", "ITA": "IT", "Canada": "CA", "CAN": "CA", "United Kingdom": "GB",
            "UK": "GB", "GBR": "GB", "Great Britain": "GB", "Austria": "AT", "Österreich": "AT", "AUT": "AT",
            # Codes that are already right, so they are not reported as unmapped.
            **{code: code for code in ("DE", "FR", "ES", "US", "PL", "SE", "IT", "CA", "GB", "AT", "NL", "BE", "CH",
                                       "DK", "NO", "FI", "IE", "PT", "CZ", "MX", "AU", "JP", "CN")},
        }),
    "tax_codes": (
        "Channel tax rate (percent) → TIMS tax code", False, "STD", {
            "0": "EXEMPT", "0.000": "EXEMPT", "5.5": "VAT5.5", "5.500": "VAT5.5", "7": "VAT7", "7.000": "VAT7",
            "10": "VAT10", "10.000": "VAT10", "19": "VAT19", "19.000": "VAT19", "20": "VAT20", "20.000": "VAT20",
        }),
}


def _f(target, source, transforms="", required=False, condition=""):
    return {"target": target, "source": source, "transforms": transforms, "required": required,
            "condition": condition}


def _address(target, source):
    return [
        _f(f"{target}.Line1", f"{source}.line1", "trim | truncate"),
        _f(f"{target}.Line2", f"{source}.line2", "trim | truncate"),
        _f(f"{target}.City", f"{source}.city", "trim | truncate"),
        _f(f"{target}.State", f"{source}.state", "trim | truncate"),
        _f(f"{target}.PostalCode", f"{source}.postcode", "trim | truncate"),
        _f(f"{target}.Country", f"{source}.country", "trim | value_map:countries | upper"),
    ]


def order_fields(status_map, payment_map, order_timezone="UTC"):
    """Canonical order → TIMS sales order. `order_timezone` reads naive timestamps (PrestaShop's shop-local time)."""
    return [
        _f("ExternalOrderID", "coalesce(reference, source_id)", "text | trim | truncate", required=True),
        _f("CustomerID", "customer.email", "trim | lower | lookup:tims_customer_by_email", required=True),
        _f("OrderDate", "created_at", f"datetime:UTC:{order_timezone}", required=True),
        _f("OrderStatus", "status", f"value_map:{status_map}", required=True),
        _f("PaymentStatus", "payment_status", f"value_map:{payment_map} | truncate"),
        _f("ShippingMethod", "carrier", "value_map:carriers | truncate"),
        _f("TotalAmount", "total", "decimal:2"),
        *_address("ShippingAddress", "shipping_address"),
        *_address("BillingAddress", "billing_address"),
        # SKUs are never cut: a shortened SKU would book the wrong item, so an over-long one is an error.
        _f("LineItems[].SKU", "lines[].sku", "text | trim", required=True),
        _f("LineItems[].Quantity", "lines[].quantity", "decimal", required=True),
        _f("LineItems[].Price", "lines[].unit_price", "decimal:4", required=True),
        _f("LineItems[].TaxAmount", "lines[].tax_amount", "decimal:2"),
        _f("LineItems[].DiscountAmount", "lines[].discount_amount", "decimal:2"),
        # Custom fields: the channel's own id and currency, and any extra.* the shop sends (extend in the admin).
        _f("CustomFields.ChannelOrderID", "source_id", "text | truncate"),
        _f("CustomFields.Currency", "currency", "upper"),
        _f("CustomFields.GiftMessage", "extra.gift_message", "trim | truncate", condition="extra.gift_message"),
        _f("CustomFields.TaxCode", "extra.tax_rate", "text | value_map:tax_codes",
           condition="extra.tax_rate != null"),
    ]


def _rule(name, target, value, condition="", kind="enrichment", mode="default", active=True, transforms=""):
    return {"name": name, "target": target, "value": value, "condition": condition, "kind": kind, "mode": mode,
            "active": active, "transforms": transforms}


def order_rules(channel_cost_center, default_location):
    rules = [
        _rule("Cost center by channel", "CostCenter", f"'{channel_cost_center}'"),
        _rule("Project code for gas cylinders (by SKU prefix)", "ProjectCode", "'GAS'",
              condition="any_startswith(lines[].sku, 'ARG-') or any_startswith(lines[].sku, 'CO2-')"),
        _rule("Example: North American orders ship from the Chicago yard (by country)", "Location", "'CHI'",
              condition="shipping_address.country in ['US', 'CA']", active=False),
        _rule("Example: 2% volume discount on orders of 1000 or more", "LineItems[].DiscountAmount",
              "round(decimal(lines[].unit_price) * decimal(lines[].quantity) * 0.02, 2)",
              condition="total >= 1000", kind="conditional", mode="set", active=False),
    ]
    if default_location:
        rules.append(_rule("Default location (from the TIMS connection)", "Location", f"'{default_location}'"))
    return rules


ITEM_TO_CHANNELADVISOR = [
    _f("Sku", "sku", "text | trim", required=True),
    _f("Title", "coalesce(name, description)", "trim | truncate", required=True),
    _f("Brand", "brand", "trim | truncate"),
    _f("Manufacturer", "manufacturer", "trim | truncate"),
    _f("MPN", "mpn", "trim | truncate"),
    _f("UPC", "upc", "trim"),
    _f("EAN", "ean", "trim"),
    _f("Cost", "cost", "decimal:2"),
    _f("RetailPrice", "price", "decimal:2"),
    _f("Weight", "weight", "decimal:3"),
]

ITEM_TO_PRESTASHOP = [
    _f("reference", "sku", "text | trim", required=True),
    _f("name", "coalesce(name, description)", "trim | truncate", required=True),
    _f("description", "description", "trim | truncate"),
    _f("price", "price", "decimal:6", required=True),
    _f("wholesale_price", "cost", "decimal:6"),
    _f("weight", "weight", "decimal:6"),
    _f("ean13", "ean", "trim"),
    _f("active", "active", "default:true | boolean"),
]

STOCK_TO_CHANNEL = [
    _f("SKU", "sku", "text | trim", required=True),
    # Never publish a negative quantity: channels treat it as an error or as zero anyway.
    _f("Quantity", "max(available, 0)", "integer", required=True),
    _f("Location", "location", "trim | truncate"),
]

# Per integration template: the mapping sets it gets. Each: key, name, flow, source, target, fields, rules.
CHANNEL_LABELS = {"prestashop_tims": "PrestaShop", "channeladvisor_tims": "ChannelAdvisor"}


def mapping_sets_for(template, *, shop_timezone="UTC", default_location=""):
    channel = CHANNEL_LABELS.get(template)
    if channel is None:
        return []
    if template == "prestashop_tims":
        fields = order_fields("prestashop_order_state", "prestashop_payment_status", shop_timezone)
        rules = order_rules("WEB", default_location)
        item_fields = ITEM_TO_PRESTASHOP
        item_target = "prestashop_product"
    else:
        fields = order_fields("channeladvisor_shipping_status", "channeladvisor_payment_status")
        rules = order_rules("MARKETPLACE", default_location) + [
            _rule("Unpaid marketplace orders wait (OnHold)", "OrderStatus", "'OnHold'",
                  condition="status == 'Unshipped' and payment_status in ['NotYetSubmitted', 'Failed']",
                  kind="conditional", mode="set"),
        ]
        item_fields = ITEM_TO_CHANNELADVISOR
        item_target = "channeladvisor_product"
    return [
        {"key": "order_to_tims", "name": f"{channel} order → TIMS sales order", "flow": "orders",
         "source": "canonical_order", "target": "tims_sales_order", "fields": fields, "rules": rules},
        {"key": "item_to_channel", "name": f"TIMS item → {channel} product", "flow": "catalog",
         "source": "canonical_item", "target": item_target, "fields": item_fields, "rules": []},
        {"key": "stock_to_channel", "name": f"TIMS stock → {channel} stock", "flow": "inventory",
         "source": "canonical_stock", "target": "channel_stock", "fields": STOCK_TO_CHANNEL, "rules": []},
    ]


# Example records, shown in the admin preview when nothing was pasted yet (the shape staff can copy and edit).
SAMPLE_RECORDS = {
    "canonical_order": {
        "source_system": "prestashop", "source_id": "1042", "reference": "XKBKNABJK",
        "created_at": "2026-03-02 10:15:00", "currency": "EUR", "status": "Payment accepted",
        "payment_status": "paid", "total": "64.10", "tax_total": "4.10", "shipping_total": "7.00",
        "discount_total": "0.00",
        "customer": {"email": "zoe.muller@example.com", "first_name": "Zoë", "last_name": "Müller", "company": "",
                     "phone": "+49 30 1234567", "source_id": "2"},
        "shipping_address": {"first_name": "Zoë", "last_name": "Müller", "company": "", "line1": "Hauptstraße 1",
                             "line2": "", "city": "Berlin", "state": "", "postcode": "10115", "country": "DE",
                             "phone": ""},
        "billing_address": {"first_name": "Zoë", "last_name": "Müller", "company": "", "line1": "Hauptstraße 1",
                            "line2": "", "city": "Berlin", "state": "", "postcode": "10115", "country": "DE",
                            "phone": ""},
        "lines": [{"sku": "ARG-00002", "name": "Argon cylinder refill 80 cf #2", "quantity": "2",
                   "unit_price": "20.50", "tax_amount": "3.90", "discount_amount": "0.00", "source_id": "1"}],
        "carrier": "UPS Ground",
        "extra": {"gift_message": ""},
    },
    "canonical_item": {"sku": "ARG-00002", "name": "Argon cylinder refill 80 cf #2", "description": "",
                       "price": "20.50", "cost": "12.71", "weight": "0.5", "active": True},
    "canonical_stock": {"sku": "ARG-00002", "location": "MAIN", "available": "12"},
}
