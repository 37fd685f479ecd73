"""Bench: read PrestaShop orders with their customers and addresses from the sandbox served in its own process,
once with batched reads (display=full, filter[id]=[1|2|...]) and once one record at a time.

    python bench/read_orders.py [--orders 200] [--port 8111]

Prints JSON: calls and seconds for both ways, and the ratios. Uses the database named by DATABASE_URL (as the
portal does), in a sandbox called "bench-read-orders" that it resets first.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from integrations.connectors import http  # noqa: E402
from integrations.connectors.prestashop import parsers  # noqa: E402
from integrations.connectors.prestashop.client import PrestaShopClient  # noqa: E402
from integrations.models import Connection  # noqa: E402
from portal.models import Organization  # noqa: E402
from sandbox import services  # noqa: E402

SLUG = "bench-read-orders"


def prepare(orders, port):
    call_command("migrate", verbosity=0)
    sandbox, _ = services.create_sandbox(SLUG)
    services.reset_sandbox(sandbox, ["prestashop"])
    services.system_module("prestashop").generate(sandbox, orders=orders, products=20, customers=max(orders // 3, 1),
                                                  state=None, unknown_sku=0, rng=random.Random(1))
    secrets = services.issue_credentials(sandbox, f"http://127.0.0.1:{port}")["prestashop"]
    organization, _ = Organization.objects.get_or_create(name="Bench")
    connection, _ = Connection.objects.update_or_create(
        organization=organization, name="Bench PrestaShop",
        defaults={"kind": "prestashop", "base_url": secrets["base_url"], "sandbox": sandbox,
                  "credentials": {"ws_key": secrets["ws_key"]}, "settings": {"timezone": "Europe/Paris"},
                  # The bench measures the protocol, not our own limits.
                  "rate_limit_per_minute": 1_000_000, "max_concurrent_requests": 50})
    return connection


def serve(port):
    process = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "sandbox", "serve", "--port", str(port),
                                "--workers", "2"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/sandbox/{SLUG}/prestashop/api/", timeout=5)
            return process
        except requests.RequestException:  # still booting
            time.sleep(0.3)
    stop(process)
    raise SystemExit(f"The sandbox server did not start on port {port}.")


def stop(process):
    os.killpg(process.pid, signal.SIGTERM)  # its own session: gunicorn and its workers only
    process.wait(timeout=15)


def batched(connection):
    client = PrestaShopClient(connection)
    orders = []
    for page in client.changed_orders(datetime(2000, 1, 1, tzinfo=UTC), page_size=100):
        orders += page
    return orders


def one_at_a_time(connection):
    """What a naive connector does: list ids, then GET each order, its customer and its addresses."""
    client = PrestaShopClient(connection)
    ids = [parsers.text(r["id"]) for page in client.pages("orders", display="[id]") for r in page]
    countries, currencies = client.lookup("countries"), client.lookup("currencies")
    states = client.lookup("order_states", "name")
    orders = []
    for order_id in ids:
        raw = client.get("orders", order_id)
        customer = parsers.customer(client.get("customers", parsers.text(raw["id_customer"])), client.timezone)
        addresses = {}
        for field in ("id_address_delivery", "id_address_invoice"):
            address_id = parsers.text(raw[field])
            if address_id not in addresses:
                addresses[address_id] = parsers.address(client.get("addresses", address_id), countries)
        orders.append(parsers.order(raw, timezone_name=client.timezone, currencies=currencies, countries=countries,
                                    states=states, customers={customer.source_id: customer}, addresses=addresses))
    return orders


def measure(function, connection):
    with http.recording() as recorder:
        started = time.perf_counter()
        orders = function(connection)
        seconds = time.perf_counter() - started
    return orders, {"calls": len(recorder.calls), "seconds": round(seconds, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--port", type=int, default=8111)
    args = parser.parse_args()
    connection = prepare(args.orders, args.port)
    process = serve(args.port)
    try:
        fast_orders, fast = measure(batched, connection)
        slow_orders, slow = measure(one_at_a_time, connection)
    finally:
        stop(process)
    same = sorted(o.to_dict()["source_id"] for o in fast_orders) == sorted(o.source_id for o in slow_orders)
    print(json.dumps({
        "orders": len(fast_orders), "same_orders_both_ways": same, "batched": fast, "one_at_a_time": slow,
        "ratio": {"calls": round(slow["calls"] / max(fast["calls"], 1), 1),
                  "seconds": round(slow["seconds"] / max(fast["seconds"], 1e-9), 1)},
    }, indent=2))


if __name__ == "__main__":
    main()
