"""Keys, reference data, reset and realistic generated data for the PrestaShop sandbox."""

import re
import secrets
import string
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction

from sandbox import core, fakedata
from sandbox.models import WebhookSubscription, digest
from sandbox.prestashop import clock, writes
from sandbox.prestashop.models import (
    Address,
    Carrier,
    Category,
    Combination,
    CombinationOptionValue,
    Country,
    Currency,
    Customer,
    KeyPermission,
    Language,
    MailLog,
    Order,
    OrderCarrier,
    OrderHistory,
    OrderPayment,
    OrderRow,
    OrderSlip,
    OrderSlipDetail,
    OrderState,
    Product,
    ProductCategory,
    ProductFeature,
    ProductFeatureLink,
    ProductFeatureValue,
    ProductOption,
    ProductOptionValue,
    Shop,
    SpecificPrice,
    StockAvailable,
    StockWrite,
)

SYSTEM = "prestashop"
KEY_ALPHABET = string.ascii_uppercase + string.digits
LANGUAGES = [("en", "English (English)"), ("fr", "Français (French)")]
COUNTRY_NAMES_FR = {"DE": "Allemagne", "FR": "France", "ES": "Espagne", "US": "États-Unis", "PL": "Pologne",
                    "SE": "Suède", "IT": "Italie", "CA": "Canada", "GB": "Royaume-Uni"}
CURRENCIES = [("EUR", "Euro", "€", "1.000000"), ("USD", "US Dollar", "$", "1.080000"),
              ("GBP", "British Pound", "£", "0.860000"), ("CAD", "Canadian Dollar", "CA$", "1.470000")]
# A default PrestaShop 8 install's carriers (the two cheap ones come disabled), then two a shop typically adds.
# (name, delay en, delay fr, tracking url, active)
CARRIERS = [("Click and collect", "Pick up in-store", "Retrait en magasin", "", True),
            ("My carrier", "Delivery next day!", "Livraison le lendemain !", "", True),
            ("My cheap carrier", "Buy more to pay less!", "Buy more to pay less!", "", False),
            ("My light carrier", "The lighter the cheaper!", "The lighter the cheaper!", "", False),
            ("Colissimo", "Delivery in 2-3 days", "Livraison en 2-3 jours",
             "https://www.laposte.fr/outils/suivre-vos-envois?code=@", True),
            ("DHL Express", "Next day", "Le lendemain", "https://www.dhl.com/track?tracking-id=@", True)]
# Seeded out of PrestaShop's usual order on purpose: clients must look states up by name, never by id.
# Flags and mail templates as a PrestaShop 8 install has them (install/data/xml/order_state.xml).
# (name en, name fr, template, invoice, send_email, logable, delivery, shipped, paid, color)
ORDER_STATES = [
    ("Awaiting bank wire payment", "En attente de virement bancaire", "bankwire",
     False, True, False, False, False, False, "#4169E1"),
    ("Payment error", "Erreur de paiement", "payment_error", False, True, False, False, False, False, "#8f0621"),
    ("Shipped", "Expédié", "shipped", True, True, True, True, True, True, "#8A2BE2"),
    ("Payment accepted", "Paiement accepté", "payment", True, True, True, False, False, True, "#32CD32"),
    ("Refunded", "Remboursé", "refund", True, True, False, False, False, False, "#ec2e15"),
    ("Delivered", "Livré", "", True, False, True, True, True, True, "#108510"),
    ("Processing in progress", "Préparation en cours", "preparation", True, True, True, True, False, True, "#FF8C00"),
    ("Canceled", "Annulé", "order_canceled", False, True, False, False, False, False, "#DC143C"),
    ("Awaiting check payment", "En attente du paiement par chèque", "cheque",
     False, True, False, False, False, False, "#4169E1"),
    ("On backorder (paid)", "En attente de réapprovisionnement (payé)", "outofstock",
     True, True, False, False, False, True, "#FF69B4"),
]
STATE_FLAGS = ("invoice", "send_email", "logable", "delivery", "shipped", "paid")
TAX_RATE = Decimal("0.20")


# --- keys ---

def issue_key(sandbox, grants=None, description="", active=True):
    """A fresh 32-character webservice key; only its hash is kept. `grants` {resource: [methods]} limits it."""
    key = "".join(secrets.choice(KEY_ALPHABET) for _ in range(32))
    core.store_secret(sandbox, SYSTEM, "ws_key", key, identifier=description)
    if grants is not None or description:
        KeyPermission.objects.create(sandbox=sandbox, key_hash=digest(key), grants=grants, description=description)
    if not active:
        sandbox.credentials.filter(system=SYSTEM, secret_hash=digest(key)).update(active=False)
    return key


