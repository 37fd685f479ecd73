"""The TIMS client for the project's TIMS API profile: client-credentials OAuth, paging, idempotent writes.

The sales-order body is built by the order mapping (mappings, template order_to_tims), never here: the client
sends what the mapping made.
"""

from urllib.parse import quote

from integrations import canonical as c
from integrations.connectors.base import OAuthClient
from integrations.connectors.cache import BoundedTTLCache
from integrations.connectors.errors import (
    UNKNOWN_CUSTOM_FIELD,
    AuthError,
    Conflict,
    FieldError,
    PermanentError,
    TransientError,
    ValidationFailed,
)
from integrations.connectors.tims import parsers

PAGE_SIZE = 200
# Custom-field definitions per (connection id, entity): read once per 10 minutes, forgotten as soon as TIMS says a
# field is unknown (someone deleted it in TIMS) or we define a new one.
_custom_fields = BoundedTTLCache(max_items=1000, ttl_seconds=600)
# The chart of accounts per connection id: read once per 10 minutes, forgotten when TIMS answers unknown_account.
_gl_accounts = BoundedTTLCache(max_items=1000, ttl_seconds=600)
UNKNOWN_ACCOUNT = "unknown_account"


def idempotency_key(kind, natural_key) -> str:
    """A stable key per business document, so a retried create replays instead of writing twice."""
    return f"{kind}:{natural_key}"[:200]


