"""TIMS API profile records to and from the canonical model (decimals are strings, times are UTC ISO 8601)."""

from datetime import UTC, date, datetime
from decimal import Decimal

from integrations import canonical as c

SOURCE = "tims"


def utc(value) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime | None) -> str | None:
    return c.aware(moment).astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def amount(value) -> Decimal:
    if value is None or value == "":
        return Decimal("0")
    return c.decimal(value)


def text_amount(value: Decimal) -> str:
    """TIMS wants decimals as plain strings ("12.50"), never exponent notation."""
    return f"{c.decimal(value):f}"


def address(raw: dict | None) -> c.Address | None:
    if not raw:
        return None
    return c.Address(line1=raw.get("Line1") or "", line2=raw.get("Line2") or "", city=raw.get("City") or "",
                     state=raw.get("State") or "", postal_code=raw.get("PostalCode") or "",
                     country=raw.get("Country") or "", company=raw.get("Name") or "",
                     extra={k: v for k, v in raw.items()
                            if k not in {"Line1", "Line2", "City", "State", "PostalCode", "Country", "Name"}})


def address_body(item: c.Address | None) -> dict | None:
    if item is None:
        return None
    name = " ".join(p for p in (item.first_name, item.last_name) if p)
    body = {"Line1": item.line1, "Line2": item.line2, "City": item.city, "State": item.state,
            "PostalCode": item.postal_code, "Country": item.country}
    if item.company or name:
        body["Name"] = item.company or name
    return body


def customer(raw: dict) -> c.Customer:
    named = {"CustomerID", "Name", "Email", "Phone", "BillingAddress", "ShippingAddresses", "UpdatedAt", "Version"}
    return c.Customer(
        source=SOURCE, source_id=raw.get("CustomerID") or "", email=raw.get("Email") or "",
        company=raw.get("Name") or "", phone=raw.get("Phone") or "",
        billing_address=address(raw.get("BillingAddress")),
        shipping_addresses=[address(a) for a in raw.get("ShippingAddresses") or []],
        updated_at=utc(raw.get("UpdatedAt")), version=str(raw.get("Version") or ""),
        extra={k: v for k, v in raw.items() if k not in named},
    )


def customer_body(item: c.Customer) -> dict:
    name = item.company or " ".join(p for p in (item.first_name, item.last_name) if p) or item.email
    body = {"Name": name, "Email": item.email, "Phone": item.phone,
            "BillingAddress": address_body(item.billing_address or (item.shipping_addresses or [None])[0]),
            "ShippingAddresses": [address_body(a) for a in item.shipping_addresses]}
    if item.extra.get("CustomFields"):
        body["CustomFields"] = item.extra["CustomFields"]
    return {k: v for k, v in body.items() if v is not None}


def sales_order(raw: dict, currency="USD") -> c.Order:
    """Amounts are in the order's own Currency; the connection's currency only when TIMS sends none."""
    currency = raw.get("Currency") or currency
    named = {"Currency", "SalesOrderID", "ExternalOrderID", "CustomerID", "OrderDate", "OrderStatus", "LineItems",
             "ShippingMethod", "ShippingAddress", "BillingAddress", "TotalAmount", "PaymentStatus", "Version"}
    lines = [c.OrderLine(sku=line.get("SKU") or "", quantity=int(amount(line.get("Quantity"))),
                         unit_price=c.Money(amount(line.get("Price")), currency),
                         tax=c.Money(amount(line.get("TaxAmount")), currency),
                         discount=c.Money(amount(line.get("DiscountAmount")), currency))
             for line in raw.get("LineItems") or []]
    return c.Order(
        source=SOURCE, source_id=raw.get("SalesOrderID") or "", number=raw.get("ExternalOrderID") or "",
        status=raw.get("OrderStatus") or "", payment_status=raw.get("PaymentStatus") or "", currency=currency,
        total=c.Money(amount(raw.get("TotalAmount")), currency), ordered_at=utc(raw.get("OrderDate")),
        customer=c.Customer(source=SOURCE, source_id=raw.get("CustomerID") or "") if raw.get("CustomerID") else None,
        shipping_address=address(raw.get("ShippingAddress")), billing_address=address(raw.get("BillingAddress")),
        lines=lines, shipping_method=raw.get("ShippingMethod") or "", version=str(raw.get("Version") or ""),
        extra={k: v for k, v in raw.items() if k not in named},
    )


def stock_level(raw: dict) -> c.StockLevel:
    return c.StockLevel(sku=raw.get("SKU") or "", available=int(amount(raw.get("Available"))), source=SOURCE,
                        location=raw.get("Location") or "",
                        on_hand=int(amount(raw["OnHand"])) if raw.get("OnHand") is not None else None,
                        allocated=int(amount(raw["Allocated"])) if raw.get("Allocated") is not None else None,
                        updated_at=utc(raw.get("UpdatedAt") or raw.get("ChangedAt")),
                        extra={k: v for k, v in raw.items() if k in ("Seq",)})


