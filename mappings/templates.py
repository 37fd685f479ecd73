"""Default mapping sets and value maps: what a new integration gets so it works out of the box.

Plain data, usable without the database (the benchmark compiles them directly). The source records are the
canonical model's to_dict() forms (integrations/canonical.py: Order, Product, StockLevel); their paths are listed
in mappings/schemas.py (CANONICAL_SOURCES) and described in docs/mappings.md.
"""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from integrations import canonical as c

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
    # PrestaShop's canonical order has no payment status of its own (payment_status is empty): the mapping reads
    # coalesce(payment_status, status), so the shop's state name decides it. Every default state is listed, so a
    # new shop maps cleanly; the lower-case words are for shops or modules that do fill payment_status.
    # TIMS accepts Unpaid, PartiallyPaid, Paid and Refunded only. Not strict, default Unpaid (what TIMS assumes
    # when no PaymentStatus is sent): a state the map lacks never stops an order (the strict state map does that)
    # and is listed under Unmapped values.
    "prestashop_payment_status": (
        "PrestaShop payment status, or else the order state name → TIMS PaymentStatus", False, "Unpaid", {
            "paid": "Paid", "unpaid": "Unpaid", "partial": "PartiallyPaid", "refunded": "Refunded",
            "Awaiting check payment": "Unpaid",
            "Awaiting bank wire payment": "Unpaid",
            "Awaiting Cash On Delivery validation": "Unpaid",
            "Remote payment accepted": "Paid",
            "Payment accepted": "Paid",
            "Processing in progress": "Paid",
            "On backorder (paid)": "Paid",
            "On backorder (not paid)": "Unpaid",
            "Shipped": "Paid",
            "Delivered": "Paid",
            "Canceled": "Unpaid",
            "Refunded": "Refunded",
            "Payment error": "Unpaid",
        }),
    # Why goods or money came back → TIMS's return Reason and whether the goods go back on the shelf:
    # "Reason|restock", "Reason|no-restock", or "Reason|channel" (as the channel says: ChannelAdvisor's IsRestock
    # / RestockStatus). Strict: a reason no entry covers is a dead letter with the fix, never a guessed restock.
    "channeladvisor_return_reason": (
        "ChannelAdvisor adjustment Reason → TIMS return Reason|restock", True, "", {
            "CustomerReturnedItem": "CustomerReturn|channel",
            "BuyerReturnRefund": "CustomerReturn|channel",
            "CustomerExchange": "Exchange|channel",
            "ItemNotAsDescribed": "NotAsDescribed|channel",
            "DamagedInTransit": "Damaged|no-restock",
            "MerchandiseNotReceived": "NotReceived|no-restock",
            "GeneralAdjustment": "Refund|no-restock",
            "Other": "Refund|no-restock",
        }),
    # A credit slip names no reason: the portal reads it as "refund" (money back, nothing restocked unless staff
    # say so here, as PrestaShop's "re-stock products" box does not reach the webservice).
    "prestashop_return_reason": (
        "PrestaShop credit slip → TIMS return Reason|restock", True, "", {
            "refund": "Refund|no-restock",
        }),
    "channeladvisor_shipping_status": (
        "ChannelAdvisor ShippingStatus → TIMS OrderStatus", True, "", {
            "Unshipped": "Open", "PendingShipment": "Processing", "PartiallyShipped": "PartiallyShipped",
            "Shipped": "Fulfilled", "Canceled": "Cancelled", "ThirdPartyManaged": "Fulfilled",
        }),
    "channeladvisor_payment_status": (
        "ChannelAdvisor PaymentStatus → TIMS PaymentStatus", True, "", {
            "NotYetSubmitted": "Unpaid", "Submitted": "Unpaid", "Cleared": "Paid", "Deposited": "Paid",
            "Failed": "Unpaid",
        }),
    "carriers": (
        "Channel carrier → TIMS shipping method", False, "STANDARD", {
            "UPS": "UPS", "UPS Ground": "UPS-GND", "UPS Next Day Air": "UPS-NDA", "FedEx": "FEDEX",
            "FedEx Ground": "FEDEX-GND", "USPS": "USPS", "DHL": "DHL", "DHL Express": "DHL-EXP",
            "Colissimo": "COLISSIMO", "Chronopost": "CHRONOPOST",
            # PrestaShop carrier names: a default PrestaShop 8 install's (as the sandbox seeds them).
            "Click and collect": "PICKUP", "My carrier": "STANDARD", "My cheap carrier": "ECONOMY",
            "My light carrier": "ECONOMY",
        }),
    # Shipments back to the channel: TIMS "Carrier|ShippingClass" → the channel's carrier. Strict: a carrier the
    # channel does not know must stop the shipment, never reach the buyer as a wrong tracking link.
    "tims_carrier_to_prestashop": (
        "TIMS Carrier|ShippingClass → PrestaShop carrier name", True, "", {
            "UPS|Ground": "My carrier", "UPS|Next Day Air": "My carrier", "UPS|2nd Day Air": "My carrier",
            "FedEx|Ground": "My carrier", "FedEx|2Day": "My carrier", "USPS|Priority": "My carrier",
            "USPS|First Class": "My carrier", "DHL|Express": "DHL Express", "PICKUP|Counter": "Click and collect",
        }),
    "tims_carrier_to_channeladvisor": (
        "TIMS Carrier|ShippingClass → ChannelAdvisor ShippingCarrier|ShippingClass (pairs the account has)", True,
        "", {pair: pair for pair in (
            "UPS|Ground", "UPS|2nd Day Air", "UPS|Next Day Air", "UPS|3 Day Select", "FedEx|Ground",
            "FedEx|Home Delivery", "FedEx|2Day", "FedEx|Priority Overnight", "USPS|Priority", "USPS|First Class",
            "USPS|Ground Advantage", "DHL|Express")}),
    # Stock to the channels: TIMS SKU → the channel's SKU (PrestaShop product or combination reference,
    # ChannelAdvisor Sku). Not strict: a SKU without an entry is the same on both sides.
    "tims_sku_to_prestashop": ("TIMS SKU → PrestaShop product or combination reference (unlisted: the same)", False,
                               "", {}),
    "tims_sku_to_channeladvisor": ("TIMS SKU → ChannelAdvisor Sku (unlisted: the same)", False, "", {}),
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
        _f(f"{target}.PostalCode", f"{source}.postal_code", "trim | truncate"),
        _f(f"{target}.Country", f"{source}.country", "trim | value_map:countries | upper"),
    ]


