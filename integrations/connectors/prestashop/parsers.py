"""PrestaShop records (as plain dicts from JSON or XML) to and from the canonical model."""

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from integrations import canonical as c

SOURCE = "prestashop"
ORDER_FIELDS = {"id", "reference", "current_state", "id_currency", "id_customer", "id_address_delivery",
                "id_address_invoice", "date_add", "date_upd", "total_paid", "total_paid_tax_incl",
                "total_paid_tax_excl", "total_products", "total_products_wt", "total_shipping",
                "total_shipping_tax_incl", "total_discounts", "total_discounts_tax_incl", "payment", "associations",
                "id_carrier", "secure_key"}
# Never copied anywhere, not even into `extra`.
CUSTOMER_SECRETS = {"passwd", "secure_key", "reset_password_token", "reset_password_validity", "last_passwd_gen"}


def text(value, language_id=None) -> str:
    """A field as text: multi-language fields pick the configured language, else the first."""
    if isinstance(value, list):
        if not value:
            return ""
        for entry in value:
            if language_id is not None and str(entry.get("id")) == str(language_id):
                return str(entry.get("value") or "")
        return str(value[0].get("value") or "")
    if value is None:
        return ""
    return str(value)


def amount(value) -> Decimal:
    value = text(value).strip()
    return c.decimal(value or "0")


def shop_datetime(value, timezone_name) -> datetime | None:
    """PrestaShop stores local shop time without a zone; zero dates mean "never"."""
    value = text(value).strip()
    if not value or value.startswith("0000-00-00"):
        return None
    return datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(timezone_name))


def to_shop_time(moment: datetime, timezone_name) -> str:
    """An aware datetime as the shop-local `YYYY-MM-DD HH:MM:SS` its date filters expect."""
    return c.aware(moment).astimezone(ZoneInfo(timezone_name)).strftime("%Y-%m-%d %H:%M:%S")


def address(raw: dict, countries: dict, language_id=None) -> c.Address:
    named = {"id", "firstname", "lastname", "company", "address1", "address2", "city", "postcode", "id_country",
             "phone", "phone_mobile"}
    return c.Address(
        first_name=text(raw.get("firstname")), last_name=text(raw.get("lastname")), company=text(raw.get("company")),
        line1=text(raw.get("address1")), line2=text(raw.get("address2")), city=text(raw.get("city")),
        postal_code=text(raw.get("postcode")), country=countries.get(text(raw.get("id_country")), ""),
        phone=text(raw.get("phone")) or text(raw.get("phone_mobile")), source_id=text(raw.get("id")),
        extra={k: v for k, v in raw.items() if k not in named},
    )


def customer(raw: dict, timezone_name, addresses=()) -> c.Customer:
    named = {"id", "email", "firstname", "lastname", "company", "date_add", "date_upd"}
    return c.Customer(
        source=SOURCE, source_id=text(raw.get("id")), email=text(raw.get("email")),
        first_name=text(raw.get("firstname")), last_name=text(raw.get("lastname")), company=text(raw.get("company")),
        shipping_addresses=list(addresses),
        created_at=shop_datetime(raw.get("date_add"), timezone_name),
        updated_at=shop_datetime(raw.get("date_upd"), timezone_name),
        extra={k: v for k, v in raw.items() if k not in named | CUSTOMER_SECRETS},
    )


def order(raw: dict, *, timezone_name, currencies, countries, states, customers, addresses,
          language_id=None, carriers=None) -> c.Order:
    """One order; customers/addresses/states/carriers are lookups by id filled by batched reads."""
    currency = currencies.get(text(raw.get("id_currency")), "")

    def money(value):
        return c.Money(amount(value), currency)

    lines = []
    for row in (raw.get("associations") or {}).get("order_rows") or []:
        incl, excl = amount(row.get("unit_price_tax_incl")), amount(row.get("unit_price_tax_excl"))
        quantity = int(amount(row.get("product_quantity")))
        lines.append(c.OrderLine(
            sku=text(row.get("product_reference")), name=text(row.get("product_name"), language_id),
            quantity=quantity, unit_price=c.Money(excl, currency), tax=c.Money((incl - excl) * quantity, currency),
            source_id=text(row.get("id")),
            extra={k: v for k, v in row.items()
                   if k not in {"id", "product_reference", "product_name", "product_quantity"}},
        ))
    delivery = addresses.get(text(raw.get("id_address_delivery")))
    invoice = addresses.get(text(raw.get("id_address_invoice")))
    buyer = customers.get(text(raw.get("id_customer")))
    total_incl = amount(raw.get("total_paid_tax_incl") or raw.get("total_paid"))
    extra = {k: v for k, v in raw.items() if k not in ORDER_FIELDS}
    extra["current_state_id"] = text(raw.get("current_state"))
    return c.Order(
        source=SOURCE, source_id=text(raw.get("id")), number=text(raw.get("reference")),
        status=states.get(text(raw.get("current_state")), text(raw.get("current_state"))),
        currency=currency, total=money(total_incl), subtotal=money(raw.get("total_products")),
        shipping=money(raw.get("total_shipping_tax_incl") or raw.get("total_shipping")),
        tax=c.Money(total_incl - amount(raw.get("total_paid_tax_excl") or total_incl), currency),
        discount=money(raw.get("total_discounts_tax_incl") or raw.get("total_discounts")),
        ordered_at=shop_datetime(raw.get("date_add"), timezone_name),
        updated_at=shop_datetime(raw.get("date_upd"), timezone_name),
        customer=buyer, shipping_address=delivery, billing_address=invoice, lines=lines,
        payment_method=text(raw.get("payment")),
        # The carrier's name (what value maps are keyed by); its id only when the carrier is unknown.
        shipping_method=(carriers or {}).get(text(raw.get("id_carrier")), text(raw.get("id_carrier"))),
        extra=extra,
    )


