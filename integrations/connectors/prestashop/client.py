"""The PrestaShop webservice client: the only code that speaks PrestaShop's protocol.

Reads ask for JSON (`output_format=JSON`) with `display=full` and batch related records with `filter[id]=[1|2|3]`;
XML answers are read too (defusedxml). Writes send XML (the webservice only takes XML): GET-modify-PUT of the whole
record, or PATCH with just the changed fields on PrestaShop 8 and later.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from integrations import canonical as c
from integrations.connectors.base import BaseClient
from integrations.connectors.cache import BoundedTTLCache
from integrations.connectors.errors import (
    UNKNOWN_SKU,
    AuthError,
    ConnectorError,
    FieldError,
    NotFound,
    PermanentError,
    ValidationFailed,
)
from integrations.connectors.prestashop import parsers
from integrations.connectors.prestashop import xml as psxml
from integrations.connectors.streams import readable_or_refused, unreadable_or

SINGULAR = {"orders": "order", "order_carriers": "order_carrier", "order_histories": "order_history",
            "stock_availables": "stock_available", "customers": "customer", "addresses": "address",
            "products": "product", "combinations": "combination", "order_payments": "order_payment",
            "order_states": "order_state", "carriers": "carrier", "currencies": "currency", "countries": "country"}
# Fields PrestaShop refuses in a PUT body (error 93).
READ_ONLY = {"products": ("manufacturer_name", "quantity", "position_in_category"),
             "orders": ("associations",)}
BATCH_SIZE = 100
# States a shipment is refused in, and states past shipping besides those PrestaShop flags `shipped` (by name, in
# any language: ids differ per shop).
CLOSED_STATES = ("Canceled", "Refunded")
PAST_SHIPPING = ("Delivered", "Refunded")
# Field error codes of ship() and cancel().
ORDER_CANCELLED = "order_cancelled"
QUANTITY_EXCEEDS = "quantity_exceeds"
INVALID_CARRIER = "invalid_carrier"
ALREADY_SHIPPED = "already_shipped"
DEFAULT_PAGE = 100
# Reference data (currencies, countries, order states) and the shop's version change rarely: keep them per process
# for a while, so a unit of work does not spend three calls on them each time. Bounded: one entry per connection and
# kind of reference data, so many shops in one process cannot grow it without limit.
REFERENCE_TTL = 600
REFERENCE_MAX_ITEMS = 2000
_reference = BoundedTTLCache(max_items=REFERENCE_MAX_ITEMS, ttl_seconds=REFERENCE_TTL)  # (connection id, key)


# Which stock_available row a SKU names, per connection: (row id, id_product, id_product_attribute). Each entry is
# checked against the row read by id before it is used, so a stale one costs a lookup, never a wrong write.
STOCK_IDS_TTL = 3600
_stock_ids = BoundedTTLCache(max_items=100_000, ttl_seconds=STOCK_IDS_TTL)  # (connection id, SKU casefolded)
# Field error codes of set_quantities() and resolve_stock().
NO_STOCK_ROW = "no_stock_row"
NEGATIVE_QUANTITY = "negative_quantity"
INVALID_QUANTITY = "invalid_quantity"
DEPENDS_ON_STOCK = "depends_on_stock"
HAS_COMBINATIONS = "has_combinations"
AMBIGUOUS_SKU = "ambiguous_sku"
INVALID_SKU = "invalid_sku"
MAX_QUANTITY = 2**31 - 1  # stock_available.quantity is a signed INT(10) in MySQL
STOCK_PAGE = 1000


def _remember(connection, key, compute):
    return _reference.get_or_set((connection.pk, key), compute)


def forget_reference_data(connection=None):
    if connection is None:
        _reference.clear()
        _stock_ids.clear()
    else:
        _reference.discard_where(lambda key: key[0] == connection.pk)
        _stock_ids.discard_where(lambda key: key[0] == connection.pk)


_DIGITS = re.compile(r"[0-9]{1,19}")


def filter_id(value, *, allow_zero=False) -> str:
    """A value for an id filter (`filter[id_order]=[12]`), refused unless it is a positive integer (or 0 where
    PrestaShop means "none", like a product without combination). PrestaShop reads `|`, `,`, `[`, `]` and `%` in a
    filter as operators, so a crafted "1|2" or "1,99999]" would widen the filter to other records."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _DIGITS.fullmatch(text) or (int(text) == 0 and not allow_zero):
        raise PermanentError(f"“{value}” is not a PrestaShop id (ids are positive whole numbers).",
                             system="PrestaShop")
    return str(int(text))


ID = re.compile(r"[0-9]{1,10}")
MAX_ID = 4294967295


def one_of(ids) -> str:
    """`[1|2|3]`: PrestaShop's OR filter; every id is checked (filter_id), so no value can change the filter."""
    return "[" + "|".join(filter_id(i) for i in ids) + "]"


_FILTER_OPERATORS = set("|,[]%")


def filter_text(value) -> str:
    """`[value]` for a literal text filter (a reference, an email); values holding filter operators are refused,
    as PrestaShop has no escape for them."""
    text = str(value)
    if not text or _FILTER_OPERATORS & set(text) or any(ord(ch) < 32 for ch in text):
        raise PermanentError(f"“{value}” cannot be used in a PrestaShop filter: it is empty or holds one of "
                             "| , [ ] % (which PrestaShop reads as filter operators).", system="PrestaShop")
    return f"[{text}]"


_PROPERTY = re.compile(r'^(?:Validation error: )?"?Property (\w+)->(\w+) (.+?)\.?"?$')


def readable(message: str) -> str:
    """'Validation error: "Property Order->module is empty."' → 'Order field “module” is empty'."""
    match = _PROPERTY.match(message.strip())
    if match:
        model, field_name, problem = match.groups()
        return f"{model} field “{field_name}” {problem.rstrip('.')}"
    return message.strip().rstrip(".")


