"""ChannelAdvisor REST v1 records to and from the canonical model."""

from datetime import UTC, datetime
from decimal import Decimal

from integrations import canonical as c

SOURCE = "channeladvisor"
ORDER_FIELDS = {"ID", "SiteOrderID", "Currency", "CreatedDateUtc", "ImportDateUtc", "TotalPrice", "TotalTaxPrice",
                "TotalShippingPrice", "TotalShippingTaxPrice", "PromotionAmount", "CheckoutStatus", "PaymentStatus",
                "ShippingStatus", "BuyerEmailAddress", "BuyerUserId", "Shipping", "Billing", "Items",
                "PaymentMethod", "PrivateNotes", "@odata.context"}
ADDRESS_PARTS = {"Title", "FirstName", "LastName", "Suffix", "CompanyName", "DaytimePhone", "EveningPhone",
                 "AddressLine1", "AddressLine2", "City", "StateOrProvince", "PostalCode", "Country"}


def utc(value) -> datetime | None:
    """ChannelAdvisor sends UTC ISO 8601 ("2026-03-02T10:00:00Z", sometimes with fractions or no zone)."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso_utc(moment: datetime) -> str:
    return c.aware(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def amount(value) -> Decimal:
    if value is None or value == "":
        return Decimal("0")
    if isinstance(value, float):  # only when a caller parsed JSON without parse_float=Decimal
        value = repr(value)
    return c.decimal(value)


def address(raw: dict | None, email="") -> c.Address | None:
    if not raw:
        return None
    named = {"FirstName", "LastName", "CompanyName", "AddressLine1", "AddressLine2", "City", "StateOrProvince",
             "PostalCode", "Country", "DaytimePhone"}
    return c.Address(
        first_name=raw.get("FirstName") or "", last_name=raw.get("LastName") or "",
        company=raw.get("CompanyName") or "", line1=raw.get("AddressLine1") or "",
        line2=raw.get("AddressLine2") or "", city=raw.get("City") or "", state=raw.get("StateOrProvince") or "",
        postal_code=raw.get("PostalCode") or "", country=raw.get("Country") or "",
        phone=raw.get("DaytimePhone") or "", email=email,
        extra={k: v for k, v in raw.items() if k not in named},
    )


def address_fields(raw: dict, prefix: str) -> dict | None:
    """An order's address: v1 Orders carry it as flat fields (`BillingFirstName`, `ShippingCity`...); a nested
    `Billing`/`Shipping` object is read too."""
    nested = raw.get(prefix)
    if isinstance(nested, dict):
        return nested
    flat = {key[len(prefix):]: value for key, value in raw.items()
            if key.startswith(prefix) and value not in (None, "") and key[len(prefix):] in ADDRESS_PARTS}
    return flat or None


def order(raw: dict) -> c.Order:
    currency = raw.get("Currency") or ""

    def money(value):
        return c.Money(amount(value), currency)

    lines = [c.OrderLine(
        sku=item.get("Sku") or "", name=item.get("Title") or "", quantity=int(item.get("Quantity") or 0),
        unit_price=money(item.get("UnitPrice")), tax=money(item.get("TaxPrice")), source_id=str(item.get("ID", "")),
        extra={k: v for k, v in item.items() if k not in {"Sku", "Title", "Quantity", "UnitPrice", "TaxPrice", "ID"}},
    ) for item in raw.get("Items") or []]
    email = raw.get("BuyerEmailAddress") or ""
    billing, shipping = address(address_fields(raw, "Billing"), email), address(address_fields(raw, "Shipping"))
    buyer = c.Customer(source=SOURCE, source_id=str(raw.get("BuyerUserId") or email), email=email,
                       first_name=billing.first_name if billing else "", last_name=billing.last_name if billing else "",
                       company=billing.company if billing else "", phone=billing.phone if billing else "",
                       billing_address=billing, shipping_addresses=[shipping] if shipping else [])
    extra = {k: v for k, v in raw.items() if k not in ORDER_FIELDS}
    if isinstance(raw.get("CustomFields"), list):  # reachable by name from mappings
        extra["custom_fields"] = {f.get("FieldName") or str(f.get("FieldID")): f.get("Value")
                                  for f in raw["CustomFields"]}
    return c.Order(
        source=SOURCE, source_id=str(raw.get("ID")), number=raw.get("SiteOrderID") or "",
        status=raw.get("CheckoutStatus") or "", payment_status=raw.get("PaymentStatus") or "",
        shipping_status=raw.get("ShippingStatus") or "", currency=currency, total=money(raw.get("TotalPrice")),
        tax=money(raw.get("TotalTaxPrice")),
        shipping=money(amount(raw.get("TotalShippingPrice")) + amount(raw.get("TotalShippingTaxPrice"))),
        discount=money(abs(amount(raw.get("PromotionAmount")))),
        ordered_at=utc(raw.get("CreatedDateUtc")), updated_at=utc(raw.get("ImportDateUtc")),
        customer=buyer, billing_address=billing, shipping_address=shipping, lines=lines,
        payment_method=raw.get("PaymentMethod") or "", notes=raw.get("PrivateNotes") or "", extra=extra,
    )


PAID_STATUSES = ("Cleared", "Deposited")  # the money is the seller's: a TIMS payment may be applied


def payments(order: c.Order) -> list[c.Payment]:
    """The order's payment as ChannelAdvisor keeps it: one per order, its whole total, once cleared."""
    if order.payment_status not in PAID_STATUSES:
        return []
    transaction = str(order.extra.get("PaymentTransactionID") or "")
    return [c.Payment(source=SOURCE, source_id=transaction or f"order-{order.source_id}", amount=order.total,
                      order_id=order.source_id, method=order.payment_method,
                      reference=transaction or f"CA-{order.source_id}",
                      received_at=utc(order.extra.get("PaymentDateUtc")),
                      extra={"PaymentStatus": order.payment_status})]


