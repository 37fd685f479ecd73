"""The entity shapes of the v1 API: which properties a query may name, and each row as ChannelAdvisor's JSON.

Property names, order and enums follow /shared/reference/channeladvisor-rest.md. Addresses are flat
(`ShippingFirstName`, `BillingCity`...) as in ChannelAdvisor's v1 Order."""

from datetime import UTC

from sandbox.channeladvisor import models as m
from sandbox.channeladvisor.odata import Field, Resource

ADDRESS_PARTS = ["Title", "FirstName", "LastName", "Suffix", "CompanyName", "DaytimePhone", "EveningPhone",
                 "AddressLine1", "AddressLine2", "City", "StateOrProvince", "PostalCode", "Country"]
LIST_EXPAND_CAP = 20  # in list calls each expanded collection holds at most 20 entries


def utc(value):
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def number(value):
    return None if value is None else float(value)


# --- Orders ---

ORDER_SCALARS = ["ID", "ProfileID", "SiteID", "SiteName", "SiteOrderID", "SecondarySiteOrderID", "SellerOrderID",
                 "Currency", "ImportDateUtc", "CreatedDateUtc", "CheckoutDateUtc", "PaymentDateUtc", "ShippingDateUtc",
                 "EstimatedShipDateUtc", "PublicNotes", "PrivateNotes", "SpecialInstructions", "TotalPrice",
                 "TotalTaxPrice", "TotalShippingPrice", "TotalShippingTaxPrice", "TotalInsurancePrice",
                 "TotalGiftOptionPrice", "AdditionalCostOrDiscount", "PromotionCode", "PromotionAmount",
                 "CheckoutStatus", "PaymentStatus", "ShippingStatus", "BuyerUserId", "BuyerEmailAddress",
                 "PaymentMethod", "PaymentTransactionID"]
ORDER_PROPERTIES = tuple(ORDER_SCALARS + [f"Shipping{part}" for part in ADDRESS_PARTS]
                         + [f"Billing{part}" for part in ADDRESS_PARTS])

FULFILLMENT_RESOURCE = Resource(
    type_name="ChannelAdvisor.RestAPI.v1.Fulfillment",
    properties=("ID", "ProfileID", "OrderID", "CreatedDateUtc", "UpdatedDateUtc", "Type", "DistributionCenterID",
                "DeliveryStatus", "TrackingNumber", "ShippingCarrier", "ShippingClass", "ShippedDateUtc",
                "SellerFulfillmentID"),
    fields={
        "ID": Field("id", "int"),
        "OrderID": Field("order_id", "int"),
        "TrackingNumber": Field("tracking_number", "str"),
        "ShippingCarrier": Field("shipping_carrier", "str"),
        "ShippingClass": Field("shipping_class", "str"),
        "Type": Field("type", "enum", tuple(m.FULFILLMENT_TYPES)),
        "DeliveryStatus": Field("delivery_status", "enum", tuple(m.DELIVERY_STATUSES)),
        "ShippedDateUtc": Field("shipped_date_utc", "datetime"),
        "SellerFulfillmentID": Field("seller_fulfillment_id", "str"),
        "CreatedDateUtc": Field("created_date_utc", "datetime"),
        "UpdatedDateUtc": Field("updated_date_utc", "datetime"),
    },
)
FULFILLMENT_EXPAND = {"Items": {}}

