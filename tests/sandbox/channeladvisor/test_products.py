"""Contract: /v1/Products — CRUD, find by Sku, paging at 100, UpdateQuantity, price PATCH, bad bodies; the full v1
Product entity (#17): every property, $select/$filter over them, parents and children, attributes / images / labels,
ProductLabels, DistributionCenters, and a third-party-style OData session with a $batch of product updates."""

import json
import re
from urllib.parse import quote

import requests

from sandbox.channeladvisor import resources
from sandbox.channeladvisor.models import InFlightSlot, Order, OrderItem, Product, RateCounter
from sandbox.fakedata import catalog

NEW = {"Sku": "NEW-001", "Title": "Schweißdraht Ø0,8 mm", "Brand": "WeldPro", "RetailPrice": 24.9, "Cost": 11.2}


def test_product_crud(ca):
    created = ca.post("Products", json=NEW)
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["Sku"] == "NEW-001" and product["Title"] == "Schweißdraht Ø0,8 mm" and product["ID"] > 0
    assert created.headers["Location"].endswith(f"/v1/Products({product['ID']})")
    url = f"Products({product['ID']})"
    assert ca.get(url).json()["RetailPrice"] == 24.9
    assert ca.patch(url, json={"Title": "Renamed"}).status_code == 204
    assert ca.call("PUT", url, json={"Sku": "NEW-001", "Brand": "Other"}).status_code == 204
    body = ca.get(url).json()
    assert (body["Title"], body["Brand"]) == ("Renamed", "Other")
    assert ca.delete(url).status_code == 204
    assert ca.get(url).status_code == 404
    assert ca.delete(url).status_code == 404