def order_fields(status_source, status_map, payment_source, payment_map, order_timezone="UTC"):
    """Canonical order (Order.to_dict()) → TIMS sales order.

    `status_source` is the canonical field that decides OrderStatus (PrestaShop: `status`, the state name;
    ChannelAdvisor: `shipping_status`). `order_timezone` reads naive timestamps; the canonical model's are aware
    (ISO 8601 with an offset) and are simply converted to UTC."""
    return [
        _f("ExternalOrderID", "coalesce(number, source_id)", "text | trim | truncate", required=True),
        _f("CustomerID", "customer.email", "trim | lower | lookup:tims_customer_by_email", required=True),
        _f("OrderDate", "ordered_at", f"datetime:UTC:{order_timezone}", required=True),
        _f("OrderStatus", status_source, f"value_map:{status_map}", required=True),
        _f("PaymentStatus", payment_source, f"value_map:{payment_map}"),
        _f("ShippingMethod", "shipping_method", "value_map:carriers | truncate"),
        _f("TotalAmount", "total.amount", "decimal:2"),
        # The order's own currency and freight: TIMS invoices in that currency and bills the freight once.
        _f("Currency", "coalesce(currency, total.currency)", "upper"),
        _f("ShippingAmount", "shipping.amount", "decimal:2"),
        *_address("ShippingAddress", "shipping_address"),
        *_address("BillingAddress", "billing_address"),
        # SKUs are never cut: a shortened SKU would book the wrong item, so an over-long one is an error.
        _f("LineItems[].SKU", "lines[].sku", "text | trim", required=True),
        _f("LineItems[].Quantity", "lines[].quantity", "integer", required=True),
        _f("LineItems[].Price", "lines[].unit_price.amount", "decimal:2", required=True),
        # Tax and discount are Money or null per line: a null one leaves the field out (TIMS reads it as 0).
        _f("LineItems[].TaxAmount", "lines[].tax.amount", "decimal:2"),
        _f("LineItems[].DiscountAmount", "lines[].discount.amount", "decimal:2"),
        # Custom fields: the channel's own id and currency, and any extra.* the shop sends (extend in the admin).
        _f("CustomFields.ChannelOrderID", "source_id", "text | truncate"),
        _f("CustomFields.Currency", "coalesce(currency, total.currency)", "upper"),
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
              "round(decimal(lines[].unit_price.amount) * decimal(lines[].quantity) * 0.02, 2)",
              condition="total.amount >= 1000", kind="conditional", mode="set", active=False),
    ]
    if default_location:
        rules.append(_rule("Default location (from the TIMS connection)", "Location", f"'{default_location}'"))
    return rules


# TIMS item (canonical Product.to_dict()) → channel product. Money is {"amount", "currency"} or null.
ITEM_TO_CHANNELADVISOR = [
    _f("Sku", "sku", "text | trim", required=True),
    _f("Title", "coalesce(name, description)", "trim | truncate", required=True),
    _f("Brand", "brand", "trim | truncate"),
    _f("Manufacturer", "extra.manufacturer", "trim | truncate"),
    _f("MPN", "mpn", "trim | truncate"),
    _f("UPC", "upc", "trim"),
    _f("EAN", "ean", "trim"),
    _f("Cost", "cost.amount", "decimal:2"),
    _f("RetailPrice", "price.amount", "decimal:2"),
    _f("Weight", "weight", "decimal:3"),
]

