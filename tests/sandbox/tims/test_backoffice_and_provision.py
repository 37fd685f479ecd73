"""Back-office functions (the same from the admin and the CLI), credentials, seed, reset and generate."""

import io
import json
import random

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from sandbox.tims import backoffice, provision
from sandbox.tims.models import Customer, InventoryLevel, Item, Location, SalesOrder
from sandbox.tims.operations import ActionRefused

from .conftest import order_body


def _cli(*args):
    out = io.StringIO()
    call_command("tims_backoffice", *args, stdout=out)
    return json.loads(out.getvalue())


def test_ship_moves_stock_sets_status_and_emits_events(tims):
    backoffice.set_stock(tims.sandbox, "WLD-00001", 5)
    body = order_body()
    body["LineItems"] = [{"SKU": "WLD-00001", "Quantity": 3, "Price": "10.00"},
                         {"SKU": "ARG-00002", "Quantity": 1, "Price": "20.00"}]
    body.pop("ShippingAmount")
    order = tims.post("sales-orders", body).json()
    backoffice.set_stock(tims.sandbox, "ARG-00002", 0)

    partial = _cli("ship", "--slug", tims.sandbox.slug, "--order", order["SalesOrderID"], "--carrier", "FedEx",
                   "--tracking", "7777")
    assert partial["shipment"]["Lines"] == [{"SKU": "WLD-00001", "Quantity": 3}]
    assert partial["shipment"]["TrackingNumber"] == "7777" and partial["order"]["OrderStatus"] == "PartiallyShipped"
    level = tims.get("inventory/items/WLD-00001/quantity").json()
    assert (level["OnHand"], level["Allocated"], level["Available"]) == (2, 0, 2)

    with pytest.raises(CommandError, match="nothing_to_ship"):
        _cli("ship", "--slug", tims.sandbox.slug, "--order", order["SalesOrderID"])
    stock = _cli("stock", "--slug", tims.sandbox.slug, "--sku", "ARG-00002", "--quantity", "4")
    assert stock["inventory"]["Available"] == 4
    final = backoffice.ship(tims.sandbox, order["SalesOrderID"])
    assert final["order"]["OrderStatus"] == "Fulfilled" and final["shipment"]["TrackingNumber"]
    assert tims.get("inventory/items/ARG-00002/quantity").json()["OnHand"] == 3

    invoiced = _cli("invoice", "--slug", tims.sandbox.slug, "--order", order["SalesOrderID"])
    assert invoiced["invoice"]["TotalAmount"] == "50.00" and invoiced["order"]["OrderStatus"] == "Invoiced"
    with pytest.raises(ActionRefused):
        backoffice.invoice(tims.sandbox, order["SalesOrderID"])
    types = [e["Type"] for e in tims.get("events", page_size=200).json()["results"]]
    assert types.count("shipment.created") == 2 and types.count("invoice.created") == 1


def test_allocation_reserves_only_what_is_available(tims):
    backoffice.set_stock(tims.sandbox, "TIG-00003", 1)
    body = order_body(sku="TIG-00003")
    order = tims.post("sales-orders", body).json()
    result = backoffice.allocate(tims.sandbox, order["SalesOrderID"])
    assert result["reserved"] == 1 and result["order"]["OrderStatus"] == "Processing"
    level = tims.get("inventory/items/TIG-00003/quantity").json()
    assert (level["OnHand"], level["Allocated"], level["Available"]) == (1, 1, 0)


def test_cli_refuses_unknown_things(tims):
    with pytest.raises(CommandError):
        _cli("stock", "--slug", tims.sandbox.slug, "--sku", "NOPE", "--quantity", "1")
    with pytest.raises(CommandError):
        _cli("ship", "--slug", "no-such-sandbox", "--order", "SO1")
    with pytest.raises(CommandError):
        _cli("invoice", "--slug", tims.sandbox.slug, "--order", "SO999999")
    assert _cli("token-lifetime", "--slug", tims.sandbox.slug, "--seconds", "2") == {"token_lifetime_seconds": 2}
    assert _cli("item", "--slug", tims.sandbox.slug, "--sku", "WLD-00001", "--price", "9.50")["item"][
        "UnitPrice"] == "9.50"


