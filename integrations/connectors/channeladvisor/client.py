"""The ChannelAdvisor REST v1 client: OAuth refresh-token flow, OData reads, writes and $batch."""

import base64
from datetime import datetime

from integrations.connectors.base import OAuthClient
from integrations.connectors.channeladvisor import batch as odata_batch
from integrations.connectors.channeladvisor import parsers
from integrations.connectors.errors import AuthError, NotFound, TransientError
from integrations.connectors.streams import readable_or_refused, unreadable_or

ORDER_EXPAND = "Items,Fulfillments($expand=Items),Adjustments,CustomFields"
LIST_EXPAND_CAP = 20  # list calls cap every expanded collection at 20 entries
BATCH_RETRIES = 2


class ChannelAdvisorClient(OAuthClient):
    system = "ChannelAdvisor"

    def url(self, path):
        return f"{self.base_url}/v1/{path}"

    # --- auth --------------------------------------------------------------------------------------------------

    def fetch_token(self):
        creds = self.connection.credentials
        basic = base64.b64encode(f"{creds.get('application_id', '')}:{creds.get('shared_secret', '')}".encode())
        response = self.http.request(
            "POST", f"{self.base_url}/oauth2/token", check=False,
            headers={"Authorization": f"Basic {basic.decode()}",
                     "Content-Type": "application/x-www-form-urlencoded"},
            data={"grant_type": "refresh_token", "refresh_token": creds.get("refresh_token", "")})
        if response.status_code in (400, 401, 403):
            raise AuthError(f"ChannelAdvisor refused the token request ({response.status_code}: "
                            f"{response.text[:200].strip()})", status=response.status_code, system=self.system)
        if response.status_code >= 400:
            raise self.http.error_for(response)
        body = self.json(response)
        if not isinstance(body, dict) or not body.get("access_token"):
            raise TransientError("ChannelAdvisor's token answer had no access_token.", system=self.system)
        return body["access_token"], int(body.get("expires_in") or 3600)

    def auth_hint(self, error):
        if "token request" in error.message:
            return ("the application id, shared secret or refresh token is wrong or expired (refresh tokens lapse "
                    "after 3 months unused) — authorize the application again in ChannelAdvisor and paste the new "
                    "refresh token")
        if error.status == 403:
            return "the application lacks access to this profile — grant it in ChannelAdvisor's developer console"
        return "ChannelAdvisor refused a fresh access token — authorize the application again"

    def describe_error(self, response):
        try:
            body = response.json()
        except ValueError:
            return response.text[:200].strip(), []
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                message = error.get("message") or error.get("code") or ""
                if isinstance(message, dict):
                    message = message.get("value", "")
                return str(message), [str(message)] if message else []
            if body.get("Message"):
                return str(body["Message"]), [str(body["Message"])]
        return "", []

    # --- reads -------------------------------------------------------------------------------------------------

    def pages(self, path, params=None):
        """Yield each page's `value`, following @odata.nextLink (never building $skip ourselves)."""
        url, query = self.url(path), dict(params or {})
        while url:
            body = self.json(self.call("GET", url, params=query))
            yield body.get("value") or []
            url, query = body.get("@odata.nextLink"), None

    def new_orders(self, *, since: datetime | None = None, select=None, per_item=False):
        """Yield pages of canonical orders not yet exported by this application (`exported=false`); with per_item,
        an order that cannot be read becomes a streams.Unreadable in its place."""
        params = {"exported": "false", "$expand": ORDER_EXPAND}
        if since is not None:
            params["$filter"] = f"CreatedDateUtc ge {parsers.iso_utc(since)}"
        if select:
            params["$select"] = ",".join(select)
        for page in self.pages("Orders", params):
            if not per_item:
                yield [parsers.order(self._complete(raw)) for raw in page]
            else:
                yield [unreadable_or(lambda raw: parsers.order(self._complete(raw)), raw, str(raw.get("ID", "")), "")
                       for raw in page if isinstance(raw, dict)]

    def read_order(self, order_id):
        raw = self.get_order_raw(order_id)
        return readable_or_refused(unreadable_or(lambda r: parsers.order(r), raw, str(order_id), ""), self.system)

    def order_imported(self, order_id):
        """TIMS has the order: mark it exported (for this application), so `exported=false` stops listing it."""
        self.export(order_id)

    def set_aside(self, stream, ids):
        """The portal keeps these orders (done, held, dead or discarded): mark them exported so `exported=false`
        polls stop listing them; a retry reads an order back by its id."""
        for order_id in ids:
            self.export(order_id)

    def _complete(self, raw):
        # A list call caps expanded collections at 20: re-read such an order alone to get all its lines.
        if any(len(raw.get(name) or []) >= LIST_EXPAND_CAP for name in ("Items", "Fulfillments", "Adjustments")):
            return self.get_order_raw(raw["ID"])
        return raw

    def get_order_raw(self, order_id):
        return self.json(self.call("GET", self.url(f"Orders({int(order_id)})"), params={"$expand": ORDER_EXPAND}))

    def get_order(self, order_id):
        return parsers.order(self.get_order_raw(order_id))

    def product_id(self, sku) -> int:
        body = self.json(self.call("GET", self.url("Products"), params={
            "$filter": f"Sku eq {parsers.odata_string(sku)}", "$select": "ID,Sku"}))
        values = body.get("value") or []
        if not values:
            raise NotFound(f"ChannelAdvisor has no product with SKU “{sku}”; create it or fix the SKU mapping.",
                           system=self.system, status=404)
        return int(values[0]["ID"])

    def products(self, *, updated_since: datetime | None = None, select=None):
        params = {}
        if updated_since is not None:
            params["$filter"] = f"UpdateDateUtc ge {parsers.iso_utc(updated_since)}"
        if select:
            params["$select"] = ",".join(select)
        for page in self.pages("Products", params):
            yield [parsers.product(raw) for raw in page]

    # --- writes ------------------------------------------------------------------------------------------------

    def ship(self, order_id, shipment):
        self.call("POST", self.url(f"Orders({int(order_id)})/Ship"), json_body=parsers.ship_body(shipment))

    def export(self, order_id):
        """Mark an order exported for this application, so `exported=false` stops listing it."""
        self.call("POST", self.url(f"Orders({int(order_id)})/Export"))

    def unexport(self, order_id):
        self.call("DELETE", self.url(f"Orders({int(order_id)})/Export"))

    def update_quantity(self, product_id, quantity, *, dc_id=None, update_type="Absolute"):
        self.call("POST", self.url(f"Products({int(product_id)})/UpdateQuantity"),
                  json_body=self.quantity_body(quantity, dc_id, update_type))

    def quantity_body(self, quantity, dc_id=None, update_type="Absolute"):
        dc = dc_id if dc_id is not None else self.connection.settings.get("distribution_center_id", 0)
        return {"Value": {"UpdateType": update_type, "Updates": [{"DistributionCenterID": int(dc),
                                                                   "Quantity": int(quantity)}]}}

    def update_prices(self, product_id, prices):
        self.call("PATCH", self.url(f"Products({int(product_id)})"), json_body=parsers.price_body(prices))

    def adjust(self, line, *, order_id=None, order_item_id=None, reason="CustomerReturnedItem",
               seller_adjustment_id=""):
        """A refund or cancellation, on a whole order or one item."""
        path = f"OrderItems({int(order_item_id)})/Adjust" if order_item_id else f"Orders({int(order_id)})/Adjust"
        self.call("POST", self.url(path), json_body=parsers.adjustment_body(line, reason, seller_adjustment_id))

    def batch(self, parts: list[odata_batch.BatchPart]) -> list[odata_batch.BatchResult]:
        """Send parts in $batch calls of up to 100; retry only the parts that failed transiently."""
        if any(part.url.rstrip("/").endswith("/Export") for part in parts):
            raise ValueError("ChannelAdvisor does not accept Export inside $batch; call export() for each order.")
        final = {}
        pending = list(parts)
        for attempt in range(BATCH_RETRIES + 1):
            retry = []
            for start in range(0, len(pending), odata_batch.MAX_PARTS):
                chunk = pending[start:start + odata_batch.MAX_PARTS]
                for part in chunk:
                    part.content_id = ""
                content_type, body = odata_batch.build(chunk)
                response = self.call("POST", self.url("$batch"), data=body, headers={"Content-Type": content_type})
                for result in odata_batch.parse(response.headers.get("Content-Type", ""), response.content, chunk):
                    final[id(result.part)] = result
                    if result.retryable or result.status == 0:
                        retry.append(result.part)
            if not retry or attempt == BATCH_RETRIES:
                break
            pending = retry
        return [final[id(part)] for part in parts]

    def quantity_part(self, product_id, quantity, dc_id=None):
        return odata_batch.BatchPart("POST", self.url(f"Products({int(product_id)})/UpdateQuantity"),
                                     self.quantity_body(quantity, dc_id))

    def price_part(self, product_id, prices):
        return odata_batch.BatchPart("PATCH", self.url(f"Products({int(product_id)})"), parsers.price_body(prices))
