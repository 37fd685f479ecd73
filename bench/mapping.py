"""Benchmark: map 10,000 canonical orders of 10 lines through the default order mapping; prints JSON.

    python bench/mapping.py                  compile from the template definitions (no database needed)
    python bench/mapping.py --set 12         use mapping set 12 from the database in DATABASE_URL
    python bench/mapping.py --orders 2000 --lines 5
"""

import argparse
import json
import os
import random
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def make_orders(count, lines, seed=5):
    """Canonical orders as the PrestaShop connector produces them, built through the dataclasses (to_dict())."""
    from integrations import canonical as c
    from sandbox.fakedata import address, catalog, person

    rng = random.Random(seed)
    products = catalog(200)
    states = ["Payment accepted", "Processing in progress", "Shipped", "Awaiting bank wire payment", "Delivered"]
    paris = ZoneInfo("Europe/Paris")
    orders = []
    for number in range(count):
        buyer, ship = person(rng), address(rng)
        place = c.Address(first_name=buyer["first_name"], last_name=buyer["last_name"], company=buyer["company"],
                          line1=ship["line1"], line2=ship["line2"], city=ship["city"], state=ship["state"],
                          postal_code=ship["postcode"], country=ship["country"], phone=buyer["phone"])
        order_lines = []
        for index in range(lines):
            product = products[rng.randrange(len(products))]
            quantity = rng.randint(1, 5)
            tax = (product["price"] * quantity * Decimal("0.19")).quantize(Decimal("0.01"))
            order_lines.append(c.OrderLine(
                sku=product["sku"], name=product["name"], quantity=quantity,
                unit_price=c.Money(product["price"], "EUR"), tax=c.Money(tax, "EUR"),
                discount=None if index % 3 else c.Money("0.00", "EUR"), source_id=str(index + 1)))
        subtotal = sum(line.unit_price.amount * line.quantity for line in order_lines)
        tax = sum(line.tax.amount for line in order_lines)
        orders.append(c.Order(
            source="prestashop", source_id=str(number + 1), currency="EUR", number=f"REF{number + 1:07d}",
            total=c.Money(subtotal + tax + 7, "EUR"), status=states[number % len(states)],
            ordered_at=datetime(2026, 3, 1 + number % 28, 10, number % 60, tzinfo=paris),
            customer=c.Customer(source="prestashop", source_id=str(number), email=buyer["email"],
                                first_name=buyer["first_name"], last_name=buyer["last_name"],
                                company=buyer["company"], phone=buyer["phone"], shipping_addresses=[place]),
            billing_address=place, shipping_address=place, lines=order_lines, subtotal=c.Money(subtotal, "EUR"),
            shipping=c.Money("7.00", "EUR"), tax=c.Money(tax, "EUR"), discount=c.Money("0.00", "EUR"),
            shipping_method="2", payment_method="Bank wire",
            extra={"gift_message": "Merci !" if number % 7 == 0 else "", "tax_rate": "19.000",
                   "current_state_id": "2"},
        ).to_dict())
    return orders


def compiled_from_templates():
    from mappings import templates
    from mappings.engine import CompiledMapping
    from mappings.transforms import CompiledValueMap

    definition = templates.mapping_sets_for("prestashop_tims", shop_timezone="Europe/Paris",
                                            default_location="MAIN")[0]
    value_maps = [CompiledValueMap(name, entries, default, strict)
                  for name, (_, strict, default, entries) in templates.VALUE_MAPS.items()]
    return CompiledMapping({**definition, "version": 0}, value_maps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--set", type=int, help="Mapping set id to load from the database instead of the template.")
    args = parser.parse_args()

    import django

    django.setup()
    started = time.perf_counter()
    if args.set:
        from mappings.models import MappingSet
        from mappings.services import compiled_mapping

        compiled = compiled_mapping(MappingSet.objects.select_related("integration").get(pk=args.set))
    else:
        compiled = compiled_from_templates()
    compile_seconds = time.perf_counter() - started

    orders = make_orders(args.orders, args.lines)
    resolvers = {"tims_customer_by_email": lambda email: "C000123"}  # the real lookup is the pipeline's job
    started = time.perf_counter()
    invalid = 0
    for order in orders:
        if not compiled.apply(order, resolvers).ok:
            invalid += 1
    seconds = time.perf_counter() - started
    print(json.dumps({
        "benchmark": "mapping", "mapping": compiled.name, "version": compiled.version, "records": len(orders),
        "lines_per_record": args.lines, "seconds": round(seconds, 3),
        "records_per_second": round(len(orders) / seconds, 1),
        "lines_per_second": round(len(orders) * args.lines / seconds, 1),
        "compile_ms": round(compile_seconds * 1000, 2), "invalid_records": invalid,
    }, indent=2))


if __name__ == "__main__":
    main()
