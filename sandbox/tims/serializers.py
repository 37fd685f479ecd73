"""Rows → the profile's JSON: PascalCase names, decimals as strings ("12.50"), timestamps ISO 8601 UTC ("Z")."""

import datetime
from decimal import Decimal

TWO_PLACES = Decimal("0.01")


def money(value):
    return str(Decimal(value).quantize(TWO_PLACES))


def price(value):
    """Unit prices keep up to four places but show at least two: "75.50", "1.2345"."""
    text = str(Decimal(value).quantize(Decimal("0.0001")))
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


def timestamp(value):
    if value is None:
        return None
    return value.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def day(value):
    return value.isoformat() if value else None


def address(data):
    """Stored addresses already use the profile's names; fill every key so the shape is stable."""
    if not data:
        return None
    keys = ("Name", "Company", "Line1", "Line2", "City", "State", "PostalCode", "Country", "Phone")
    return {key: data.get(key, "") for key in keys}


def customer(row):
    return {
        "CustomerID": row.code,
        "Name": row.name,
        "Email": row.email,
        "Phone": row.phone,
        "BillingAddress": address(row.billing_address),
        "ShippingAddresses": [address(a) for a in row.shipping_addresses],
        "TaxExempt": row.tax_exempt,
        "PriceLevel": row.price_level,
        "CustomFields": row.custom_fields,
        "UpdatedAt": timestamp(row.updated_at),
        "Version": row.version,
    }


def item(row):
    return {
        "SKU": row.sku,
        "Description": row.description,
        "UnitPrice": price(row.unit_price),
        "Cost": price(row.cost),
        "UnitOfMeasure": row.unit_of_measure,
        "Weight": str(row.weight.normalize()) if row.weight else "0",
        "Active": row.active,
        "CustomFields": row.custom_fields,
        "UpdatedAt": timestamp(row.updated_at),
        "Version": row.version,
    }


def inventory_level(level):
    return {
        "SKU": level.item.sku,
        "Location": level.location.code,
        "OnHand": level.on_hand,
        "Allocated": level.allocated,
        "Available": level.available,
        "UpdatedAt": timestamp(level.updated_at),
    }


def inventory_change(row):
    return {"SKU": row.sku, "Location": row.location, "Available": row.available,
            "ChangedAt": timestamp(row.changed_at), "Seq": row.seq}


def adjustment(row, level):
    return {
        "AdjustmentID": row.code,
        "SKU": row.sku,
        "Location": row.location,
        "Quantity": row.quantity,
        "ReasonCode": row.reason_code,
        "Reference": row.reference,
        "OnHand": level.on_hand,
        "Available": level.available,
        "CreatedAt": timestamp(row.created_at),
    }


def order_line(line):
    return {
        "LineNumber": line.line_number,
        "SKU": line.item.sku,
        "Quantity": line.quantity,
        "Price": price(line.price),
        "TaxAmount": money(line.tax_amount),
        "DiscountAmount": money(line.discount_amount),
        "AllocatedQuantity": line.allocated_quantity,
        "ShippedQuantity": line.shipped_quantity,
    }


def sales_order(row):
    return {
        "SalesOrderID": row.code,
        "ExternalOrderID": row.external_order_id,
        "CustomerID": row.customer.code,
        "OrderDate": timestamp(row.order_date),
        "OrderStatus": row.status,
        "LineItems": [order_line(line) for line in row.lines.all()],
        "ShippingMethod": row.shipping_method,
        "ShippingAmount": money(row.shipping_amount),
        "ShippingAddress": address(row.shipping_address),
        "BillingAddress": address(row.billing_address),
        "Currency": row.currency,
        "TotalAmount": money(row.total_amount),
        "PaymentStatus": row.payment_status,
        "CostCenter": row.cost_center,
        "ProjectCode": row.project_code,
        "Location": row.location.code,
        "CustomFields": row.custom_fields,
        "UpdatedAt": timestamp(row.updated_at),
        "Version": row.version,
    }


def status_change(order, previous_status):
    """Data of `sales_order.status_changed`."""
    return {"SalesOrderID": order.code, "ExternalOrderID": order.external_order_id, "OrderStatus": order.status,
            "PreviousStatus": previous_status, "Version": order.version}