ORDER_ITEM_RESOURCE = Resource(
    type_name="ChannelAdvisor.RestAPI.v1.OrderItem",
    properties=("ID", "ProfileID", "OrderID", "ProductID", "SiteOrderItemID", "SiteListingID", "Sku", "Title",
                "Quantity", "UnitPrice", "TaxPrice", "ShippingPrice", "ShippingTaxPrice", "GiftMessage"),
    fields={"ID": Field("id", "int"), "OrderID": Field("order_id", "int"), "ProductID": Field("product_id", "int"),
            "Sku": Field("sku", "str"), "SiteOrderItemID": Field("site_order_item_id", "str"),
            "Quantity": Field("quantity", "int"), "UnitPrice": Field("unit_price", "decimal")},
)
ADJUSTMENT_RESOURCE = Resource(
    type_name="ChannelAdvisor.RestAPI.v1.OrderItemAdjustment",
    properties=("ID", "ProfileID", "OrderID", "OrderItemID", "SellerAdjustmentID", "SiteAdjustmentID", "Type",
                "Reason", "Comment", "Quantity", "IsRestock", "ItemAdjustment", "TaxAdjustment", "ShippingAdjustment",
                "ShippingTaxAdjustment", "GiftWrapAdjustment", "GiftWrapTaxAdjustment", "RecyclingFeeAdjustment",
                "ReturnShippingFee", "RestockingFee", "RequestStatus", "RestockStatus", "RmaNumber",
                "ReturnTrackingNumberOrUrl", "ReturnShippingMethod", "CreatedSource", "CreatedDateUtc"),
    fields={"ID": Field("id", "int"), "OrderID": Field("order_id", "int"),
            "OrderItemID": Field("order_item_id", "int"),
            "Reason": Field("reason", "enum", tuple(m.ADJUSTMENT_REASONS)),
            "Type": Field("type", "enum", ("Refund", "Cancellation")), "Quantity": Field("quantity", "int"),
            "SellerAdjustmentID": Field("seller_adjustment_id", "str"), "RmaNumber": Field("rma_number", "str"),
            "SiteAdjustmentID": Field("site_adjustment_id", "str"),
            "RequestStatus": Field("request_status", "str"), "RestockStatus": Field("restock_status", "str"),
            "CreatedDateUtc": Field("created_date_utc", "datetime")},
)
ORDER_RESOURCE = Resource(
    type_name="ChannelAdvisor.RestAPI.v1.Order",
    properties=ORDER_PROPERTIES,
    collections={"Items": (ORDER_ITEM_RESOURCE, m.OrderItem, "order_id"),
                 "Fulfillments": (FULFILLMENT_RESOURCE, m.Fulfillment, "order_id"),
                 "Adjustments": (ADJUSTMENT_RESOURCE, m.Adjustment, "order_id")},
    fields={
        "ID": Field("id", "int"),
        "ProfileID": Field("profile_id", "int"),
        "SiteID": Field("site_id", "int"),
        "SiteName": Field("site_name", "str"),
        "SiteOrderID": Field("site_order_id", "str"),
        "SecondarySiteOrderID": Field("secondary_site_order_id", "str"),
        "SellerOrderID": Field("seller_order_id", "str"),
        "Currency": Field("currency", "str"),
        "CreatedDateUtc": Field("created_date_utc", "datetime"),
        "CheckoutDateUtc": Field("checkout_date_utc", "datetime"),
        "PaymentDateUtc": Field("payment_date_utc", "datetime"),
        "ImportDateUtc": Field("import_date_utc", "datetime"),
        "ShippingDateUtc": Field("shipping_date_utc", "datetime"),
        "TotalPrice": Field("total_price", "decimal"),
        "ShippingStatus": Field("shipping_status", "enum", tuple(m.SHIPPING_STATUSES)),
        "PaymentStatus": Field("payment_status", "enum", tuple(m.PAYMENT_STATUSES)),
        "CheckoutStatus": Field("checkout_status", "enum", tuple(m.CHECKOUT_STATUSES)),
        "BuyerEmailAddress": Field("buyer_email_address", "str"),
        "BuyerUserId": Field("buyer_user_id", "str"),
        "Items/Sku": Field("sku", "str", collection=(m.OrderItem, "order_id")),
        "Items/SiteOrderItemID": Field("site_order_item_id", "str", collection=(m.OrderItem, "order_id")),
    },
)
ORDER_EXPAND = {"Items": {"Promotions": {}, "Adjustments": {}, "FulfillmentItems": {}, "BundleComponents": {}},
                "Fulfillments": {"Items": {}}, "Adjustments": {}, "CustomFields": {}}

