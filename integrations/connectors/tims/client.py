"""The TIMS client for the project's TIMS API profile: client-credentials OAuth, paging, idempotent writes.

The sales-order body is built by the order mapping (mappings, template order_to_tims), never here: the client
sends what the mapping made.
"""

import hashlib
import json
from urllib.parse import quote

from integrations import canonical as c
from integrations.connectors.base import OAuthClient
from integrations.connectors.cache import BoundedTTLCache
from integrations.connectors.errors import (
    UNKNOWN_CUSTOM_FIELD,
    AuthError,
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

    def invoices_for(self, sales_order_id):
        return [parsers.invoice(raw, self.currency) for page in self.pages("invoices", {"sales_order_id":
                                                                                         sales_order_id})
                for raw in page]

    def create_invoice(self, sales_order_id, *, key=None):
        body = {"SalesOrderID": sales_order_id}
        return parsers.invoice(self.write("POST", "invoices", body,
                                          key=key or idempotency_key("invoice", sales_order_id)), self.currency)

    def create_payment(self, payment, *, key=None):
        key = key or idempotency_key("payment", f"{payment.source}:{payment.source_id}")
        return self.write("POST", "payments", parsers.payment_body(payment), key=key)

    def create_return(self, item, *, key=None):
        key = key or idempotency_key("return", f"{item.source}:{item.source_id}")
        return self.write("POST", "returns", parsers.return_body(item), key=key)

    def create_journal_entry(self, entry: dict, *, key=None):
        debits = sum(parsers.amount(line.get("Debit")) for line in entry.get("Lines", []))
        credits = sum(parsers.amount(line.get("Credit")) for line in entry.get("Lines", []))
        if debits != credits:
            raise ValidationFailed(f"A journal entry must balance: debits {debits} ≠ credits {credits}.",
                                   system=self.system)
        digest = hashlib.sha256(json.dumps(entry, sort_keys=True, default=str).encode()).hexdigest()[:32]
        return self.write("POST", "gl/journal-entries", entry, key=key or idempotency_key("gl", digest))

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
