"""`sandbox corrupt --system channeladvisor`: orders carry the raw value set for a field until `--clear`."""

import json
from io import StringIO

from django.core.management import call_command


def corrupt(ca, *options):
    out = StringIO()
    call_command("sandbox", "corrupt", "--slug", ca.sandbox.slug, "--system", "channeladvisor", *options,
                 stdout=out)
    return json.loads(out.getvalue())


def test_corrupt_values_are_served_raw(ca):
    orders = ca.generate(orders=2, products=3)["orders"]
    order_id, other_id = orders[0]["ID"], orders[1]["ID"]
    corrupt(ca, "--order", str(order_id), "--field", "TotalPrice", "--value", "abc")
    corrupt(ca, "--order", str(order_id), "--field", "CreatedDateUtc", "--value", "2026-02-30T10:00:00Z")
    corrupt(ca, "--order", str(order_id), "--field", "BuyerEmailAddress", "--remove")

    one = ca.get(f"Orders({order_id})").json()
    assert one["TotalPrice"] == "abc" and one["CreatedDateUtc"] == "2026-02-30T10:00:00Z"
    assert "BuyerEmailAddress" not in one
    listed = {row["ID"]: row for row in ca.get("Orders", params={"$select": "ID,TotalPrice"}).json()["value"]}
    assert listed[order_id]["TotalPrice"] == "abc" and isinstance(listed[other_id]["TotalPrice"], float)

    corrupt(ca, "--clear", "--order", str(order_id))
    assert isinstance(ca.get(f"Orders({order_id})").json()["TotalPrice"], float)