def issue_credentials(sandbox, base_url):
    return {"base_url": base_url, "ws_key": issue_key(sandbox)}


# --- settings and webhooks ---

def configure(sandbox, timezone=None, languages=None, version=None):
    """Change the shop's timezone, PSWS-Version, or its active languages (iso codes; the active language with
    the lowest id is the default)."""
    shop, _ = Shop.objects.get_or_create(sandbox=sandbox)
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"Unknown timezone “{timezone}”; use an IANA name such as Europe/Paris.") from None
        shop.timezone = timezone
    if version:
        shop.version = version
    shop.save()
    if languages and Language.objects.filter(sandbox=sandbox, iso_code__in=languages).exists():
        Language.objects.filter(sandbox=sandbox).update(active=False)
        Language.objects.filter(sandbox=sandbox, iso_code__in=languages).update(active=True)
    return shop


def subscribe(sandbox, url, secret, events=None):
    """Install the (optional) webhook module: POSTs {"event", "id_order"} on order.created / order.state_changed."""
    return WebhookSubscription.objects.create(sandbox=sandbox, system=SYSTEM, url=url, events=events or [],
                                              signing={"secret": secret})


# --- reference data ---

@transaction.atomic
def seed(sandbox):
    Shop.objects.get_or_create(sandbox=sandbox)
    if Language.objects.filter(sandbox=sandbox).exists():
        seed_categories(sandbox)
        return
    for iso, name in LANGUAGES:
        Language.objects.create(sandbox=sandbox, iso_code=iso, name=name, language_code=iso, active=True,
                                date_format_lite="Y-m-d", date_format_full="Y-m-d H:i:s")
    seed_categories(sandbox)
    currencies = {}
    for iso, name, symbol, rate in CURRENCIES:
        currencies[iso] = Currency.objects.create(
            sandbox=sandbox, iso_code=iso, name=name, names={"en": name, "fr": name},
            symbol={"en": symbol, "fr": symbol}, conversion_rate=Decimal(rate), active=True, precision=2)
    for iso, name in fakedata.COUNTRIES.items():
        Country.objects.create(sandbox=sandbox, iso_code=iso, name={"en": name, "fr": COUNTRY_NAMES_FR.get(iso, name)},
                               active=True, need_zip_code=True, id_zone=1, contains_states=iso == "US",
                               id_currency=currencies["EUR"].id if iso in ("DE", "FR", "ES", "IT") else 0)
    for name, delay_en, delay_fr, url, active in CARRIERS:
        Carrier.objects.create(sandbox=sandbox, name=name, delay={"en": delay_en, "fr": delay_fr}, url=url,
                               active=active, shipping_handling=True)
    for name_en, name_fr, template, *flags, color in ORDER_STATES:
        OrderState.objects.create(sandbox=sandbox, name={"en": name_en, "fr": name_fr}, color=color,
                                  template={"en": template, "fr": template}, unremovable=True,
                                  **dict(zip(STATE_FLAGS, flags, strict=True)))


def seed_categories(sandbox):
    """PrestaShop's two built-in categories, Root (is_root_category 0, level 0) and Home under it (the shop's root
    category, level 1): new products go under Home. Made once per shop."""
    if Category.objects.filter(sandbox=sandbox).exists():
        return
    shop = Shop.objects.get(sandbox=sandbox)
    now = clock.now(shop)
    root = Category.objects.create(sandbox=sandbox, id_parent=0, level_depth=0, active=True, id_shop_default=1,
                                   name={"en": "Root", "fr": "Racine"}, link_rewrite={"en": "root", "fr": "racine"},
                                   date_add=now, date_upd=now)
    Category.objects.create(sandbox=sandbox, id_parent=root.id, level_depth=1, active=True, id_shop_default=1,
                            is_root_category=True, name={"en": "Home", "fr": "Accueil"},
                            link_rewrite={"en": "home", "fr": "accueil"}, date_add=now, date_upd=now)


def catalog_name(text):
    """A generated name as PrestaShop could hold it: Validate::isCatalogName refuses <>;=#{} ("… #3" → "… no. 3")."""
    return re.sub(r"[<>;={}]", " ", text.replace("#", "no. ")).strip()


