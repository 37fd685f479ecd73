"""A real client library, unchanged, against the live sandbox: prestapyt's dict client lists, reads, adds and
edits orders and customers, and ships an order (tracking on its order_carriers row, then a history row)."""

import warnings

import pytest

from sandbox.prestashop.models import MailLog

from .conftest import APPS

prestapyt = pytest.importorskip("prestapyt", reason="prestapyt==0.11.1 belongs in requirements-dev.txt")

pytestmark = pytest.mark.django_db(transaction=True, available_apps=APPS)


def value(node):
    """prestapyt gives {'attrs': ..., 'value': ...} for nodes with attributes it keeps, else the text."""
    return node["value"] if isinstance(node, dict) else node


def test_prestapyt_round_trip(filled):
    client = prestapyt.PrestaShopWebServiceDict(filled.api.rstrip("/"), filled.key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # prestapyt warns that it was only tested up to PrestaShop 1.7.8
        order_ids = client.search("orders")
        assert len(order_ids) == 12
        assert client.search("orders", options={"filter[id]": f"[{order_ids[0]}]"}) == [order_ids[0]]
        assert client.search("orders", options={"filter[id]": "[999999]"}) == []
        order = client.get("orders", order_ids[0])["order"]
        rows = order["associations"]["order_rows"]["order_row"]
        rows = rows if isinstance(rows, list) else [rows]
        assert rows[0]["product_reference"]

        # GET-modify-PUT of a whole customer, the way prestapyt edits
        customer_id = int(value(order["id_customer"]))
        customer = client.get("customers", customer_id)
        customer["customer"]["note"] = "edited by prestapyt"
        client.edit("customers", customer)
        assert client.get("customers", customer_id)["customer"]["note"] == "edited by prestapyt"

        # Add a customer from the blank schema
        blank = client.get("customers", options={"schema": "blank"})
        blank["customer"].update({"passwd": "pw", "lastname": "Åberg", "firstname": "Søren",
                                  "email": "soren@example.com"})
        created = client.add("customers", blank)["prestashop"]["customer"]
        assert created["lastname"] == "Åberg" and int(created["id"]) > customer_id

        # Change an order's state by adding a history row; then edit the order itself
        states = client.get("order_states", options={"display": "[id,name]", "filter[name]": "[Delivered]"})
        delivered = states["order_states"]["order_state"]["id"]
        client.add("order_histories", {"order_history": {"id_order": order_ids[0], "id_order_state": delivered}})
        assert value(client.get("orders", order_ids[0])["order"]["current_state"]) == str(delivered)
        full = client.get("orders", order_ids[0])
        full["order"]["gift_message"] = "Joyeux anniversaire"
        client.edit("orders", full)
        assert client.get("orders", order_ids[0])["order"]["gift_message"] == "Joyeux anniversaire"

        # Ship: GET-modify-PUT of the order's order_carriers row, then a history row with sendemail=1
        shipped_order = order_ids[1]
        (row_id,) = client.search("order_carriers", options={"filter[id_order]": f"[{shipped_order}]"})
        row = client.get("order_carriers", row_id)
        weight = row["order_carrier"]["weight"]
        row["order_carrier"]["tracking_number"] = "1Z999AA10123456784"
        client.edit("order_carriers", row)
        again = client.get("order_carriers", row_id)["order_carrier"]
        assert again["tracking_number"] == "1Z999AA10123456784" and again["weight"] == weight
        shipped = client.get("order_states", options={"display": "[id]", "filter[name]": "[Shipped]"})
        shipped = shipped["order_states"]["order_state"]["id"]
        # prestapyt's options refuse `sendemail`, so its users put it in the URL themselves
        client.add_with_url(client._api_url + "order_histories?sendemail=1",
                            {"order_history": {"id_order": shipped_order, "id_order_state": shipped}})
        assert value(client.get("orders", shipped_order)["order"]["current_state"]) == str(shipped)
        assert MailLog.objects.filter(id_order=shipped_order, template="shipped").count() == 1
        assert client.get("orders", shipped_order)["order"]["shipping_number"] == "1Z999AA10123456784"

        # A missing record is a 404 with an empty body, which prestapyt reports as an empty response.
        with pytest.raises(prestapyt.PrestaShopWebServiceError, match="empty"):
            client.get("orders", 999999)
