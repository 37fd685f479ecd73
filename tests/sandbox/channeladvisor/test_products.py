"""Contract: /v1/Products — CRUD, find by Sku, paging at 100, UpdateQuantity, price PATCH, bad bodies."""

from sandbox.channeladvisor.models import Order, OrderItem, Product
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