def item(raw: dict, currency="USD") -> c.Product:
    named = {"SKU", "Description", "UnitPrice", "Cost", "UnitOfMeasure", "Weight", "Active", "UpdatedAt"}
    return c.Product(
        source=SOURCE, source_id=raw.get("SKU") or "", sku=raw.get("SKU") or "", name=raw.get("Description") or "",
        price=c.Money(amount(raw.get("UnitPrice")), currency),
        cost=c.Money(amount(raw.get("Cost")), currency) if raw.get("Cost") is not None else None,
        unit_of_measure=raw.get("UnitOfMeasure") or "",
        weight=amount(raw.get("Weight")) if raw.get("Weight") is not None else None,
        active=bool(raw.get("Active", True)), updated_at=utc(raw.get("UpdatedAt")),
        extra={k: v for k, v in raw.items() if k not in named},
    )


def shipment(raw: dict) -> c.Shipment:
    """Fields the canonical shipment does not name (ExternalOrderID, UpdatedAt) stay in `extra`."""
    named = {"ShipmentID", "SalesOrderID", "Carrier", "ShippingClass", "TrackingNumber", "ShippedAt", "Lines"}
    return c.Shipment(
        source=SOURCE, source_id=raw.get("ShipmentID") or "", order_id=raw.get("SalesOrderID") or "",
        carrier=raw.get("Carrier") or "", shipping_class=raw.get("ShippingClass") or "",
        tracking_number=raw.get("TrackingNumber") or "", shipped_at=utc(raw.get("ShippedAt")),
        lines=[c.ShipmentLine(sku=line.get("SKU") or "", quantity=int(amount(line.get("Quantity"))))
               for line in raw.get("Lines") or []],
        extra={k: v for k, v in raw.items() if k not in named},
    )


FREIGHT_SKU = "FREIGHT"  # the invoice line TIMS bills shipping on


def day(value) -> str | None:
    """A date query or body value as YYYY-MM-DD; a datetime counts in UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return c.aware(value).astimezone(UTC).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def two_places(value) -> str:
    """An amount as TIMS wants it ("12.50"). One with more than two decimals is sent as it is, so TIMS refuses
    it (invalid_decimal, naming the field) rather than the connector rounding money silently."""
    amount = c.decimal(value)
    exact = amount.quantize(Decimal("0.01"))
    return f"{exact:f}" if exact == amount else f"{amount:f}"


def invoice(raw: dict, currency="USD") -> c.Invoice:
    """Lines are the billed goods; the FREIGHT line is `shipping`, not a line, so nothing counts it twice. Each
    line keeps LineNumber, ExtendedPrice (Quantity × Price as billed, exact to the cent) and LineTotal in extra."""
    currency = raw.get("Currency") or currency
    lines, freight = [], None
    for line in raw.get("Lines") or []:
        if line.get("SKU") == FREIGHT_SKU:
            freight = amount(line.get("LineTotal") or line.get("Price"))
            continue
        lines.append(c.OrderLine(
            sku=line.get("SKU") or "", quantity=int(amount(line.get("Quantity"))),
            unit_price=c.Money(amount(line.get("Price")), currency),
            tax=c.Money(amount(line.get("TaxAmount")), currency),
            discount=c.Money(amount(line.get("DiscountAmount")), currency),
            source_id=str(line.get("LineNumber") or ""),
            extra={key: line[key] for key in ("LineNumber", "ExtendedPrice", "LineTotal") if key in line}))
    if raw.get("ShippingAmount") not in (None, ""):
        freight = amount(raw.get("ShippingAmount"))
    named = {"InvoiceID", "SalesOrderID", "ShipmentID", "CustomerID", "InvoiceDate", "Currency", "TotalAmount",
             "Balance", "Status", "ShippingAmount"}
    return c.Invoice(
        source=SOURCE, source_id=raw.get("InvoiceID") or "", order_id=raw.get("SalesOrderID") or "",
        customer_id=raw.get("CustomerID") or "", invoice_date=utc(raw.get("InvoiceDate")), lines=lines,
        total=c.Money(amount(raw.get("TotalAmount")), currency),
        balance=c.Money(amount(raw.get("Balance")), currency), status=raw.get("Status") or "",
        shipment_id=raw.get("ShipmentID") or "",
        shipping=c.Money(freight, currency) if freight is not None else None,
        extra={k: v for k, v in raw.items() if k not in named},
    )


def invoice_body(sales_order_id, *, shipment_id="", lines=None, currency="", invoice_date=None) -> dict:
    body = {"SalesOrderID": sales_order_id}
    if shipment_id:
        body["ShipmentID"] = shipment_id
    if lines is not None:
        body["Lines"] = [{"SKU": sku, "Quantity": int(quantity)} for sku, quantity in lines]
    if currency:
        body["Currency"] = currency
    if invoice_date is not None:
        body["InvoiceDate"] = day(invoice_date)
    return body


def payment(raw: dict, currency="USD") -> c.Payment:
    named = {"PaymentID", "InvoiceID", "SalesOrderID", "Amount", "Currency", "Method", "Reference", "ReceivedAt"}
    return c.Payment(
        source=SOURCE, source_id=raw.get("PaymentID") or "",
        amount=c.Money(amount(raw.get("Amount")), raw.get("Currency") or currency),
        invoice_id=raw.get("InvoiceID") or "", order_id=raw.get("SalesOrderID") or "",
        method=raw.get("Method") or "", reference=raw.get("Reference") or "",
        received_at=utc(raw.get("ReceivedAt")), extra={k: v for k, v in raw.items() if k not in named},
    )


def payment_body(item: c.Payment) -> dict:
    body = {"InvoiceID": item.invoice_id, "Amount": two_places(item.amount.amount), "Method": item.method,
            "Reference": item.reference, "ReceivedAt": iso(item.received_at)}
    if item.amount.currency:
        body["Currency"] = item.amount.currency
    return body


def journal_entry(raw: dict) -> c.JournalEntry:
    named = {"EntryID", "Date", "Reference", "Memo", "Lines"}
    return c.JournalEntry(
        reference=raw.get("Reference") or "",
        entry_date=date.fromisoformat(raw["Date"]) if raw.get("Date") else None,
        lines=[c.JournalLine(account=line.get("Account") or "", debit=amount(line.get("Debit")),
                             credit=amount(line.get("Credit")), memo=line.get("Memo") or "")
               for line in raw.get("Lines") or []],
        source_id=raw.get("EntryID") or "", memo=raw.get("Memo") or "",
        extra={k: v for k, v in raw.items() if k not in named},
    )


def journal_entry_body(entry: c.JournalEntry) -> dict:
    # Memos are for people and TIMS keeps 200 characters of them; the amounts and accounts are never cut.
    body = {"Reference": entry.reference, "Memo": entry.memo[:200],
            "Lines": [{"Account": line.account, "Debit": two_places(line.debit), "Credit": two_places(line.credit),
                       "Memo": line.memo[:200]} for line in entry.lines]}
    if entry.entry_date is not None:
        body["Date"] = day(entry.entry_date)
    return body


def gl_account(raw: dict) -> dict:
    return {"name": raw.get("Name") or "", "type": raw.get("Type") or "", "active": bool(raw.get("Active", True))}


def external_return_id(item: c.Return) -> str:
    """The channel's own id of a return (TIMS keeps it as ExternalReturnID); "" for a return read from TIMS."""
    if item.extra.get("ExternalReturnID"):
        return str(item.extra["ExternalReturnID"])
    return item.source_id if item.source != SOURCE else ""