ORDER_ITEM_EXPAND = ORDER_EXPAND["Items"]

def order_prefetches(expand):
    """The prefetch_related paths that serializing with this $expand needs (one query per collection)."""
    paths = []
    if "Items" in expand:
        paths.append("items")
        if "Adjustments" in expand["Items"]:
            paths.append("items__adjustments")
        if "FulfillmentItems" in expand["Items"]:
            paths.append("items__fulfillment_items")
    if "Fulfillments" in expand:
        paths.append("fulfillments")
        if "Items" in expand["Fulfillments"]:
            paths.append("fulfillments__items__order_item")
    if "Adjustments" in expand:
        paths.append("adjustments")
    if "CustomFields" in expand:
        paths.append("custom_fields")
    return paths


def capped(rows, cap):
    rows = list(rows)
    return rows if cap is None else rows[:cap]


def order_json(order, expand=None, cap=None):
    expand = expand or {}
    data = {
        "ID": order.id, "ProfileID": order.profile_id, "SiteID": order.site_id, "SiteName": order.site_name,
        "SiteOrderID": order.site_order_id, "SecondarySiteOrderID": order.secondary_site_order_id or None,
        "SellerOrderID": order.seller_order_id or None, "Currency": order.currency,
        "ImportDateUtc": utc(order.import_date_utc), "CreatedDateUtc": utc(order.created_date_utc),
        "CheckoutDateUtc": utc(order.checkout_date_utc), "PaymentDateUtc": utc(order.payment_date_utc),
        "ShippingDateUtc": utc(order.shipping_date_utc), "EstimatedShipDateUtc": utc(order.estimated_ship_date_utc),
        "PublicNotes": order.public_notes or None, "PrivateNotes": order.private_notes or None,
        "SpecialInstructions": order.special_instructions or None,
        "TotalPrice": number(order.total_price), "TotalTaxPrice": number(order.total_tax_price),
        "TotalShippingPrice": number(order.total_shipping_price),
        "TotalShippingTaxPrice": number(order.total_shipping_tax_price),
        "TotalInsurancePrice": number(order.total_insurance_price),
        "TotalGiftOptionPrice": number(order.total_gift_option_price),
        "AdditionalCostOrDiscount": number(order.additional_cost_or_discount),
        "PromotionCode": order.promotion_code or None, "PromotionAmount": number(order.promotion_amount),
        "CheckoutStatus": order.checkout_status, "PaymentStatus": order.payment_status,
        "ShippingStatus": order.shipping_status, "BuyerUserId": order.buyer_user_id or None,
        "BuyerEmailAddress": order.buyer_email_address or None, "PaymentMethod": order.payment_method or None,
        "PaymentTransactionID": order.payment_transaction_id or None,
    }
    for prefix, address in (("Shipping", order.shipping), ("Billing", order.billing)):
        for part in ADDRESS_PARTS:
            data[prefix + part] = (address or {}).get(part) or None
    if "Items" in expand:
        data["Items"] = [order_item_json(item, order.profile_id, expand["Items"], cap)
                         for item in capped(order.items.all(), cap)]
    if "Fulfillments" in expand:
        data["Fulfillments"] = [fulfillment_json(row, order.profile_id, expand["Fulfillments"], cap)
                                for row in capped(order.fulfillments.all(), cap)]
    if "Adjustments" in expand:
        data["Adjustments"] = [adjustment_json(row, order.profile_id) for row in capped(order.adjustments.all(), cap)]
    if "CustomFields" in expand:
        data["CustomFields"] = [{"ProfileID": order.profile_id, "OrderID": order.id, "FieldID": row.field_id,
                                 "Value": row.value} for row in capped(order.custom_fields.all(), cap)]
    return data


