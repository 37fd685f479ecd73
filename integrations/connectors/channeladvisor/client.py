"""The ChannelAdvisor REST v1 client: OAuth refresh-token flow, OData reads, writes and $batch."""

import base64
import json
from collections import Counter
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from integrations import canonical as c
from integrations.connectors import errors
from integrations.connectors.base import OAuthClient
from integrations.connectors.cache import BoundedTTLCache
from integrations.connectors.channeladvisor import batch as odata_batch
from integrations.connectors.channeladvisor import parsers
from integrations.connectors.errors import AuthError, FieldError, NotFound, TransientError, ValidationFailed
from integrations.connectors.streams import readable_or_refused, unreadable_or

ORDER_EXPAND = "Items,Fulfillments($expand=Items),Adjustments,CustomFields"
SHIPPING_EXPAND = "Items,Fulfillments($expand=Items)"
ADJUSTMENT_EXPAND = "Items($expand=Adjustments),Adjustments"
LIST_EXPAND_CAP = 20  # list calls cap every expanded collection at 20 entries
BATCH_RETRIES = 2
# ChannelAdvisor documents no limit; the sandbox refuses longer ones and so do marketplaces (docs/sandboxes).
TRACKING_NUMBER_MAX_LENGTH = 50
QUANTITY_UPDATE_TYPES = ("Absolute", "Relative", "Available", "InStock", "UnShipped")
# SKU lookups: `Sku eq '...' or ...` terms per GET, kept under 100 (one page of products) and under a URL-encoded
# $filter of 1,800 characters, since ChannelAdvisor documents no limit and IIS refuses query strings over 2,048.
SKU_LOOKUP_TERMS = 100
SKU_LOOKUP_FILTER_CHARS = 1800
MAX_INT32 = 2**31 - 1
_product_ids = BoundedTTLCache(max_items=100_000, ttl_seconds=3600)  # (connection id, sku) -> ProductID


def forget_product_ids(connection=None):
    """Drop cached SKU → ProductID answers (of one connection, or all)."""
    if connection is None:
        _product_ids.clear()
    else:
        _product_ids.discard_where(lambda key: key[0] == connection.pk)


# What the portal asks ChannelAdvisor's consent page for (space-delimited, as ChannelAdvisor documents scopes).
OAUTH_SCOPE = "orders inventory"