def shipment(raw: dict, order_id="") -> c.Shipment:
    return c.Shipment(
        source=SOURCE, source_id=str(raw.get("ID", "")), order_id=str(raw.get("OrderID") or order_id),
        carrier=raw.get("ShippingCarrier") or "", shipping_class=raw.get("ShippingClass") or "",
        tracking_number=raw.get("TrackingNumber") or "", shipped_at=utc(raw.get("ShippedDateUtc")),
        lines=[c.ShipmentLine(sku=i.get("Sku") or "", quantity=int(i.get("Quantity") or 0),
                              source_id=str(i.get("OrderItemID") or "")) for i in raw.get("Items") or []],
        extra={k: v for k, v in raw.items()
               if k not in {"ID", "OrderID", "ShippingCarrier", "ShippingClass", "TrackingNumber", "ShippedDateUtc",
                            "Items"}},
    )


# DeliveryStatus values of a fulfillment whose units are still to ship; Canceled and the rest are done.
OPEN_DELIVERY_STATUSES = {"NoChange", "Confirmed", "PickAndPack", "LabelCreated", "Held"}


def is_shipped(raw_fulfillment: dict) -> bool:
    return raw_fulfillment.get("DeliveryStatus") not in OPEN_DELIVERY_STATUSES | {"Canceled", None}


def is_open(raw_fulfillment: dict) -> bool:
    return raw_fulfillment.get("DeliveryStatus") in OPEN_DELIVERY_STATUSES


def fulfillment(raw: dict, order_raw: dict, *, already=False, state=None) -> c.Fulfillment:
    """A ChannelAdvisor Fulfillment (read with $expand=Items) → canonical; `state` defaults to the order's
    ShippingStatus as read."""
    return c.Fulfillment(
        source=SOURCE, source_id=str(raw.get("ID", "")), order_id=str(raw.get("OrderID") or order_raw.get("ID", "")),
        tracking_number=raw.get("TrackingNumber") or "", carrier=raw.get("ShippingCarrier") or "",
        shipping_class=raw.get("ShippingClass") or "",
        lines=[c.ShipmentLine(sku=line.get("Sku") or "", quantity=int(line.get("Quantity") or 0),
                              source_id=str(line.get("OrderItemID") or "")) for line in raw.get("Items") or []],
        already=already, state=state or order_raw.get("ShippingStatus") or "",
        extra={name: raw.get(name) for name in ("DeliveryStatus", "ShippedDateUtc", "SellerFulfillmentID",
                                                "DistributionCenterID") if raw.get(name) is not None},
    )