def payment(raw: dict, *, order_id, timezone_name, currencies) -> c.Payment:
    """One order_payments row: amount, method and the payment module's transaction id, in the shop's time."""
    transaction = text(raw.get("transaction_id"))
    currency = currencies.get(text(raw.get("id_currency")), "")
    return c.Payment(source=SOURCE, source_id=transaction or f"payment-{text(raw.get('id'))}",
                     amount=c.Money(amount(raw.get("amount")), currency), order_id=str(order_id),
                     method=text(raw.get("payment_method")), reference=transaction or f"PS-{text(raw.get('id'))}",
                     received_at=shop_datetime(raw.get("date_add"), timezone_name),
                     extra={"order_reference": text(raw.get("order_reference")), "id": text(raw.get("id"))})


def product(raw: dict, *, timezone_name, currency, language_id=None) -> c.Product:
    named = {"id", "reference", "name", "description", "price", "wholesale_price", "ean13", "upc", "mpn", "active",
             "weight", "date_upd"}
    return c.Product(
        source=SOURCE, source_id=text(raw.get("id")), sku=text(raw.get("reference")),
        name=text(raw.get("name"), language_id), description=text(raw.get("description"), language_id),
        price=c.Money(amount(raw.get("price")), currency),
        cost=c.Money(amount(raw.get("wholesale_price")), currency) if raw.get("wholesale_price") else None,
        ean=text(raw.get("ean13")), upc=text(raw.get("upc")), mpn=text(raw.get("mpn")),
        active=text(raw.get("active")) == "1", weight=amount(raw.get("weight")) if raw.get("weight") else None,
        updated_at=shop_datetime(raw.get("date_upd"), timezone_name),
        extra={k: v for k, v in raw.items() if k not in named},
    )


def stock_level(raw: dict, sku="") -> c.StockLevel:
    return c.StockLevel(sku=sku, available=int(amount(raw.get("quantity"))), source=SOURCE,
                        source_id=text(raw.get("id")),
                        extra={"id_product": text(raw.get("id_product")),
                               "id_product_attribute": text(raw.get("id_product_attribute"))})


def product_fields(item: c.Product) -> dict:
    """Canonical product → the PrestaShop fields a write changes."""
    fields = {"reference": item.sku, "name": item.name, "ean13": item.ean, "upc": item.upc, "mpn": item.mpn,
              "active": "1" if item.active else "0"}
    if item.price is not None:
        fields["price"] = f"{item.price.amount:f}"
    if item.description:
        fields["description"] = item.description
    return fields


# --- shipments ---------------------------------------------------------------------------------------------------

# OrderCarrier::$definition: tracking_number is validated by Validate::isTrackingNumber, size 64.
TRACKING_NUMBER_MAX = 64
TRACKING_NUMBER = re.compile(r"[~:#,%&_=()\[\].? +\-@/a-zA-Z0-9]+")


def tracking_number_problem(value: str) -> tuple[str, str] | None:
    """(code, message) when PrestaShop would refuse this tracking number, else None (empty is allowed)."""
    if len(value) > TRACKING_NUMBER_MAX:
        return "max_length", (f"the tracking number is {len(value)} characters long; PrestaShop keeps at most "
                              f"{TRACKING_NUMBER_MAX}")
    if value and not TRACKING_NUMBER.fullmatch(value):
        return "invalid", (f"the tracking number “{value}” holds characters PrestaShop refuses; it takes ASCII "
                           "letters, digits, spaces and ~:#,%&_=()[].?+-@/ only")
    return None


@dataclass(frozen=True)
class OrderState:
    """An order state as the connector decides with it: its name (configured language), every language's name,
    and the flags PrestaShop keeps on it."""

    id: str
    name: str
    names: frozenset
    shipped: bool = False
    delivery: bool = False
    paid: bool = False

    def named(self, name: str) -> bool:
        return name.strip().casefold() in self.names


