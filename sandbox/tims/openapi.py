"""The OpenAPI 3.0 description of the TIMS API profile this project assumes, served at api/v1/openapi.json.

Written by hand from the profile (docs/sandboxes/tims.md); the lengths come from validation.py so the document
and the checks cannot drift apart.
"""

from sandbox.tims.models import (
    CUSTOM_FIELD_ENTITIES,
    CUSTOM_FIELD_TYPES,
    GL_ACCOUNT_TYPES,
    ORDER_STATUSES,
    PAYMENT_STATUSES,
)
from sandbox.tims.validation import ADDRESS_MAX, CUSTOMER_MAX, ORDER_MAX, SKU_MAX

DESCRIPTION = (
    "**This is an assumed profile, not the vendor's published API.** TIMS (Computers Unlimited) gives its API to "
    "partners under agreement; this project defines the profile below, implements a sandbox of it, and keeps its "
    "connector configurable (base URL, auth, paths, field names, custom fields) so a real deployment changes "
    "settings, not code.\n\n"
    "Conventions: JSON in and out; decimals are strings such as \"12.50\" (two significant decimal places; unit "
    "prices four); timestamps "
    "are ISO 8601 UTC. Lists page with `page` and `page_size` (at most 200). Errors answer "
    "`{\"errors\":[{\"field\",\"code\",\"message\"}]}`. Every write accepts `Idempotency-Key`: the same key within "
    "24 hours replays the first successful answer (header `Idempotent-Replayed: true`); the same key with a "
    "different request is refused with **409** `idempotency_key_reused`; refused requests (4xx) do not keep the key. "
    "Without a key nothing is de-duplicated. Records carry `Version`; PATCH with `If-Match: <Version>` answers 412 "
    "when the record has changed; If-Match is optional."
)


def string(max_length=None, **extra):
    schema = {"type": "string", **extra}
    if max_length:
        schema["maxLength"] = max_length
    return schema


DECIMAL = {"type": "string", "pattern": r"^-?\d{1,12}(\.\d{1,8})?$", "example": "12.50",
           "description": "Two significant decimal places (further digits must be zeros)."}
PRICE = {"type": "string", "pattern": r"^-?\d{1,12}(\.\d{1,8})?$", "example": "75.5000",
         "description": "A unit price: up to four significant decimal places."}
TIMESTAMP = {"type": "string", "format": "date-time", "example": "2026-01-31T12:00:00Z"}
DATE = {"type": "string", "format": "date", "example": "2026-01-31"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
CUSTOM_FIELDS = {"type": "object", "additionalProperties": True,
                 "description": "Values of fields defined with POST /custom-fields; an undefined name is a 422 "
                                "`unknown_custom_field`."}


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties, required=()):
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def array(items):
    return {"type": "array", "items": items}


def page_of(name):
    return obj({"results": array(ref(name)), "next": {"type": "string", "nullable": True}, "count": INTEGER},
               ["results", "next", "count"])


def feed_of(name):
    return obj({"results": array(ref(name)), "cursor": string(description="Pass back as ?cursor= for what follows.")},
               ["results", "cursor"])


EVENT_TYPES = ["inventory.changed", "shipment.created", "invoice.created", "item.updated",
               "sales_order.status_changed", "sales_order.cancelled", "return.created"]
EVENT_DATA = ("By Type: inventory.changed → InventoryQuantity plus FeedSeq; shipment.created → Shipment; "
              "invoice.created → Invoice; item.updated → Item; sales_order.status_changed → SalesOrderStatusChanged "
              "(every real status move: client PATCH, allocate, ship, invoice, cancel); sales_order.cancelled → "
              "SalesOrderCancelled (followed by its sales_order.status_changed); return.created → Return (after the "
              "inventory.changed of its restocked lines).")

