"""Contract: quantities per distribution center — every UpdateType over several DCs in one call, refusals in the
OData envelope with nothing written, the account's open orders subtracted by InStock and UnShipped, UpdateQuantity
inside $batch (faults per part), Products(ID)/DCQuantities, and the write log."""

import itertools

from sandbox import core, services
from sandbox.channeladvisor.actions import quantity_writes
from sandbox.models import SandboxCall

from .test_batch import batch_body, http_part, send, statuses


def new_product(ca, sku="Q-1"):
    response = ca.post("Products", json={"Sku": sku, "Title": sku})
    assert response.status_code == 201, response.text
    return response.json()["ID"]


def update(ca, product_id, update_type, *pairs):
    return ca.post(f"Products({product_id})/UpdateQuantity", json={"Value": {
        "UpdateType": update_type, "Updates": [{"DistributionCenterID": dc, "Quantity": q} for dc, q in pairs]}})


def quantities(ca, product_id):
    body = ca.get(f"Products({product_id})", params={"$expand": "DCQuantities"}).json()
    return (body["TotalAvailableQuantity"], body["TotalQuantity"],
            {row["DistributionCenterID"]: row["AvailableQuantity"] for row in body["DCQuantities"]})


def order(ca, sku, quantity, **fields):
    response = ca.post("Orders", json={"Items": [{"Sku": sku, "Quantity": quantity, "UnitPrice": 5}], **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_every_update_type_over_several_dcs_in_one_call(ca):
    product_id = new_product(ca)
    assert update(ca, product_id, "Absolute", (0, 5), (3, 7)).status_code == 204
    assert quantities(ca, product_id) == (12, 12, {0: 5, 3: 7})
    assert update(ca, product_id, "Relative", (0, -5), (3, 2)).status_code == 204
    assert quantities(ca, product_id) == (9, 9, {0: 0, 3: 9})
    assert update(ca, product_id, "Available", (0, 4)).status_code == 204  # no open listings: as Absolute
    assert quantities(ca, product_id) == (13, 13, {0: 4, 3: 9})
    assert update(ca, product_id, "InStock", (0, 6), (3, 1)).status_code == 204
    assert update(ca, product_id, "unshipped", (3, 2)).status_code == 204  # enum names ignore case
    assert quantities(ca, product_id) == (8, 8, {0: 6, 3: 2})
    listed = ca.get(f"Products({product_id})/DCQuantities").json()
    assert listed["value"] == [{"ProductID": product_id, "ProfileID": listed["value"][0]["ProfileID"],
                                "DistributionCenterID": dc, "AvailableQuantity": q} for dc, q in [(0, 6), (3, 2)]]
    assert ca.get("Products(987654)/DCQuantities").status_code == 404


def test_refusals_answer_400_in_the_odata_envelope_and_write_nothing(ca, sandbox):
    product_id = new_product(ca)
    assert update(ca, product_id, "Absolute", (0, 2), (1, 2)).status_code == 204
    before = quantities(ca, product_id)
    refused = [
        update(ca, product_id, "Relative", (0, 5), (1, -3)),  # DC 1 would become -1: DC 0 is not written either
        update(ca, product_id, "Absolute", (0, -1)),
        update(ca, product_id, "Absolute", (0, 2.5)),
        update(ca, product_id, "Absolute", (0, "5")),
        update(ca, product_id, "Absolute", (0, True)),
        update(ca, product_id, "Absolute", (-1, 5)),
        update(ca, product_id, "Absolute", (0, 2**31)),
        update(ca, product_id, "Sometimes", (0, 1)),
        ca.post(f"Products({product_id})/UpdateQuantity", json={"Value": {"UpdateType": "Absolute"}}),
    ]
    for response in refused:
        assert response.status_code == 400, response.text
        assert set(response.json()["error"]) == {"code", "message"} and response.json()["error"]["message"]
    assert "would become -1" in refused[0].json()["error"]["message"]
    assert quantities(ca, product_id) == before
    assert quantity_writes(sandbox, "Q-1").count() == 2


def test_instock_and_unshipped_subtract_the_accounts_open_orders(ca, sandbox):
    product_id = new_product(ca)
    order(ca, "Q-1", 2)  # paid, unshipped: a pending shipment
    order(ca, "Q-1", 3, PaymentStatus="NotYetSubmitted")  # pending payment
    partly = order(ca, "Q-1", 4)
    item_id = partly["Items"][0]["ID"]
    shipped = ca.post(f"Orders({partly['ID']})/Ship", json={"Value": {
        "ShippingCarrier": "UPS", "ShippingClass": "Ground", "TrackingNumber": "1Z1",
        "Items": [{"OrderItemID": item_id, "Quantity": 3}]}})
    assert shipped.status_code == 204, shipped.text  # 1 unit of it is left to ship
    done = order(ca, "Q-1", 10)
    assert ca.post(f"Orders({done['ID']})/Ship", json={"Value": {
        "ShippingCarrier": "UPS", "ShippingClass": "Ground"}}).status_code == 204
    cancelled = order(ca, "Q-1", 10)
    assert ca.post(f"Orders({cancelled['ID']})/Adjust", json={"Reason": "BuyerCancelled"}).status_code == 204
    order(ca, "OTHER", 50)

    assert update(ca, product_id, "UnShipped", (0, 20)).status_code == 204
    assert quantities(ca, product_id) == (14, 20, {0: 14})  # 20 on hand - (2 + 3 + 1) still to ship
    assert update(ca, product_id, "InStock", (0, 20)).status_code == 204
    assert quantities(ca, product_id) == (17, 23, {0: 17})  # only the order pending payment
    # Spread over the DCs in the order sent; never below 0 (on hand smaller than what is sold is oversold, not -1).
    assert update(ca, product_id, "UnShipped", (0, 4), (1, 5)).status_code == 204
    assert quantities(ca, product_id) == (3, 9, {0: 0, 1: 3})
    assert update(ca, product_id, "Absolute", (0, 1), (1, 0)).status_code == 204
    assert quantities(ca, product_id) == (1, 7, {0: 1, 1: 0})


def test_update_quantity_in_a_batch_with_faults_per_part(ca, sandbox, monkeypatch):
    ids = [new_product(ca, f"B-{index}") for index in range(4)]
    parts = [http_part("POST", f"{ca.base}/v1/Products({product_id})/UpdateQuantity",
                       {"Value": {"UpdateType": "Absolute", "Updates": [{"DistributionCenterID": 0, "Quantity": 9}]}},
                       index + 1) for index, product_id in enumerate(ids)]
    parts[3] = parts[3].replace('"Quantity": 9', '"Quantity": -9')
    services.set_faults(sandbox, "channeladvisor", error_rate=0.0)
    script = iter([("", 0.0), ("error:503", 0.0), ("commit_then_fail", 0.0), ("", 0.0), ("", 0.0)])
    monkeypatch.setattr(core.Decider, "decide", lambda profile, is_write: next(script, ("", 0.0)))
    since = SandboxCall.objects.filter(sandbox=sandbox).count()
    response = send(ca, batch_body(parts))
    assert response.status_code == 200, response.text
    assert statuses(response) == [503, 500, 204, 400]
    written = {row.sku: row.available_quantity for row in quantity_writes(sandbox)}
    assert written == {"B-1": 9, "B-2": 9}  # the 503 wrote nothing; commit-then-fail wrote, then lost the answer
    calls = SandboxCall.objects.filter(sandbox=sandbox).order_by("id")[since:]
    assert [(c.endpoint, c.status, c.fault) for c in calls] == [
        ("v1/Products(key)/UpdateQuantity", 503, "error:503"),
        ("v1/Products(key)/UpdateQuantity", 500, "commit_then_fail"),
        ("v1/Products(key)/UpdateQuantity", 204, ""), ("v1/Products(key)/UpdateQuantity", 400, ""),
        ("v1/$batch", 200, "")]


def test_the_write_log_keeps_every_write_in_order(ca, sandbox):
    product_id = new_product(ca)
    for quantity in (5, 3, 8):
        assert update(ca, product_id, "Absolute", (0, quantity), (2, quantity * 10)).status_code == 204
    assert update(ca, product_id, "Relative", (2, -1)).status_code == 204
    rows = list(quantity_writes(sandbox, "Q-1"))
    assert [(r.distribution_center_id, r.update_type, r.requested, r.available_quantity) for r in rows] == [
        (0, "Absolute", 5, 5), (2, "Absolute", 50, 50), (0, "Absolute", 3, 3), (2, "Absolute", 30, 30),
        (0, "Absolute", 8, 8), (2, "Absolute", 80, 80), (2, "Relative", -1, 79)]
    assert all(r.product_id == product_id for r in rows)
    assert all(a.written_at <= b.written_at for a, b in itertools.pairwise(rows))