ITEM_TO_PRESTASHOP = [
    _f("reference", "sku", "text | trim", required=True),
    _f("name", "coalesce(name, description)", "trim | truncate", required=True),
    _f("description", "description", "trim | truncate"),
    _f("price", "price.amount", "decimal:6", required=True),
    _f("wholesale_price", "cost.amount", "decimal:6"),
    _f("weight", "weight", "decimal:6"),
    _f("ean13", "ean", "trim"),
    _f("active", "active", "default:true | boolean"),
]

# Canonical StockLevel.to_dict() → channel stock.
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
        # PrestaShop: `status` is the shop's order state name; payment_status is empty, so the state decides it.
        fields = order_fields("status", "prestashop_order_state", "coalesce(payment_status, status)",
                              "prestashop_payment_status", shop_timezone)
        rules = order_rules("WEB", default_location)
        item_fields = ITEM_TO_PRESTASHOP
        item_target = "prestashop_product"
    else:
        # ChannelAdvisor: `status` is CheckoutStatus; what TIMS calls the order status follows ShippingStatus.
        fields = order_fields("shipping_status", "channeladvisor_shipping_status", "payment_status",
                              "channeladvisor_payment_status")
        rules = order_rules("MARKETPLACE", default_location) + [
            _rule("Unpaid marketplace orders wait (OnHold)", "OrderStatus", "'OnHold'",
                  condition="shipping_status == 'Unshipped' and payment_status in ['NotYetSubmitted', 'Failed']",
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


# ---- example records --------------------------------------------------------------------------------------------
# Shown in the admin preview when nothing was pasted yet (the shape staff can copy and edit). Built through the
# canonical dataclasses and to_dict(), so they always have exactly the shape the pipeline passes to map_record().

def sample_order(channel="prestashop"):
    """A canonical Order as the given channel's connector produces it (to_dict() form)."""
    def eur(amount):
        return c.Money(amount, "EUR")

    address = c.Address(first_name="Zoë", last_name="Müller", line1="Hauptstraße 1", city="Berlin",
                        postal_code="10115", country="DE", phone="+49 30 1234567")
    customer = c.Customer(source=channel, source_id="2", email="zoe.muller@example.com", first_name="Zoë",
                          last_name="Müller", phone="+49 30 1234567", billing_address=address,
                          shipping_addresses=[address])
    lines = [c.OrderLine(sku="ARG-00002", name="Argon cylinder refill 80 cf #2", quantity=2,
                         unit_price=eur("20.50"), tax=eur("7.79"), source_id="1")]
    order = c.Order(
        source=channel, source_id="1042", currency="EUR", total=eur("55.79"), number="XKBKNABJK",
        customer=customer, billing_address=address, shipping_address=address, lines=lines,
        subtotal=eur("41.00"), shipping=eur("7.00"), tax=eur("7.79"), discount=eur("0.00"),
        payment_method="Bank wire", extra={"gift_message": ""})
    if channel == "channeladvisor":
        order.status, order.payment_status, order.shipping_status = "Completed", "Cleared", "Unshipped"
        order.ordered_at = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
        order.shipping_method = "UPS Ground"
    else:
        # PrestaShop: the state name in `status`, no payment status, shop-local time, the carrier id as text.
        order.status = "Payment accepted"
        order.ordered_at = datetime(2026, 3, 2, 10, 15, tzinfo=ZoneInfo("Europe/Paris"))
        order.shipping_method = "2"
    return order.to_dict()


def sample_item():
    return c.Product(source="tims", source_id="ARG-00002", sku="ARG-00002", name="Argon cylinder refill 80 cf #2",
                     price=c.Money("20.50", "EUR"), cost=c.Money("12.71", "EUR"), brand="Acme Gases",
                     weight=Decimal("0.5"), unit_of_measure="EA").to_dict()


def sample_stock():
    return c.StockLevel(sku="ARG-00002", available=12, source="tims", location="MAIN", on_hand=14,
                        allocated=2).to_dict()


SAMPLE_RECORDS = {
    "canonical_order": sample_order("prestashop"),
    "canonical_item": sample_item(),
    "canonical_stock": sample_stock(),
}
CHANNEL_OF_TEMPLATE = {"prestashop_tims": "prestashop", "channeladvisor_tims": "channeladvisor"}


def sample_record(source, template=""):
    """The example record for a mapping set's source, shaped like its integration's channel sends it."""
    if source == "canonical_order" and template in CHANNEL_OF_TEMPLATE:
        return sample_order(CHANNEL_OF_TEMPLATE[template])
    return SAMPLE_RECORDS.get(source)