SCHEMAS = {
    "Error": obj({"field": {"type": "string", "nullable": True, "example": "LineItems[2].SKU"},
                  "code": string(example="unknown_sku"), "message": string()}, ["field", "code", "message"]),
    "Errors": obj({"errors": array(ref("Error"))}, ["errors"]),
    "Token": obj({"access_token": string(), "token_type": string(enum=["Bearer"]), "expires_in": INTEGER},
                 ["access_token", "token_type", "expires_in"]),
    "Address": obj({name: string(limit) for name, limit in ADDRESS_MAX.items()}, ["Line1", "City", "Country"]),
    "Customer": obj({
        "CustomerID": string(CUSTOMER_MAX["CustomerID"], example="C000123"), "Name": string(CUSTOMER_MAX["Name"]),
        "Email": string(CUSTOMER_MAX["Email"]), "Phone": string(CUSTOMER_MAX["Phone"]),
        "BillingAddress": ref("Address"), "ShippingAddresses": array(ref("Address")), "TaxExempt": BOOLEAN,
        "PriceLevel": string(CUSTOMER_MAX["PriceLevel"]), "CustomFields": CUSTOM_FIELDS, "UpdatedAt": TIMESTAMP,
        "Version": INTEGER}, ["CustomerID", "Name", "Version"]),
    "CustomerInput": obj({
        "CustomerID": string(CUSTOMER_MAX["CustomerID"], description="Optional; assigned as C000123 when absent."),
        "Name": string(CUSTOMER_MAX["Name"]), "Email": string(CUSTOMER_MAX["Email"]),
        "Phone": string(CUSTOMER_MAX["Phone"]), "BillingAddress": ref("Address"),
        "ShippingAddresses": array(ref("Address")), "TaxExempt": BOOLEAN,
        "PriceLevel": string(CUSTOMER_MAX["PriceLevel"]), "CustomFields": CUSTOM_FIELDS}, ["Name"]),
    "Item": obj({
        "SKU": string(SKU_MAX), "Description": string(200), "UnitPrice": PRICE, "Cost": PRICE,
        "UnitOfMeasure": string(10), "Weight": DECIMAL, "Active": BOOLEAN, "CustomFields": CUSTOM_FIELDS,
        "UpdatedAt": TIMESTAMP, "Version": INTEGER}, ["SKU", "UnitPrice", "Version"]),
    "ItemPatch": obj({"Description": string(200), "UnitPrice": PRICE, "Cost": PRICE, "UnitOfMeasure": string(10),
                      "Active": BOOLEAN, "CustomFields": CUSTOM_FIELDS}),
    "InventoryQuantity": obj({"SKU": string(), "Location": string(), "OnHand": INTEGER, "Allocated": INTEGER,
                              "Available": INTEGER, "UpdatedAt": {**TIMESTAMP, "nullable": True}},
                             ["SKU", "Location", "OnHand", "Allocated", "Available"]),
    "InventoryChange": obj({"SKU": string(), "Location": string(), "Available": INTEGER, "ChangedAt": TIMESTAMP,
                            "Seq": INTEGER}, ["SKU", "Location", "Available", "ChangedAt", "Seq"]),
    "InventoryChangeFeed": feed_of("InventoryChange"),
    "AdjustmentInput": obj({"SKU": string(SKU_MAX), "Location": string(20, description="Default: MAIN."),
                            "Quantity": {"type": "integer", "description": "Change in OnHand; not zero."},
                            "ReasonCode": string(20), "Reference": string(100)}, ["SKU", "Quantity", "ReasonCode"]),
    "Adjustment": obj({"AdjustmentID": string(), "SKU": string(), "Location": string(), "Quantity": INTEGER,
                       "ReasonCode": string(), "Reference": string(), "OnHand": INTEGER, "Available": INTEGER,
                       "CreatedAt": TIMESTAMP}),
    "LineItemInput": obj({"SKU": string(SKU_MAX), "Quantity": {"type": "integer", "minimum": 1}, "Price": PRICE,
                          "TaxAmount": DECIMAL, "DiscountAmount": DECIMAL}, ["SKU", "Quantity", "Price"]),
    "LineItem": obj({"LineNumber": INTEGER, "SKU": string(), "Quantity": INTEGER, "Price": PRICE,
                     "TaxAmount": DECIMAL, "DiscountAmount": DECIMAL, "AllocatedQuantity": INTEGER,
                     "ShippedQuantity": INTEGER}),
    "SalesOrderInput": obj({
        "ExternalOrderID": string(ORDER_MAX["ExternalOrderID"]),
        "CustomerID": string(CUSTOMER_MAX["CustomerID"], description="Guest orders use the guest code, C-GUEST."),
        "OrderDate": TIMESTAMP, "OrderStatus": string(enum=["Open", "OnHold"]),
        "LineItems": array(ref("LineItemInput")), "ShippingMethod": string(ORDER_MAX["ShippingMethod"]),
        "ShippingAmount": DECIMAL, "ShippingAddress": ref("Address"), "BillingAddress": ref("Address"),
        "Currency": string(3, example="USD"),
        "TotalAmount": {**DECIMAL, "description": "Optional; kept as sent. When absent TIMS computes "
                                                  "Σ(Quantity × Price − DiscountAmount + TaxAmount) + ShippingAmount."},
        "PaymentStatus": string(enum=PAYMENT_STATUSES), "CostCenter": string(ORDER_MAX["CostCenter"]),
        "ProjectCode": string(ORDER_MAX["ProjectCode"]), "Location": string(ORDER_MAX["Location"]),
        "CustomFields": CUSTOM_FIELDS}, ["CustomerID", "LineItems"]),
    "SalesOrder": obj({
        "SalesOrderID": string(example="SO000001"), "ExternalOrderID": string(), "CustomerID": string(),
        "OrderDate": TIMESTAMP, "OrderStatus": string(enum=ORDER_STATUSES), "LineItems": array(ref("LineItem")),
        "ShippingMethod": string(), "ShippingAmount": DECIMAL, "ShippingAddress": ref("Address"),
        "BillingAddress": ref("Address"), "Currency": string(), "TotalAmount": DECIMAL,
        "PaymentStatus": string(enum=PAYMENT_STATUSES), "CostCenter": string(), "ProjectCode": string(),
        "Location": string(), "CustomFields": CUSTOM_FIELDS, "UpdatedAt": TIMESTAMP, "Version": INTEGER},
        ["SalesOrderID", "CustomerID", "OrderStatus", "LineItems", "TotalAmount", "Version"]),
    "SalesOrderPatch": obj({
        "OrderStatus": string(enum=["Open", "Processing", "OnHold", "Cancelled", "Closed"]),
        "PaymentStatus": string(enum=PAYMENT_STATUSES), "ShippingMethod": string(ORDER_MAX["ShippingMethod"]),
        "ShippingAddress": ref("Address"), "BillingAddress": ref("Address"),
        "CostCenter": string(ORDER_MAX["CostCenter"]), "ProjectCode": string(ORDER_MAX["ProjectCode"]),
        "ExternalOrderID": string(ORDER_MAX["ExternalOrderID"]), "CustomFields": CUSTOM_FIELDS}),
    "ShipmentLine": obj({"SKU": string(), "Quantity": INTEGER}),
    "Shipment": obj({"ShipmentID": string(example="SH000001"), "SalesOrderID": string(),
                     "ExternalOrderID": string(description="The sales order's ExternalOrderID (the channel's "
                                                           "order number), copied for convenience."),
                     "Carrier": string(40), "ShippingClass": string(40), "TrackingNumber": string(60),
                     "ShippedAt": TIMESTAMP, "Lines": array(ref("ShipmentLine")), "UpdatedAt": TIMESTAMP},
                    ["ShipmentID", "SalesOrderID", "Carrier", "TrackingNumber", "ShippedAt", "Lines"]),
    "SalesOrderStatusChanged": obj({
        "SalesOrderID": string(), "ExternalOrderID": string(), "OrderStatus": string(enum=ORDER_STATUSES),
        "PreviousStatus": string(enum=ORDER_STATUSES), "Version": INTEGER},
        ["SalesOrderID", "ExternalOrderID", "OrderStatus", "PreviousStatus", "Version"]),
    "SalesOrderCancelled": obj({
        "SalesOrderID": string(), "ExternalOrderID": string(), "OrderStatus": string(enum=["Cancelled"]),
        "PreviousStatus": string(enum=ORDER_STATUSES), "Version": INTEGER, "CancelledAt": TIMESTAMP},
        ["SalesOrderID", "ExternalOrderID", "OrderStatus", "PreviousStatus", "Version", "CancelledAt"]),
    "InvoiceLineInput": obj({"SKU": string(SKU_MAX), "Quantity": {"type": "integer", "minimum": 1}},
                            ["SKU", "Quantity"]),
    "InvoiceInput": obj({
        "SalesOrderID": string(20),
        "ShipmentID": string(20, description="Bill this shipment: without Lines, what it shipped and no invoice of "
                                             "it billed yet; with Lines, at most that (422 exceeds_shipped)."),
        "InvoiceDate": DATE,
        "Currency": string(3, description="Optional; must be the order's currency (422 currency_mismatch)."),
        "Lines": {**array(ref("InvoiceLineInput")),
                  "description": "Optional. Without Lines (and without ShipmentID) every ordered unit not yet "
                                 "invoiced is billed (an order invoice). More than ordered minus already invoiced "
                                 "is 422 exceeds_ordered; a SKU not on the order 422 not_on_order."}},
        ["SalesOrderID"]),
    "InvoiceLine": obj({
        "LineNumber": {"type": "integer", "nullable": True, "description": "The order line; null on FREIGHT."},
        "SKU": string(description="FREIGHT for the shipping charge, billed on the order's first invoice."),
        "Quantity": INTEGER, "Price": PRICE,
        "ExtendedPrice": {**DECIMAL, "description": "Quantity × Price: the order line's amount pro rata, rounded "
                                                    "half-up; the invoice completing the line takes the remainder."},
        "TaxAmount": {**DECIMAL, "description": "The order line's TaxAmount pro rata (same rounding)."},
        "DiscountAmount": {**DECIMAL, "description": "The order line's DiscountAmount pro rata (same rounding)."},
        "LineTotal": {**DECIMAL, "description": "ExtendedPrice − DiscountAmount + TaxAmount."}},
        ["SKU", "Quantity", "Price", "TaxAmount", "DiscountAmount", "LineTotal"]),
    "Invoice": obj({"InvoiceID": string(example="IN000001"), "SalesOrderID": string(),
                    "ShipmentID": {"type": "string", "nullable": True,
                                   "description": "The shipment it bills; null for an order invoice."},
                    "CustomerID": string(), "InvoiceDate": DATE, "Currency": string(3),
                    "Lines": array(ref("InvoiceLine")),
                    "ShippingAmount": {**DECIMAL, "description": "The freight it bills (0.00 after the first)."},
                    "TotalAmount": {**DECIMAL, "description": "Σ LineTotal, freight included."},
                    "Balance": DECIMAL,
                    "RefundedAmount": {**DECIMAL, "description": "Paid money returns gave back on this invoice "
                                                                 "(Balance, what is still owed, does not move)."},
                    "Status": string(enum=["Open", "PartiallyPaid", "Paid"])},
                   ["InvoiceID", "SalesOrderID", "ShipmentID", "CustomerID", "InvoiceDate", "Currency", "Lines",
                    "ShippingAmount", "TotalAmount", "Balance", "Status"]),
    "PaymentInput": obj({"InvoiceID": string(20),
                         "Amount": {**DECIMAL, "description": "At most the invoice's Balance (422 exceeds_balance)."},
                         "Currency": string(3, description="Optional; must be the invoice's (422 "
                                                           "currency_mismatch)."),
                         "Method": string(30), "Reference": string(100), "ReceivedAt": TIMESTAMP},
                        ["InvoiceID", "Amount", "Method"]),
    "Payment": obj({"PaymentID": string(example="PM000001"), "InvoiceID": string(), "SalesOrderID": string(),
                    "Amount": DECIMAL, "Currency": string(3), "Method": string(), "Reference": string(),
                    "ReceivedAt": TIMESTAMP,
                    "InvoiceBalance": {**DECIMAL, "description": "The invoice's balance when this was read."}},
                   ["PaymentID", "InvoiceID", "SalesOrderID", "Amount", "Currency", "Method", "ReceivedAt"]),
    "ReturnLine": obj({"SKU": string(SKU_MAX, description="A SKU of the order (422 not_on_order)."),
                       "Quantity": {"type": "integer", "minimum": 1,
                                    "description": "At most shipped minus already returned (422 exceeds_shipped)."},
                       "Reason": string(100),
                       "Restock": {**BOOLEAN, "description": "Put the units back on hand at the order's location "
                                                             "(one RETURN adjustment, once)."},
                       "Amount": {**DECIMAL, "nullable": True,
                                  "description": "What this line refunds; not negative (422 negative)."},
                       "UninvoicedQuantity": {"type": "integer", "readOnly": True,
                                              "description": "Units that had shipped but were not invoiced yet: "
                                                             "taken off the order's bill, never invoiced."},
                       "UninvoicedAmount": {**DECIMAL, "readOnly": True,
                                            "description": "This line's refund for those units: no money back."}},
                      ["SKU", "Quantity"]),
    "ReturnInput": obj({
        "SalesOrderID": string(20),
        "ExternalReturnID": string(50, description="The channel's own return id (ReturnID in a POST body is read "
                                                   "as this too); one per order, a second is 409 duplicate."),
        "Lines": {**array(ref("ReturnLine")), "minItems": 1},
        "RefundAmount": {**DECIMAL, "description": "Money given back; at most paid on the order's invoices minus "
                                                   "already refunded (422 exceeds_paid), besides the share for goods "
                                                   "not invoiced yet (UninvoicedAmount). Absent: Σ Lines[].Amount, "
                                                   "else the goods at the order's unit prices."},
        "Currency": string(3, description="Optional; must be the order's (422 currency_mismatch)."),
        "ReturnDate": DATE}, ["SalesOrderID", "Lines"]),
    "ReturnCredit": obj({"InvoiceID": string(), "Amount": DECIMAL}, ["InvoiceID", "Amount"]),
    "Return": obj({"ReturnID": string(example="RT000001"), "ExternalReturnID": string(), "SalesOrderID": string(),
                   "ExternalOrderID": string(), "ReturnDate": DATE, "Currency": string(3),
                   "Lines": array(ref("ReturnLine")), "RefundAmount": DECIMAL,
                   "UninvoicedAmount": {**DECIMAL, "description": "The part of RefundAmount for goods that were not "
                                                                  "invoiced yet: taken off the bill, no money back."},
                   "Credits": {**array(ref("ReturnCredit")),
                               "description": "Where the refund went: the order's invoices, oldest first."},
                   "Status": string(), "CreatedAt": TIMESTAMP},
                  ["ReturnID", "ExternalReturnID", "SalesOrderID", "ReturnDate", "Currency", "Lines",
                   "RefundAmount", "Credits", "Status", "CreatedAt"]),
    "JournalLine": obj({
        "Account": string(20, description="An active account of GET /gl/accounts (422 unknown_account)."),
        "Debit": {**DECIMAL, "description": "Not negative (422 negative); a line has a Debit or a Credit."},
        "Credit": {**DECIMAL, "description": "Not negative (422 negative)."}, "Memo": string(200)}, ["Account"]),
    "JournalEntryInput": obj({"Date": DATE, "Reference": string(100), "Memo": string(200),
                              "Lines": {**array(ref("JournalLine")), "minItems": 2}}, ["Lines"]),
    "JournalEntry": obj({"EntryID": string(example="JE000001"), "Date": DATE, "Reference": string(),
                         "Memo": string(), "Lines": array(ref("JournalLine")), "TotalDebit": DECIMAL,
                         "TotalCredit": DECIMAL, "CreatedAt": TIMESTAMP},
                        ["EntryID", "Date", "Reference", "Memo", "Lines", "TotalDebit", "TotalCredit"]),
    "GlAccount": obj({"Account": string(20, example="1100"), "Name": string(100),
                      "Type": string(enum=GL_ACCOUNT_TYPES), "Active": BOOLEAN},
                     ["Account", "Name", "Type", "Active"]),
    "CustomField": obj({"Entity": string(enum=CUSTOM_FIELD_ENTITIES), "Name": string(40, pattern=r"^[A-Za-z]\w*$"),
                        "DataType": string(enum=CUSTOM_FIELD_TYPES), "Label": string(100)}, ["Name"]),
    "Location": obj({"Code": string(20), "Name": string(100),
                     "IsDefault": {"type": "boolean", "description": "TIMS's own default location."}},
                    ["Code", "Name", "IsDefault"]),
    "Event": obj({"Seq": INTEGER, "Type": string(enum=EVENT_TYPES), "CreatedAt": TIMESTAMP,
                  "Data": {"type": "object", "description": EVENT_DATA}}, ["Seq", "Type", "CreatedAt", "Data"]),
    "EventFeed": feed_of("Event"),
}
for _name in ("Customer", "Item", "SalesOrder", "Shipment", "Invoice", "Payment", "JournalEntry", "GlAccount",
              "CustomField", "Location", "Return"):
    SCHEMAS[f"{_name}Page"] = page_of(_name)