def size_values(sandbox):
    """The "Size" option group (product_options) with its S and L values, made once: generated combinations are
    sizes, linked to these values as a shop's would be. {"S": id, "L": id}."""
    group = ProductOption.objects.filter(sandbox=sandbox, name__en="Size").first()
    if group is None:
        group = ProductOption.objects.create(sandbox=sandbox, group_type="select", name={"en": "Size", "fr": "Taille"},
                                             public_name={"en": "Size", "fr": "Taille"})
    values = {}
    for position, (code, en, fr) in enumerate((("S", "S", "S"), ("L", "L", "L"))):
        value = ProductOptionValue.objects.filter(sandbox=sandbox, id_attribute_group=group.id, name__en=en).first()
        if value is None:
            value = ProductOptionValue.objects.create(sandbox=sandbox, id_attribute_group=group.id,
                                                      position=position, name={"en": en, "fr": fr})
        values[code] = value.id
    return values


def home_category(sandbox):
    category = Category.objects.filter(sandbox=sandbox, is_root_category=True).order_by("id").first()
    return category.id if category else 2


@transaction.atomic
def reset(sandbox):
    """Remove the shop's data; the shop settings and keys stay."""
    for model in (MailLog, OrderSlipDetail, OrderSlip, OrderRow, Order, OrderHistory, OrderCarrier, OrderPayment,
                  StockWrite, StockAvailable, SpecificPrice, CombinationOptionValue, ProductFeatureLink,
                  ProductCategory, ProductOptionValue, ProductOption, ProductFeatureValue, ProductFeature, Category,
                  Combination, Product, Address, Customer, OrderState, Carrier, Country, Currency, Language):
        model.objects.filter(sandbox=sandbox).delete()


def stock_rows_of(sandbox, sku):
    """The stock_available rows a SKU names: its combination's row, else its product's rows (the product's own and
    its combinations'). References compare case-insensitively, as MySQL does."""
    combination = Combination.objects.filter(sandbox=sandbox, reference__iexact=sku).first()
    if combination is not None:
        return StockAvailable.objects.filter(sandbox=sandbox, id_product=combination.id_product,
                                             id_product_attribute=combination.id)
    product = Product.objects.filter(sandbox=sandbox, reference__iexact=sku).first()
    return StockAvailable.objects.filter(sandbox=sandbox, id_product=product.id if product else 0)


def remove_stock_row(sandbox, sku):
    """Leave the product (or combination) with this SKU without its stock_available row — what a broken import or
    a module leaves behind in real shops — so a client's "no stock row" handling can be tested. Only the row of
    that product itself (id_product_attribute 0) or of that combination goes. Returns how many rows went."""
    rows = stock_rows_of(sandbox, sku)
    if not Combination.objects.filter(sandbox=sandbox, reference__iexact=sku).exists():
        rows = rows.filter(id_product_attribute=0)
    return rows.delete()[0]


# --- generated data ---

def state_named(sandbox, name):
    """The order state with that (English) name, created when the shop lacks it."""
    state = OrderState.objects.filter(sandbox=sandbox, name__en__iexact=name).first()
    if state is None:
        state = OrderState.objects.create(sandbox=sandbox, name={"en": name, "fr": name}, color="#777777",
                                          logable=True)
    return state


def _money(value):
    return Decimal(value).quantize(Decimal("0.000001"))


def _cents(value):
    """Totals are rounded to the currency's precision (PrestaShop's computing precision); unit prices keep six."""
    return Decimal(value).quantize(Decimal("0.01"))


