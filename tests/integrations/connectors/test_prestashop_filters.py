"""Values that go into PrestaShop's filter[...]=[...] cannot change the filter, and reference data stays bounded."""

import pytest
import responses

from integrations.connectors import errors
from integrations.connectors.prestashop import client as ps
from integrations.connectors.prestashop.client import PrestaShopClient, filter_id, filter_text, one_of

API = "https://shop.example.com/api"

HOSTILE = ["1|2", "1,99999", "1]", "[1", "5%", "%7C", " 1", "1 ", "-3", "0", "1.0", "1e3", "abc", "", "²", "١",
           "1\n", None, True, 1.5, -1, 0]


@pytest.mark.parametrize("value", HOSTILE)
def test_one_of_refuses_anything_but_positive_integers(value):
    with pytest.raises(errors.PermanentError, match="not a PrestaShop id"):
        one_of([1, value])


def test_one_of_accepts_ids_as_ints_or_digit_strings():
    assert one_of([1, "2", "0030"]) == "[1|2|30]"
    assert filter_id(0, allow_zero=True) == "0"
    with pytest.raises(errors.PermanentError):
        filter_id("0")


@pytest.mark.parametrize("value", ["a|b", "a,b", "a]", "[a", "50%", "", "line\nbreak"])
def test_text_filters_refuse_filter_operators(value):
    with pytest.raises(errors.PermanentError, match="cannot be used in a PrestaShop filter"):
        filter_text(value)


def test_text_filters_keep_ordinary_values():
    assert filter_text("XKBKNABJK") == "[XKBKNABJK]"
    assert filter_text("zoë@example.com") == "[zoë@example.com]"


@responses.activate
def test_get_many_refuses_a_crafted_id_before_any_call(make_connection):
    client = PrestaShopClient(make_connection("prestashop"))
    with pytest.raises(errors.PermanentError):
        client.get_many("orders", ["1", "2|3"])
    assert len(responses.calls) == 0


@responses.activate
@pytest.mark.parametrize("call", [
    lambda client: client.set_tracking("1]|[2", "1Z"),
    lambda client: client.set_stock("3,4", 1),
    lambda client: client.stock_available(3, "0|1"),
])
def test_writes_refuse_crafted_ids_in_their_lookups(make_connection, call):
    client = PrestaShopClient(make_connection("prestashop"))
    with pytest.raises(errors.PermanentError, match="not a PrestaShop id"):
        call(client)
    assert len(responses.calls) == 0


@responses.activate
def test_stock_lookup_sends_clean_ids(make_connection):
    responses.get(f"{API}/stock_availables", json={"stock_availables": [{"id": 31}]})
    PrestaShopClient(make_connection("prestashop")).stock_available("07", 0)
    request = responses.calls[0].request
    assert "filter%5Bid_product%5D=%5B7%5D" in request.url and "filter%5Bid_product_attribute%5D=%5B0%5D" in \
        request.url


def test_reference_data_is_bounded_and_expires(make_connection, monkeypatch):
    connection = make_connection("prestashop")
    computed = []
    for number in range(ps.REFERENCE_MAX_ITEMS + 50):
        ps._remember(connection, ("resource", number), lambda: computed.append(1) or "value")
    assert len(ps._reference) == ps.REFERENCE_MAX_ITEMS  # a shop with endless keys cannot grow it without end
    assert ps._reference.ttl_seconds == ps.REFERENCE_TTL
    ps._remember(connection, "k", lambda: "first")
    clock = [0.0]
    monkeypatch.setattr(ps._reference, "_clock", lambda: clock[0])
    ps._reference.set((connection.pk, "k"), "first")
    clock[0] += ps.REFERENCE_TTL + 1
    assert ps._remember(connection, "k", lambda: "fresh") == "fresh"


def test_forget_reference_data_per_connection(make_connection):
    one, two = make_connection("prestashop", name="one"), make_connection("prestashop", name="two")
    ps._remember(one, "currencies", lambda: {"1": "EUR"})
    ps._remember(two, "currencies", lambda: {"1": "USD"})
    ps.forget_reference_data(one)
    assert ps._remember(one, "currencies", lambda: {"1": "GBP"}) == {"1": "GBP"}
    assert ps._remember(two, "currencies", lambda: {"1": "GBP"}) == {"1": "USD"}