def order_item_json(item, profile_id, expand=None, cap=None):
    expand = expand or {}
    data = {
        "ID": item.id, "ProfileID": profile_id, "OrderID": item.order_id, "ProductID": item.product_id,
        "SiteOrderItemID": item.site_order_item_id or None, "SiteListingID": item.site_listing_id or None,
        "Sku": item.sku, "Title": item.title, "Quantity": item.quantity, "UnitPrice": number(item.unit_price),
        "TaxPrice": number(item.tax_price), "ShippingPrice": number(item.shipping_price),
        "ShippingTaxPrice": number(item.shipping_tax_price), "GiftMessage": item.gift_message or None,
    }
    if "Promotions" in expand:
        data["Promotions"] = [{"ProfileID": profile_id, "OrderItemID": item.id, "Code": promo.get("Code"),
                               "Amount": promo.get("Amount", 0), "ShippingAmount": promo.get("ShippingAmount", 0)}
                              for promo in capped(item.promotions or [], cap)]
    if "Adjustments" in expand:
        data["Adjustments"] = [adjustment_json(row, profile_id) for row in capped(item.adjustments.all(), cap)]
    if "FulfillmentItems" in expand:
        data["FulfillmentItems"] = [fulfillment_item_json(row, item, profile_id)
                                    for row in capped(item.fulfillment_items.all(), cap)]
    if "BundleComponents" in expand:
        data["BundleComponents"] = []  # the sandbox sells no bundles
    return data


def fulfillment_json(row, profile_id, expand=None, cap=None):
    data = {
        "ID": row.id, "ProfileID": profile_id, "OrderID": row.order_id, "CreatedDateUtc": utc(row.created_date_utc),
        "UpdatedDateUtc": utc(row.updated_date_utc), "Type": row.type,
        "DistributionCenterID": row.distribution_center_id, "DeliveryStatus": row.delivery_status,
        "TrackingNumber": row.tracking_number or None, "ShippingCarrier": row.shipping_carrier or None,
        "ShippingClass": row.shipping_class or None, "ShippedDateUtc": utc(row.shipped_date_utc),
        "SellerFulfillmentID": row.seller_fulfillment_id or None,
    }
    if "Items" in (expand or {}):
        data["Items"] = [fulfillment_item_json(line, line.order_item, profile_id)
                         for line in capped(row.items.all(), cap)]
    return data


def fulfillment_item_json(row, item, profile_id):
    """A FulfillmentItem: how many units of one order item a fulfillment holds."""
    return {"ID": row.id, "ProfileID": profile_id, "FulfillmentID": row.fulfillment_id, "OrderID": item.order_id,
            "OrderItemID": item.id, "ProductID": item.product_id, "Sku": item.sku, "Quantity": row.quantity}


def adjustment_json(row, profile_id):
    return {
        "ID": row.id, "ProfileID": profile_id, "OrderID": row.order_id, "OrderItemID": row.order_item_id,
        "SellerAdjustmentID": row.seller_adjustment_id or None, "SiteAdjustmentID": row.site_adjustment_id or None,
        "Type": row.type, "Reason": row.reason, "Comment": row.comment or None, "Quantity": row.quantity,
        "IsRestock": row.restock_status != "NotRestocked", "ItemAdjustment": number(row.item_adjustment),
        "TaxAdjustment": number(row.tax_adjustment), "ShippingAdjustment": number(row.shipping_adjustment),
        "ShippingTaxAdjustment": number(row.shipping_tax_adjustment), "GiftWrapAdjustment": 0,
        "GiftWrapTaxAdjustment": 0, "RecyclingFeeAdjustment": 0,
        "ReturnShippingFee": number(row.return_shipping_fee), "RestockingFee": number(row.restocking_fee),
        "RequestStatus": row.request_status, "RestockStatus": row.restock_status,
        "RmaNumber": row.rma_number or None, "ReturnTrackingNumberOrUrl": row.return_tracking_number or None,
        "ReturnShippingMethod": row.return_shipping_method or None, "CreatedSource": row.created_source,
        "CreatedDateUtc": utc(row.created_date_utc),
    }