def ship_body(item: c.Shipment, carrier=None, shipping_class=None, items=None) -> dict:
    """Canonical shipment → the body of POST /v1/Orders(ID)/Ship. `items` ([{"OrderItemID", "Quantity"}]) ships
    just those units (a split shipment); without it ChannelAdvisor ships every unit still unshipped."""
    value = {
        "ShippedDateUtc": iso_utc(item.shipped_at or datetime.now(UTC)), "TrackingNumber": item.tracking_number,
        "ShippingCarrier": item.carrier if carrier is None else carrier,
        "ShippingClass": item.shipping_class if shipping_class is None else shipping_class,
        "DeliveryStatus": item.extra.get("DeliveryStatus", "Complete"),
    }
    if item.source_id:
        value["SellerFulfillmentID"] = item.source_id  # our shipment's id, a second key for spotting replays
    if items is not None:
        value["Items"] = items
    return {"Value": value}


def product(raw: dict, currency="USD") -> c.Product:
    named = {"ID", "Sku", "Title", "Brand", "MPN", "UPC", "EAN", "Cost", "RetailPrice", "Weight", "UpdateDateUtc"}
    return c.Product(
        source=SOURCE, source_id=str(raw.get("ID")), sku=raw.get("Sku") or "", name=raw.get("Title") or "",
        brand=raw.get("Brand") or "", mpn=raw.get("MPN") or "", upc=raw.get("UPC") or "", ean=raw.get("EAN") or "",
        price=c.Money(amount(raw.get("RetailPrice")), currency) if raw.get("RetailPrice") is not None else None,
        cost=c.Money(amount(raw.get("Cost")), currency) if raw.get("Cost") is not None else None,
        weight=amount(raw.get("Weight")) if raw.get("Weight") is not None else None,
        updated_at=utc(raw.get("UpdateDateUtc")), extra={k: v for k, v in raw.items() if k not in named},
    )


def stock_level(raw: dict) -> c.StockLevel:
    return c.StockLevel(sku=raw.get("Sku") or "", available=int(raw.get("TotalAvailableQuantity") or 0),
                        source=SOURCE, source_id=str(raw.get("ID", "")),
                        extra={"DCQuantities": raw.get("DCQuantities") or []})


PRICE_FIELDS = {"retail": "RetailPrice", "buy_it_now": "BuyItNowPrice", "cost": "Cost", "margin": "Margin",
                "starting": "StartingPrice", "reserve": "ReservePrice", "store": "StorePrice"}


def price_body(prices) -> dict:
    """Canonical prices → the PATCH body for /v1/Products(ID)."""
    body = {}
    for price in prices:
        if price.kind not in PRICE_FIELDS:
            raise c.CanonicalError(f"ChannelAdvisor has no “{price.kind}” price; use one of "
                                   f"{', '.join(PRICE_FIELDS)}.")
        body[PRICE_FIELDS[price.kind]] = price.price.amount
    return body


def adjustment_body(line: c.ReturnLine, reason="CustomerReturnedItem", seller_adjustment_id="") -> dict:
    """OrderItems(ID)/Adjust parameters; OData action parameters travel at the top level of the body."""
    body = {"Reason": reason or "GeneralAdjustment", "Quantity": line.quantity}
    if line.amount is not None:
        body["ItemAdjustment"] = line.amount.amount
    if seller_adjustment_id:
        body["SellerAdjustmentID"] = seller_adjustment_id
    return body