def return_body(item: c.Return) -> dict:
    """The POST /returns body. A line's `amount` and the return's `refund` are sent as two-place strings (one
    with more places goes as it is, so TIMS refuses it rather than the connector rounding money); without a
    refund TIMS values the goods at the order's prices, so a return that gives no money back says "0.00"."""
    lines = []
    for line in item.lines:
        body_line = {"SKU": line.sku, "Quantity": int(line.quantity), "Reason": line.reason[:100],
                     "Restock": bool(line.restock)}
        if line.amount is not None:
            body_line["Amount"] = two_places(line.amount.amount)
        lines.append(body_line)
    body = {"SalesOrderID": item.order_id, "Lines": lines}
    if external_return_id(item):
        body["ExternalReturnID"] = external_return_id(item)
    if item.refund is not None:
        body["RefundAmount"] = two_places(item.refund.amount)
        if item.refund.currency:
            body["Currency"] = item.refund.currency
    if item.extra.get("ReturnDate"):
        body["ReturnDate"] = day(item.extra["ReturnDate"])
    elif item.created_at is not None:
        body["ReturnDate"] = day(item.created_at)
    return body


def return_(raw: dict, currency="USD") -> c.Return:
    """A TIMS return: ReturnID is source_id, SalesOrderID order_id; ExternalReturnID (the channel's id),
    ExternalOrderID, ReturnDate and Credits ([{InvoiceID, Amount}], where the refund went) stay in `extra`."""
    currency = raw.get("Currency") or currency
    named = {"ReturnID", "SalesOrderID", "Lines", "RefundAmount", "Status", "CreatedAt", "Currency"}
    return c.Return(
        source=SOURCE, source_id=raw.get("ReturnID") or "", order_id=raw.get("SalesOrderID") or "",
        lines=[c.ReturnLine(sku=line.get("SKU") or "", quantity=int(amount(line.get("Quantity"))),
                            reason=line.get("Reason") or "", restock=bool(line.get("Restock")),
                            amount=c.Money(amount(line["Amount"]), currency)
                            if line.get("Amount") not in (None, "") else None)
               for line in raw.get("Lines") or [] if isinstance(line, dict)],
        refund=c.Money(amount(raw.get("RefundAmount")), currency) if raw.get("RefundAmount") is not None else None,
        status=raw.get("Status") or "", created_at=utc(raw.get("CreatedAt")),
        extra={k: v for k, v in raw.items() if k not in named},
    )