def _make_products(sandbox, shop, count, rng):
    existing = Product.objects.filter(sandbox=sandbox).count()
    home = home_category(sandbox)
    sizes = size_values(sandbox)
    products = []
    for index, item in enumerate(fakedata.catalog(existing + count)[existing:]):
        now = clock.now(shop)
        product = Product.objects.create(
            sandbox=sandbox, reference=item["sku"], price=_money(item["price"]), wholesale_price=_money(item["cost"]),
            weight=_money(item["weight"]), active=True, available_for_order=True, show_price=True, state=1,
            product_type="standard", type="simple", minimal_quantity=1, id_category_default=home,
            id_tax_rules_group=1, name={"en": catalog_name(item["name"]), "fr": catalog_name(item["name"])},
            description={"en": f"<p>{item['name']}</p>", "fr": f"<p>{item['name']}</p>"},
            link_rewrite={"en": item["sku"].lower(), "fr": item["sku"].lower()}, date_add=now, date_upd=now)
        ProductCategory.objects.create(sandbox=sandbox, id_product=product.id, id_category=home)
        StockAvailable.objects.create(sandbox=sandbox, id_product=product.id, id_product_attribute=0, id_shop=1,
                                      quantity=0 if index % 3 else rng.randrange(5, 200), out_of_stock=2)
        if (existing + index) % 4 == 1:  # every fourth product comes in two sizes (combinations)
            for size, impact in (("S", "0"), ("L", "2.5")):
                combination = Combination.objects.create(
                    sandbox=sandbox, id_product=product.id, reference=f"{item['sku']}-{size}", price=Decimal(impact),
                    minimal_quantity=1, default_on=size == "S")
                CombinationOptionValue.objects.create(sandbox=sandbox, id_combination=combination.id,
                                                      id_attribute=sizes[size], id_product=product.id)
                StockAvailable.objects.create(sandbox=sandbox, id_product=product.id,
                                              id_product_attribute=combination.id, id_shop=1,
                                              quantity=rng.randrange(0, 50), out_of_stock=2)
                if size == "S":
                    product.id_default_combination = combination.id
                    product.save(update_fields=["id_default_combination"])
            StockAvailable.objects.filter(sandbox=sandbox, id_product=product.id, id_product_attribute=0).update(
                quantity=sum(StockAvailable.objects.filter(sandbox=sandbox, id_product=product.id)
                             .exclude(id_product_attribute=0).values_list("quantity", flat=True)))
        writes.refresh_product_quantity(sandbox, product.id)
        products.append(product)
    return products


def _make_customer(sandbox, shop, rng, guest=False, history_days=0):
    person, where = fakedata.person(rng), fakedata.address(rng)
    # A new customer registers now; with history, before the orders it may have placed.
    days_before = rng.randrange(30, 400)
    now = clock.now(shop) - timedelta(days=history_days + days_before if history_days else 0)
    customer = Customer.objects.create(
        sandbox=sandbox, firstname=person["first_name"], lastname=person["last_name"], email=person["email"],
        company=person["company"], passwd=writes.fake_password_hash(), secure_key=secrets.token_hex(16),
        id_default_group=2 if guest else 3, id_lang=Language.objects.filter(sandbox=sandbox).first().id,
        newsletter=rng.random() < 0.3, active=True, is_guest=guest, id_shop=1, id_shop_group=1, id_gender=0,
        date_add=now, date_upd=now)
    country = Country.objects.filter(sandbox=sandbox, iso_code=where["country"]).first()
    Address.objects.create(
        sandbox=sandbox, id_customer=customer.id, id_country=country.id if country else 0, alias="My address",
        company=person["company"], firstname=person["first_name"], lastname=person["last_name"],
        address1=where["line1"], address2=where["line2"], postcode=where["postcode"], city=where["city"],
        phone=person["phone"], date_add=now, date_upd=now)
    return customer