def order_state(raw: dict, language_id=None) -> OrderState:
    names = raw.get("name")
    every = [entry.get("value") or "" for entry in names] if isinstance(names, list) else [text(names)]
    return OrderState(id=text(raw.get("id")), name=text(names, language_id),
                      names=frozenset(n.strip().casefold() for n in every if n.strip()),
                      shipped=text(raw.get("shipped")) == "1", delivery=text(raw.get("delivery")) == "1",
                      paid=text(raw.get("paid")) == "1")


def fulfillment(raw: dict, *, order_id, carriers: dict, carrier="", shipping_class="", lines=(), already=False,
                state="") -> c.Fulfillment:
    """An order_carriers row; `carriers` maps carrier ids to names (unless `carrier` names it already)."""
    carrier_id = text(raw.get("id_carrier"))
    return c.Fulfillment(
        source=SOURCE, source_id=text(raw.get("id")), order_id=str(order_id),
        tracking_number=text(raw.get("tracking_number")), carrier=carrier or carriers.get(carrier_id, carrier_id),
        shipping_class=shipping_class, lines=list(lines), already=already, state=state,
        extra={name: text(raw.get(name)) for name in ("id_carrier", "id_order_invoice", "weight",
                                                      "shipping_cost_tax_excl", "shipping_cost_tax_incl",
                                                      "date_add")})


SLIP_EXTRA = ("id", "id_customer", "id_order", "conversion_rate", "total_products_tax_excl", "total_products_tax_incl",
              "total_shipping_tax_excl", "total_shipping_tax_incl", "amount", "shipping_cost", "shipping_cost_amount",
              "partial", "order_slip_type", "date_add", "date_upd")


def _association_rows(raw: dict, name: str) -> list[dict]:
    rows = (raw.get("associations") or {}).get(name) or []
    if isinstance(rows, dict):  # one row read from XML by a lenient parser
        rows = [rows]
    return [row for row in rows if isinstance(row, dict)]


def credit_slip(raw: dict, *, order_raw: dict | None, timezone_name, currencies) -> c.Return:
    """One order_slip (credit slip) as a canonical Return: source_id is the slip's id, order_id its id_order; a line
    per order_slip_detail, its SKU the `product_reference` of the order row it names (`id_order_detail`), its amount
    `amount_tax_incl`. `refund` is what goes back, tax included: the products' and shipping's totals with tax, or
    for a partial refund (totals 0) `amount` + `shipping_cost_amount`. `status` is "refunded" (a slip is money
    given back); `restock` stays False (the webservice does not say whether the back office re-stocked)."""
    order_raw = order_raw or {}
    currency = currencies.get(text(order_raw.get("id_currency")), "")
    rows = {text(row.get("id")): row for row in _association_rows(order_raw, "order_rows")}
    lines = []
    for detail in _association_rows(raw, "order_slip_details"):
        row = rows.get(text(detail.get("id_order_detail")), {})
        lines.append(c.ReturnLine(sku=text(row.get("product_reference")),
                                  quantity=int(amount(detail.get("product_quantity"))),
                                  amount=c.Money(amount(detail.get("amount_tax_incl")), currency),
                                  source_id=text(detail.get("id_order_detail"))))
    # OrderSlip::create fills the totals (and sets `amount` to the products without tax); an amount-based partial
    # refund (createPartialOrderSlip) leaves them 0 and gives `amount` and `shipping_cost_amount` instead.
    refund = amount(raw.get("total_products_tax_incl")) + amount(raw.get("total_shipping_tax_incl"))
    if not refund:
        refund = amount(raw.get("amount")) + amount(raw.get("shipping_cost_amount"))
    return c.Return(source=SOURCE, source_id=text(raw.get("id")), order_id=text(raw.get("id_order")), lines=lines,
                    refund=c.Money(refund, currency), status="refunded",
                    created_at=shop_datetime(raw.get("date_add"), timezone_name),
                    extra={**{name: text(raw.get(name)) for name in SLIP_EXTRA if name in raw},
                           "order_reference": text(order_raw.get("reference")), "refund_parts": slip_parts(raw)})


def slip_parts(raw):
    """What a credit slip gives back, split as the books need it (goods and shipping without tax, the tax of both),
    as strings; they add up to the refund."""
    products_incl = amount(raw.get("total_products_tax_incl"))
    shipping_incl = amount(raw.get("total_shipping_tax_incl"))
    if not products_incl + shipping_incl:  # an amount-based partial refund: products without tax, shipping with
        return {"goods": str(amount(raw.get("amount"))), "tax": "0", "shipping": str(amount(raw.get(
            "shipping_cost_amount")))}
    products, shipping = amount(raw.get("total_products_tax_excl")), amount(raw.get("total_shipping_tax_excl"))
    return {"goods": str(products), "tax": str(products_incl - products + shipping_incl - shipping),
            "shipping": str(shipping)}
