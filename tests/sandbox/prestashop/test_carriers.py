"""The shop's carriers are a default PrestaShop 8 install's (plus two a shop adds), and the demo's carriers value
map knows each by its exact name, so no order falls back to the map's default."""

from mappings import templates


def test_every_sandbox_carrier_is_in_the_carriers_value_map(shop):
    carriers = shop.json("carriers", params={"display": "full"})["carriers"]
    names = {carrier["name"] for carrier in carriers}
    assert {"Click and collect", "My carrier", "My cheap carrier", "My light carrier"} <= names
    entries = templates.VALUE_MAPS["carriers"][3]
    assert names <= set(entries), names - set(entries)
    active = {carrier["name"] for carrier in carriers if carrier["active"] == "1"}
    assert {"My cheap carrier", "My light carrier"}.isdisjoint(active)  # disabled, as in a fresh install