def authorize_url(base_url, application_id, redirect_uri, state, scope=OAUTH_SCOPE):
    """Where to send the customer's browser to grant the application access (the authorization-code flow):
    `{base}/oauth2/authorize` with access_type=offline, so the code's exchange yields a refresh token."""
    query = urlencode({"client_id": application_id, "response_type": "code", "access_type": "offline",
                       "scope": scope, "redirect_uri": redirect_uri, "state": state})
    return f"{base_url.rstrip('/')}/oauth2/authorize?{query}"


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

    def exchange_code(self, code, redirect_uri):
        """Trade the consent page's one-time code for tokens: {"refresh_token", "access_token", "expires_in"}.
        The application id and shared secret go in Basic auth; redirect_uri must be the one the code was issued
        for. A refused exchange (used, expired or foreign code, wrong redirect_uri or secret) is an AuthError
        carrying ChannelAdvisor's own error and description."""
        creds = self.connection.credentials
        basic = base64.b64encode(f"{creds.get('application_id', '')}:{creds.get('shared_secret', '')}".encode())
        response = self.http.request(
            "POST", f"{self.base_url}/oauth2/token", check=False,
            headers={"Authorization": f"Basic {basic.decode()}",
                     "Content-Type": "application/x-www-form-urlencoded"},
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})
        if response.status_code in (400, 401, 403):
            try:
                body = response.json()
            except ValueError:
                body = {}
            error = body.get("error") if isinstance(body, dict) else None
            described = body.get("error_description") if isinstance(body, dict) else None
            raise AuthError(f"ChannelAdvisor refused the authorization code ({response.status_code}: "
                            f"{error or response.text[:120].strip()}{': ' + described if described else ''})",
                            status=response.status_code, system=self.system)
        if response.status_code >= 400:
            raise self.http.error_for(response)
        body = self.json(response)
        if not isinstance(body, dict) or not body.get("refresh_token") or not body.get("access_token"):
            raise TransientError("ChannelAdvisor's answer to the code exchange had no refresh_token; connect "
                                 "again (access_type=offline is needed).", system=self.system)
        return {"refresh_token": body["refresh_token"], "access_token": body["access_token"],
                "expires_in": int(body.get("expires_in") or 3600)}

    def auth_hint(self, error):
        if "authorization code" in error.message:
            return ("connect again from the start: a code works once and for 5 minutes, and only with the "
                    "application id, shared secret and redirect URI it was issued for")
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

    # --- the account -------------------------------------------------------------------------------------------

    def profiles(self) -> list[dict]:
        """The profiles (accounts) this token may use: [{"ID", "AccountName", ...}]."""
        return [row for page in self.pages("Profiles") for row in page if isinstance(row, dict)]

    def distribution_centers(self) -> list[dict]:
        """The account's distribution centers, deleted ones left out: [{"ID", "Code", "Name", "Type", ...}]."""
        return [row for page in self.pages("DistributionCenters") for row in page
                if isinstance(row, dict) and not row.get("IsDeleted")]

    # --- reads -------------------------------------------------------------------------------------------------

    def pages(self, path, params=None):
        """Yield each page's `value`, following @odata.nextLink (never building $skip ourselves)."""
        url, query = self.url(path), dict(params or {})
        while url:
            body = self.json(self.call("GET", url, params=query))
            yield body.get("value") or []
            url, query = body.get("@odata.nextLink"), None

    def _pages_by_id(self, path, params, filters):
        last = None
        while True:
            where = [*filters, *([f"ID gt {last}"] if last is not None else [])]
            body = self.json(self.call("GET", self.url(path), params={
                **params, **({"$filter": " and ".join(where)} if where else {})}))
            page = body.get("value") or []
            yield page
            ids = [int(raw["ID"]) for raw in page if isinstance(raw, dict) and str(raw.get("ID", "")).isdigit()]
            if not body.get("@odata.nextLink") or not ids:
                return
            last = max(ids)

    def new_orders(self, *, since: datetime | None = None, select=None, per_item=False):
        """Yield pages of canonical orders not yet exported by this application (`exported=false`); with per_item,
        an order that cannot be read becomes a streams.Unreadable in its place.

        Paged by ID (`$orderby=ID`, then `ID gt <last>`), not by the nextLink's `$skip`: workers export the first
        page's orders while later pages are read, and a `$skip` over a list that shrinks skips as many orders."""
        params = {"exported": "false", "$expand": ORDER_EXPAND, "$orderby": "ID"}
        if select:
            params["$select"] = ",".join(dict.fromkeys(["ID", *select]))
        for page in self._pages_by_id("Orders", params, [f"CreatedDateUtc ge {parsers.iso_utc(since)}"]
                                      if since is not None else []):
            if not per_item:
                yield [parsers.order(self._complete(raw)) for raw in page]
            else:
                yield [unreadable_or(lambda raw: parsers.order(self._complete(raw)), raw, str(raw.get("ID", "")), "")
                       for raw in page if isinstance(raw, dict)]

    def read_order(self, order_id):
        raw = self.get_order_raw(order_id)
        return readable_or_refused(unreadable_or(lambda r: parsers.order(r), raw, str(order_id), ""), self.system)

    def order_payments(self, order_id) -> list[c.Payment]:
        """What the buyer paid for this order, read now (PaymentStatus Cleared or Deposited)."""
        return parsers.payments(self.read_order(order_id))

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

    def get_order_raw(self, order_id, expand=ORDER_EXPAND):
        return self.json(self.call("GET", self.url(f"Orders({int(order_id)})"), params={"$expand": expand}))

    def get_order(self, order_id):
        return parsers.order(self.get_order_raw(order_id))

    # --- returns and refunds (adjustments) ----------------------------------------------------------------------

    def returns_of_order(self, order_id) -> list[c.Return]:
        """The returns flow's capability: an order's returns and refunds, as the channel has them now."""
        return self.order_adjustments(order_id)

    def order_adjustments(self, order_id) -> list[c.Return]:
        """The order's adjustments (returns, refunds, cancellations) as canonical Returns, one per adjustment ID,
        oldest first: one GET of the order with its items' and its own adjustments."""
        return parsers.order_adjustments(self.get_order_raw(order_id, expand=ADJUSTMENT_EXPAND))

    def adjustments(self, since: datetime | None = None) -> list[c.Return]:
        """Adjustments created at or after `since` (all of them without it), over every order whether this
        application exported it or not (`exported=true` and `exported=false`: returns come after the export).

        Orders are found with `$filter=Adjustments/any(a: a/CreatedDateUtc ge ...)` and paged by ID; an order whose
        adjustments fill the list call's cap of 20 is read again alone. The adjustments of those orders older than
        `since` are left out; the caller de-duplicates by source_id (the adjustment ID)."""
        moment = f"a/CreatedDateUtc ge {parsers.iso_utc(since)}" if since is not None else "a/ID gt 0"
        floor = c.aware(since).replace(microsecond=0) if since is not None else None  # dates are served to the second
        found = {}
        for exported in ("false", "true"):
            params = {"exported": exported, "$expand": ADJUSTMENT_EXPAND, "$orderby": "ID"}
            for page in self._pages_by_id("Orders", params, [f"Adjustments/any(a: {moment})"]):
                for raw in page:
                    if not isinstance(raw, dict):
                        continue
                    items = [item for item in raw.get("Items") or [] if isinstance(item, dict)]
                    lists = [raw.get("Adjustments") or [], items, *(item.get("Adjustments") or [] for item in items)]
                    if any(len(rows) >= LIST_EXPAND_CAP for rows in lists):
                        raw = self.get_order_raw(raw["ID"], expand=ADJUSTMENT_EXPAND)
                    for item in parsers.order_adjustments(raw):
                        if floor is None or (item.created_at and item.created_at >= floor):
                            found[item.source_id] = item
        return sorted(found.values(), key=lambda r: (r.created_at or datetime.min.replace(tzinfo=UTC),
                                                     int(r.source_id) if r.source_id.isdigit() else 0))

    def product_id(self, sku) -> int:
        body = self.json(self.call("GET", self.url("Products"), params={
            "$filter": f"Sku eq {parsers.odata_string(sku)}", "$select": "ID,Sku"}))
        values = body.get("value") or []
        if not values:
            raise NotFound(f"ChannelAdvisor has no product with SKU “{sku}”; create it or fix the SKU mapping.",
                           system=self.system, status=404)
        return int(values[0]["ID"])

    def product_ids(self, skus) -> dict[str, int]:
        """{sku: ProductID} for the SKUs ChannelAdvisor has; an unknown SKU is simply absent. Answers are cached
        per connection; the rest are looked up with `Sku eq 'A' or Sku eq 'B' ...` ($select=ID,Sku), as many terms
        per call as fit, following @odata.nextLink."""
        wanted = list(dict.fromkeys(sku for sku in skus if isinstance(sku, str) and sku))
        found = {}
        missing = []
        for sku in wanted:
            product_id = _product_ids.get((self.connection.pk, sku))
            if product_id is None:
                missing.append(sku)
            else:
                found[sku] = product_id
        for chunk in self._sku_filter_chunks(missing):
            # An answer spelled in another case still maps to the SKU asked for (Sku eq may ignore case).
            asked = {sku.lower(): sku for sku in chunk} | {sku: sku for sku in chunk}
            query = {"$filter": " or ".join(f"Sku eq {parsers.odata_string(sku)}" for sku in chunk),
                     "$select": "ID,Sku"}
            for page in self.pages("Products", query):
                for row in page:
                    answered, product_id = str(row.get("Sku") or ""), row.get("ID")
                    sku = asked.get(answered) or asked.get(answered.lower())
                    if sku is not None and isinstance(product_id, int) and not isinstance(product_id, bool):
                        found[sku] = product_id
                        _product_ids.set((self.connection.pk, sku), product_id)
        return found

    @staticmethod
    def _sku_filter_chunks(skus):
        chunk, length = [], 0
        for sku in skus:
            term = len(quote(f" or Sku eq {parsers.odata_string(sku)}", safe=""))
            if chunk and (len(chunk) >= SKU_LOOKUP_TERMS or length + term > SKU_LOOKUP_FILTER_CHARS):
                yield chunk
                chunk, length = [], 0
            chunk.append(sku)
            length += term
        if chunk:
            yield chunk

    def products(self, *, updated_since: datetime | None = None, select=None):
        params = {}
        if updated_since is not None:
            params["$filter"] = f"UpdateDateUtc ge {parsers.iso_utc(updated_since)}"
        if select:
            params["$select"] = ",".join(select)
        for page in self.pages("Products", params):
            yield [parsers.product(raw) for raw in page]

    # --- writes ------------------------------------------------------------------------------------------------

    def ship(self, order_id, shipment: c.Shipment, *, carrier: str | None = None, shipping_class: str | None = None,
             notify: bool = False, shipped_state: str | None = None) -> c.Fulfillment:
        """Ship `shipment` (lines carry SKUs) on an order: one read, then at most one write.

        A fulfillment already shipped with the shipment's tracking number (or SellerFulfillmentID = its source_id)
        is a replay after a lost answer: it comes back with already=True and nothing is written. Refusals are
        ValidationFailed with a FieldError code before anything is written. Everything still unshipped, with
        nothing shipped before, goes as a plain Orders(ID)/Ship; anything else as Orders(ID)/Ship with Items.
        ChannelAdvisor answers 204 and ships the open fulfillment read here, so its ID is the Fulfillment's.
        `notify` and `shipped_state` are the shop's options: ChannelAdvisor tells the marketplace and sets the
        order's ShippingStatus itself."""
        carrier = shipment.carrier if carrier is None else carrier
        shipping_class = shipment.shipping_class if shipping_class is None else shipping_class
        raw = self.get_order_raw(order_id, expand=SHIPPING_EXPAND)
        done = self._shipped_before(raw, shipment)
        if done is not None:
            return parsers.fulfillment(done, raw, already=True)
        send, target, ships_all, rest_after = self._ship_plan(raw, shipment)
        items = None if ships_all else [{"OrderItemID": item_id, "Quantity": quantity}
                                        for item_id, quantity in send.items()]
        try:
            self.call("POST", self.url(f"Orders({int(order_id)})/Ship"),
                      json_body=parsers.ship_body(shipment, carrier, shipping_class, items))
        except ValidationFailed as exc:
            if "carrier and class" not in exc.message.lower():
                raise
            raise ValidationFailed(
                f"ChannelAdvisor does not know the carrier/class “{carrier}” / “{shipping_class}”; add it to the "
                f"account's carrier and class list or map the carrier to one it has.", status=exc.status,
                system=self.system, response_excerpt=exc.response_excerpt,
                fields=[FieldError("ShippingCarrier", "invalid_carrier", (exc.field_errors or [exc.message])[0])]
            ) from None
        by_id = {item.get("ID"): item for item in raw.get("Items") or []}
        return c.Fulfillment(
            source=parsers.SOURCE, source_id=str(target.get("ID", "")), order_id=str(raw.get("ID", order_id)),
            tracking_number=shipment.tracking_number, carrier=carrier, shipping_class=shipping_class,
            lines=[c.ShipmentLine(sku=by_id[item_id].get("Sku") or "", quantity=quantity, source_id=str(item_id))
                   for item_id, quantity in send.items()],
            state="PartiallyShipped" if rest_after else "Shipped",
            extra={"DeliveryStatus": shipment.extra.get("DeliveryStatus", "Complete")})

    @staticmethod
    def _shipped_before(raw, shipment):
        tracking = shipment.tracking_number.strip().lower()
        for row in raw.get("Fulfillments") or []:
            if not parsers.is_shipped(row):
                continue
            if tracking and (row.get("TrackingNumber") or "").strip().lower() == tracking:
                return row
            if shipment.source_id and row.get("SellerFulfillmentID") == shipment.source_id:
                return row
        return None

    def _ship_plan(self, raw, shipment):
        """({OrderItemID: units to send}, the open fulfillment that will ship, whether that is every unit still
        unshipped with nothing shipped before, whether units stay unshipped after); ValidationFailed if refused."""
        order_id = raw.get("ID")
        if raw.get("ShippingStatus") == "Canceled":
            raise self._refused(FieldError("ShippingStatus", "order_cancelled",
                                           f"ChannelAdvisor order {order_id} is canceled; it cannot be shipped"))
        problems = []
        if not shipment.lines:
            problems.append(FieldError("Lines", "required", "A shipment needs at least one line to ship"))
        if len(shipment.tracking_number) > TRACKING_NUMBER_MAX_LENGTH:
            problems.append(FieldError("TrackingNumber", "max_length",
                                       f"A tracking number has at most {TRACKING_NUMBER_MAX_LENGTH} characters; "
                                       f"this one has {len(shipment.tracking_number)}"))
        fulfillments = raw.get("Fulfillments") or []
        unshipped = Counter()
        for row in fulfillments:
            if parsers.is_open(row):
                for line in row.get("Items") or []:
                    unshipped[line.get("OrderItemID")] += int(line.get("Quantity") or 0)
        items_by_sku = {}
        for item in raw.get("Items") or []:
            items_by_sku.setdefault((item.get("Sku") or "").strip().lower(), []).append(item)
        send = Counter()
        for index, line in enumerate(shipment.lines):
            matches = items_by_sku.get(line.sku.strip().lower())
            if not matches:
                problems.append(FieldError(f"Lines[{index}].SKU", errors.UNKNOWN_SKU,
                                           f"SKU “{line.sku}” is not on ChannelAdvisor order {order_id}"))
                continue
            if line.quantity < 1:
                problems.append(FieldError(f"Lines[{index}].Quantity", "invalid_quantity",
                                           f"{line.quantity} is not a quantity that can ship"))
                continue
            left = sum(unshipped[item.get("ID")] - send[item.get("ID")] for item in matches)
            if line.quantity > left:
                problems.append(FieldError(f"Lines[{index}].Quantity", "quantity_exceeds",
                                           f"{line.quantity} × “{line.sku}” is more than the {left} unit(s) still "
                                           f"unshipped on ChannelAdvisor order {order_id}"))
                continue
            need = line.quantity
            for item in matches:
                taken = min(need, unshipped[item.get("ID")] - send[item.get("ID")])
                send[item.get("ID")] += taken
                need -= taken
        if problems:
            raise self._refused(*problems)
        rest_after = any(quantity - send[item_id] for item_id, quantity in unshipped.items())
        ships_all = not rest_after and not any(parsers.is_shipped(row) for row in fulfillments)
        # The open fulfillment that ships: the oldest holding one of these items (the sandbox's rule, see its doc).
        target = next(row for row in sorted(fulfillments, key=lambda row: row.get("ID") or 0) if parsers.is_open(row)
                      and any(line.get("OrderItemID") in send for line in row.get("Items") or []))
        return dict(send), target, ships_all, rest_after

    def _refused(self, *fields):
        return ValidationFailed(f"{self.system} cannot take this: " + "; ".join(str(f).rstrip(".") for f in fields)
                                + ".", system=self.system, fields=list(fields))

    def cancel(self, order_id, *, reference: str, reason: str = "GeneralAdjustment", notify: bool = False,
               cancelled_state: str | None = None) -> str:
        """Cancel a whole order that has shipped nothing: "cancelled", or "already" when it is canceled (a replay
        after a lost answer included). One read, then at most one Orders(ID)/Adjust with SellerAdjustmentID =
        `reference`, which ChannelAdvisor takes once however often it is sent. `notify` and `cancelled_state` are
        the shop's options; the marketplace hears of it from ChannelAdvisor, and the order becomes Canceled."""
        raw = self.get_order_raw(order_id, expand=SHIPPING_EXPAND)
        if raw.get("ShippingStatus") == "Canceled":
            return "already"
        if raw.get("ShippingStatus") in ("Shipped", "PartiallyShipped") or any(
                parsers.is_shipped(row) and row.get("Items") for row in raw.get("Fulfillments") or []):
            raise self._refused(FieldError("ShippingStatus", "already_shipped",
                                           f"ChannelAdvisor order {raw.get('ID', order_id)} has shipped items "
                                           f"({raw.get('ShippingStatus')}); refund them instead of cancelling"))
        self.call("POST", self.url(f"Orders({int(order_id)})/Adjust"),
                  json_body={"Reason": reason, "SellerAdjustmentID": reference})
        return "cancelled"

    def fulfillments(self, order_id) -> list[c.Fulfillment]:
        """The order's fulfillments, open ones included (extra["DeliveryStatus"] tells them apart)."""
        raw = self.get_order_raw(order_id, expand=SHIPPING_EXPAND)
        return [parsers.fulfillment(row, raw) for row in raw.get("Fulfillments") or []]

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

    def create_product(self, fields) -> int:
        """POST /v1/Products with its attributes inline; the new product's ID. The SKU is remembered."""
        created = self.json(self.call("POST", self.url("Products"), json_body=fields))
        _product_ids.set((self.connection.pk, fields["Sku"]), int(created["ID"]))
        return int(created["ID"])

    def update_product(self, product_id, changes):
        """PATCH the product's properties; changed attributes go by UpdateAttributes (a PATCH cannot set them)."""
        changes = dict(changes)
        attributes = changes.pop("Attributes", None)
        if changes:
            self.call("PATCH", self.url(f"Products({int(product_id)})"), json_body=changes)
        if attributes:
            self.call("POST", self.url(f"Products({int(product_id)})/UpdateAttributes"),
                      json_body={"Value": {"Attributes": attributes}})

    def set_price(self, sku, amount, *, kinds=("retail",)):
        """The prices flow's capability: these price fields of the SKU's product (RetailPrice by default)
        set to `amount`."""
        prices = [c.Price(sku=sku, price=c.Money(amount, ""), kind=kind) for kind in kinds]
        self.update_prices(self.product_id(sku), prices)

    def update_prices(self, product_id, prices):
        self.call("PATCH", self.url(f"Products({int(product_id)})"), json_body=parsers.price_body(prices))

    def adjust(self, line, *, order_id=None, order_item_id=None, reason="CustomerReturnedItem",
               seller_adjustment_id=""):
        """A refund or cancellation, on a whole order or one item."""
        path = f"OrderItems({int(order_item_id)})/Adjust" if order_item_id else f"Orders({int(order_id)})/Adjust"
        self.call("POST", self.url(path), json_body=parsers.adjustment_body(line, reason, seller_adjustment_id))

    stock_by_distribution_center = True  # the inventory flow's rules map TIMS locations to DCs

    def publish_quantities(self, updates) -> dict:
        """The inventory flow's call: [(sku, {distribution center id as text: quantity})]; see set_quantities."""
        return self.set_quantities([(sku, {int(dc): q for dc, q in quantities.items()}) for sku, quantities in updates])

    def read_quantities(self, skus) -> tuple[dict[str, dict], dict]:
        """({sku: {distribution center id as text: AvailableQuantity}}, {sku: NotFound}) for reconciliation: the
        products by `Sku eq` terms with $expand=DCQuantities, as many per call as fit."""
        wanted = list(dict.fromkeys(sku for sku in skus if isinstance(sku, str) and sku))
        shows = {}
        for chunk in self._sku_filter_chunks(wanted):
            asked = {sku.lower(): sku for sku in chunk} | {sku: sku for sku in chunk}
            query = {"$filter": " or ".join(f"Sku eq {parsers.odata_string(sku)}" for sku in chunk),
                     "$select": "ID,Sku", "$expand": "DCQuantities"}
            for page in self.pages("Products", query):
                for row in page:
                    answered = str(row.get("Sku") or "")
                    sku = asked.get(answered) or asked.get(answered.lower())
                    if sku is None:
                        continue
                    if isinstance(row.get("ID"), int):
                        _product_ids.set((self.connection.pk, sku), row["ID"])
                    shows[sku] = {str(dc.get("DistributionCenterID")): int(dc.get("AvailableQuantity") or 0)
                                  for dc in row.get("DCQuantities") or [] if isinstance(dc, dict)}
        return shows, {sku: self._unknown_sku(sku) for sku in wanted if sku not in shows}

    def set_quantities(self, updates, *, update_type="Absolute") -> dict:
        """Set quantities of many SKUs: `updates` is [(sku, {dc_id: quantity})]; answers {sku: None (done) or the
        exception}. SKUs are resolved with product_ids(), then one UpdateQuantity per SKU (all its DCs in one
        body) goes through $batch, 100 parts a call, retrying only parts that failed transiently (not for
        Relative, where a retry after a lost answer would add twice). An unknown SKU is NotFound, a value
        ChannelAdvisor or this check refuses is ValidationFailed; a negative quantity is never sent."""
        if update_type not in QUANTITY_UPDATE_TYPES:
            raise ValueError(f"update_type must be one of {', '.join(QUANTITY_UPDATE_TYPES)}, not {update_type!r}.")
        outcomes, wanted = {}, {}
        for sku, quantities in updates:
            problem = self._quantity_problem(sku, quantities, update_type)
            if problem is not None:
                outcomes[sku] = problem
                wanted.pop(sku, None)
                continue
            if sku in outcomes:
                continue  # an earlier entry for this SKU was refused: the SKU stays refused
            merged = wanted.setdefault(sku, {})
            for dc_id, quantity in quantities.items():
                merged[int(dc_id)] = merged.get(int(dc_id), 0) + quantity if update_type == "Relative" else quantity
        product_ids = self.product_ids(wanted) if wanted else {}
        parts = {}
        for sku, quantities in wanted.items():
            if sku not in product_ids:
                outcomes[sku] = self._unknown_sku(sku)
                continue
            body = {"Value": {"UpdateType": update_type, "Updates": [
                {"DistributionCenterID": dc_id, "Quantity": quantity} for dc_id, quantity in quantities.items()]}}
            parts[sku] = odata_batch.BatchPart(
                "POST", self.url(f"Products({product_ids[sku]})/UpdateQuantity"), body)
        retries = 0 if update_type == "Relative" else BATCH_RETRIES
        skus = list(parts)
        for start in range(0, len(skus), odata_batch.MAX_PARTS):
            chunk = skus[start:start + odata_batch.MAX_PARTS]
            for sku, result in zip(chunk, self.batch([parts[sku] for sku in chunk], retries=retries), strict=True):
                outcomes[sku] = self._quantity_outcome(sku, result)
        return outcomes

    def _quantity_problem(self, sku, quantities, update_type):
        """A ValidationFailed for an entry that must not be sent, else None."""
        if not isinstance(sku, str) or not sku.strip():
            return self._refused(FieldError("Sku", "required", f"“{sku}” is not a SKU"))
        if not isinstance(quantities, dict) or not quantities:
            return self._refused(FieldError(f"{sku}.Quantities", "required",
                                            f"SKU “{sku}” needs at least one distribution center and quantity"))
        problems = []
        for dc_id, quantity in quantities.items():
            if isinstance(dc_id, bool) or not isinstance(dc_id, int) or not 0 <= dc_id <= MAX_INT32:
                problems.append(FieldError(f"{sku}.DistributionCenterID", "invalid_distribution_center",
                                           f"{dc_id!r} is not a distribution center ID"))
            elif isinstance(quantity, bool) or not isinstance(quantity, int) or abs(quantity) > MAX_INT32:
                problems.append(FieldError(f"{sku}[{dc_id}].Quantity", "invalid_quantity",
                                           f"{quantity!r} is not a whole number of units"))
            elif quantity < 0 and update_type != "Relative":
                problems.append(FieldError(f"{sku}[{dc_id}].Quantity", "negative_quantity",
                                           f"{quantity} units is negative; ChannelAdvisor is never sent one"))
        return self._refused(*problems) if problems else None

    def _unknown_sku(self, sku):
        return NotFound(f"ChannelAdvisor has no product with SKU “{sku}”; create it or fix the SKU mapping.",
                        system=self.system, status=404, code=errors.UNKNOWN_SKU)

    def _quantity_outcome(self, sku, result):
        if result.ok:
            return None
        if result.error is not None:
            return result.error  # the $batch call carrying this part failed as a whole
        message = self._part_message(result) or f"answer {result.status}"
        if result.status == 404:
            _product_ids.discard((self.connection.pk, sku))  # deleted since the lookup: look it up afresh next time
            return self._unknown_sku(sku)
        if result.status in (400, 422):
            return ValidationFailed(f"ChannelAdvisor refused the quantity of SKU “{sku}”: {message}",
                                    status=result.status, system=self.system, response_excerpt=result.body[:500],
                                    fields=[FieldError(f"{sku}.Quantity", "invalid_quantity", message)])
        if result.retryable or result.status == 0:
            return TransientError(f"ChannelAdvisor could not update SKU “{sku}” now ({message}); it will be retried.",
                                  status=result.status or None, system=self.system,
                                  retry_after=odata_batch.retry_after(result), response_excerpt=result.body[:500])
        return errors.PermanentError(f"ChannelAdvisor answered {result.status} for SKU “{sku}”: {message}",
                                     status=result.status, system=self.system, response_excerpt=result.body[:500])

    @staticmethod
    def part_message(result):
        """What a $batch part's answer says, in ChannelAdvisor's words."""
        return ChannelAdvisorClient._part_message(result)

    @staticmethod
    def _part_message(result):
        try:
            body = json.loads(result.body)
        except ValueError:
            return result.body[:200].strip()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return str(error.get("message") or error.get("code") or "")
        return str(body.get("Message", "")) if isinstance(body, dict) else ""

    def batch(self, parts: list[odata_batch.BatchPart], *, retries=BATCH_RETRIES) -> list[odata_batch.BatchResult]:
        """Send parts in $batch calls of up to 100; retry (`retries` rounds) only the parts that failed
        transiently. A $batch call that fails transiently as a whole counts as a transient failure of each of its
        parts (retried alike; after the last round its result has status 0 and `error` set), so the answers
        of the other calls are kept."""
        if any(part.url.rstrip("/").endswith("/Export") for part in parts):
            raise ValueError("ChannelAdvisor does not accept Export inside $batch; call export() for each order.")
        final = {}
        pending = list(parts)
        for attempt in range(retries + 1):
            retry = []
            for start in range(0, len(pending), odata_batch.MAX_PARTS):
                chunk = pending[start:start + odata_batch.MAX_PARTS]
                for part in chunk:
                    part.content_id = ""
                content_type, body = odata_batch.build(chunk)
                try:
                    response = self.call("POST", self.url("$batch"), data=body,
                                         headers={"Content-Type": content_type})
                except TransientError as exc:
                    for part in chunk:
                        final[id(part)] = odata_batch.BatchResult(part, 0, str(exc), error=exc)
                    if not isinstance(exc, errors.CircuitOpen):  # an open circuit makes no call: do not loop
                        retry.extend(chunk)
                    continue
                for result in odata_batch.parse(response.headers.get("Content-Type", ""), response.content, chunk):
                    final[id(result.part)] = result
                    if result.retryable or result.status == 0:
                        retry.append(result.part)
            if not retry or attempt == retries:
                break
            pending = retry
        return [final[id(part)] for part in parts]

    def quantity_part(self, product_id, quantity, dc_id=None):
        return odata_batch.BatchPart("POST", self.url(f"Products({int(product_id)})/UpdateQuantity"),
                                     self.quantity_body(quantity, dc_id))

    def price_part(self, product_id, prices):
        return odata_batch.BatchPart("PATCH", self.url(f"Products({int(product_id)})"), parsers.price_body(prices))
