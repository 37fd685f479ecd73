"""The PrestaShop webservice client: the only code that speaks PrestaShop's protocol.

Reads ask for JSON (`output_format=JSON`) with `display=full` and batch related records with `filter[id]=[1|2|3]`;
XML answers are read too (defusedxml). Writes send XML (the webservice only takes XML): GET-modify-PUT of the whole
record, or PATCH with just the changed fields on PrestaShop 8 and later.
"""

import re
import time
from datetime import UTC, datetime, timedelta

from integrations.connectors.base import BaseClient
from integrations.connectors.errors import AuthError, PermanentError
from integrations.connectors.prestashop import parsers
from integrations.connectors.prestashop import xml as psxml

SINGULAR = {"orders": "order", "order_carriers": "order_carrier", "order_histories": "order_history",
            "stock_availables": "stock_available", "customers": "customer", "addresses": "address",
            "products": "product", "combinations": "combination", "order_payments": "order_payment",
            "order_states": "order_state", "currencies": "currency", "countries": "country"}
# Fields PrestaShop refuses in a PUT body (error 93).
READ_ONLY = {"products": ("manufacturer_name", "quantity", "position_in_category"),
             "orders": ("associations",)}
BATCH_SIZE = 100
DEFAULT_PAGE = 100
# Reference data (currencies, countries, order states) and the shop's version change rarely: keep them per process
# for a while, so a unit of work does not spend three calls on them each time.
REFERENCE_TTL = 600
_reference = {}  # (connection id, key) -> (expires at, value)


def _remember(connection, key, compute):
    entry = _reference.get((connection.pk, key))
    if entry and entry[0] > time.monotonic():
        return entry[1]
    value = compute()
    _reference[(connection.pk, key)] = (time.monotonic() + REFERENCE_TTL, value)
    return value


def forget_reference_data(connection=None):
    for key in [k for k in _reference if connection is None or k[0] == connection.pk]:
        del _reference[key]


def one_of(ids) -> str:
    """`[1|2|3]`: PrestaShop's OR filter."""
    return "[" + "|".join(str(i) for i in ids) + "]"


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
            _reference[(self.connection.pk, "version")] = (time.monotonic() + REFERENCE_TTL, self.version)
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

    def lookup(self, resource, field_name="iso_code") -> dict[str, str]:
        """id → a field (currencies' and countries' iso codes, order states' names), cached per process."""

        def read():
            records = [record for page in self.pages(resource, display="full", page_size=500) for record in page]
            return {parsers.text(r.get("id")): parsers.text(r.get(field_name), self.language_id) for r in records}

        return _remember(self.connection, (resource, field_name, self.language_id), read)

    def changed_orders(self, since: datetime, until: datetime | None = None, *, page_size=50, overlap=300):
        """Yield pages of canonical orders whose date_upd is in [since - overlap, until], oldest first.

        date_upd is shop-local time, so the window is converted to the shop's zone; the overlap absorbs clock
        skew and orders saved during the previous poll (the inbox de-duplicates what is read twice).
        """
        until = until or datetime.now(UTC) + timedelta(minutes=1)
        window = (f"[{parsers.to_shop_time(since - timedelta(seconds=overlap), self.timezone)},"
                  f"{parsers.to_shop_time(until, self.timezone)}]")
        for page in self.pages("orders", filters={"date_upd": window}, sort="[date_upd_ASC,id_ASC]",
                               page_size=page_size, date=True):
            yield self.to_canonical_orders(page)

    def read_orders(self, ids) -> list:
        """Canonical orders for these ids, with customers and addresses, in a handful of calls."""
        raw = self.get_many("orders", ids)
        return self.to_canonical_orders([raw[i] for i in sorted(raw, key=lambda v: (len(v), v))])

    def to_canonical_orders(self, raw_orders):
        customers_raw = self.get_many("customers", {parsers.text(o.get("id_customer")) for o in raw_orders})
        address_ids = {parsers.text(o.get(f)) for o in raw_orders for f in ("id_address_delivery",
                                                                              "id_address_invoice")}
        countries = self.lookup("countries")
        addresses = {k: parsers.address(v, countries) for k, v in self.get_many("addresses", address_ids).items()}
        customers = {}
        for key, raw in customers_raw.items():
            owned = [a for a in addresses.values() if parsers.text(a.extra.get("id_customer")) == key]
            customers[key] = parsers.customer(raw, self.timezone, owned)
        currencies = self.lookup("currencies")
        states = self.lookup("order_states", "name")
        return [parsers.order(o, timezone_name=self.timezone, currencies=currencies, countries=countries,
                              states=states, customers=customers, addresses=addresses, language_id=self.language_id)
                for o in raw_orders]

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
            "display": "full", "filter[id_product]": f"[{product_id}]",
            "filter[id_product_attribute]": f"[{attribute_id}]"}))
        if not records:
            raise PermanentError(f"PrestaShop has no stock record for product {product_id} "
                                 f"(combination {attribute_id}).", system=self.system)
        return records[0]

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

    def update(self, resource, record_id, changes: dict) -> dict:
        """Change some fields: PATCH on PrestaShop 8+, else GET the full record, change it, PUT it back whole."""
        if self.ws_version() >= 8:
            body = psxml.document(SINGULAR.get(resource, resource.rstrip("s")), {"id": record_id, **changes})
            records = self.decode(self.request("PATCH", f"{resource}/{record_id}", data=body))
        else:
            current = self.request("GET", f"{resource}/{record_id}", output="XML")
            body = psxml.apply_changes(psxml.parse(current.content), changes, READ_ONLY.get(resource, ()))
            records = self.decode(self.request("PUT", f"{resource}/{record_id}", data=body))
        return records[0] if records else {}

    def set_order_state(self, order_id, state, *, send_email=False) -> dict:
        """Move an order to a state, given its id or its name ("Shipped"); state ids differ per shop."""
        state_id = str(state)
        if not state_id.isdigit():
            names = {name.lower(): key for key, name in self.lookup("order_states", "name").items()}
            if state_id.lower() not in names:
                raise PermanentError(f"PrestaShop has no order state named “{state}”; it has: "
                                     f"{', '.join(sorted(self.lookup('order_states', 'name').values()))}.",
                                     system=self.system)
            state_id = names[state_id.lower()]
        return self.create("order_histories", {"id_order": order_id, "id_order_state": state_id},
                           params={"sendemail": "1"} if send_email else None)

    def set_tracking(self, order_id, tracking_number) -> dict:
        carriers = self.decode(self.request("GET", "order_carriers", params={
            "display": "[id]", "filter[id_order]": f"[{order_id}]"}))
        if not carriers:
            raise PermanentError(f"PrestaShop order {order_id} has no carrier record to put the tracking number on; "
                                 "choose a carrier for the order in the back office.", system=self.system)
        return self.update("order_carriers", parsers.text(carriers[0].get("id")),
                           {"tracking_number": tracking_number})

    def set_stock(self, product_id, quantity, attribute_id=0) -> dict:
        record = self.stock_available(product_id, attribute_id)
        return self.update("stock_availables", parsers.text(record.get("id")), {"quantity": int(quantity)})
