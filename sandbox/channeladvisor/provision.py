"""Credentials, reference data, reset and realistic generated data for the ChannelAdvisor sandbox."""

import random
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from sandbox import fakedata
from sandbox.channeladvisor import actions, auth
from sandbox.channeladvisor import models as m

CARRIER_CLASSES = [
    ("UPS", "Ground"), ("UPS", "2nd Day Air"), ("UPS", "Next Day Air"), ("UPS", "3 Day Select"),
    ("FedEx", "Ground"), ("FedEx", "Home Delivery"), ("FedEx", "2Day"), ("FedEx", "Priority Overnight"),
    ("USPS", "Priority"), ("USPS", "First Class"), ("USPS", "Ground Advantage"), ("DHL", "Express"),
    ("DHL", "Parcel"), ("DPD", "Classic"), ("Royal Mail", "Tracked 48"),
]
# Marketplaces by the buyer's currency, so an order's site, currency and address agree.
SITES = {
    "USD": [(640, "Amazon Seller Central - US"), (579, "eBay Fixed Price"), (1008, "Walmart Marketplace"),
            (1320, "Google Shopping Actions")],
    "CAD": [(650, "Amazon Seller Central - CA"), (579, "eBay Fixed Price")],
    "EUR": [(683, "Amazon Seller Central - DE"), (690, "Amazon Seller Central - FR"), (579, "eBay Fixed Price")],
    "GBP": [(674, "Amazon Seller Central - UK"), (579, "eBay Fixed Price")],
}
CURRENCY_BY_COUNTRY = {"US": "USD", "CA": "CAD", "GB": "GBP"}  # the other catalog countries pay in EUR
TAX_RATES = {"EUR": Decimal("0.19"), "GBP": Decimal("0.20"), "USD": Decimal("0.0825"), "CAD": Decimal("0.13")}
PROMOTION_CODES = ["SPRING10", "WELD5", "FREESHIP", "LOYAL15"]
SHIPPED_OR_CANCELED = ("Shipped", "PartiallyShipped", "Canceled")
# The account's warehouses; generated products keep stock in DCs 0 and 1.
DISTRIBUTION_CENTERS = [
    (0, "MAIN", "Main warehouse", "Warehouse", False, "Charlotte", "NC", "US"),
    (1, "EAST", "East coast warehouse", "Warehouse", False, "Newark", "NJ", "US"),
    (2, "FBA", "Amazon fulfillment (externally managed)", "ExternallyManaged", True, "", "", "US"),
]


def issue_credentials(sandbox, base_url):
    """A new application with its shared secret and a refresh token (older ones keep working)."""
    config = auth.config_for(sandbox)
    application, shared_secret, refresh_token = auth.new_application(sandbox, name="Integration portal")
    return {"base_url": base_url, "application_id": application.application_id, "shared_secret": shared_secret,
            "refresh_token": refresh_token, "profile_id": config.profile_id}


def seed(sandbox):
    config = auth.config_for(sandbox)
    seed_distribution_centers(sandbox, config)
    for carrier, shipping_class in CARRIER_CLASSES:
        m.CarrierClass.objects.get_or_create(sandbox=sandbox, carrier=carrier, shipping_class=shipping_class)


def seed_distribution_centers(sandbox, config):
    for dc_id, code, name, kind, external, city, state, country in DISTRIBUTION_CENTERS:
        m.DistributionCenter.objects.get_or_create(
            sandbox=sandbox, dc_id=dc_id, defaults={
                "profile_id": config.profile_id, "code": code, "name": name, "type": kind,
                "is_externally_managed": external, "city": city, "state_or_province": state, "country": country})


def reset(sandbox):
    """Business data and counters go; the configuration and applications (credentials) stay."""
    m.Order.objects.filter(sandbox=sandbox).delete()
    m.Product.objects.filter(sandbox=sandbox).delete()
    m.RateCounter.objects.filter(sandbox=sandbox).delete()
    m.InFlightSlot.objects.filter(sandbox=sandbox).delete()
    m.CarrierClass.objects.filter(sandbox=sandbox).delete()


def _money(value):
    return Decimal(value).quantize(Decimal("0.01"))