def odata_string(value: str) -> str:
    """A string literal for $filter: single quotes, inner quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


ADJUSTMENT_AMOUNTS = ("ItemAdjustment", "TaxAdjustment", "ShippingAdjustment", "ShippingTaxAdjustment",
                      "GiftWrapAdjustment", "GiftWrapTaxAdjustment", "RecyclingFeeAdjustment")
ADJUSTMENT_EXTRA = ("Type", "Reason", "RequestStatus", "RestockStatus", "IsRestock", "RmaNumber",
                    "SellerAdjustmentID", "SiteAdjustmentID", "CreatedSource", "Comment", "Quantity",
                    "ReturnTrackingNumberOrUrl", "ReturnShippingMethod", "ReturnShippingFee", "RestockingFee",
                    *ADJUSTMENT_AMOUNTS)


def adjustment_status(raw: dict) -> str:
    """cancelled (a Cancellation), refunded (RequestStatus Complete), pending, failed — else the raw status."""
    if raw.get("Type") == "Cancellation":
        return "cancelled"
    status = str(raw.get("RequestStatus") or "")
    return {"Complete": "refunded", "Pending": "pending", "Failed": "failed"}.get(status, status.lower())


def adjustment(raw: dict, order_raw: dict | None = None) -> c.Return:
    """One ChannelAdvisor adjustment (an Orders' or OrderItems' Adjustments entry) as a canonical Return: source_id
    is the adjustment's ID, order_id the CA order ID; an item adjustment has one line (the item's Sku, from the
    order's Items), an order-level one none. `refund` is every amount adjusted (item, tax, shipping, gift wrap,
    recycling fee) less the return shipping and restocking fees the buyer pays."""
    order_raw = order_raw or {}
    currency = str(order_raw.get("Currency") or "USD")
    items = {str(item.get("ID")): item for item in order_raw.get("Items") or [] if isinstance(item, dict)}
    total = sum((amount(raw.get(name)) for name in ADJUSTMENT_AMOUNTS), Decimal(0))
    refund = total - amount(raw.get("ReturnShippingFee")) - amount(raw.get("RestockingFee"))
    restock_status = str(raw.get("RestockStatus") or "")
    restock = bool(raw["IsRestock"]) if raw.get("IsRestock") is not None else restock_status not in (
        "", "NotRestocked")
    lines = []
    item_id = raw.get("OrderItemID")
    if item_id not in (None, "", 0):
        item = items.get(str(item_id), {})
        lines.append(c.ReturnLine(sku=str(item.get("Sku") or ""), quantity=int(raw.get("Quantity") or 0),
                                  reason=str(raw.get("Reason") or ""), restock=restock,
                                  amount=c.Money(total, currency), source_id=str(item_id)))
    return c.Return(source=SOURCE, source_id=str(raw.get("ID")), order_id=str(raw.get("OrderID") or
                                                                         order_raw.get("ID") or ""),
                    lines=lines, refund=c.Money(refund, currency), status=adjustment_status(raw),
                    created_at=utc(raw.get("CreatedDateUtc")),
                    extra={**{name: raw.get(name) for name in ADJUSTMENT_EXTRA if name in raw},
                           "refund_parts": refund_parts(raw)})


def refund_parts(raw):
    """What an adjustment gives back, split as the books need it: goods (less the fees the buyer pays), tax and
    shipping, as strings; they add up to the refund."""
    fees = amount(raw.get("ReturnShippingFee")) + amount(raw.get("RestockingFee"))
    goods = sum((amount(raw.get(name)) for name in ("ItemAdjustment", "GiftWrapAdjustment",
                                                   "RecyclingFeeAdjustment")), Decimal(0)) - fees
    tax = sum((amount(raw.get(name)) for name in ("TaxAdjustment", "ShippingTaxAdjustment",
                                                 "GiftWrapTaxAdjustment")), Decimal(0))
    return {"goods": str(goods), "tax": str(tax), "shipping": str(amount(raw.get("ShippingAdjustment")))}


def order_adjustments(order_raw: dict) -> list[c.Return]:
    """Every adjustment of an order read with `$expand=Items($expand=Adjustments),Adjustments`: the order's own
    list and each item's, once each (by ID), oldest first."""
    seen = {}
    rows = list(order_raw.get("Adjustments") or [])
    for item in order_raw.get("Items") or []:
        if isinstance(item, dict):
            rows.extend(item.get("Adjustments") or [])
    for row in rows:
        if isinstance(row, dict) and row.get("ID") is not None:
            seen.setdefault(str(row["ID"]), row)
    return [adjustment(row, order_raw) for _, row in sorted(seen.items(), key=lambda kv: (len(kv[0]), kv[0]))]