class TimsClient(OAuthClient):
    system = "TIMS"

    def url(self, path):
        return f"{self.base_url}/api/v1/{path}"

    @property
    def currency(self):
        return self.connection.settings.get("currency", "USD")

    # --- auth --------------------------------------------------------------------------------------------------

    def fetch_token(self):
        creds = self.connection.credentials
        response = self.http.request("POST", f"{self.base_url}/oauth/token", check=False, data={
            "grant_type": "client_credentials", "client_id": creds.get("client_id", ""),
            "client_secret": creds.get("client_secret", "")})
        if response.status_code in (400, 401, 403):
            raise AuthError(f"TIMS refused the token request ({response.status_code})", status=response.status_code,
                            system=self.system)
        if response.status_code >= 400:
            raise self.http.error_for(response)
        body = self.json(response)
        if not isinstance(body, dict) or not body.get("access_token"):
            raise TransientError("TIMS's token answer had no access_token.", system=self.system)
        return body["access_token"], int(body.get("expires_in") or 3600)

    def auth_hint(self, error):
        if "token request" in error.message:
            return "the client id or client secret is wrong or revoked — ask the TIMS administrator for new ones"
        return "the TIMS API client lacks a permission — ask the TIMS administrator to grant it"

    def describe_error(self, response):
        """TIMS's envelope {"errors": [{"field", "code", "message"}]} as FieldError data (str() is the sentence)."""
        try:
            body = response.json()
        except ValueError:
            return response.text[:200].strip(), []
        fields = [FieldError(path=str(error.get("field") or ""), code=str(error.get("code") or ""),
                             message=str(error.get("message") or ""))
                  for error in (body.get("errors") if isinstance(body, dict) else None) or []
                  if isinstance(error, dict)]
        return " ".join(str(f) for f in fields), fields

    # --- plumbing ----------------------------------------------------------------------------------------------

    def get_json(self, path, params=None):
        return self.json(self.call("GET", self.url(path), params=params))

    def pages(self, path, params=None):
        """Yield each page's results, following `next` until it is null."""
        url, query = self.url(path), {"page_size": PAGE_SIZE, **(params or {})}
        while url:
            body = self.json(self.call("GET", url, params=query))
            yield body.get("results") or []
            url, query = body.get("next"), None

    def write(self, method, path, body, *, key=None, version=None):
        headers = {}
        if key:
            headers["Idempotency-Key"] = key
        if version:
            headers["If-Match"] = str(version)
        try:
            return self.json(self.call(method, self.url(path), json_body=body, headers=headers))
        except PermanentError as exc:
            if exc.has_code(UNKNOWN_CUSTOM_FIELD):
                self.forget_custom_fields()  # our list of TIMS's custom fields is out of date
            raise

    # --- customers -------------------------------------------------------------------------------------------

    def find_customer(self, email):
        for page in self.pages("customers", {"email": email}):
            for raw in page:
                return parsers.customer(raw)
        return None

    def customers_alike(self, *, phone="", postal_code="", limit=50) -> list:
        """Customers with this phone number (any punctuation) or this postal code (any spacing), for de-duplication:
        at most `limit` of each."""
        found = {}
        for name, value in (("phone", phone), ("postal_code", postal_code)):
            if value:
                for raw in (self.get_json("customers", {name: value, "page_size": min(limit, PAGE_SIZE)})
                            .get("results") or [])[:limit]:
                    found.setdefault(raw.get("CustomerID"), parsers.customer(raw))
        return list(found.values())

    def search_customers(self, text="", *, limit=20) -> list[dict]:
        """Customers whose code, name or e-mail holds `text` (all when empty), at most `limit`, as TIMS sends them."""
        params = {"page_size": min(limit, PAGE_SIZE), **({"search": text} if text else {})}
        return (self.get_json("customers", params).get("results") or [])[:limit]

    def locations(self) -> list[dict]:
        """Every location (warehouse): [{"Code", "Name", "IsDefault"}]."""
        return [raw for page in self.pages("locations") for raw in page if isinstance(raw, dict)]

    def custom_fields(self, entity) -> list[dict]:
        """The custom-field definitions of an entity (sales_order, item, customer): [{"Name", "DataType", ...}]."""
        return [raw for page in self.pages("custom-fields", {"entity": entity}) for raw in page
                if isinstance(raw, dict)]

    def get_customer(self, customer_id):
        return parsers.customer(self.get_json(f"customers/{customer_id}"))

    def create_customer(self, customer, *, key=None):
        key = key or idempotency_key("customer", f"{customer.source}:{customer.source_id}")
        return parsers.customer(self.write("POST", "customers", parsers.customer_body(customer), key=key))

    def update_customer(self, customer_id, changes: dict, *, version):
        """PATCH with If-Match: a stale version is a Conflict, so the caller re-reads and decides again."""
        return parsers.customer(self.write("PATCH", f"customers/{customer_id}", changes, version=version))

    # --- items and inventory ---------------------------------------------------------------------------------

    def items(self, *, updated_since=None):
        params = {"updated_since": parsers.iso(updated_since)} if updated_since else {}
        for page in self.pages("items", params):
            yield [parsers.item(raw, self.currency) for raw in page]

    def get_item(self, sku):
        return parsers.item(self.get_json(f"items/{sku}"), self.currency)

    def quantity(self, sku):
        return parsers.stock_level(self.get_json(f"inventory/items/{sku}/quantity"))

    def inventory_changes(self, cursor=""):
        """(stock levels changed since the cursor, the next cursor)."""
        body = self.get_json("inventory/changes", {"cursor": cursor} if cursor else None)
        return [parsers.stock_level(raw) for raw in body.get("results") or []], body.get("cursor") or cursor

    def inventory_changes_raw(self, cursor="", page_size=200):
        """(the feed's rows since the cursor as TIMS sent them, the next cursor): the poller reads each itself."""
        params = {"page_size": page_size} | ({"cursor": cursor} if cursor else {})
        body = self.get_json("inventory/changes", params)
        results = body.get("results") if isinstance(body, dict) else None
        return (results if isinstance(results, list) else []), (body.get("cursor") if isinstance(body, dict)
                                                                 else None) or cursor

    def adjust_inventory(self, sku, quantity, *, location="", reason="", reference="", key=None):
        body = {"SKU": sku, "Location": location or self.connection.settings.get("default_location", ""),
                "Quantity": int(quantity), "ReasonCode": reason, "Reference": reference}
        return self.write("POST", "inventory/adjustments", body,
                          key=key or idempotency_key("adjustment", f"{sku}:{reference}"))

    # --- sales orders, shipments, invoices, payments, returns -----------------------------------------------

    def find_sales_orders(self, external_order_id):
        """Every TIMS order with this ExternalOrderID: several channels may share an order number."""
        return [parsers.sales_order(raw, self.currency)
                for page in self.pages("sales-orders", {"external_order_id": external_order_id}) for raw in page]

    def find_sales_order(self, external_order_id):
        for page in self.pages("sales-orders", {"external_order_id": external_order_id}):
            for raw in page:
                return parsers.sales_order(raw, self.currency)
        return None

    def get_sales_order(self, sales_order_id):
        return parsers.sales_order(self.get_json(f"sales-orders/{sales_order_id}"), self.currency)

    def create_sales_order(self, body: dict, *, key: str):
        """Create once: look up by ExternalOrderID first, then POST with an Idempotency-Key.

        `body` is the order mapping's output (mappings.services.map_record), the only builder of a sales order."""
        existing = self.find_sales_order(body["ExternalOrderID"])
        if existing is not None:
            return existing
        return parsers.sales_order(self.write("POST", "sales-orders", body, key=key), self.currency)

    def update_sales_order(self, sales_order_id, changes: dict, *, version):
        return parsers.sales_order(self.write("PATCH", f"sales-orders/{sales_order_id}", changes, version=version),
                                   self.currency)

    def shipments(self, *, updated_since=None):
        params = {"updated_since": parsers.iso(updated_since)} if updated_since else {}
        for page in self.pages("shipments", params):
            yield [parsers.shipment(raw) for raw in page]

    def get_shipment(self, shipment_id) -> c.Shipment:
        """One shipment by its ShipmentID; NotFound when TIMS has none."""
        return parsers.shipment(self.get_json(f"shipments/{quote(str(shipment_id), safe='')}"))

    def shipments_for(self, sales_order_id) -> list[c.Shipment]:
        """Every shipment of one sales order, oldest first (an order may ship in several parts)."""
        return [parsers.shipment(raw) for page in self.pages("shipments", {"sales_order_id": sales_order_id})
                for raw in page]

    def sales_orders_between(self, date_from, date_to) -> list[c.Order]:
        """Every sales order whose OrderDate falls on these days (inclusive, UTC), e.g. one day's for the
        reconciliation."""
        params = {"order_date_from": parsers.day(date_from), "order_date_to": parsers.day(date_to)}
        return [parsers.sales_order(raw, self.currency) for page in self.pages("sales-orders", params)
                for raw in page]

    # --- invoices, payments, returns ---------------------------------------------------------------------------

    def invoices_for(self, sales_order_id) -> list[c.Invoice]:
        return self.find_invoices(sales_order_id=sales_order_id)

    def find_invoices(self, *, sales_order_id="", shipment_id="", date_from=None, date_to=None) -> list[c.Invoice]:
        """Invoices matching every filter given (InvoiceDate within the days, inclusive), all pages, oldest first."""
        params = {"sales_order_id": sales_order_id, "shipment_id": shipment_id,
                  "date_from": parsers.day(date_from), "date_to": parsers.day(date_to)}
        return [parsers.invoice(raw, self.currency)
                for page in self.pages("invoices", {k: v for k, v in params.items() if v}) for raw in page]

    def create_invoice(self, sales_order_id, *, shipment_id="", lines=None, currency="", invoice_date=None,
                       key) -> c.Invoice:
        """Bill a shipment (`shipment_id`), the (sku, quantity) `lines`, or — with neither — every ordered unit not
        yet invoiced. TIMS prices each part pro rata, so an order's invoices add up to it; `currency`, when
        given, must be the order's. `key` (the Idempotency-Key) is required: a retry must never bill twice."""
        body = parsers.invoice_body(sales_order_id, shipment_id=shipment_id, lines=lines, currency=currency,
                                    invoice_date=invoice_date)
        return parsers.invoice(self.write("POST", "invoices", body, key=key), self.currency)

    def create_payment(self, payment: c.Payment, *, key) -> c.Payment:
        """Apply a payment to `payment.invoice_id`; the answer is TIMS's payment (PaymentID as source_id)."""
        return parsers.payment(self.write("POST", "payments", parsers.payment_body(payment), key=key),
                               self.currency)

    def find_payments(self, *, invoice_id="", reference="", date_from=None, date_to=None) -> list[c.Payment]:
        """Payments matching every filter given (ReceivedAt within the days, inclusive, UTC), all pages."""
        params = {"invoice_id": invoice_id, "reference": reference,
                  "date_from": parsers.day(date_from), "date_to": parsers.day(date_to)}
        return [parsers.payment(raw, self.currency)
                for page in self.pages("payments", {k: v for k, v in params.items() if v}) for raw in page]

    def create_return(self, ret: c.Return, *, key=None) -> c.Return:
        """Record a channel's return in TIMS once: look it up by the channel's id (ExternalReturnID) on its sales
        order first, then POST with an Idempotency-Key (default: the channel and its return id). TIMS restocks
        the Restock lines and gives the refund back against the order's invoices; a return of more than shipped,
        a refund larger than paid, a SKU not on the order or a wrong currency is a ValidationFailed naming the
        field (codes exceeds_shipped, exceeds_paid, not_on_order, currency_mismatch, negative, invalid_decimal).
        Returns TIMS's return, ReturnID as source_id."""
        external_id = parsers.external_return_id(ret)
        if external_id:
            found = self.find_returns(sales_order_id=ret.order_id, external_return_id=external_id)
            if found:
                return found[0]
        key = key or idempotency_key("return", f"{ret.source}:{ret.source_id}")
        try:
            raw = self.write("POST", "returns", parsers.return_body(ret), key=key)
        except Conflict as exc:  # made by a request whose answer we lost, under another key
            if external_id and exc.has_code("duplicate"):
                found = self.find_returns(sales_order_id=ret.order_id, external_return_id=external_id)
                if found:
                    return found[0]
            raise
        return parsers.return_(raw, self.currency)

    def find_returns(self, *, sales_order_id="", external_return_id="") -> list[c.Return]:
        """Returns matching every filter given (all of them when none), all pages, oldest first."""
        params = {"sales_order_id": sales_order_id, "external_return_id": external_return_id}
        return [parsers.return_(raw, self.currency)
                for page in self.pages("returns", {k: v for k, v in params.items() if v}) for raw in page]

    def get_return(self, return_id) -> c.Return:
        """One return by its TIMS ReturnID; NotFound when TIMS has none."""
        return parsers.return_(self.get_json(f"returns/{quote(str(return_id), safe='')}"), self.currency)

    # --- general ledger --------------------------------------------------------------------------------------

    def gl_accounts(self) -> dict[str, dict]:
        """TIMS's chart of accounts, {account code: {"name", "type", "active"}}; cached 10 minutes per
        connection, forgotten when TIMS says an account is unknown."""
        return _gl_accounts.get_or_set(
            self.connection.pk,
            lambda: {raw.get("Account"): parsers.gl_account(raw) for page in self.pages("gl/accounts")
                     for raw in page if isinstance(raw, dict) and raw.get("Account")})

    def forget_gl_accounts(self):
        _gl_accounts.discard(self.connection.pk)

    def post_journal_entry(self, entry: c.JournalEntry, *, key) -> c.JournalEntry:
        """Post a balanced entry (refused here, before any call, when debits ≠ credits); returns it as TIMS has
        it, EntryID as source_id."""
        if entry.debits != entry.credits:
            raise ValidationFailed(f"A journal entry must balance: debits {entry.debits} ≠ credits "
                                   f"{entry.credits}.", system=self.system)
        try:
            return parsers.journal_entry(self.write("POST", "gl/journal-entries",
                                                    parsers.journal_entry_body(entry), key=key))
        except PermanentError as exc:
            if exc.has_code(UNKNOWN_ACCOUNT):
                self.forget_gl_accounts()  # our copy of the chart is out of date
            raise

    def find_journal_entries(self, *, reference="", date_from=None, date_to=None) -> list[c.JournalEntry]:
        """Journal entries matching every filter given (Date within the days, inclusive), all pages."""
        params = {"reference": reference, "date_from": parsers.day(date_from), "date_to": parsers.day(date_to)}
        return [parsers.journal_entry(raw)
                for page in self.pages("gl/journal-entries", {k: v for k, v in params.items() if v})
                for raw in page]

    # --- custom fields and events ----------------------------------------------------------------------------

    def custom_field_names(self, entity):
        """Names of the custom fields TIMS defines for an entity (sales_order, item, customer); cached 10 minutes."""
        names = _custom_fields.get_or_set(
            (self.connection.pk, entity),
            lambda: frozenset(raw.get("Name") for page in self.pages("custom-fields", {"entity": entity})
                              for raw in page))
        return set(names)

    def forget_custom_fields(self, entity=None):
        """Drop the cached custom-field names of this connection (one entity, or all), so the next read asks TIMS.
        Called on its own when TIMS answers unknown_custom_field; flows with their own cache should drop it too."""
        pk = self.connection.pk
        _custom_fields.discard_where(lambda key: key[0] == pk and (entity is None or key[1] == entity))

    def create_custom_field(self, entity, name, data_type="string"):
        try:
            return self.write("POST", "custom-fields", {"Entity": entity, "Name": name, "DataType": data_type,
                                                        "Label": name},
                              key=idempotency_key("custom-field", f"{entity}:{name}"))
        finally:
            self.forget_custom_fields(entity)  # created, or already there (409): either way the cache is stale

    def events(self, cursor="", types=()):
        """(events since the cursor, the next cursor); `types` limits them to those event types."""
        params = ({"cursor": cursor} if cursor else {}) | ({"type": ",".join(types)} if types else {})
        body = self.get_json("events", params or None)
        return body.get("results") or [], body.get("cursor") or cursor