def _make_order(sandbox, shop, rng, customer, products, state, currency, carrier, unknown_index=None,
                history_days=0):
    address = Address.objects.filter(sandbox=sandbox, id_customer=customer.id).first()
    placed = fakedata.moment(clock.now(shop), rng, history_days)
    picked = rng.sample(products, k=min(len(products), rng.randint(1, 5)))
    lines = []
    for product in picked:
        quantity = rng.randint(1, 4)
        unit = _money(product.price * currency.conversion_rate)
        lines.append((product.reference, product.name.get("en", ""), product.id, quantity, unit))
    if unknown_index is not None:
        lines[0] = (fakedata.unknown_sku(unknown_index), f"Discontinued item {unknown_index + 1}", 0,
                    lines[0][3], lines[0][4])
    products_excl = sum(unit * quantity for _, _, _, quantity, unit in lines)
    discount_excl = _cents(products_excl * Decimal("0.10")) if rng.random() < 0.3 else Decimal(0)
    shipping_excl = Decimal(0) if products_excl > 200 else _cents(Decimal("7.50") * currency.conversion_rate)
    paid_excl = products_excl - discount_excl + shipping_excl
    paid_incl = _cents(paid_excl * (1 + TAX_RATE))
    order = Order.objects.create(
        sandbox=sandbox, id_address_delivery=address.id, id_address_invoice=address.id,
        id_cart=rng.randrange(1000, 99999), id_currency=currency.id, id_lang=customer.id_lang,
        id_customer=customer.id, id_carrier=carrier.id, current_state=state.id, module="ps_wirepayment",
        payment="Bank wire", valid=state.logable, id_shop=1, id_shop_group=1, secure_key=customer.secure_key,
        reference=writes.new_reference(), conversion_rate=currency.conversion_rate, round_mode=2, round_type=2,
        total_discounts=_cents(discount_excl * (1 + TAX_RATE)),
        total_discounts_tax_incl=_cents(discount_excl * (1 + TAX_RATE)), total_discounts_tax_excl=discount_excl,
        total_paid=paid_incl, total_paid_tax_incl=paid_incl, total_paid_tax_excl=_cents(paid_excl),
        total_paid_real=paid_incl if state.paid else Decimal(0), total_products=_cents(products_excl),
        total_products_wt=_cents(products_excl * (1 + TAX_RATE)),
        total_shipping=_cents(shipping_excl * (1 + TAX_RATE)),
        total_shipping_tax_incl=_cents(shipping_excl * (1 + TAX_RATE)), total_shipping_tax_excl=shipping_excl,
        carrier_tax_rate=Decimal("20"), date_add=placed, date_upd=placed,
        invoice_date=placed if state.paid else None, invoice_number=0)
    OrderRow.objects.bulk_create([OrderRow(
        sandbox=sandbox, order=order, product_id=product_id, product_quantity=quantity, product_name=name,
        product_reference=sku, product_price=unit, unit_price_tax_excl=unit,
        unit_price_tax_incl=_money(unit * (1 + TAX_RATE))) for sku, name, product_id, quantity, unit in lines])
    OrderHistory.objects.create(sandbox=sandbox, id_order=order.id, id_order_state=state.id, date_add=placed)
    writes.add_order_carrier(sandbox, order)
    if state.paid:
        OrderPayment.objects.create(sandbox=sandbox, order_reference=order.reference, id_currency=currency.id,
                                    amount=paid_incl, payment_method="Bank wire",
                                    conversion_rate=currency.conversion_rate, date_add=placed,
                                    transaction_id=f"TX{rng.randrange(10**8, 10**9)}")
    core.queue_webhook(sandbox, SYSTEM, "order.created", {"event": "order.created", "id_order": order.id})
    return order


@transaction.atomic
def generate(sandbox, *, orders, products, customers, state, unknown_sku, rng, history_days=0):
    """New orders are dated now, as a live shop's are; `history_days` spreads them over that many past days."""
    seed(sandbox)
    shop = Shop.objects.get(sandbox=sandbox)
    made_products = _make_products(sandbox, shop, products, rng)
    catalog = list(Product.objects.filter(sandbox=sandbox))
    if orders and not catalog:
        catalog = made_products = _make_products(sandbox, shop, 5, rng)
    made_customers = [_make_customer(sandbox, shop, rng, history_days=history_days) for _ in range(customers)]
    pool = list(Customer.objects.filter(sandbox=sandbox, is_guest=False))
    if orders and not pool:
        pool = [_make_customer(sandbox, shop, rng, history_days=history_days) for _ in range(max(1, orders // 2))]
        made_customers += pool
    states = [state_named(sandbox, state)] if state else [
        state_named(sandbox, name) for name in ("Payment accepted", "Processing in progress", "Shipped",
                                                "Awaiting bank wire payment", "Delivered")]
    currencies = list(Currency.objects.filter(sandbox=sandbox).order_by("id"))
    carriers = list(Carrier.objects.filter(sandbox=sandbox, active=True).order_by("id"))
    made_orders = []
    for index in range(orders):
        guest = index % 5 == 4  # every fifth order is a guest checkout (a customer with is_guest=1)
        customer = (_make_customer(sandbox, shop, rng, guest=True, history_days=history_days) if guest
                    else rng.choice(pool))
        currency = currencies[0] if rng.random() < 0.6 else rng.choice(currencies)
        order = _make_order(sandbox, shop, rng, customer, catalog, states[index % len(states)], currency,
                            rng.choice(carriers), unknown_index=index if index < unknown_sku else None,
                            history_days=history_days)
        made_orders.append({"id": order.id, "reference": order.reference, "customer": customer.id,
                            "guest": guest, "state": OrderState.objects.get(pk=order.current_state).name["en"],
                            "currency": currency.iso_code, "total_paid": str(order.total_paid)})
    return {"system": SYSTEM, "timezone": shop.timezone,
            "products": [{"id": p.id, "reference": p.reference} for p in made_products],
            "customers": [{"id": c.id, "email": c.email} for c in made_customers],
            "orders": made_orders}