def error_reply(description):
    return {"description": description, "content": {"application/json": {"schema": ref("Errors")}}}


def json_reply(schema, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": error_reply("Malformed request (bad JSON, query parameter or header)."),
    "401": error_reply("Missing, unknown or expired access token."),
    "429": {**error_reply("Rate limited; wait the Retry-After seconds."),
            "headers": {"Retry-After": {"schema": INTEGER}}},
    "500": error_reply("Transient server error; retry with backoff."),
    "503": error_reply("Transient unavailability; retry with backoff."),
}

PARAMETERS = {
    "Page": {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    "PageSize": {"name": "page_size", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
    "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "schema": string(255),
                       "description": "Same key within 24 h replays the first answer."},
    "IfMatch": {"name": "If-Match", "in": "header", "schema": string(),
                "description": "The Version you read; 412 when the record has changed since."},
    "Cursor": {"name": "cursor", "in": "query", "schema": string(),
               "description": "Opaque; omit to start at the beginning."},
    "UpdatedSince": {"name": "updated_since", "in": "query", "schema": TIMESTAMP},
}


def param(name):
    return {"$ref": f"#/components/parameters/{name}"}


def query(name, description=""):
    return {"name": name, "in": "query", "schema": string(), "description": description}


def query_date(name, description):
    return {"name": name, "in": "query", "schema": DATE, "description": description}


def date_range(prefix, what):
    return [query_date(f"{prefix}_from", f"{what} on or after this day (UTC)."),
            query_date(f"{prefix}_to", f"{what} on or before this day (UTC), inclusive.")]


def in_path(name):
    return {"name": name, "in": "path", "required": True, "schema": string()}


def operation(summary, responses, parameters=(), body=None, write=False, extra_errors=()):
    op = {"summary": summary, "parameters": list(parameters), "responses": dict(responses)}
    for status in ("400", "401", "429", "500", "503", *extra_errors):
        op["responses"].setdefault(status, ERRORS.get(status) or error_reply(STATUS_TEXT[status]))
    if write:
        op["parameters"].append(param("IdempotencyKey"))
        op["responses"].setdefault("409", error_reply("Idempotency-Key reused for a different request, "
                                                      "or a conflicting state."))
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    return op


STATUS_TEXT = {"404": "Not found.", "412": "If-Match names a stale Version.",
               "422": "Validation failed; each error names the field path and a code such as unknown_sku, "
                      "unknown_customer, required, max_length, invalid_decimal, unknown_custom_field."}
PAGED = [param("Page"), param("PageSize")]


def paths():
    return {
        "/oauth/token": {"post": {
            "summary": "Client-credentials grant (form body client_id/client_secret, or HTTP Basic).",
            "security": [],
            "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": obj(
                {"grant_type": string(enum=["client_credentials"]), "client_id": string(),
                 "client_secret": string()}, ["grant_type"])}}},
            "responses": {"200": json_reply(ref("Token")), "400": error_reply("Unsupported grant type."),
                          "401": error_reply("Unknown client or wrong secret.")}}},
        "/api/v1/openapi.json": {"get": {"summary": "This document.", "security": [],
                                         "responses": {"200": {"description": "OpenAPI 3.0 JSON."}}}},
        "/api/v1/customers": {
            "get": operation("List customers.", {"200": json_reply(ref("CustomerPage"))},
                             [query("email", "Exact e-mail, case-insensitive."),
                              query("search", "Part of the code, name or e-mail, case-insensitive."),
                              query("phone", "The same phone number, punctuation ignored (its last 10 digits)."),
                              query("postal_code", "The billing address's postal code, spaces and case ignored."),
                              *PAGED]),
            "post": operation("Create a customer (CustomerID optional: assigned as C000123).",
                              {"201": json_reply(ref("Customer"), "Created")}, body="CustomerInput", write=True,
                              extra_errors=("422",))},
        "/api/v1/customers/{CustomerID}": {
            "get": operation("Read a customer.", {"200": json_reply(ref("Customer"))}, [in_path("CustomerID")],
                             extra_errors=("404",)),
            "patch": operation("Change a customer.", {"200": json_reply(ref("Customer"))},
                               [in_path("CustomerID"), param("IfMatch")], body="CustomerInput", write=True,
                               extra_errors=("404", "412", "422"))},
        "/api/v1/items": {"get": operation("List items.", {"200": json_reply(ref("ItemPage"))},
                                           [query("sku"), param("UpdatedSince"), *PAGED])},
        "/api/v1/items/{SKU}": {
            "get": operation("Read an item.", {"200": json_reply(ref("Item"))}, [in_path("SKU")],
                             extra_errors=("404",)),
            "patch": operation("Change an item (emits item.updated).", {"200": json_reply(ref("Item"))},
                               [in_path("SKU"), param("IfMatch")], body="ItemPatch", write=True,
                               extra_errors=("404", "412", "422"))},
        "/api/v1/inventory/items/{SKU}/quantity": {"get": operation(
            "Stock of one item at one location.", {"200": json_reply(ref("InventoryQuantity"))},
            [in_path("SKU"), query("location", "Default: MAIN.")], extra_errors=("404",))},
        "/api/v1/inventory/changes": {"get": operation(
            "Inventory change feed, oldest first.", {"200": json_reply(ref("InventoryChangeFeed"))},
            [param("Cursor"), param("PageSize")])},
        "/api/v1/inventory/adjustments": {"post": operation(
            "Adjust OnHand.", {"201": json_reply(ref("Adjustment"), "Created")}, body="AdjustmentInput",
            write=True, extra_errors=("422",))},
        "/api/v1/sales-orders": {
            "get": operation("List sales orders.", {"200": json_reply(ref("SalesOrderPage"))},
                             [query("external_order_id"), query("customer_id"),
                              *date_range("order_date", "OrderDate"), *PAGED]),
            "post": operation("Enter a sales order. Not de-duplicated without an Idempotency-Key.",
                              {"201": json_reply(ref("SalesOrder"), "Created")}, body="SalesOrderInput",
                              write=True, extra_errors=("422",))},
        "/api/v1/sales-orders/{SalesOrderID}": {
            "get": operation("Read a sales order.", {"200": json_reply(ref("SalesOrder"))},
                             [in_path("SalesOrderID")], extra_errors=("404",)),
            "patch": operation("Change status or header fields. OrderStatus=Cancelled only before anything ships "
                               "or is invoiced (422 not_cancellable; 422 already_cancelled) and releases reserved "
                               "stock; it emits sales_order.cancelled. Every real status move emits "
                               "sales_order.status_changed.", {"200": json_reply(ref("SalesOrder"))},
                               [in_path("SalesOrderID"), param("IfMatch")], body="SalesOrderPatch", write=True,
                               extra_errors=("404", "412", "422"))},
        "/api/v1/shipments": {"get": operation(
            "List shipments, oldest first (TIMS staff make them; an order may ship in several).",
            {"200": json_reply(ref("ShipmentPage"))},
            [param("UpdatedSince"), query("sales_order_id", "Only this sales order's shipments."), *PAGED])},
        "/api/v1/shipments/{ShipmentID}": {"get": operation(
            "Read a shipment.", {"200": json_reply(ref("Shipment"))}, [in_path("ShipmentID")],
            extra_errors=("404",))},
        "/api/v1/invoices": {
            "get": operation("List invoices, oldest first.", {"200": json_reply(ref("InvoicePage"))},
                             [query("sales_order_id"), query("shipment_id"),
                              *date_range("date", "InvoiceDate"), *PAGED]),
            "post": operation("Invoice a sales order: a shipment, the Lines named, or all not yet invoiced "
                              "(emits invoice.created). The order becomes Invoiced once every unit is billed. "
                              "422 codes: exceeds_shipped, exceeds_ordered, not_on_order, nothing_to_invoice, "
                              "unknown_shipment, currency_mismatch, invalid_status (Cancelled or OnHold).",
                              {"201": json_reply(ref("Invoice"), "Created")}, body="InvoiceInput", write=True,
                              extra_errors=("422",))},
        "/api/v1/payments": {
            "get": operation("List payments, oldest first.", {"200": json_reply(ref("PaymentPage"))},
                             [query("invoice_id"), query("reference", "Exact Reference."),
                              *date_range("date", "ReceivedAt"), *PAGED]),
            "post": operation("Record a payment against an invoice; it lowers the Balance. 422 codes: "
                              "exceeds_balance, currency_mismatch, invalid_decimal.",
                              {"201": json_reply(ref("Payment"), "Created")}, body="PaymentInput", write=True,
                              extra_errors=("422",))},
        "/api/v1/returns": {
            "get": operation("List returns, oldest first.", {"200": json_reply(ref("ReturnPage"))},
                             [query("sales_order_id"), query("external_return_id", "The channel's return id."),
                              *date_range("date", "ReturnDate"), *PAGED]),
            "post": operation(
                "Record a return in one transaction: Restock lines go back on hand (an adjustment with ReasonCode "
                "RETURN; inventory.changed), the refund is given back against the order's invoices "
                "(RefundedAmount) and PaymentStatus becomes Refunded or PartiallyPaid; emits return.created. "
                "422 codes: unknown_sales_order, not_on_order, exceeds_shipped, exceeds_paid, negative, "
                "invalid_decimal, currency_mismatch, required; 409 duplicate (ExternalReturnID).",
                {"201": json_reply(ref("Return"), "Created")}, body="ReturnInput", write=True,
                extra_errors=("422",))},
        "/api/v1/returns/{ReturnID}": {"get": operation(
            "Read a return.", {"200": json_reply(ref("Return"))}, [in_path("ReturnID")], extra_errors=("404",))},
        "/api/v1/gl/accounts": {"get": operation(
            "The chart of accounts.", {"200": json_reply(ref("GlAccountPage"))}, PAGED)},
        "/api/v1/gl/journal-entries": {
            "get": operation("List journal entries, oldest first.", {"200": json_reply(ref("JournalEntryPage"))},
                             [query("reference", "Exact Reference."), *date_range("date", "Date"), *PAGED]),
            "post": operation("Post a journal entry; debits must equal credits (422 unbalanced, naming both "
                              "totals). 422 codes also: unknown_account, negative, invalid_decimal, "
                              "debit_and_credit, min_items.",
                              {"201": json_reply(ref("JournalEntry"), "Created")}, body="JournalEntryInput",
                              write=True, extra_errors=("422",))},
        "/api/v1/locations": {"get": operation(
            "List locations (warehouses); IsDefault marks TIMS's default one.",
            {"200": json_reply(ref("LocationPage"))}, PAGED)},
        "/api/v1/custom-fields": {
            "get": operation("List custom field definitions.", {"200": json_reply(ref("CustomFieldPage"))},
                             [query("entity", "sales_order, item or customer"), *PAGED]),
            "post": operation("Define a custom field.", {"201": json_reply(ref("CustomField"), "Created")},
                              [query("entity", "sales_order, item or customer (or Entity in the body)")],
                              body="CustomField", write=True, extra_errors=("422",))},
        "/api/v1/events": {"get": operation(
            "Events feed: " + ", ".join(EVENT_TYPES) + ".",
            {"200": json_reply(ref("EventFeed"))},
            [param("Cursor"), param("PageSize"), query("type", "Comma-separated event types.")])},
    }


def openapi_document(base_url):
    return {
        "openapi": "3.0.3",
        "info": {"title": "TIMS ERP API (assumed profile)", "version": "1.0.0-assumed", "description": DESCRIPTION},
        "servers": [{"url": base_url, "description": "This TIMS sandbox"}],
        "security": [{"oauth2": []}],
        "paths": paths(),
        "components": {
            "securitySchemes": {"oauth2": {"type": "oauth2", "flows": {"clientCredentials": {
                "tokenUrl": f"{base_url}/oauth/token", "scopes": {}}}}},
            "schemas": SCHEMAS,
            "parameters": PARAMETERS,
        },
    }