def test_create_product_validation(ca):
    assert ca.post("Products", json=NEW).status_code == 201
    duplicate = ca.post("Products", json=NEW)
    assert duplicate.status_code == 400 and "already exists" in duplicate.json()["error"]["message"]
    assert ca.post("Products", json={"Title": "no sku"}).status_code == 400
    assert ca.post("Products", json={"Sku": "X" * 51}).status_code == 400
    assert ca.post("Products", json={"Sku": "Y", "RetailPrice": "cheap"}).status_code == 400
    assert ca.post("Products", json={"Sku": "Y", "Colour": "red"}).status_code == 400
    assert ca.post("Products", data="{", headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {ca.access_token}"}).status_code == 400


def test_find_by_sku_with_select(ca):
    ca.generate(products=5)
    sku = catalog(5)[3]["sku"]
    body = ca.get("Products", params={"$filter": f"Sku eq '{sku}'", "$select": "ID,Sku"}).json()
    assert [set(row) for row in body["value"]] == [{"ID", "Sku"}]
    assert body["value"][0]["Sku"] == sku
    assert ca.get("Products", params={"$filter": "Sku eq 'none'"}).json()["value"] == []


def test_products_page_at_100(ca, sandbox):
    ca.generate(products=105)
    first = ca.get("Products").json()
    assert len(first["value"]) == 100
    second = ca.get(first["@odata.nextLink"]).json()
    assert len(second["value"]) == 5 and "@odata.nextLink" not in second
    assert Product.objects.filter(sandbox=sandbox).count() == 105


def test_update_quantity_per_distribution_center(ca):
    product_id = ca.post("Products", json=NEW).json()["ID"]
    url = f"Products({product_id})/UpdateQuantity"

    def quantities():
        body = ca.get(f"Products({product_id})", params={"$expand": "DCQuantities"}).json()
        return body["TotalAvailableQuantity"], {row["DistributionCenterID"]: row["AvailableQuantity"]
                                                 for row in body["DCQuantities"]}

    absolute = {"Value": {"UpdateType": "Absolute", "Updates": [{"DistributionCenterID": 0, "Quantity": 5},
                                                                 {"DistributionCenterID": 2, "Quantity": 7}]}}
    assert ca.post(url, json=absolute).status_code == 204
    assert quantities() == (12, {0: 5, 2: 7})
    relative = {"Value": {"UpdateType": "Relative", "Updates": [{"DistributionCenterID": 0, "Quantity": -2}]}}
    assert ca.post(url, json=relative).status_code == 204
    assert quantities() == (10, {0: 3, 2: 7})
    available = {"Value": {"UpdateType": "Available", "Updates": [{"DistributionCenterID": 2, "Quantity": 0}]}}
    assert ca.post(url, json=available).status_code == 204
    assert quantities() == (3, {0: 3, 2: 0})
    assert ca.get(f"Products({product_id})").json()["QuantityUpdateDateUtc"]


def test_in_stock_counts_units_in_open_orders(ca, sandbox):
    product_id = ca.post("Products", json=NEW).json()["ID"]
    ca.generate(orders=1)
    order = Order.objects.get(sandbox=sandbox)
    order.shipping_status = "Unshipped"
    order.payment_status = "NotYetSubmitted"  # InStock subtracts orders pending payment (test_quantities.py)
    order.save()
    OrderItem.objects.create(order=order, sku="NEW-001", quantity=4)
    body = {"Value": {"UpdateType": "InStock", "Updates": [{"DistributionCenterID": 0, "Quantity": 10}]}}
    assert ca.post(f"Products({product_id})/UpdateQuantity", json=body).status_code == 204
    product = ca.get(f"Products({product_id})").json()
    assert (product["TotalAvailableQuantity"], product["TotalQuantity"]) == (6, 10)


def test_update_quantity_bad_bodies(ca):
    product_id = ca.post("Products", json=NEW).json()["ID"]
    url = f"Products({product_id})/UpdateQuantity"
    for body in [{"UpdateType": "Absolute"}, {"Value": {"UpdateType": "Sometimes", "Updates": []}},
                 {"Value": {"UpdateType": "Absolute", "Updates": []}},
                 {"Value": {"UpdateType": "Absolute", "Updates": [{"DistributionCenterID": 0, "Quantity": -1}]}},
                 {"Value": {"UpdateType": "Absolute", "Updates": [{"DistributionCenterID": "a", "Quantity": 1}]}},
                 {"Value": {"UpdateType": "Absolute", "Updates": [{"Quantity": 10**20}]}}]:
        response = ca.post(url, json=body)
        assert response.status_code == 400, (body, response.text)
    assert ca.post("Products(98765432)/UpdateQuantity", json={"Value": {}}).status_code == 404


def test_price_patch(ca):
    product_id = ca.post("Products", json=NEW).json()["ID"]
    prices = {"RetailPrice": 30, "BuyItNowPrice": 29.5, "Cost": 12.25, "Margin": 5, "StartingPrice": 1,
              "ReservePrice": 20}
    assert ca.patch(f"Products({product_id})", json=prices).status_code == 204
    body = ca.get(f"Products({product_id})").json()
    assert {name: body[name] for name in prices} == {name: float(value) for name, value in prices.items()}
    assert ca.patch(f"Products({product_id})", json={"RetailPrice": 1e300}).status_code == 400
    assert ca.patch(f"Products({product_id})", json={"RetailPrice": True}).status_code == 400
    assert ca.patch(f"Products({product_id})", json=[1]).status_code == 400


# --- the full v1 Product entity (#17) ---

METADATA_PROPERTIES = [  # ChannelAdvisor's $metadata order (docs/sandboxes/channeladvisor.md)
    "ID", "ProfileID", "CreateDateUtc", "UpdateDateUtc", "QuantityUpdateDateUtc", "IsAvailableInStore", "IsBlocked",
    "IsBlockedFromAdvertising", "IsExternalQuantityBlocked", "InfiniteQuantity", "BlockComment", "BlockedDateUtc",
    "BlockedFromAdvertisingDateUtc", "ReceivedDateUtc", "LastSaleDateUtc", "ASIN", "Brand", "Condition",
    "Description", "EAN", "FlagDescription", "Flag", "HarmonizedCode", "ISBN", "Manufacturer", "MPN",
    "ShortDescription", "Sku", "Subtitle", "TaxProductCode", "Title", "UPC", "WarehouseLocation", "Warranty",
    "MultipackQuantity", "Height", "Length", "Width", "Weight", "Cost", "Margin", "RetailPrice", "StartingPrice",
    "ReservePrice", "BuyItNowPrice", "StorePrice", "SecondChancePrice", "MinPrice", "MaxPrice",
    "EstimatedShippingCost", "SupplierName", "SupplierCode", "SupplierPO", "Classification", "IsDisplayInStore",
    "StoreTitle", "StoreDescription", "BundleType", "ProductType", "TotalAvailableQuantity", "OpenAllocatedQuantity",
    "OpenAllocatedQuantityPooled", "PendingCheckoutQuantity", "PendingCheckoutQuantityPooled",
    "PendingPaymentQuantity", "PendingPaymentQuantityPooled", "PendingShipmentQuantity",
    "PendingShipmentQuantityPooled", "TotalQuantity", "TotalQuantityPooled", "QuantitySoldLast7Days",
    "QuantitySoldLast14Days", "QuantitySoldLast30Days", "QuantitySoldLast60Days", "QuantitySoldLast90Days",
    "IsParent", "IsInRelationship", "CopyToChildren", "CopyToAliases", "ParentProductID", "ParentSku",
    "RelationshipName", "VaryBy", "AliasType", "ReferenceSku", "ReferenceProductID"]

FULL = {"Sku": "FULL-1", "Title": "Welding helmet", "Subtitle": "Auto-darkening", "ShortDescription": "Helmet",
        "Description": "<p>Auto-darkening helmet</p>", "Brand": "WeldPro", "Manufacturer": "WeldPro Industries",
        "MPN": "WH100", "UPC": "012345678905", "EAN": "4006381333931", "ISBN": "9780306406157",
        "ASIN": "B00TEST123", "RetailPrice": 99.0, "StartingPrice": 49.0, "ReservePrice": 80.0,
        "BuyItNowPrice": 89.0, "StorePrice": 95.0, "SecondChancePrice": 85.0, "MinPrice": 70.0, "MaxPrice": 120.0,
        "Cost": 40.5, "Margin": 48.5, "Weight": 1.25, "Height": 30, "Length": 25.5, "Width": 22,
        "Condition": "Refurbished", "Classification": "Safety", "Flag": "GreenFlag", "FlagDescription": "Top seller",
        "IsBlocked": True, "BlockComment": "Awaiting photos", "HarmonizedCode": "9004.90", "TaxProductCode": "P0000000",
        "WarehouseLocation": "A1-B2", "Warranty": "2 years", "SupplierName": "Acme", "SupplierCode": "ACME",
        "SupplierPO": "PO-7", "MultipackQuantity": 1, "IsDisplayInStore": True, "StoreTitle": "Helmet (store)",
        "StoreDescription": "For the store", "EstimatedShippingCost": 7.5, "ReceivedDateUtc": "2026-03-02T10:00:00Z",
        "BundleType": "None"}


def test_every_v1_property_is_served_null_where_unset(ca):
    assert list(resources.PRODUCT_PROPERTIES) == METADATA_PROPERTIES
    created = ca.post("Products", json={"Sku": "BARE-1"})
    assert created.status_code == 201, created.text
    body = ca.get(f"Products({created.json()['ID']})").json()
    assert [name for name in body if not name.startswith("@")] == METADATA_PROPERTIES
    assert body["Title"] is None and body["Subtitle"] is None and body["RetailPrice"] is None
    assert body["Height"] is None and body["ParentProductID"] is None and body["BlockedDateUtc"] is None
    assert (body["Condition"], body["Flag"], body["BundleType"], body["AliasType"], body["ProductType"]) == \
        ("NEW", "NoFlag", "None", "None", "Item")
    assert (body["IsParent"], body["IsInRelationship"], body["TotalQuantityPooled"]) == (False, False, 0)


def test_full_product_round_trip_select_and_filter(ca):
    created = ca.post("Products", json=FULL)
    assert created.status_code == 201, created.text
    product_id = created.json()["ID"]
    body = ca.get(f"Products({product_id})").json()
    for name, value in FULL.items():
        expected = {"Condition": "REFURBISHED", "ReceivedDateUtc": "2026-03-02T10:00:00Z"}.get(name, value)
        assert body[name] == expected, name
    assert body["BlockedDateUtc"] and body["ProductType"] == "Item"
    selected = ca.get(f"Products({product_id})", params={"$select": "Sku,SecondChancePrice,Height,VaryBy,ProductType"})
    assert {k: v for k, v in selected.json().items() if not k.startswith("@")} == {
        "Sku": "FULL-1", "SecondChancePrice": 85.0, "Height": 30.0, "VaryBy": None, "ProductType": "Item"}
    for query in ["Condition eq 'REFURBISHED'", "Flag eq 'GreenFlag'", "IsBlocked eq true and Height gt 29",
                  "SecondChancePrice eq 85", "startswith(Subtitle, 'Auto')", "ReceivedDateUtc lt 2026-03-03T00:00:00Z",
                  "ASIN eq 'B00TEST123' and ISBN ne null", "ProductType eq 'Item'", "TotalQuantityPooled eq 0"]:
        found = ca.get("Products", params={"$filter": query, "$select": "ID"}).json()["value"]
        assert found == [{"ID": product_id}], query
    for name in ["Colour", "Weight/Unit"]:
        response = ca.get("Products", params={"$select": f"ID,{name}"})
        assert response.status_code == 400 and "Colour" in response.json()["error"]["message"] or name != "Colour"
    bad = ca.get("Products", params={"$filter": "Colour eq 'red'"})
    assert bad.status_code == 400 and "Colour" in bad.json()["error"]["message"]
    assert ca.get("Products(987654321)/Attributes").status_code == 404


def test_product_field_validation(ca):
    for body in [{"Sku": "V-1", "Title": "x" * 121}, {"Sku": "V-1", "Condition": "Mint"},
                 {"Sku": "V-1", "Flag": "PurpleFlag"}, {"Sku": "V-1", "BundleType": 3},
                 {"Sku": "V-1", "Height": "tall"},
                 {"Sku": "V-1", "MultipackQuantity": 2**31}, {"Sku": "V-1", "IsBlocked": "yes"},
                 {"Sku": "V-1", "Images": [{"PlacementName": "ITEMIMAGEURL1", "Url": "https://x/1.jpg"}]},
                 {"Sku": "V-1", "Labels": [{"Name": "Sale"}]}, {"Sku": "V-1", "ReceivedDateUtc": "yesterday"},
                 {"Sku": "V-1", "ParentProductID": 987654321, "RelationshipName": "Size"}]:
        response = ca.post("Products", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["message"]
    product_id = ca.post("Products", json={"Sku": "V-1"}).json()["ID"]
    response = ca.patch(f"Products({product_id})", json={"Attributes": [{"Name": "Colour", "Value": "red"}]})
    assert response.status_code == 400 and "UpdateAttributes" in response.json()["error"]["message"]


def test_parent_with_children_vary_by_and_relationship_name(ca):
    parent = ca.post("Products", json={"Sku": "SHIRT", "Title": "Shirt", "IsParent": True, "IsInRelationship": True,
                                       "RelationshipName": "Size", "VaryBy": "Size"})
    assert parent.status_code == 201, parent.text
    parent_id = parent.json()["ID"]
    assert (parent.json()["ProductType"], parent.json()["IsInRelationship"]) == ("Parent", True)
    children = []
    for size in ("S", "M", "L"):
        child = ca.post("Products", json={"Sku": f"SHIRT-{size}", "Title": f"Shirt {size}",
                                          "ParentProductID": parent_id,
                                          "IsInRelationship": True, "RelationshipName": "Size", "VaryBy": size,
                                          "Attributes": [{"Name": "Size", "Value": size}]})
        assert child.status_code == 201, child.text
        children.append(child.json()["ID"])
    child = ca.get(f"Products({children[0]})", params={"$expand": "Attributes"}).json()
    assert (child["ParentProductID"], child["ParentSku"], child["ProductType"], child["IsParent"]) == \
        (parent_id, "SHIRT", "Child", False)
    assert [(a["Name"], a["Value"], a["ProductID"]) for a in child["Attributes"]] == [("Size", "S", children[0])]
    listed = ca.get(f"Products({parent_id})/Children").json()["value"]
    assert [row["ChildProductID"] for row in listed] == children
    assert all(row["ParentProductID"] == parent_id for row in listed)
    expanded = ca.get(f"Products({parent_id})", params={"$expand": "Children($expand=ChildProduct)"}).json()
    assert [row["ChildProduct"]["Sku"] for row in expanded["Children"]] == ["SHIRT-S", "SHIRT-M", "SHIRT-L"]
    family = ca.get("Products", params={"$filter": f"ParentProductID eq {parent_id}", "$select": "Sku,VaryBy"})
    assert [(row["Sku"], row["VaryBy"]) for row in family.json()["value"]] == \
        [("SHIRT-S", "S"), ("SHIRT-M", "M"), ("SHIRT-L", "L")]
    # refused: another relationship name, a child as parent, a parent as child, a parent without a name
    for body in [{"Sku": "SHIRT-XL", "ParentProductID": parent_id, "RelationshipName": "Colour"},
                 {"Sku": "SHIRT-XL", "ParentProductID": children[0], "RelationshipName": "Size"},
                 {"Sku": "SHIRT-XL", "ParentProductID": parent_id},
                 {"Sku": "P2", "IsParent": True, "ParentProductID": parent_id, "RelationshipName": "Size"},
                 {"Sku": "P3", "IsParent": True}]:
        assert ca.post("Products", json=body).status_code == 400, body
    quantity = {"Value": {"UpdateType": "Absolute", "Updates": [{"DistributionCenterID": 0, "Quantity": 5}]}}
    assert ca.post(f"Products({parent_id})/UpdateQuantity", json=quantity).status_code == 400
    assert ca.post(f"Products({children[1]})/UpdateQuantity", json=quantity).status_code == 204
    assert ca.delete(f"Products({parent_id})").status_code == 400  # children first
    assert ca.patch(f"Products({parent_id})", json={"IsParent": False}).status_code == 400
    # CopyToChildren: the parent's values go down to every child, identifiers and relationship excepted
    assert ca.patch(f"Products({parent_id})", json={"Brand": "Shirtmaker", "RetailPrice": 19.99,
                                                    "CopyToChildren": True}).status_code == 204
    rows = ca.get("Products", params={"$filter": f"ParentProductID eq {parent_id}",
                                      "$select": "Brand,RetailPrice,VaryBy"}).json()["value"]
    assert [(r["Brand"], r["RetailPrice"], r["VaryBy"]) for r in rows] == \
        [("Shirtmaker", 19.99, "S"), ("Shirtmaker", 19.99, "M"), ("Shirtmaker", 19.99, "L")]
    assert ca.patch(f"Products({parent_id})", json={"Sku": "SHIRT-V2"}).status_code == 204
    assert ca.get(f"Products({children[2]})").json()["ParentSku"] == "SHIRT-V2"
    for child_id in children:
        assert ca.delete(f"Products({child_id})").status_code == 204
    assert ca.delete(f"Products({parent_id})").status_code == 204


def test_attributes_images_labels_endpoints(ca):
    created = ca.post("Products", json={"Sku": "REL-1", "Attributes": [{"Name": "Colour", "Value": "red"}]})
    product_id = created.json()["ID"]
    base = f"Products({product_id})"
    assert ca.call("PUT", f"{base}/Attributes('Material')", json={"Value": "Steel"}).status_code == 204
    assert ca.patch(f"{base}/Attributes('Colour')", json={"Value": "blue"}).status_code == 204
    assert ca.post(f"{base}/Attributes('It''s')", json={"Value": "quoted"}).status_code == 204
    posted = ca.post(f"{base}/Attributes", json={"Name": "Finish", "Value": "matte"})
    assert posted.status_code == 201 and posted.json()["Value"] == "matte"
    values = {row["Name"]: row["Value"] for row in ca.get(f"{base}/Attributes").json()["value"]}
    assert values == {"Colour": "blue", "Material": "Steel", "It's": "quoted", "Finish": "matte"}
    assert ca.get(f"{base}/Attributes('Material')").json()["Value"] == "Steel"
    assert ca.get(f"{base}/Attributes", params={"$filter": "Name eq 'Colour'"}).json()["value"][0]["Value"] == "blue"
    update = {"Value": {"Attributes": [{"Name": "Colour", "Value": "green"}, {"Name": "Size", "Value": "XL"}]}}
    assert ca.post(f"{base}/UpdateAttributes", json=update).status_code == 204
    assert ca.delete(f"{base}/Attributes('Finish')").status_code == 204
    assert ca.delete(f"{base}/Attributes('Finish')").status_code == 404
    assert ca.get(f"{base}/Attributes('Finish')").status_code == 404
    assert ca.call("PUT", f"{base}/Attributes('{'n' * 33}')", json={"Value": "x"}).status_code == 400
    assert ca.call("PUT", f"{base}/Attributes('Colour')", json={"Val": "x"}).status_code == 400

    url = "https://cdn.example.com/rel-1/1.jpg"
    assert ca.call("PUT", f"{base}/Images('ITEMIMAGEURL1')", json={"Url": url}).status_code == 204
    assert ca.patch(f"{base}/Images('ITEMIMAGEURL2')", json={"Url": url.replace("1.jpg", "2.jpg")}).status_code == 204
    assert ca.call("PUT", f"{base}/Images('ITEMIMAGEURL3')", json={"Url": "ftp://x"}).status_code == 400
    assert ca.call("PUT", f"{base}/Images('ITEMIMAGEURL3')", json={"Url": "https://x/" + "a" * 250}).status_code == 400
    images = ca.get(f"{base}/Images").json()["value"]
    assert [(i["PlacementName"], i["Url"][-5:]) for i in images] == [("ITEMIMAGEURL1", "1.jpg"),
                                                                       ("ITEMIMAGEURL2", "2.jpg")]
    assert ca.delete(f"{base}/Images('ITEMIMAGEURL2')").status_code == 204

    assert ca.call("PUT", f"{base}/Labels('Clearance')").status_code == 204
    assert ca.call("PUT", f"{base}/Labels('Clearance')").status_code == 204  # once is enough
    assert ca.post(f"{base}/Labels", json={"Name": "Summer"}).status_code == 201
    labels = ca.get("ProductLabels", params={"$filter": f"ProductID eq {product_id}"}).json()["value"]
    assert sorted(row["Name"] for row in labels) == ["Clearance", "Summer"]
    assert ca.get("ProductLabels", params={"$filter": "Name eq 'Summer'"}).json()["value"] == [
        {"ProductID": product_id, "ProfileID": ca.credentials["profile_id"], "Name": "Summer"}]
    assert ca.delete(f"{base}/Labels('Summer')").status_code == 204

    product = ca.get(base, params={"$expand": "Attributes,Images,Labels,DCQuantities,BundleComponents",
                                   "$select": "ID,Sku"}).json()
    assert {a["Name"] for a in product["Attributes"]} == {"Colour", "Material", "It's", "Size"}
    assert [i["PlacementName"] for i in product["Images"]] == ["ITEMIMAGEURL1"]
    assert [label["Name"] for label in product["Labels"]] == ["Clearance"]
    assert product["BundleComponents"] == [] and "Title" not in product
    listed = ca.get("Products", params={"$filter": "Sku eq 'REL-1'", "$expand": "Labels"}).json()["value"]
    assert [label["Name"] for label in listed[0]["Labels"]] == ["Clearance"]
    ca.post("Products", json={"Sku": "REL-2", "Attributes": [{"Name": "Colour", "Value": "green"}]})
    for query, skus in [("Attributes/any(a: a/Name eq 'Colour' and a/Value eq 'green')", ["REL-1", "REL-2"]),
                        ("Attributes/any(a: a/Name eq 'Material')", ["REL-1"]),
                        ("Labels/any(x: x/Name eq 'Clearance')", ["REL-1"]),
                        ("not Images/any(i: startswith(i/Url, 'https://'))", ["REL-2"])]:
        found = ca.get("Products", params={"$filter": query, "$select": "Sku"}).json()["value"]
        assert [row["Sku"] for row in found] == skus, query


def test_distribution_centers(ca):
    ca.generate(products=1)
    centers = ca.get("DistributionCenters").json()["value"]
    assert [dc["ID"] for dc in centers] == [0, 1, 2]
    assert ca.get("DistributionCenters(2)").json()["IsExternallyManaged"] is True
    assert ca.get("DistributionCenters(9)").status_code == 404
    assert ca.get("DistributionCenters", params={"$filter": "Code eq 'EAST'", "$select": "ID"}).json()["value"] == \
        [{"ID": 1}]


def test_generated_products_carry_realistic_fields(ca):
    ca.generate(products=3)
    rows = ca.get("Products", params={"$expand": "Attributes,Images,Labels"}).json()["value"]
    for row in rows:
        assert row["Description"] and row["UPC"] and len(row["UPC"]) == 12 and row["EAN"] and len(row["EAN"]) == 13
        assert row["Condition"] == "NEW" and row["Height"] and row["Classification"]
        assert row["Attributes"] and row["Images"][0]["Url"].startswith("https://")


def test_third_party_style_odata_session(ca):
    """What a client written by others does, with plain requests and OData query strings: refresh the token,
    create a parent and its children, find them by Sku with $select, PATCH, attributes / images / labels,
    and a $batch of product updates with their per-part answers."""
    session = requests.Session()
    token = session.post(f"{ca.base}/oauth2/token", auth=(ca.credentials["application_id"],
                                                          ca.credentials["shared_secret"]),
                         data={"grant_type": "refresh_token", "refresh_token": ca.credentials["refresh_token"]},
                         timeout=10).json()["access_token"]
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
    api = f"{ca.base}/v1"

    parent = session.post(f"{api}/Products", json={
        "ProfileID": ca.credentials["profile_id"], "Sku": "GLOVE", "Title": "Welding glove", "IsParent": True,
        "IsInRelationship": True, "RelationshipName": "Size", "Brand": "WeldPro"}, timeout=10)
    assert parent.status_code == 201, parent.text
    found = session.get(f"{api}/Products?$filter=Sku%20eq%20'GLOVE'&$select=ID", timeout=10).json()
    parent_id = found["value"][0]["ID"]
    assert parent_id == parent.json()["ID"]
    for size in ("M", "L"):
        response = session.post(f"{api}/Products", json={
            "ProfileID": ca.credentials["profile_id"], "Sku": f"GLOVE-{size}", "Title": f"Welding glove {size}",
            "ParentProductID": parent_id, "IsParent": False, "IsInRelationship": True, "RelationshipName": "Size",
            "VaryBy": "Size", "RetailPrice": 12.5, "Attributes": [{"Name": "Size", "Value": size}]}, timeout=10)
        assert response.status_code == 201, response.text
    query = "$filter=" + quote(f"ParentProductID eq {parent_id}") + "&$select=ID,Sku,ParentSku,RelationshipName"
    children = session.get(f"{api}/Products?{query}", timeout=10).json()
    assert children["@odata.context"].endswith("$metadata#Products(ID,Sku,ParentSku,RelationshipName)")
    assert [(c["Sku"], c["ParentSku"], c["RelationshipName"]) for c in children["value"]] == \
        [("GLOVE-M", "GLOVE", "Size"), ("GLOVE-L", "GLOVE", "Size")]
    child_ids = [c["ID"] for c in children["value"]]

    assert session.patch(f"{api}/Products({child_ids[0]})", json={"RetailPrice": 13.99, "Subtitle": "Leather"},
                         timeout=10).status_code == 204
    assert session.put(f"{api}/Products({child_ids[0]})/Attributes('Material')", json={"Value": "Leather"},
                       timeout=10).status_code == 204
    assert session.put(f"{api}/Products({child_ids[0]})/Images('ITEMIMAGEURL1')",
                       json={"Url": "https://cdn.example.com/glove-m.jpg"}, timeout=10).status_code == 204
    assert session.put(f"{api}/Products({child_ids[0]})/Labels('New arrivals')", timeout=10).status_code == 204
    one = session.get(f"{api}/Products({child_ids[0]})?$expand=Attributes,Images,Labels&$select=RetailPrice,Subtitle",
                      timeout=10).json()
    assert (one["RetailPrice"], one["Subtitle"]) == (13.99, "Leather")
    assert {a["Name"]: a["Value"] for a in one["Attributes"]} == {"Size": "M", "Material": "Leather"}
    assert one["Images"][0]["Url"].endswith("glove-m.jpg") and one["Labels"][0]["Name"] == "New arrivals"

    def part(method, url, body=None, content_id=1):
        lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary", f"Content-ID: {content_id}",
                 "", f"{method} {url} HTTP/1.1", "Content-Type: application/json", ""]
        return "\r\n".join(lines) + "\r\n" + (json.dumps(body) if body is not None else "") + "\r\n"

    parts = [part("PATCH", f"{api}/Products({child_ids[0]})", {"RetailPrice": 14.5}, 1),
             part("PATCH", f"{api}/Products({child_ids[1]})", {"RetailPrice": 15.5, "Title": "Glove L (batch)"}, 2),
             part("PUT", f"{api}/Products({child_ids[1]})/Attributes(ProductID={child_ids[1]},Name='Material')",
                  {"Value": "Suede"}, 3),
             part("PUT", f"{api}/Products({child_ids[1]})/Images(ProductID={child_ids[1]},"
                         "PlacementName='ITEMIMAGEURL1')", {"Url": "https://cdn.example.com/glove-l.jpg"}, 4),
             part("POST", f"{api}/Products", {"Sku": "GLOVE-XL", "ParentProductID": parent_id,
                                                "RelationshipName": "Size", "VaryBy": "Size"}, 5),
             part("DELETE", f"{api}/Products({child_ids[0]})/Labels('New%20arrivals')", None, 6),
             part("PATCH", f"{api}/Products({child_ids[1]})", {"Colour": "red"}, 7)]
    body = "--batch_x\r\nContent-Type: multipart/mixed; boundary=changeset_x\r\n\r\n" + "".join(
        f"--changeset_x\r\n{p}" for p in parts) + "--changeset_x--\r\n--batch_x--\r\n"
    answer = session.post(f"{api}/$batch", data=body.encode(), timeout=30,
                          headers={"Content-Type": "multipart/mixed; boundary=batch_x"})
    assert answer.status_code == 200, answer.text
    assert [int(code) for code in re.findall(r"HTTP/1\.1 (\d{3})", answer.text)] == [204, 204, 204, 204, 201, 204, 400]
    rows = session.get(f"{api}/Products?$filter=ParentProductID%20eq%20{parent_id}&$select=Sku,RetailPrice,Title"
                       "&$expand=Attributes,Images,Labels", timeout=10).json()["value"]
    by_sku = {row["Sku"]: row for row in rows}
    assert (by_sku["GLOVE-M"]["RetailPrice"], by_sku["GLOVE-L"]["RetailPrice"]) == (14.5, 15.5)
    assert by_sku["GLOVE-L"]["Title"] == "Glove L (batch)" and by_sku["GLOVE-M"]["Labels"] == []
    assert {a["Name"]: a["Value"] for a in by_sku["GLOVE-L"]["Attributes"]} == {"Size": "L", "Material": "Suede"}
    assert by_sku["GLOVE-L"]["Images"][0]["Url"].endswith("glove-l.jpg") and "GLOVE-XL" in by_sku


def test_product_writes_count_toward_the_limits(ca, sandbox):
    """The new endpoints go through the same gate: the per-profile budget and the concurrency slots."""
    product_id = ca.post("Products", json={"Sku": "LIM-1"}).json()["ID"]
    used = sum(RateCounter.objects.filter(sandbox=sandbox).values_list("count", flat=True))
    ca.configure(requests_per_window=used + 3, rate_window_seconds=60)
    codes = [ca.call("PUT", f"Products({product_id})/Attributes('Colour')", json={"Value": "red"}).status_code,
             ca.call("PUT", f"Products({product_id})/Labels('Sale')").status_code,
             ca.patch(f"Products({product_id})", json={"Title": "x"}).status_code,
             ca.call("PUT", f"Products({product_id})/Images('ITEMIMAGEURL1')",
                     json={"Url": "https://x/1.jpg"}).status_code]
    assert codes == [204, 204, 204, 429]
    assert InFlightSlot.objects.filter(sandbox=sandbox).count() == 0  # every slot given back