def full_order_json(order):
    """The whole order, as webhooks carry it."""
    expand = {"Items": {"Promotions": {}}, "Fulfillments": {}, "Adjustments": {}, "CustomFields": {}}
    return order_json(order, expand)


# --- Products ---

# Every property of the v1 Product entity, in the order ChannelAdvisor's $metadata lists them (see
# docs/sandboxes/channeladvisor.md for the sources): OData name -> (column, kind, access, limit).
# kind: str | int | decimal | bool | datetime | enum | condition; access: "w" writable, "r" read-only (stored or
# derived), "x" write-only flag (accepted on writes, served as a constant); limit: max length, or the enum's names.
PRODUCT_SPEC = {
    "ID": ("id", "int", "r", None),
    "ProfileID": ("profile_id", "int", "r", None),
    "CreateDateUtc": ("create_date_utc", "datetime", "r", None),
    "UpdateDateUtc": ("update_date_utc", "datetime", "r", None),
    "QuantityUpdateDateUtc": ("quantity_update_date_utc", "datetime", "r", None),
    "IsAvailableInStore": ("is_available_in_store", "bool", "w", None),
    "IsBlocked": ("is_blocked", "bool", "w", None),
    "IsBlockedFromAdvertising": ("is_blocked_from_advertising", "bool", "w", None),
    "IsExternalQuantityBlocked": ("is_external_quantity_blocked", "bool", "w", None),
    "InfiniteQuantity": ("infinite_quantity", "bool", "w", None),
    "BlockComment": ("block_comment", "str", "w", 500),
    "BlockedDateUtc": ("blocked_date_utc", "datetime", "r", None),
    "BlockedFromAdvertisingDateUtc": ("blocked_from_advertising_date_utc", "datetime", "r", None),
    "ReceivedDateUtc": ("received_date_utc", "datetime", "w", None),
    "LastSaleDateUtc": ("last_sale_date_utc", "datetime", "r", None),
    "ASIN": ("asin", "str", "w", 20),
    "Brand": ("brand", "str", "w", 150),
    "Condition": ("condition", "condition", "w", tuple(m.CONDITIONS)),
    "Description": ("description", "str", "w", 32000),
    "EAN": ("ean", "str", "w", 20),
    "FlagDescription": ("flag_description", "str", "w", 80),
    "Flag": ("flag", "enum", "w", tuple(m.FLAG_TYPES)),
    "HarmonizedCode": ("harmonized_code", "str", "w", 20),
    "ISBN": ("isbn", "str", "w", 20),
    "Manufacturer": ("manufacturer", "str", "w", 150),
    "MPN": ("mpn", "str", "w", 50),
    "ShortDescription": ("short_description", "str", "w", 1000),
    "Sku": ("sku", "str", "w", 50),
    "Subtitle": ("subtitle", "str", "w", 500),
    "TaxProductCode": ("tax_product_code", "str", "w", 25),
    "Title": ("title", "str", "w", 120),
    "UPC": ("upc", "str", "w", 20),
    "WarehouseLocation": ("warehouse_location", "str", "w", 80),
    "Warranty": ("warranty", "str", "w", 255),
    "MultipackQuantity": ("multipack_quantity", "int", "w", None),
    "Height": ("height", "decimal", "w", None),
    "Length": ("length", "decimal", "w", None),
    "Width": ("width", "decimal", "w", None),
    "Weight": ("weight", "decimal", "w", None),
    "Cost": ("cost", "decimal", "w", None),
    "Margin": ("margin", "decimal", "w", None),
    "RetailPrice": ("retail_price", "decimal", "w", None),
    "StartingPrice": ("starting_price", "decimal", "w", None),
    "ReservePrice": ("reserve_price", "decimal", "w", None),
    "BuyItNowPrice": ("buy_it_now_price", "decimal", "w", None),
    "StorePrice": ("store_price", "decimal", "w", None),
    "SecondChancePrice": ("second_chance_price", "decimal", "w", None),
    "MinPrice": ("min_price", "decimal", "w", None),
    "MaxPrice": ("max_price", "decimal", "w", None),
    "EstimatedShippingCost": ("estimated_shipping_cost", "decimal", "w", None),
    "SupplierName": ("supplier_name", "str", "w", 100),
    "SupplierCode": ("supplier_code", "str", "w", 50),
    "SupplierPO": ("supplier_po", "str", "w", 50),
    "Classification": ("classification", "str", "w", 50),
    "IsDisplayInStore": ("is_display_in_store", "bool", "w", None),
    "StoreTitle": ("store_title", "str", "w", 500),
    "StoreDescription": ("store_description", "str", "w", 32000),
    "BundleType": ("bundle_type", "enum", "w", tuple(m.BUNDLE_TYPES)),
    "ProductType": ("product_type", "enum", "r", tuple(m.PRODUCT_TYPES)),
    "TotalAvailableQuantity": ("total_available_quantity", "int", "r", None),
    "OpenAllocatedQuantity": ("open_allocated_quantity", "int", "r", None),
    "OpenAllocatedQuantityPooled": ("open_allocated_quantity", "int", "r", None),
    "PendingCheckoutQuantity": ("pending_checkout_quantity", "int", "r", None),
    "PendingCheckoutQuantityPooled": ("pending_checkout_quantity", "int", "r", None),
    "PendingPaymentQuantity": ("pending_payment_quantity", "int", "r", None),
    "PendingPaymentQuantityPooled": ("pending_payment_quantity", "int", "r", None),
    "PendingShipmentQuantity": ("pending_shipment_quantity", "int", "r", None),
    "PendingShipmentQuantityPooled": ("pending_shipment_quantity", "int", "r", None),
    "TotalQuantity": ("total_quantity", "int", "r", None),
    "TotalQuantityPooled": ("total_quantity", "int", "r", None),
    "QuantitySoldLast7Days": ("quantity_sold_last_7_days", "int", "r", None),
    "QuantitySoldLast14Days": ("quantity_sold_last_14_days", "int", "r", None),
    "QuantitySoldLast30Days": ("quantity_sold_last_30_days", "int", "r", None),
    "QuantitySoldLast60Days": ("quantity_sold_last_60_days", "int", "r", None),
    "QuantitySoldLast90Days": ("quantity_sold_last_90_days", "int", "r", None),
    "IsParent": ("is_parent", "bool", "w", None),
    "IsInRelationship": ("is_in_relationship", "bool", "w", None),
    "CopyToChildren": (None, "bool", "x", False),
    "CopyToAliases": (None, "str", "x", None),
    "ParentProductID": ("parent_product_id", "int", "w", None),
    "ParentSku": ("parent_sku", "str", "r", None),
    "RelationshipName": ("relationship_name", "str", "w", 50),
    "VaryBy": ("vary_by", "str", "w", 500),
    "AliasType": ("alias_type", "enum", "w", tuple(m.ALIAS_TYPES)),
    "ReferenceSku": ("reference_sku", "str", "w", 50),
    "ReferenceProductID": ("reference_product_id", "int", "w", None),
}
PRODUCT_PROPERTIES = tuple(PRODUCT_SPEC)
PRODUCT_WRITABLE = {name: spec for name, spec in PRODUCT_SPEC.items() if spec[2] in ("w", "x")}
PRODUCT_READ_ONLY = {name for name, spec in PRODUCT_SPEC.items() if spec[2] == "r"}
# Navigation properties: Attributes may come inline in POST Products; the others have endpoints of their own.
PRODUCT_NAVIGATION = ("Attributes", "DCQuantities", "Images", "Labels", "BundleComponents", "Children",
                      "AliasRelationships")
