"""The four functions sandbox.services calls for TIMS: credentials, reference data, reset, generated data."""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from sandbox import core, fakedata
from sandbox.tims import operations, validation
from sandbox.tims.models import (
    ORDER_STATUSES,
    Counter,
    Customer,
    CustomFieldDefinition,
    Event,
    GlAccount,
    IdempotencyRecord,
    InventoryAdjustment,
    InventoryChange,
    InventoryLevel,
    Invoice,
    Item,
    JournalEntry,
    Location,
    Payment,
    Return,
    SalesOrder,
    Shipment,
    TimsConfig,
)

LOCATIONS = [("MAIN", "Main warehouse"), ("EAST", "East branch")]
GUEST_NAME = "Guest customer"
SHIPPING_METHODS = ["UPS Ground", "FedEx 2Day", "Will call", "Local delivery"]
PRICE_LEVELS = ["", "", "RETAIL", "CONTRACT", "WHOLESALE"]


def issue_credentials(sandbox, base_url):
    """A fresh OAuth client: only the secret's hash is kept; the plaintext is returned once."""
    client_id = f"tims-{sandbox.slug}-{core.new_secret(6)}"
    client_secret = core.new_secret()
    core.store_secret(sandbox, "tims", "client_secret", client_secret, identifier=client_id)
    return {"base_url": base_url, "client_id": client_id, "client_secret": client_secret}


def seed(sandbox):
    """Reference data only: settings, locations, the guest customer and the chart of accounts. Items come from
    generate()."""
    settings = operations.config(sandbox)
    operations.chart_of_accounts(sandbox)
    for code, name in LOCATIONS:
        Location.objects.get_or_create(sandbox=sandbox, code=code, defaults={"name": name})
    Customer.objects.get_or_create(sandbox=sandbox, code=settings.guest_customer_code,
                                   defaults={"name": GUEST_NAME, "price_level": "RETAIL"})


def reset(sandbox):
    """Remove every TIMS business row of the sandbox; settings and issued tokens stay."""
    for model in (Payment, Invoice, Return, Shipment, SalesOrder, InventoryAdjustment, InventoryChange,
                  InventoryLevel, Item, Customer, CustomFieldDefinition, Event, IdempotencyRecord, Counter, Location,
                  JournalEntry, GlAccount):
        model.objects.filter(sandbox=sandbox).delete()
    TimsConfig.objects.get_or_create(sandbox=sandbox)


@transaction.atomic
def generate(sandbox, *, orders, products, customers, state, unknown_sku, rng, history_days=0):
    """Items from the shared catalog (with stock), unicode customers and, if asked, sales orders (dated now, or
    spread over the past `history_days`).

    TIMS refuses unknown SKUs, so `unknown_sku` cannot make TIMS orders; it is reported as skipped.
    """
    if state is not None and state not in ORDER_STATUSES:
        raise ValueError(f"TIMS order states are: {', '.join(ORDER_STATUSES)}.")
    seed(sandbox)
    item_skus = [_item(sandbox, product, rng) for product in fakedata.catalog(products)]
    customer_codes = [_customer(sandbox, rng).code for _ in range(customers)]
    order_codes = [_order(sandbox, rng, state, history_days).code for _ in range(orders)]
    return {"system": "tims", "items": len(item_skus), "skus": item_skus[:10],
            "customers": customer_codes, "sales_orders": order_codes,
            "unknown_sku_skipped": unknown_sku, "locations": [code for code, _ in LOCATIONS]}


def _item(sandbox, product, rng):
    item, created = Item.objects.get_or_create(sandbox=sandbox, sku=product["sku"], defaults={
        "description": product["name"], "unit_price": product["price"], "cost": product["cost"],
        "weight": product["weight"], "unit_of_measure": "CYL" if "cylinder" in product["name"].lower() else "EA"})
    if created:
        main = operations.default_location(sandbox)
        # Some items out of stock, most with a healthy quantity, a few also stocked at the branch.
        operations.set_on_hand(item, main, rng.choice([0, 3, 12, 25, 40, 75, 120, 250]))
        if rng.random() < 0.3:
            operations.set_on_hand(item, Location.objects.get(sandbox=sandbox, code="EAST"), rng.randrange(1, 60))
    return item.sku


def _address(person, place):
    return {"Name": f"{person['first_name']} {person['last_name']}", "Company": person["company"],
            "Line1": place["line1"], "Line2": place["line2"], "City": place["city"], "State": place["state"],
            "PostalCode": place["postcode"], "Country": place["country"], "Phone": person["phone"]}


def _customer(sandbox, rng):
    person = fakedata.person(rng)
    billing = _address(person, fakedata.address(rng))
    shipping = [billing] + ([_address(person, fakedata.address(rng))] if rng.random() < 0.3 else [])
    return Customer.objects.create(
        sandbox=sandbox, code=operations.free_customer_code(sandbox),
        name=(person["company"] or f"{person['first_name']} {person['last_name']}")[:100],
        email=person["email"], phone=person["phone"], billing_address=billing, shipping_addresses=shipping,
        tax_exempt=rng.random() < 0.1, price_level=rng.choice(PRICE_LEVELS))


def _order(sandbox, rng, state, history_days=0):
    items = list(Item.objects.filter(sandbox=sandbox, active=True)[:200])
    if not items:
        raise ValueError("Generate TIMS items (--products) before sales orders.")
    known = list(Customer.objects.filter(sandbox=sandbox))
    customer = rng.choice(known)  # the guest customer is among them, and repeat customers happen naturally
    lines = []
    for item in rng.sample(items, k=min(len(items), rng.randrange(1, 4))):
        quantity = rng.randrange(1, 5)
        discount = (item.unit_price * quantity * Decimal("0.10")).quantize(Decimal("0.01")) \
            if rng.random() < 0.25 else Decimal("0")
        tax = ((item.unit_price * quantity - discount) * Decimal("0.08")).quantize(Decimal("0.01"))
        lines.append({"item": item, "quantity": quantity, "price": item.unit_price, "tax_amount": tax,
                      "discount_amount": discount})
    shipping_amount = Decimal(rng.choice(["0.00", "9.95", "14.50", "25.00"]))
    address = customer.billing_address or _address(fakedata.person(rng), fakedata.address(rng))
    order = operations.create_sales_order(sandbox, {
        "external_order_id": f"GEN-{rng.randrange(10**8):08d}", "customer": customer,
        "order_date": fakedata.moment(timezone.now(), rng, history_days),
        "status": "Open", "payment_status": rng.choice(["Paid", "Paid", "Unpaid"]),
        "currency": rng.choice(fakedata.CURRENCIES), "shipping_method": rng.choice(SHIPPING_METHODS),
        "shipping_amount": shipping_amount, "shipping_address": address, "billing_address": address,
        "total_amount": validation.order_total(lines, shipping_amount), "cost_center": "", "project_code": "",
        "location": operations.default_location(sandbox), "custom_fields": {}, "lines": lines})
    if state and state != "Open":
        order.status = state  # generated history: set directly, without moving stock
        order.save(update_fields=["status"])
    return order
