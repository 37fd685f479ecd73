"""A real client library, unchanged, against the live sandbox: prestapyt's dict client lists, reads, adds and
edits orders and customers."""

import warnings

import pytest

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

        # A missing record is a 404 with an empty body, which prestapyt reports as an empty response.
        with pytest.raises(prestapyt.PrestaShopWebServiceError, match="empty"):
            client.get("orders", 999999)