PRICE_FIELDS = ("RetailPrice", "BuyItNowPrice", "Cost", "Margin", "StartingPrice", "ReservePrice",
                "SecondChancePrice", "StorePrice", "MinPrice", "MaxPrice")
FILTER_KINDS = {"condition": "str"}

PRODUCT_RESOURCE = Resource(
    type_name="ChannelAdvisor.RestAPI.v1.Product",
    properties=PRODUCT_PROPERTIES,
    page_size=100,
    fields={name: Field(column, FILTER_KINDS.get(kind, kind), limit if kind == "enum" else ())
            for name, (column, kind, access, limit) in PRODUCT_SPEC.items() if column is not None},
)
PRODUCT_EXPAND = {"DCQuantities": {}, "Attributes": {}, "Images": {}, "Labels": {}, "Children": {"ChildProduct": {}},
                  "BundleComponents": {}, "AliasRelationships": {}}


def product_prefetches(expand):
    paths = {"DCQuantities": "dc_quantities", "Attributes": "attribute_values", "Images": "image_rows",
             "Labels": "label_rows"}
    return [path for name, path in paths.items() if name in expand]


def product_value(product, name):
    column, kind, access, limit = PRODUCT_SPEC[name]
    if access == "x":
        return limit
    value = getattr(product, column)
    if kind == "decimal":
        return number(value)
    if kind == "datetime":
        return utc(value)
    if kind in ("str", "condition"):
        return value or None
    return value