def test_admin_actions_use_the_back_office(tims):
    backoffice.set_stock(tims.sandbox, "HLM-00005", 8)
    order = tims.post("sales-orders", order_body(sku="HLM-00005")).json()
    row = SalesOrder.objects.get(sandbox=tims.sandbox, code=order["SalesOrderID"])
    user = get_user_model().objects.create_superuser(f"admin-{tims.sandbox.slug}", "a@example.com", "pw")
    try:
        browser = Client()
        browser.force_login(user)
        for model in filter(admin.site.is_registered, apps.get_app_config("sandbox_tims").get_models()):
            listing = f"/admin/sandbox_tims/{model._meta.model_name}/"
            assert browser.get(listing).status_code == 200, listing
        url = "/admin/sandbox_tims/salesorder/"
        assert browser.get(f"{url}{row.pk}/change/").status_code == 200
        browser.post(url, {"action": "allocate_and_ship", "_selected_action": [row.pk]})
        browser.post(url, {"action": "invoice", "_selected_action": [row.pk]})
        row.refresh_from_db()
        assert row.status == "Invoiced" and row.shipments.count() == 1 and row.invoices.count() == 1

        level = InventoryLevel.objects.get(item__sandbox=tims.sandbox, item__sku="HLM-00005", location__code="MAIN")
        levels_url = "/admin/sandbox_tims/inventorylevel/"
        browser.post(levels_url, {"action": "receive_ten", "_selected_action": [level.pk]})
        assert tims.get("inventory/items/HLM-00005/quantity").json()["OnHand"] == 16
        change = browser.post(f"{levels_url}{level.pk}/change/", {"on_hand": "3"})
        assert change.status_code == 302
        assert tims.get("inventory/items/HLM-00005/quantity").json()["OnHand"] == 3
        changes = tims.get("inventory/changes", page_size=200).json()["results"]
        assert changes[-1]["SKU"] == "HLM-00005" and changes[-1]["Available"] == 3
    finally:
        user.delete()


def test_credentials_seed_and_generate(tims):
    assert set(provision.issue_credentials(tims.sandbox, "http://x/sandbox/s/tims")) == {
        "base_url", "client_id", "client_secret"}
    assert Location.objects.filter(sandbox=tims.sandbox, code="MAIN").exists()
    assert Customer.objects.filter(sandbox=tims.sandbox, code="C-GUEST").exists()
    summary = provision.generate(tims.sandbox, orders=4, products=12, customers=5, state=None, unknown_sku=1,
                                 rng=random.Random(3))
    json.dumps(summary)
    assert summary["items"] == 12 and len(summary["customers"]) == 5 and len(summary["sales_orders"]) == 4
    assert Item.objects.filter(sandbox=tims.sandbox).count() == 12
    names = "".join(Customer.objects.filter(sandbox=tims.sandbox).values_list("name", flat=True))
    assert not names.isascii()
    first = tims.get(f"sales-orders/{summary['sales_orders'][0]}").json()
    assert first["LineItems"] and first["TotalAmount"]
    history = provision.generate(tims.sandbox, orders=1, products=0, customers=0, state="Closed", unknown_sku=0,
                                 rng=random.Random(4))
    assert SalesOrder.objects.get(sandbox=tims.sandbox, code=history["sales_orders"][0]).status == "Closed"
    with pytest.raises(ValueError):
        provision.generate(tims.sandbox, orders=1, products=0, customers=0, state="Shipped", unknown_sku=0,
                           rng=random.Random(4))


def test_reset_removes_business_data_and_seed_restores_reference_data(tims):
    tims.post("sales-orders", order_body())
    provision.reset(tims.sandbox)
    assert not SalesOrder.objects.filter(sandbox=tims.sandbox).exists()
    assert not Item.objects.filter(sandbox=tims.sandbox).exists()
    provision.seed(tims.sandbox)
    assert Customer.objects.filter(sandbox=tims.sandbox).count() == 1