@transaction.atomic
def generate(sandbox, *, orders, products, customers, state, unknown_sku, rng, history_days=0):
    """Products from the shared catalog with quantities, and orders from marketplaces with 1-5 lines, taxes,
    shipping, promotions, repeat buyers and several currencies. `state` is a ShippingStatus or PaymentStatus.
    New orders are dated now, as live ones are; `history_days` spreads them over that many past days."""
    if state and state not in m.SHIPPING_STATUSES + m.PAYMENT_STATUSES:
        raise ValueError(f"Unknown state “{state}”; use a ShippingStatus ({', '.join(m.SHIPPING_STATUSES)}) "
                         f"or a PaymentStatus ({', '.join(m.PAYMENT_STATUSES)}).")
    config = auth.config_for(sandbox)
    seed(sandbox)
    made_products = _products(sandbox, config, fakedata.catalog(products), rng)
    catalog = fakedata.catalog(max(products, 25))
    by_sku = {product.sku: product for product in m.Product.objects.filter(sandbox=sandbox)}
    buyers = [_buyer(rng) for _ in range(max(customers, 1 if orders else 0, (orders * 2) // 3))]
    made_orders, unknown_ids = [], []
    for index in range(max(orders, unknown_sku)):
        order = _order(sandbox, config, rng, rng.choice(buyers), catalog, by_sku, state,
                       unknown=fakedata.unknown_sku(index) if index < unknown_sku else None,
                       history_days=history_days)
        made_orders.append(order)
        if index < unknown_sku:
            unknown_ids.append(order.id)
        actions.announce_if_paid(order)
    return {
        "system": "channeladvisor", "profile_id": config.profile_id,
        "products": [{"ID": p.id, "Sku": p.sku, "TotalAvailableQuantity": p.total_available_quantity}
                     for p in made_products],
        "orders": [{"ID": o.id, "SiteOrderID": o.site_order_id, "Currency": o.currency,
                    "PaymentStatus": o.payment_status, "ShippingStatus": o.shipping_status,
                    "BuyerEmailAddress": o.buyer_email_address, "TotalPrice": float(o.total_price)}
                   for o in made_orders],
        "unknown_sku_orders": unknown_ids,
        "buyers": len(buyers),
    }


def _products(sandbox, config, entries, rng):
    """Create or refresh catalog products in a few bulk queries, each with stock in two distribution centers."""
    now = timezone.now()
    existing = {p.sku: p for p in m.Product.objects.filter(sandbox=sandbox, sku__in=[e["sku"] for e in entries])}
    products = []
    for entry in entries:
        product = existing.get(entry["sku"]) or m.Product(sandbox=sandbox, sku=entry["sku"])
        product.profile_id = config.profile_id
        product.title, product.brand, product.manufacturer = entry["name"], "WeldPro", "WeldPro Industries"
        product.mpn = entry["sku"].replace("-", "")
        product.cost, product.retail_price, product.buy_it_now_price = entry["cost"], entry["price"], entry["price"]
        product.weight = entry["weight"]
        _describe(product, entry, now)
        product.update_date_utc = product.quantity_update_date_utc = now
        product.dc_plan = {0: rng.randrange(0, 120), 1: rng.randrange(0, 40)}
        product.total_available_quantity = product.total_quantity = sum(product.dc_plan.values())
        products.append(product)
    m.Product.objects.bulk_create([p for p in products if p.pk is None])
    m.Product.objects.bulk_update([p for p in products if p.sku in existing],
                                  ["profile_id", "title", "brand", "manufacturer", "mpn", "cost", "retail_price",
                                   "buy_it_now_price", "weight", "update_date_utc", "quantity_update_date_utc",
                                   "total_available_quantity", "total_quantity", *DESCRIBED_FIELDS])
    if any(p.pk is None for p in products):  # backends that return no ids from bulk inserts
        ids = dict(m.Product.objects.filter(sandbox=sandbox, sku__in=[p.sku for p in products])
                   .values_list("sku", "id"))
        for product in products:
            product.pk = product.id = ids[product.sku]
    _related_rows(products)
    m.DCQuantity.objects.filter(product__in=products).delete()
    m.DCQuantity.objects.bulk_create([m.DCQuantity(product=p, distribution_center_id=dc, available_quantity=qty)
                                      for p in products for dc, qty in p.dc_plan.items()])
    return products


# Catalog prefix -> (classification, harmonized code, material) for generated products.
FAMILIES = {"WLD": ("Consumables", "8311.30", "Steel"), "ARG": ("Gas", "2804.21", "Argon"),
            "TIG": ("Consumables", "8101.96", "Tungsten"), "GLV": ("Safety", "4203.29", "Goatskin leather"),
            "HLM": ("Safety", "9004.90", "Nylon"), "REG": ("Equipment", "8481.10", "Brass"),
            "NOZ": ("Consumables", "8515.90", "Copper"), "CUT": ("Consumables", "8515.90", "Copper"),
            "ROD": ("Consumables", "8311.10", "Steel"), "CO2": ("Gas", "2811.21", "Carbon dioxide")}
DESCRIBED_FIELDS = ["subtitle", "short_description", "description", "upc", "ean", "condition", "classification",
                    "harmonized_code", "warehouse_location", "supplier_name", "supplier_code", "store_price",
                    "min_price", "max_price", "margin", "height", "length", "width", "received_date_utc",
                    "last_sale_date_utc", "quantity_sold_last_7_days", "quantity_sold_last_14_days",
                    "quantity_sold_last_30_days", "quantity_sold_last_60_days", "quantity_sold_last_90_days",
                    "tax_product_code", "warranty"]


def _check_digit(digits):
    """The GS1 check digit (UPC-A and EAN-13 alike) of the digits before it."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _describe(product, entry, now):
    """The catalog fields a seller fills in ChannelAdvisor, made from the SKU (its own random stream, so the
    orders generated after the products stay what they were for a given seed)."""
    rng = random.Random(f"ca-product-{entry['sku']}")
    prefix, number = entry["sku"].split("-", 1)
    classification, harmonized, material = FAMILIES.get(prefix, ("General", "", ""))
    serial = f"{int(number) if number.isdigit() else rng.randrange(10**5):05d}"
    product.subtitle = f"{classification} · WeldPro {prefix} series"
    product.short_description = entry["name"]
    product.description = (f"<p>{entry['name']}.</p><p>Professional grade {classification.lower()} from WeldPro, "
                           f"{material.lower() or 'industrial'}.</p>")
    upc = f"0{7000 + rng.randrange(1000):04d}{serial}0"[:11]
    product.upc = upc + _check_digit(upc)
    ean = f"40{rng.randrange(10**5):05d}{serial}"[:12]
    product.ean = ean + _check_digit(ean)
    product.condition = "NEW"
    product.classification = classification
    product.harmonized_code = harmonized
    product.tax_product_code = "P0000000"
    product.warranty = "1 year manufacturer warranty"
    product.warehouse_location = f"{'ABCDEF'[rng.randrange(6)]}{rng.randrange(1, 30)}-{rng.randrange(1, 6)}"
    product.supplier_name, product.supplier_code = "WeldPro Industries", "WPI"
    price, cost = Decimal(entry["price"]), Decimal(entry["cost"])
    product.store_price = price
    product.min_price = _money(cost * Decimal("1.10"))
    product.max_price = _money(price * Decimal("1.30"))
    product.margin = _money(price - cost)
    product.height, product.length, product.width = (Decimal(rng.randrange(2, 60)) for _ in range(3))
    product.received_date_utc = now - timedelta(days=rng.randrange(30, 400))
    sold = sorted(rng.randrange(0, 40) for _ in range(5))
    (product.quantity_sold_last_7_days, product.quantity_sold_last_14_days, product.quantity_sold_last_30_days,
     product.quantity_sold_last_60_days, product.quantity_sold_last_90_days) = sold
    product.last_sale_date_utc = now - timedelta(days=rng.randrange(0, 7)) if sold[-1] else None


def _related_rows(products):
    """Attributes, one image and (for some) a label per generated product, replacing what they had."""
    m.ProductAttribute.objects.filter(product__in=products).delete()
    m.ProductImage.objects.filter(product__in=products).delete()
    m.ProductLabel.objects.filter(product__in=products).delete()
    attributes, images, labels = [], [], []
    for product in products:
        rng = random.Random(f"ca-product-{product.sku}")
        prefix = product.sku.split("-", 1)[0]
        material = FAMILIES.get(prefix, ("", "", "Steel"))[2]
        origin = rng.choice(["US", "DE", "MX"])
        attributes += [m.ProductAttribute(product=product, name="Material", value=material),
                       m.ProductAttribute(product=product, name="CountryOfOrigin", value=origin)]
        images.append(m.ProductImage(product=product, placement_name="ITEMIMAGEURL1",
                                     url=f"https://images.example.com/weldpro/{product.sku}/1.jpg"))
        label = rng.choice(["Bestseller", "Clearance", "", ""])
        if label:
            labels.append(m.ProductLabel(product=product, name=label))
    m.ProductAttribute.objects.bulk_create(attributes)
    m.ProductImage.objects.bulk_create(images)
    m.ProductLabel.objects.bulk_create(labels)


def _buyer(rng):
    person, address = fakedata.person(rng), fakedata.address(rng)
    parts = {"FirstName": person["first_name"], "LastName": person["last_name"],
             "CompanyName": person["company"], "DaytimePhone": person["phone"], "AddressLine1": address["line1"],
             "AddressLine2": address["line2"], "City": address["city"], "StateOrProvince": address["state"],
             "PostalCode": address["postcode"], "Country": address["country"]}
    guest = rng.random() < 0.15  # marketplace guest checkouts carry no buyer account
    return {"email": person["email"], "user_id": "" if guest else f"buyer-{rng.randrange(10**8):08d}",
            "address": {key: value for key, value in parts.items() if value}}


def _order(sandbox, config, rng, buyer, catalog, by_sku, state, unknown=None, history_days=0):
    now = timezone.now().replace(microsecond=0)
    created = fakedata.moment(now, rng, history_days)

    def after(minutes):  # checkout, payment and import follow the creation, but never lie in the future
        return min(created + timedelta(minutes=minutes), now)

    currency = CURRENCY_BY_COUNTRY.get(buyer["address"].get("Country"), "EUR")
    payment_status = rng.choices(["Cleared", "NotYetSubmitted", "Failed"], weights=[80, 12, 8])[0]
    shipping_status = "Unshipped"
    if state in m.PAYMENT_STATUSES:
        payment_status = state
    elif state and state not in SHIPPED_OR_CANCELED:
        shipping_status = state  # these the actions below reach by shipping or cancelling
    site_id, site_name = rng.choice(SITES[currency])
    order = m.Order.objects.create(
        sandbox=sandbox, profile_id=config.profile_id, site_id=site_id, site_name=site_name,
        site_order_id=f"{rng.randrange(100, 999)}-{rng.randrange(10**6, 10**7)}-{rng.randrange(10**6, 10**7)}",
        currency=currency, import_date_utc=after(rng.randrange(1, 15)),
        created_date_utc=created, checkout_date_utc=after(1),
        payment_date_utc=after(2) if payment_status == "Cleared" else None,
        estimated_ship_date_utc=created + timedelta(days=2), checkout_status="Completed",
        payment_status=payment_status, shipping_status=shipping_status, buyer_user_id=buyer["user_id"],
        buyer_email_address=buyer["email"], payment_method=rng.choice(["CreditCard", "PayPal", "Marketplace"]),
        payment_transaction_id=f"TX{rng.randrange(10**11, 10**12)}",
        shipping=dict(buyer["address"]), billing=dict(buyer["address"]),
        special_instructions=rng.choice(["", "", "", "Bitte beim Nachbarn abgeben.", "Leave at the back door."]),
    )
    tax_rate = TAX_RATES[currency]
    lines = rng.sample(catalog, rng.randint(1, min(5, len(catalog))))
    if unknown:
        lines[0] = {"sku": unknown, "name": "Marketplace listing without a catalog match", "price": Decimal("19.99")}
    subtotal = tax_total = shipping_total = Decimal(0)
    items = []
    for number, entry in enumerate(lines, start=1):
        quantity = rng.choices([1, 2, 3, 5], weights=[70, 18, 8, 4])[0]
        if number == 1 and state == "PartiallyShipped":
            quantity = max(quantity, 2)  # one unit ships, at least one is left
        unit_price = _money(entry["price"])
        shipping = _money(rng.choice(["0", "0", "4.95", "7.50"]))
        tax = _money(unit_price * quantity * tax_rate)
        promotions = []
        if rng.random() < 0.2:
            promotions = [{"Code": rng.choice(PROMOTION_CODES), "Amount": -float(_money(unit_price * quantity / 10)),
                           "ShippingAmount": 0}]
        product = by_sku.get(entry["sku"])
        items.append(m.OrderItem(
            order=order, product_id=product.id if product else None, site_order_item_id=f"{order.id}{number:03d}",
            site_listing_id=f"L{rng.randrange(10**9, 10**10)}", sku=entry["sku"], title=entry["name"],
            quantity=quantity, unit_price=unit_price, tax_price=tax, shipping_price=shipping,
            shipping_tax_price=_money(shipping * tax_rate), promotions=promotions))
        subtotal += unit_price * quantity + sum(Decimal(str(p["Amount"])) for p in promotions)
        tax_total += tax
        shipping_total += shipping
    m.OrderItem.objects.bulk_create(items)
    if rng.random() < 0.15:
        order.promotion_code = rng.choice(PROMOTION_CODES)
        order.promotion_amount = _money(-subtotal * Decimal("0.05"))
    order.total_tax_price = tax_total
    order.total_shipping_price = shipping_total
    order.total_shipping_tax_price = _money(shipping_total * tax_rate)
    order.total_price = _money(subtotal + tax_total + shipping_total + order.total_shipping_tax_price
                               + order.promotion_amount)
    order.save()
    if rng.random() < 0.3:
        m.OrderCustomField.objects.create(order=order, field_id=101, value=rng.choice(["Gift", "B2B", "Priority"]))
    actions.add_default_fulfillment(order, items)
    if state == "Canceled":
        actions.cancel_whole_order(order, "BuyerCancelled", comment="Cancelled by the buyer on the marketplace.",
                                   source="Channel")
    elif state in ("Shipped", "PartiallyShipped"):
        _ship(order, rng, {item: item.quantity for item in items} if state == "Shipped" else {items[0]: 1})
    return order


def _ship(order, rng, wanted):
    carrier, shipping_class = rng.choice(CARRIER_CLASSES[:12])
    actions.ship_units(order, wanted, {
        "shipping_carrier": carrier, "shipping_class": shipping_class, "delivery_status": "Complete",
        "tracking_number": f"1Z{rng.randrange(10**15, 10**16)}", "shipped_date_utc": timezone.now()})