def product_json(product, expand=None, cap=None):
    expand = expand or {}
    data = {name: product_value(product, name) for name in PRODUCT_PROPERTIES}
    if "Attributes" in expand:
        data["Attributes"] = [attribute_json(row, product) for row in capped(product.attribute_values.all(), cap)]
    if "DCQuantities" in expand:
        data["DCQuantities"] = [dc_quantity_json(row, product) for row in capped(product.dc_quantities.all(), cap)]
    if "Images" in expand:
        data["Images"] = [image_json(row, product) for row in capped(product.image_rows.all(), cap)]
    if "Labels" in expand:
        data["Labels"] = [label_json(row, product) for row in capped(product.label_rows.all(), cap)]
    if "BundleComponents" in expand:
        data["BundleComponents"] = []  # bundles are not emulated
    if "Children" in expand:
        children = m.Product.objects.filter(sandbox_id=product.sandbox_id, parent_product_id=product.id)
        data["Children"] = [child_json(child, expand["Children"]) for child in capped(children, cap)]
    if "AliasRelationships" in expand:
        aliases = m.Product.objects.filter(sandbox_id=product.sandbox_id, reference_product_id=product.id)
        data["AliasRelationships"] = [alias_json(row) for row in capped(aliases, cap)]
    return data


ATTRIBUTE_RESOURCE = Resource(
    type_name="ChannelAdvisor.RestAPI.v1.AttributeValue", properties=("ProductID", "ProfileID", "Name", "Value"),
    page_size=100, fields={"Name": Field("name", "str"), "Value": Field("value", "str")})
IMAGE_RESOURCE = Resource(
    type_name="ChannelAdvisor.RestAPI.v1.Image",
    properties=("ProductID", "ProfileID", "PlacementName", "Abbreviation", "Url"), page_size=100,
    fields={"PlacementName": Field("placement_name", "str"), "Url": Field("url", "str")})
LABEL_RESOURCE = Resource(
    type_name="ChannelAdvisor.RestAPI.v1.ProductLabel", properties=("ProductID", "ProfileID", "Name"),
    page_size=100, fields={"ProductID": Field("product_id", "int"), "Name": Field("name", "str")})