def cancellation(order, previous_status):
    """Data of `sales_order.cancelled`; CancelledAt is the moment the order was saved as Cancelled."""
    return status_change(order, previous_status) | {"CancelledAt": timestamp(order.updated_at)}


def shipment(row):
    return {
        "ShipmentID": row.code,
        "SalesOrderID": row.order.code,
        "ExternalOrderID": row.order.external_order_id,
        "Carrier": row.carrier,
        "ShippingClass": row.shipping_class,
        "TrackingNumber": row.tracking_number,
        "ShippedAt": timestamp(row.shipped_at),
        "Lines": row.lines,
        "UpdatedAt": timestamp(row.updated_at),
    }


def invoice_line(line):
    """Invoices from before partial invoicing have no LineTotal: derive it, so every line has the same shape."""
    if "LineTotal" in line:
        return line
    goods = Decimal(line.get("Price") or "0") * line.get("Quantity", 0)
    total = goods - Decimal(line.get("DiscountAmount") or "0") + Decimal(line.get("TaxAmount") or "0")
    return {**line, "LineTotal": money(total)}


def invoice(row):
    return {
        "InvoiceID": row.code,
        "SalesOrderID": row.order.code,
        "ShipmentID": row.shipment.code if row.shipment_id else None,
        "CustomerID": row.customer.code,
        "InvoiceDate": day(row.invoice_date),
        "Currency": row.currency,
        "Lines": [invoice_line(line) for line in row.lines],
        "ShippingAmount": money(row.shipping_amount),
        "TotalAmount": money(row.total_amount),
        "Balance": money(row.balance),
        "RefundedAmount": money(row.refunded_amount),
        "Status": row.status,
    }


def payment(row):
    return {
        "PaymentID": row.code,
        "InvoiceID": row.invoice.code,
        "SalesOrderID": row.invoice.order.code,
        "Amount": money(row.amount),
        "Currency": row.invoice.currency,
        "Method": row.method,
        "Reference": row.reference,
        "ReceivedAt": timestamp(row.received_at),
        "InvoiceBalance": money(row.invoice.balance),
    }


def return_line(line):
    """Returns from before line amounts have no Amount: show it as null, so every line has the same shape."""
    return {"SKU": line.get("SKU"), "Quantity": line.get("Quantity"), "Reason": line.get("Reason", ""),
            "Restock": bool(line.get("Restock")), "Amount": line.get("Amount"),
            "UninvoicedQuantity": line.get("UninvoicedQuantity", 0),
            "UninvoicedAmount": line.get("UninvoicedAmount", "0.00")}


def return_(row):
    return {
        "ReturnID": row.code,
        "ExternalReturnID": row.external_return_id,
        "SalesOrderID": row.order.code,
        "ExternalOrderID": row.order.external_order_id,
        "ReturnDate": day(row.return_date),
        "Currency": row.currency,
        "Lines": [return_line(line) for line in row.lines],
        "RefundAmount": money(row.refund_amount),
        "UninvoicedAmount": money(sum((Decimal(line.get("UninvoicedAmount") or "0") for line in row.lines),
                                      Decimal("0"))),
        "Credits": row.credits,
        "Status": row.status,
        "CreatedAt": timestamp(row.created_at),
    }


def journal_entry(row):
    return {"EntryID": row.code, "Date": day(row.date), "Reference": row.reference, "Memo": row.memo,
            "Lines": row.lines,
            "TotalDebit": money(sum((Decimal(line["Debit"]) for line in row.lines), Decimal("0"))),
            "TotalCredit": money(sum((Decimal(line["Credit"]) for line in row.lines), Decimal("0"))),
            "CreatedAt": timestamp(row.created_at)}


def gl_account(row):
    return {"Account": row.account, "Name": row.name, "Type": row.type, "Active": row.active}


def location(row, default_code):
    return {"Code": row.code, "Name": row.name, "IsDefault": row.code == default_code}


def custom_field(row):
    return {"Entity": row.entity, "Name": row.name, "DataType": row.data_type, "Label": row.label}


def event(row):
    return {"Seq": row.seq, "Type": row.type, "CreatedAt": timestamp(row.created_at), "Data": row.data}