class PrestaShopClient(BaseClient):
    system = "PrestaShop"

    def __init__(self, connection, *, output="JSON", **kwargs):
        super().__init__(connection, **kwargs)
        self.output = output.upper()
        self.timezone = connection.settings.get("timezone") or "UTC"
        self.language_id = connection.settings.get("language_id")
        self.version = None  # PSWS-Version, learnt from any answer

    # --- protocol --------------------------------------------------------------------------------------------

    def url(self, path=""):
        return f"{self.base_url}/api/{path}".rstrip("/") + ("/" if not path else "")

    def request(self, method, path, *, params=None, data=None, output=None):
        params = dict(params or {})
        if (output or self.output) == "JSON":
            params["output_format"] = "JSON"
        headers = {"Content-Type": "application/xml"} if data is not None else {}
        response = self.call(method, self.url(path), params=params, data=data, headers=headers,
                             auth=(self.connection.credentials.get("ws_key", ""), ""))
        if response.headers.get("PSWS-Version"):
            self.version = response.headers["PSWS-Version"]
            _reference.set((self.connection.pk, "version"), self.version)
        return response

    def decode(self, response) -> list[dict]:
        """Records of an answer, JSON or XML, list or single; `[]` (the empty-list quirk) is no records."""
        if not response.content.strip():
            return []
        if response.content.lstrip().startswith(b"<"):
            return psxml.records(psxml.parse(response.content))
        body = self.json(response)
        if isinstance(body, list):  # the empty-list quirk: `[]` instead of {"orders": []}
            return body
        if not isinstance(body, dict) or not body:
            return []
        value = next(iter(body.values()))
        return value if isinstance(value, list) else [value]

    def describe_error(self, response):
        pairs = []
        if response.content.lstrip().startswith(b"<"):
            try:
                pairs = psxml.errors(psxml.parse(response.content))
            except PermanentError:
                raise
            except Exception:  # an unreadable error body still has a status code
                pairs = []
        else:
            try:
                body = response.json()
                pairs = [(str(e.get("code", "")), str(e.get("message", ""))) for e in body.get("errors", [])]
            except (ValueError, AttributeError):
                pairs = []
        sentences = [f"{readable(message)} (PrestaShop error {code})." if code else readable(message) + "."
                     for code, message in pairs]
        return " ".join(sentences), sentences

    def auth_hint(self, error: AuthError):
        if "error 26" in error.message or error.status == 403:
            return ("the webservice key is not allowed this resource — tick it for the key under "
                    "Advanced Parameters > Webservice")
        return "the webservice key is wrong or inactive — Advanced Parameters > Webservice"

    # --- reads -----------------------------------------------------------------------------------------------

    def get(self, resource, record_id) -> dict:
        records = self.decode(self.request("GET", f"{resource}/{record_id}"))
        return records[0] if records else {}

    def pages(self, resource, *, filters=None, sort=None, display="full", page_size=DEFAULT_PAGE, date=False):
        """Yield pages of full records until a short page (PrestaShop never says how many there are)."""
        offset = 0
        while True:
            params = {"display": display, "limit": f"{offset},{page_size}"}
            params.update({f"filter[{k}]": v for k, v in (filters or {}).items()})
            if sort:
                params["sort"] = sort
            if date:
                params["date"] = "1"
            page = self.decode(self.request("GET", resource, params=params))
            if page:
                yield page
            if len(page) < page_size:
                return
            offset += page_size

    def get_many(self, resource, ids, *, display="full") -> dict[str, dict]:
        """Records by id, BATCH_SIZE per call, as {id: record}."""
        wanted = sorted({str(i) for i in ids if str(i) not in ("", "0")}, key=lambda v: (len(v), v))
        found = {}
        for start in range(0, len(wanted), BATCH_SIZE):
            chunk = wanted[start:start + BATCH_SIZE]
            params = {"display": display, "filter[id]": one_of(chunk)}
            for record in self.decode(self.request("GET", resource, params=params)):
                found[parsers.text(record.get("id"))] = record
        return found

    def reference_records(self, resource, *, fresh=False) -> list[dict]:
        """Every record of a small reference resource (currencies, countries, carriers, order states), read with
        display=full and cached per connection; `fresh` reads them again (a carrier added a minute ago)."""
        key = (resource, "records")
        if fresh:
            _reference.discard((self.connection.pk, key))

        def read():
            return [record for page in self.pages(resource, display="full", page_size=500) for record in page]

        return _remember(self.connection, key, read)

    def lookup(self, resource, field_name="iso_code") -> dict[str, str]:
        """id → a field (currencies' and countries' iso codes, order states' names), from the cached records."""
        return {parsers.text(r.get("id")): parsers.text(r.get(field_name), self.language_id)
                for r in self.reference_records(resource)}

    def changed_orders(self, since: datetime, until: datetime | None = None, *, page_size=50, overlap=300):
        """Yield pages of canonical orders whose date_upd is in [since - overlap, until], oldest first."""
        for page, _newest in self.changed_orders_raw(since, until, page_size=page_size, overlap=overlap):
            yield self.to_canonical_orders(page)

    def changed_orders_raw(self, since: datetime, until: datetime | None = None, *, page_size=50, overlap=300):
        """Yield (raw orders, newest date_upd on the page) for date_upd in [since - overlap, until], oldest first.

        Pages are read by keyset over (date_upd, id), not by offset: an order saved during the poll moves to the
        end instead of shifting the rows under the next offset, so none is skipped. date_upd is shop-local time,
        so the window is converted to the shop's zone; the overlap absorbs clock skew (the inbox de-duplicates
        what is read twice). When a whole page shares one second, the rest of that second is read by id.
        """
        until_text = parsers.to_shop_time(until or datetime.now(UTC) + timedelta(minutes=1), self.timezone)
        low = parsers.to_shop_time(since - timedelta(seconds=overlap), self.timezone)
        after_id = None
        while True:
            filters = {"date_upd": f"[{low},{until_text}]"} if after_id is None else {
                "date_upd": f"[{low},{low}]", "id": f"[{after_id + 1},{MAX_ID}]"}
            params = {"display": "full", "limit": str(page_size), "sort": "[date_upd_ASC,id_ASC]", "date": "1",
                      **{f"filter[{k}]": v for k, v in filters.items()}}
            page = self.decode(self.request("GET", "orders", params=params))
            dates = sorted(d for d in (self._shop_date(o.get("date_upd")) for o in page) if d)
            if page:
                yield page, (parsers.shop_datetime(dates[-1], self.timezone) if dates else None)
            ids = [int(i) for i in (parsers.text(o.get("id")) for o in page) if ID.fullmatch(i)]
            if len(page) < page_size:
                if after_id is None:
                    return
                after_id, low = None, self._next_second(low)  # that second is done: go on after it
            elif after_id is not None or not dates or dates[-1] == low:
                after_id = max(ids, default=after_id or 0)  # a full page in one second: go on by id
            else:
                low = dates[-1]  # rows of that second are read again; the inbox keeps one of each

    def _shop_date(self, value):
        value = parsers.text(value).strip()
        try:
            return value if parsers.shop_datetime(value, self.timezone) else None
        except ValueError:
            return None  # a date the shop should never have served: the order itself says so later

    def _next_second(self, shop_time):
        moment = datetime.fromisoformat(shop_time) + timedelta(seconds=1)
        return moment.strftime("%Y-%m-%d %H:%M:%S")

    def read_orders(self, ids) -> list:
        """Canonical orders for these ids, with customers and addresses, in a handful of calls."""
        raw = self.get_many("orders", ids)
        return self.to_canonical_orders([raw[i] for i in sorted(raw, key=lambda v: (len(v), v))])

    def read_order(self, order_id):
        raw = self.get_many("orders", [order_id])
        if not raw:
            raise NotFound(f"PrestaShop has no order {order_id}.", system=self.system)
        return readable_or_refused(self.to_canonical_orders(list(raw.values()), per_item=True)[0], self.system)

    def order_payments(self, order_id) -> list[c.Payment]:
        """The payments the shop recorded for this order (order_payments, by the order's reference), oldest first."""
        order = self.get_many("orders", [order_id], display="[id,reference]").get(str(order_id))
        if not order:
            raise NotFound(f"PrestaShop has no order {order_id}.", system=self.system)
        currencies = self.lookup("currencies")
        rows = [row for page in self.pages("order_payments", filters={
            "order_reference": filter_text(parsers.text(order.get("reference")))}, sort="[id_ASC]") for row in page]
        return [parsers.payment(row, order_id=order_id, timezone_name=self.timezone, currencies=currencies)
                for row in rows]

    # --- refunds (credit slips) ---------------------------------------------------------------------------------

    def credit_slips(self, updated_since: datetime | None = None, *, overlap=300, page_size=DEFAULT_PAGE) -> list:
        """Credit slips (`order_slip`) whose date_upd is at or after `updated_since` less `overlap` seconds (all of
        them without it), as canonical Returns, oldest first. date_upd is shop-local time, so the watermark is
        converted to the shop's zone (filtering or sorting on date_upd needs `date=1`; `>` is strict, hence the
        overlap); the caller de-duplicates by source_id. The slips' orders are read in one call per 100
        (display=full, for the rows that map `id_order_detail` to a SKU)."""
        filters = {}
        if updated_since is not None:
            low = parsers.to_shop_time(updated_since - timedelta(seconds=overlap + 1), self.timezone)
            filters["date_upd"] = f">[{low}]"
        raw = [slip for page in self.pages("order_slip", filters=filters, sort="[date_upd_ASC,id_ASC]",
                                           page_size=page_size, date=True) for slip in page]
        return self._slips_to_returns(raw)

    def changed_customers(self, updated_since: datetime | None = None, *, overlap=300,
                          page_size=DEFAULT_PAGE) -> list:
        """Customers whose record or one of whose addresses changed at or after `updated_since` (less `overlap`
        seconds; everyone without it), as canonical Customers with their live addresses newest first, oldest
        change first. A customer's `updated_at` is their newest change, record or address (an edited address that
        orders use is saved as a new one: that is a change too)."""
        filters = {}
        if updated_since is not None:
            low = parsers.to_shop_time(updated_since - timedelta(seconds=overlap + 1), self.timezone)
            filters["date_upd"] = f">[{low}]"
        changed = {}
        for resource, id_field in (("customers", "id"), ("addresses", "id_customer")):
            for page in self.pages(resource, filters=filters, sort="[date_upd_ASC,id_ASC]", page_size=page_size,
                                   date=True):
                for raw in page:
                    key = parsers.text(raw.get(id_field))
                    if ID.fullmatch(key):
                        moment = parsers.shop_datetime(raw.get("date_upd"), self.timezone)
                        changed[key] = max(filter(None, [changed.get(key), moment]), default=None)
        found = self.customers_with_addresses(changed)
        for customer in found:
            customer.updated_at = max(filter(None, [customer.updated_at, changed.get(customer.source_id)]),
                                      default=None)
        return sorted(found, key=lambda c: (c.updated_at is None, c.updated_at, int(c.source_id)))

    def read_customer(self, customer_id):
        """One customer with their live addresses (newest first), or None when the shop has no such customer."""
        found = self.customers_with_addresses([filter_id(customer_id)])
        return found[0] if found else None

    def customers_with_addresses(self, ids) -> list:
        raw_customers = self.get_many("customers", ids)
        if not raw_customers:
            return []
        countries = self.lookup("countries")
        owned = {}
        keys = sorted(raw_customers, key=int)
        for start in range(0, len(keys), BATCH_SIZE):
            for page in self.pages("addresses", filters={"id_customer": one_of(keys[start:start + BATCH_SIZE]),
                                                          "deleted": "[0]"}, sort="[id_DESC]"):
                for raw in page:
                    owned.setdefault(parsers.text(raw.get("id_customer")), []).append(
                        parsers.address(raw, countries))
        return [parsers.customer(raw, self.timezone, owned.get(key, [])) for key, raw in raw_customers.items()]

    def returns_of_order(self, order_id) -> list:
        """The returns flow's capability: an order's returns and refunds (its credit slips), as the shop has them."""
        return self.order_slips_for(order_id)

    def order_slips_for(self, order_id) -> list:
        """The credit slips of one order, as canonical Returns, oldest first."""
        raw = [slip for page in self.pages("order_slip", filters={"id_order": f"[{filter_id(order_id)}]"},
                                           sort="[id_ASC]") for slip in page]
        return self._slips_to_returns(raw)

    def _slips_to_returns(self, raw_slips):
        orders = self.get_many("orders", {parsers.text(s.get("id_order")) for s in raw_slips})
        currencies = self.lookup("currencies")
        return [parsers.credit_slip(slip, order_raw=orders.get(parsers.text(slip.get("id_order"))),
                                    timezone_name=self.timezone, currencies=currencies) for slip in raw_slips]

    def order_imported(self, order_id):
        """Nothing to tell the shop: its date_upd watermark moves on by itself."""

    def to_canonical_orders(self, raw_orders, *, per_item=False):
        """Canonical orders; with per_item, an order that cannot be read becomes a streams.Unreadable in its place
        instead of failing the whole page."""
        def ids(field_names):
            return {v for o in raw_orders for f in field_names if ID.fullmatch(v := parsers.text(o.get(f)))}

        customers_raw = self.get_many("customers", ids(["id_customer"]))
        countries = self.lookup("countries")
        addresses = {k: parsers.address(v, countries)
                     for k, v in self.get_many("addresses", ids(["id_address_delivery", "id_address_invoice"])).items()}
        customers = {}
        for key, raw in customers_raw.items():
            owned = [a for a in addresses.values() if parsers.text(a.extra.get("id_customer")) == key]
            customers[key] = parsers.customer(raw, self.timezone, owned)
        currencies = self.lookup("currencies")
        states = self.lookup("order_states", "name")
        carriers = self.lookup("carriers", "name")

        def convert(raw):
            return parsers.order(raw, timezone_name=self.timezone, currencies=currencies, countries=countries,
                                 states=states, customers=customers, addresses=addresses, language_id=self.language_id,
                                 carriers=carriers)

        if not per_item:
            return [convert(o) for o in raw_orders]
        return [unreadable_or(convert, raw, parsers.text(raw.get("id")), parsers.text(raw.get("date_upd")))
                for raw in raw_orders]

    def read_products(self, ids) -> list:
        currency = self.default_currency()
        return [parsers.product(raw, timezone_name=self.timezone, currency=currency, language_id=self.language_id)
                for raw in self.get_many("products", ids).values()]

    def default_currency(self):
        rates = self.lookup("currencies", "conversion_rate")
        codes = self.lookup("currencies")
        for currency_id, rate in rates.items():
            if rate and parsers.amount(rate) == 1:
                return codes[currency_id]
        return next(iter(codes.values()), "")

    def stock_available(self, product_id, attribute_id=0) -> dict:
        records = self.decode(self.request("GET", "stock_availables", params={
            "display": "full", "filter[id_product]": f"[{filter_id(product_id)}]",
            "filter[id_product_attribute]": f"[{filter_id(attribute_id, allow_zero=True)}]"}))
        if not records:
            raise PermanentError(f"PrestaShop has no stock record for product {product_id} "
                                 f"(combination {attribute_id}).", system=self.system)
        return records[0]

    # --- stock, many SKUs at a time --------------------------------------------------------------------------

    def set_price(self, sku, amount, *, kinds=None):
        """The prices flow's capability: a product's price (tax excluded, as the webservice keeps it), or for a
        combination's reference its price impact over its product's price. Unknown or ambiguous SKUs raise the
        same errors as stock does."""
        rows, problems = self.resolve_stock([sku])
        if sku in problems:
            raise problems[sku]
        product_id = parsers.text(rows[sku].get("id_product"))
        attribute_id = parsers.text(rows[sku].get("id_product_attribute"))
        if attribute_id in ("", "0"):
            self.update("products", product_id, {"price": f"{amount:.6f}"})
            return
        base = Decimal(parsers.text(self.get("products", product_id).get("price")) or "0")
        self.update("combinations", attribute_id, {"price": f"{amount - base:.6f}"})

    def stock_rows(self, skus) -> dict[str, dict]:
        """{sku: its stock_available row as PrestaShop answers it (display=full)} for the SKUs that have one; see
        resolve_stock for why the others are missing."""
        return self.resolve_stock(skus)[0]

    def resolve_stock(self, skus) -> tuple[dict[str, dict], dict[str, ConnectorError]]:
        """({sku: stock_available row}, {sku: why it has none}) for SKUs that are product references (a product
        without combinations) or combination references, compared case-insensitively as MySQL does.

        Calls: one read of stock_availables by id per 100 SKUs whose row is cached for this connection; for the
        others one read of combinations and one of products by `filter[reference]=[a|b|c]` per 100 SKUs, then
        their stock rows by `filter[id_product]` (paged). Why a SKU has no row: NotFound (unknown_sku) when no
        product or combination has it; ValidationFailed when its product or combination has no stock_available
        row (no_stock_row: "fail loudly, do not skip"), when it names a product with combinations (whose row is
        PrestaShop's sum of theirs: has_combinations), when several records carry it (ambiguous_sku), or when it
        cannot be put in a filter (invalid_sku). A failed read raises: it is not any one SKU's fault."""
        rows, problems, keys = {}, {}, {}
        for sku in dict.fromkeys(skus):
            text = sku.strip() if isinstance(sku, str) else ""
            if not text or _FILTER_OPERATORS & set(text) or any(ord(ch) < 32 for ch in text):
                message = (f"SKU “{sku}” cannot be looked up in PrestaShop: it is empty or holds one of | , [ ] % "
                           "(which PrestaShop reads as filter operators)")
                problems[sku] = ValidationFailed(message + ".", system=self.system,
                                                 fields=[FieldError("sku", INVALID_SKU, message)])
            else:
                keys.setdefault(text.casefold(), []).append(sku)

        found = self._cached_stock_rows(keys)
        missing = [key for key in keys if key not in found]
        for start in range(0, len(missing), BATCH_SIZE):
            found_now, refused = self._look_up_stock_rows({key: keys[key][0].strip()
                                                           for key in missing[start:start + BATCH_SIZE]})
            found.update(found_now)
            for key, error in refused.items():
                for sku in keys[key]:
                    problems[sku] = error
        for key, row in found.items():
            for sku in keys[key]:
                rows[sku] = row
        return rows, problems

    def _cached_stock_rows(self, keys) -> dict[str, dict]:
        """{key: row} for the keys whose row id is cached and still names the same product and combination."""
        cached = {key: ids for key in keys if (ids := _stock_ids.get((self.connection.pk, key)))}
        by_id = {ids[0]: key for key, ids in cached.items()}
        found = {}
        for start in range(0, len(by_id), BATCH_SIZE):
            chunk = list(by_id)[start:start + BATCH_SIZE]
            for row in self.decode(self.request("GET", "stock_availables", params={
                    "display": "full", "filter[id]": one_of(chunk), "limit": f"0,{len(chunk)}"})):
                key = by_id.get(parsers.text(row.get("id")))
                if key is not None and self._stock_ids_of(row) == cached[key]:
                    found[key] = row
        for key in cached.keys() - found.keys():
            _stock_ids.discard((self.connection.pk, key))  # gone or moved: look it up again
        return found

    @staticmethod
    def _stock_ids_of(row):
        return (parsers.text(row.get("id")), parsers.text(row.get("id_product")),
                parsers.text(row.get("id_product_attribute")))

    def _look_up_stock_rows(self, keys) -> tuple[dict[str, dict], dict[str, ConnectorError]]:
        """Up to BATCH_SIZE keys ({casefolded SKU: the SKU as given}) by reference: combinations, products, then
        their stock rows."""
        wanted = "[" + "|".join(keys.values()) + "]"
        combinations, products = {}, {}
        for page in self.pages("combinations", filters={"reference": wanted}, display="[id,id_product,reference]",
                               page_size=STOCK_PAGE):
            for record in page:
                combinations.setdefault(parsers.text(record.get("reference")).strip().casefold(), []).append(record)
        for page in self.pages("products", filters={"reference": wanted}, display="[id,reference]",
                               page_size=STOCK_PAGE):
            for record in page:
                products.setdefault(parsers.text(record.get("reference")).strip().casefold(), []).append(record)
        product_ids = {parsers.text(r.get("id_product")) for found in combinations.values() for r in found}
        product_ids |= {parsers.text(r.get("id")) for found in products.values() for r in found}
        stock = {}  # (id_product, id_product_attribute) -> [rows]
        ordered = sorted(product_ids, key=lambda v: (len(v), v))
        for start in range(0, len(ordered), BATCH_SIZE):
            chunk = one_of(ordered[start:start + BATCH_SIZE])
            for page in self.pages("stock_availables", filters={"id_product": chunk}, page_size=STOCK_PAGE):
                for row in page:
                    ids = self._stock_ids_of(row)
                    stock.setdefault(ids[1:], []).append(row)
        with_combinations = {product for product, attribute in stock if attribute != "0"}

        found, refused = {}, {}
        for key, sku in keys.items():
            matches = [(parsers.text(r.get("id_product")), parsers.text(r.get("id")), "combination")
                       for r in combinations.get(key, [])]
            parents = [parsers.text(r.get("id")) for r in products.get(key, [])]
            matches += [(p, "0", "product") for p in parents if p not in with_combinations]
            if not matches and parents:
                message = (f"SKU “{sku}” is product {parents[0]}, which has combinations: its stock is the sum of its "
                           "combinations' stock, so set the combinations' SKUs instead")
                refused[key] = ValidationFailed(message + ".", system=self.system,
                                                fields=[FieldError("sku", HAS_COMBINATIONS, message)])
                continue
            if not matches:
                message = f"PrestaShop has no product or combination with the SKU (reference) “{sku}”"
                refused[key] = NotFound(message + ".", system=self.system,
                                        fields=[FieldError("sku", UNKNOWN_SKU, message)])
                continue
            if len(matches) > 1:
                named = ", ".join(f"{kind} {record_id}" for _, record_id, kind in matches)
                message = f"SKU “{sku}” is the reference of several records in PrestaShop ({named})"
                refused[key] = ValidationFailed(message + ".", system=self.system,
                                                fields=[FieldError("sku", AMBIGUOUS_SKU, message)])
                continue
            product_id, record_id, kind = matches[0]
            attribute = record_id if kind == "combination" else "0"
            rows = stock.get((product_id, attribute), [])
            if len(rows) != 1:
                what = f"combination {record_id} of product {product_id}" if kind == "combination" else \
                    f"product {product_id}"
                problem = ("has no stock_available row, so its stock cannot be set; save the product's quantities "
                           "once in the back office to create it") if not rows else \
                    f"has {len(rows)} stock_available rows (one per shop?); the connector handles one shop"
                message = f"SKU “{sku}” ({what}) {problem}"
                refused[key] = ValidationFailed(message + ".", system=self.system,
                                                fields=[FieldError("sku", NO_STOCK_ROW if not rows else
                                                                   AMBIGUOUS_SKU, message)])
                continue
            found[key] = rows[0]
            _stock_ids.set((self.connection.pk, key), self._stock_ids_of(rows[0]))
        return found, refused

    def publish_quantities(self, updates) -> dict[str, ConnectorError | None]:
        """The inventory flow's call: [(sku, {bucket: quantity})], a shop has one bucket (""); see set_quantities."""
        return self.set_quantities([(sku, sum(quantities.values())) for sku, quantities in updates])

    def read_quantities(self, skus) -> tuple[dict[str, dict], dict[str, ConnectorError]]:
        """({sku: {"": quantity the shop shows}}, {sku: why it has none}) for reconciliation (see resolve_stock)."""
        rows, problems = self.resolve_stock(skus)
        return {sku: {"": int(parsers.text(row.get("quantity")) or 0)} for sku, row in rows.items()}, problems

    def set_quantities(self, updates) -> dict[str, ConnectorError | None]:
        """Set the available quantity of many SKUs: `updates` is [(sku, quantity)], the last one of a SKU wins.
        Returns {sku: None when the shop has that quantity now, else the error}; one SKU's error never stops the
        others. After the bulk read (resolve_stock) the changed rows are written 100 to a call (PrestaShop's
        multi-record write): a PATCH of `quantity` on PrestaShop 8+, else a PUT of each whole row as read (so
        out_of_stock, depends_on_stock, location and the shop ids stay as they are); a row that already has the
        quantity is not written. Refused before sending:
        a negative or non-whole quantity (PrestaShop would store a negative one as it is), and a row that
        depends_on_stock (PrestaShop answers those 500 code 133)."""
        latest = {}
        for sku, quantity in updates:
            latest.pop(sku, None)
            latest[sku] = quantity
        results, valid = {}, {}
        for sku, quantity in latest.items():
            problem = self._quantity_problem(sku, quantity)
            if problem is None:
                valid[sku] = int(quantity)
            else:
                results[sku] = problem
        rows, problems = self.resolve_stock(list(valid))
        writes = []
        for sku, quantity in valid.items():
            row = rows.get(sku)
            if row is None:
                results[sku] = problems[sku]
                continue
            if parsers.text(row.get("depends_on_stock")) == "1":
                message = (f"SKU “{sku}”'s stock depends on PrestaShop's advanced stock management "
                           "(depends_on_stock=1), and PrestaShop refuses to set such a stock from outside")
                results[sku] = ValidationFailed(message + ".", system=self.system,
                                                fields=[FieldError("depends_on_stock", DEPENDS_ON_STOCK, message)])
                continue
            if parsers.text(row.get("quantity")) == str(quantity):
                results[sku] = None
                continue
            writes.append((sku, row, quantity))
        for start in range(0, len(writes), BATCH_SIZE):
            results.update(self._write_quantities(writes[start:start + BATCH_SIZE]))
        return {sku: results[sku] for sku in latest}

    def _write_quantities(self, writes) -> dict[str, ConnectorError | None]:
        """One multi-record write for many rows. When the shop refuses it, the rows are written one by one so each
        SKU gets its own answer (PrestaShop stops at the first bad record and names only it); any other failure
        is every row's, and they are tried again later (each write sets an absolute quantity, so a replay is safe)."""
        if len(writes) > 1:
            try:
                self.update_many("stock_availables", [(parsers.text(row.get("id")), {"quantity": quantity}, row)
                                                      for _, row, quantity in writes])
                return dict.fromkeys((sku for sku, _, _ in writes), None)
            except (PermanentError, ValueError):
                pass  # a record was refused: find which, one by one
            except ConnectorError as exc:  # transient, or the key itself: every row's
                return dict.fromkeys((sku for sku, _, _ in writes), exc)
        results = {}
        for sku, row, quantity in writes:
            try:
                self.update("stock_availables", parsers.text(row.get("id")), {"quantity": quantity}, current=row)
                results[sku] = None
            except ConnectorError as exc:
                results[sku] = exc
        return results

    def _quantity_problem(self, sku, quantity) -> ValidationFailed | None:
        whole = isinstance(quantity, int) and not isinstance(quantity, bool)
        if not whole:
            try:
                whole = not isinstance(quantity, bool | str) and int(quantity) == quantity
            except (TypeError, ValueError, OverflowError):
                whole = False
        if not whole or quantity > MAX_QUANTITY:
            message = f"quantity {quantity!r} for SKU “{sku}” is not a whole number PrestaShop can store"
            code = INVALID_QUANTITY
        elif quantity < 0:
            message = (f"quantity {quantity} for SKU “{sku}” is negative; PrestaShop would store it as it is, so it "
                       "was not sent")
            code = NEGATIVE_QUANTITY
        else:
            return None
        return ValidationFailed(message[0].upper() + message[1:] + ".", system=self.system,
                                fields=[FieldError("quantity", code, message)])

    def resources(self) -> dict[str, set[str]]:
        """GET /api/: which resources (and methods) this key may use."""
        response = self.request("GET", "", output="XML")
        return psxml.resources(psxml.parse(response.content))

    # --- writes ----------------------------------------------------------------------------------------------

    def ws_version(self) -> int:
        if not self.version:
            self.version = _remember(self.connection, "version", lambda: (self.resources(), self.version)[1])
        try:
            return int(str(self.version).split(".")[0])
        except ValueError:
            return 1

    def create(self, resource, fields: dict, params=None) -> dict:
        body = psxml.document(SINGULAR.get(resource, resource.rstrip("s")), fields)
        records = self.decode(self.request("POST", resource, data=body, params=params))
        return records[0] if records else {}

    def update(self, resource, record_id, changes: dict, *, current: dict | None = None, params=None) -> dict:
        """Change some fields: PATCH on PrestaShop 8+, else PUT the whole record back with the changes. `current` is
        the record as already read with display=full; when it is flat it saves 1.7 the GET before the PUT."""
        singular = SINGULAR.get(resource, resource.rstrip("s"))
        if self.ws_version() >= 8:
            body = psxml.document(singular, {"id": record_id, **changes})
            records = self.decode(self.request("PATCH", f"{resource}/{record_id}", data=body, params=params))
            return records[0] if records else {}
        body = self._whole_record(resource, current, changes) if current else None
        if body is None:
            response = self.request("GET", f"{resource}/{record_id}", output="XML")
            body = psxml.apply_changes(psxml.parse(response.content), changes, READ_ONLY.get(resource, ()))
        records = self.decode(self.request("PUT", f"{resource}/{record_id}", data=body, params=params))
        return records[0] if records else {}

    @staticmethod
    def _whole_fields(resource, record, changes):
        """A PUT's fields from a flat record; None when it holds languages or associations, which are safer edited
        in the XML PrestaShop sent."""
        fields = {k: v for k, v in record.items() if k not in READ_ONLY.get(resource, ())}
        if any(isinstance(v, dict | list) for v in fields.values()):
            return None
        return {**fields, **changes}

    def _whole_record(self, resource, record, changes):
        fields = self._whole_fields(resource, record, changes)
        return None if fields is None else psxml.document(SINGULAR.get(resource, resource.rstrip("s")), fields)

    def update_many(self, resource, changes: list[tuple[str, dict, dict]]) -> None:
        """Change several records in one call: [(id, {field: value}, the record as read with display=full)].
        PrestaShop's PUT and PATCH take many records in one body and save them in turn; if one fails, those before
        it stay saved and the answer names only the error, so the caller must treat every record as unknown then.
        PATCH on 8+, else a PUT of each whole record as read (flat records only: ValueError otherwise)."""
        singular = SINGULAR.get(resource, resource.rstrip("s"))
        if self.ws_version() >= 8:
            records = [{"id": record_id, **fields} for record_id, fields, _ in changes]
            self.request("PATCH", resource, data=psxml.documents(singular, records))
            return
        records = [self._whole_fields(resource, current, fields) for _, fields, current in changes]
        if any(record is None for record in records):
            raise ValueError(f"{resource}: a record holds languages or associations; update it on its own")
        self.request("PUT", resource, data=psxml.documents(singular, records))

    def set_order_state(self, order_id, state, *, send_email=False) -> dict:
        """Move an order to a state, given its id or its name ("Shipped"); state ids differ per shop."""
        state_id = str(state) if str(state).isdigit() else self.state_named(str(state)).id
        return self.create("order_histories", {"id_order": filter_id(order_id), "id_order_state": state_id},
                           params={"sendemail": "1"} if send_email else None)

    def set_tracking(self, order_id, tracking_number) -> dict:
        """Put a tracking number on the order's first order_carriers row (no checks, no state change: see ship)."""
        carriers = self.decode(self.request("GET", "order_carriers", params={
            "display": "[id]", "filter[id_order]": f"[{filter_id(order_id)}]"}))
        if not carriers:
            raise PermanentError(f"PrestaShop order {order_id} has no carrier record to put the tracking number on; "
                                 "choose a carrier for the order in the back office.", system=self.system)
        return self.update("order_carriers", parsers.text(carriers[0].get("id")),
                           {"tracking_number": tracking_number})

    # --- shipments and cancellations ---------------------------------------------------------------------------

    def ship(self, order_id, shipment: c.Shipment, *, carrier: str, shipping_class: str = "", notify: bool = False,
             shipped_state: str = "Shipped") -> c.Fulfillment:
        """Tell the shop about one shipment of an order: its tracking number and carrier on an order_carriers row,
        and the order moved to `shipped_state` unless it is there or past it. Safe to call again after a lost
        answer: a row that already has this tracking number is not written again.

        The first shipment fills the row the order was created with (when it has no tracking number yet); a later
        one adds a row of its own, since a row holds one tracking number. `carrier` is a carrier name in the shop
        ("" keeps the row's carrier); `notify` lets PrestaShop mail the customer. Everything is checked before the
        first write: a refused shipment writes nothing."""
        order_id = filter_id(order_id)
        order = self.order_record(order_id)
        current = self.order_states().get(parsers.text(order.get("current_state")))
        rows = self.order_carrier_records(order_id)
        tracking = (shipment.tracking_number or "").strip()
        done = next((r for r in rows if tracking and parsers.text(r.get("tracking_number")) == tracking), None)
        moves = not self._shipped_or_later(current, shipped_state) and not self._closed(current)
        carrier_id = ""
        if done is None:
            problems = self._shipment_problems(order_id, order, current, shipment, tracking)
            try:
                carrier_id = self.carrier_id(carrier) if carrier else ""
            except ValidationFailed as exc:
                problems += exc.fields
            if problems:
                raise ValidationFailed(f"PrestaShop order {order_id} cannot take this shipment: "
                                       + "; ".join(f.message for f in problems) + ".", system=self.system,
                                       fields=problems)
        target = self.state_named(shipped_state) if moves else None
        row = done if done is not None else self._write_tracking(order_id, order, rows, tracking, carrier_id,
                                                                 notify=notify and not moves)
        state = current.name if current else parsers.text(order.get("current_state"))
        if target is not None:
            self.create("order_histories", {"id_order": order_id, "id_order_state": target.id},
                        params={"sendemail": "1"} if notify else None)
            state = target.name
        return parsers.fulfillment(row, order_id=order_id, carriers={} if carrier else self.lookup("carriers", "name"),
                                   carrier=carrier, shipping_class=shipping_class or shipment.shipping_class,
                                   lines=shipment.lines, already=done is not None, state=state)

    def _write_tracking(self, order_id, order, rows, tracking, carrier_id, *, notify):
        """Fill the first row without a tracking number, else add a row; the row as PrestaShop answers it."""
        free = next((r for r in rows if not parsers.text(r.get("tracking_number")).strip()), None)
        changes = {"tracking_number": tracking} if tracking else {}
        if carrier_id:
            changes["id_carrier"] = carrier_id
        if free is not None:
            if not changes:
                return free
            # PrestaShop mails "in transit" on an order_carriers update with sendemail=1; asked only when no state
            # mail (the "Shipped" one carries the tracking link) will go out, so the customer gets one mail.
            answer = self.update("order_carriers", parsers.text(free.get("id")), changes, current=free,
                                 params={"sendemail": "1"} if notify else None)
            return {**free, **changes, **answer}
        if not tracking:
            return rows[0] if rows else {"id": "", "id_carrier": carrier_id}  # nothing a replay could recognise
        first = rows[0] if rows else {}
        fields = {"id_order": order_id,
                  "id_carrier": carrier_id or parsers.text(first.get("id_carrier")) or parsers.text(
                      order.get("id_carrier")),
                  "id_order_invoice": parsers.text(first.get("id_order_invoice")) or "0",
                  "weight": "0", "shipping_cost_tax_excl": "0", "shipping_cost_tax_incl": "0",
                  "tracking_number": tracking}
        return self.create("order_carriers", fields) or fields

    def _shipment_problems(self, order_id, order, current, shipment, tracking) -> list[FieldError]:
        problems = []
        if self._closed(current):
            problems.append(FieldError("current_state", ORDER_CANCELLED,
                                       f"the order is “{current.name}”, and a cancelled or refunded order cannot be "
                                       "shipped"))
        refused = parsers.tracking_number_problem(tracking)
        if refused:
            problems.append(FieldError("tracking_number", *refused))
        if not shipment.lines:
            problems.append(FieldError("Lines", "required", "the shipment has no lines"))
        ordered = {}
        for row in (order.get("associations") or {}).get("order_rows") or []:
            sku = parsers.text(row.get("product_reference")).strip().casefold()
            ordered[sku] = ordered.get(sku, 0) + int(parsers.amount(row.get("product_quantity")))
        shipped = {}
        for index, line in enumerate(shipment.lines):
            sku = (line.sku or "").strip().casefold()
            if sku not in ordered:
                problems.append(FieldError(f"Lines[{index}].SKU", UNKNOWN_SKU,
                                           f"SKU “{line.sku}” is not on order {order_id}"))
                continue
            if line.quantity <= 0:
                problems.append(FieldError(f"Lines[{index}].Quantity", "invalid",
                                           f"quantity {line.quantity} of SKU “{line.sku}” is not a positive number"))
                continue
            shipped[sku] = shipped.get(sku, 0) + line.quantity
            if shipped[sku] > ordered[sku]:
                problems.append(FieldError(f"Lines[{index}].Quantity", QUANTITY_EXCEEDS,
                                           f"{shipped[sku]} of SKU “{line.sku}” shipped, but the order has "
                                           f"{ordered[sku]}"))
        return problems

    def cancel(self, order_id, *, reference: str = "", notify: bool = False, cancelled_state: str = "Canceled") -> str:
        """Move an order to `cancelled_state`: "cancelled", or "already" when it is there (a replay). An order that
        is shipped or past it is refused (ValidationFailed "already_shipped"). `reference` is how the caller names
        the cancellation (quoted in messages: PrestaShop's order histories have no field for it)."""
        order_id = filter_id(order_id)
        order = self.order_record(order_id, display="[id,current_state]")
        current = self.order_states().get(parsers.text(order.get("current_state")))
        if current is not None and current.named(cancelled_state):
            return "already"
        if self._shipped_or_later(current, "Shipped"):
            label = f"order {order_id}" + (f" ({reference})" if reference else "")
            message = (f"PrestaShop {label} is “{current.name}”, past shipping: it cannot be cancelled any more; "
                       "refund or return it in the back office instead")
            raise ValidationFailed(message + ".", system=self.system,
                                   fields=[FieldError("current_state", ALREADY_SHIPPED, message)])
        target = self.state_named(cancelled_state)
        self.create("order_histories", {"id_order": order_id, "id_order_state": target.id},
                    params={"sendemail": "1"} if notify else None)
        return "cancelled"

    def order_carriers(self, order_id) -> list[c.Fulfillment]:
        """The order's order_carriers rows, oldest first."""
        carriers = self.lookup("carriers", "name")
        return [parsers.fulfillment(row, order_id=filter_id(order_id), carriers=carriers)
                for row in self.order_carrier_records(order_id)]

    def order_state(self, order_id) -> str:
        """The name of the state the order is in (its id when the shop no longer has that state)."""
        state_id = parsers.text(self.order_record(order_id, display="[id,current_state]").get("current_state"))
        state = self.order_states().get(state_id)
        return state.name if state else state_id

    def order_record(self, order_id, *, display="full") -> dict:
        records = self.decode(self.request("GET", "orders", params={
            "display": display, "filter[id]": f"[{filter_id(order_id)}]"}))
        if not records:
            raise NotFound(f"PrestaShop has no order {order_id}.", system=self.system)
        return records[0]

    def order_carrier_records(self, order_id) -> list[dict]:
        records = self.decode(self.request("GET", "order_carriers", params={
            "display": "full", "filter[id_order]": f"[{filter_id(order_id)}]"}))
        return sorted(records, key=lambda r: int(parsers.text(r.get("id")) or 0))

    def order_states(self) -> dict[str, parsers.OrderState]:
        return {state.id: state for state in (parsers.order_state(record, self.language_id)
                                              for record in self.reference_records("order_states"))}

    def state_named(self, name) -> parsers.OrderState:
        """The order state with this name in any of the shop's languages; read again once before giving up."""
        for fresh in (False, True):
            states = [parsers.order_state(r, self.language_id) for r in
                      self.reference_records("order_states", fresh=fresh)]
            found = next((s for s in states if s.named(name)), None)
            if found is not None:
                return found
        message = (f"PrestaShop has no order state named “{name}”; it has: "
                   f"{', '.join(sorted(s.name for s in states))}")
        raise ValidationFailed(message + ".", system=self.system,
                               fields=[FieldError("id_order_state", "unknown_state", message)])

    def carrier_id(self, name) -> str:
        """The id of the shop's carrier with this name; read again once before giving up. Editing a carrier in
        PrestaShop gives it a new id and keeps the old one as deleted, so the live one wins."""
        wanted = name.strip().casefold()
        for fresh in (False, True):
            records = self.reference_records("carriers", fresh=fresh)
            matches = [r for r in records if parsers.text(r.get("name")).strip().casefold() == wanted]
            if matches:
                best = max(matches, key=lambda r: (parsers.text(r.get("deleted")) != "1",
                                                   parsers.text(r.get("active")) == "1",
                                                   int(parsers.text(r.get("id")) or 0)))
                return parsers.text(best.get("id"))
        names = sorted({parsers.text(r.get("name")) for r in records if parsers.text(r.get("deleted")) != "1"})
        message = f"PrestaShop has no carrier named “{name}”; it has: {', '.join(names)}"
        raise ValidationFailed(message + ".", system=self.system,
                               fields=[FieldError("id_carrier", INVALID_CARRIER, message)])

    @staticmethod
    def _closed(state) -> bool:
        return state is not None and any(state.named(name) for name in CLOSED_STATES)

    @staticmethod
    def _shipped_or_later(state, shipped_state) -> bool:
        """In `shipped_state`, or in a state PrestaShop flags as shipped (Delivered too), or past them."""
        if state is None:
            return False
        return state.named(shipped_state) or state.shipped or any(state.named(n) for n in PAST_SHIPPING)

    def set_stock(self, product_id, quantity, attribute_id=0) -> dict:
        record = self.stock_available(product_id, attribute_id)
        return self.update("stock_availables", parsers.text(record.get("id")), {"quantity": int(quantity)})