CHILD_RESOURCE = Resource(
    type_name="ChannelAdvisor.RestAPI.v1.ChildRelationship",
    properties=("ParentProductID", "ProfileID", "ChildProductID"), page_size=100,
    fields={"ChildProductID": Field("id", "int"), "ParentProductID": Field("parent_product_id", "int")})
CHILD_EXPAND = {"ChildProduct": {}}
# Lambdas over a product's rows, as OData v4 has them: Attributes/any(a: a/Name eq 'Colour' and a/Value eq 'red').
PRODUCT_RESOURCE.collections.update({"Attributes": (ATTRIBUTE_RESOURCE, m.ProductAttribute, "product_id"),
                                     "Images": (IMAGE_RESOURCE, m.ProductImage, "product_id"),
                                     "Labels": (LABEL_RESOURCE, m.ProductLabel, "product_id")})


def attribute_json(row, product):
    return {"ProductID": product.id, "ProfileID": product.profile_id, "Name": row.name, "Value": row.value}


def image_json(row, product):
    return {"ProductID": product.id, "ProfileID": product.profile_id, "PlacementName": row.placement_name,
            "Abbreviation": None, "Url": row.url}


def label_json(row, product):
    return {"ProductID": product.id, "ProfileID": product.profile_id, "Name": row.name}


def child_json(child, expand=None):
    data = {"ParentProductID": child.parent_product_id, "ProfileID": child.profile_id, "ChildProductID": child.id}
    if "ChildProduct" in (expand or {}):
        data["ChildProduct"] = product_json(child)
    return data


def alias_json(alias):
    return {"AliasProductID": alias.id, "ReferenceProductID": alias.reference_product_id,
            "ProfileID": alias.profile_id, "AliasProductSku": alias.sku}


DC_QUANTITY_RESOURCE = Resource(
    type_name="ChannelAdvisor.RestAPI.v1.DCQuantity",
    properties=("ProductID", "ProfileID", "DistributionCenterID", "AvailableQuantity"),
    page_size=100,
    fields={"DistributionCenterID": Field("distribution_center_id", "int"),
            "AvailableQuantity": Field("available_quantity", "int")},
)


def dc_quantity_json(row, product):
    return {"ProductID": product.id, "ProfileID": product.profile_id,
            "DistributionCenterID": row.distribution_center_id, "AvailableQuantity": row.available_quantity}


# Profiles: the sandbox account has one (Config). Property names as in ChannelAdvisor's v1 Profile entity; only
# ID is confirmed by the developer docs (see docs/sandboxes/channeladvisor.md).
PROFILE_RESOURCE = Resource(
    type_name="ChannelAdvisor.RestAPI.v1.Profile",
    properties=("ID", "AccountName", "CompanyName"),
    page_size=100,
    fields={"ID": Field("profile_id", "int")},
)


def profile_json(config):
    return {"ID": config.profile_id, "AccountName": config.account_name, "CompanyName": config.account_name}


DISTRIBUTION_CENTER_RESOURCE = Resource(
    type_name="ChannelAdvisor.RestAPI.v1.DistributionCenter",
    properties=("ID", "ProfileID", "Code", "Name", "Type", "IsExternallyManaged", "IsDeleted", "City",
                "StateOrProvince", "Country"),
    page_size=100,
    fields={"ID": Field("dc_id", "int"), "ProfileID": Field("profile_id", "int"), "Code": Field("code", "str"),
            "Name": Field("name", "str"), "Type": Field("type", "str"),
            "IsExternallyManaged": Field("is_externally_managed", "bool"), "IsDeleted": Field("is_deleted", "bool")},
)


def distribution_center_json(row):
    return {"ID": row.dc_id, "ProfileID": row.profile_id, "Code": row.code, "Name": row.name, "Type": row.type,
            "IsExternallyManaged": row.is_externally_managed, "IsDeleted": row.is_deleted, "City": row.city,
            "StateOrProvince": row.state_or_province, "Country": row.country}
