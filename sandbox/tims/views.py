"""TIMS API views: parse, validate (validation.py), act (operations.py), serialize (serializers.py)."""

import base64
import binascii
import datetime
import re
import secrets
from datetime import timedelta

from django.core.exceptions import RequestDataTooBig
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date

from sandbox import core
from sandbox.tims import operations, serializers, validation
from sandbox.tims.api import (
    ApiError,
    error_response,
    json_response,
    paginate,
    query_int,
    read_json,
    token_digest,
)
from sandbox.tims.models import (
    AccessToken,
    Customer,
    CustomFieldDefinition,
    Event,
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
)
from sandbox.tims.openapi import openapi_document

FEED_PAGE_SIZE = 100


def _refused(error):
    problems = getattr(error, "problems", None)
    if problems:  # several line problems at once, like validation reports them
        raise validation.ValidationFailed([{"field": field, "code": code, "message": message}
                                           for field, code, message in problems], status=error.status)
    raise ApiError(error.status, error.code, error.message, error.field)


def _query_date(request, name):
    """A YYYY-MM-DD query parameter, or None; anything else is a 400 naming the parameter."""
    raw = request.GET.get(name)
    if not raw:
        return None
    try:
        parsed = parse_date(raw)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ApiError(400, "invalid_date", f"{name} must be a date such as 2026-01-31.", field=name)
    return parsed


def _between(request, rows, field, moment=False, prefix="date"):
    """Rows whose `field` falls within ?date_from= and ?date_to= (both inclusive, UTC days); `moment` when the
    field is a timestamp rather than a date."""
    start, end = _query_date(request, f"{prefix}_from"), _query_date(request, f"{prefix}_to")
    if start:
        rows = rows.filter(**{f"{field}__gte": _day_start(start) if moment else start})
    if end:
        rows = rows.filter(**{f"{field}__lt": _day_start(end + timedelta(days=1))} if moment else
                           {f"{field}__lte": end})
    return rows


def _day_start(day):
    return datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)


def _updated_since(request):
    raw = request.GET.get("updated_since")
    if not raw:
        return None
    parsed = validation.parse_timestamp(raw.replace(" ", "+"))  # a '+' in a query string arrives as a space
    if parsed is None:
        raise ApiError(400, "invalid_datetime", "updated_since must be an ISO 8601 timestamp with a zone, "
                       "such as 2026-01-31T12:00:00Z.", field="updated_since")
    return parsed


def _check_version(request, row):
    """Optimistic concurrency: If-Match names the Version the client read; a stale one gets 412."""
    expected = validation.if_match_version(request.headers.get("If-Match"))
    if expected is not None and expected != row.version:
        raise ApiError(412, "version_mismatch", f"The record is at Version {row.version}, not {expected}; "
                       "read it again and reapply your change.", field="If-Match")


def _with_etag(data, status=200):
    return json_response(data, status=status, headers={"ETag": f'"{data["Version"]}"'})


# --- OAuth ---

def oauth_token(request, sandbox):
    """Client credentials from the form body or HTTP Basic. Errors carry both the OAuth fields and `errors`."""
    def refuse(status, error, message):
        response = json_response({"error": error, "error_description": message,
                                  "errors": [{"field": None, "code": error, "message": message}]}, status=status)
        if status == 401:
            response["WWW-Authenticate"] = 'Basic realm="tims"'
        return response

    try:
        form = request.POST
    except RequestDataTooBig:
        return refuse(413, "invalid_request", "The request body is too large.")
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, client_secret = base64.b64decode(encoded.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return refuse(401, "invalid_client", "The Basic credentials are malformed.")
    if form.get("grant_type") != "client_credentials":
        return refuse(400, "unsupported_grant_type", "Only grant_type=client_credentials is supported.")
    if not client_id or "\x00" in client_id or not core.secret_matches(sandbox, "tims", "client_secret", client_secret,
                                                identifier=client_id):
        return refuse(401, "invalid_client", "Unknown client_id or wrong client_secret.")
    lifetime = operations.config(sandbox).token_lifetime_seconds
    token = secrets.token_urlsafe(32)
    AccessToken.objects.create(sandbox=sandbox, client_id=client_id, token_hash=token_digest(token),
                               expires_at=timezone.now() + timedelta(seconds=lifetime))
    return json_response({"access_token": token, "token_type": "Bearer", "expires_in": lifetime},
                         headers={"Cache-Control": "no-store"})


def openapi(request, sandbox):
    base = request.build_absolute_uri(f"/sandbox/{sandbox.slug}/tims")
    return json_response(openapi_document(base))


def not_found(request, sandbox, rest=""):
    return error_response(404, "not_found", f"No TIMS endpoint at {request.path}.")


# --- customers ---

def customers(request, sandbox):
    if request.method == "POST":
        clean = validation.clean_customer(sandbox, read_json(request))
        code = clean.pop("code") or operations.free_customer_code(sandbox)
        row = Customer.objects.create(sandbox=sandbox, code=code, **clean)
        return _with_etag(serializers.customer(row), status=201)
    rows = Customer.objects.filter(sandbox=sandbox).order_by("code")
    if request.GET.get("email"):
        rows = rows.filter(email__iexact=request.GET["email"].strip())
    phone = re.sub(r"\D", "", request.GET.get("phone", ""))[-10:]
    if phone:  # the same number however it is written: its last digits, any punctuation between them
        rows = rows.filter(phone__regex=r"\D*".join(phone) + r"\D*$")
    code = re.sub(r"[\s-]", "", request.GET.get("postal_code", ""))
    if code:  # any spacing or dashes ("SW1A 1AA" is "sw1a1aa")
        rows = rows.filter(billing_address__PostalCode__iregex="^" + r"[\s-]*".join(map(re.escape, code)) + "$")
    text = request.GET.get("search", "").strip()
    if text:  # a person looking for a customer: part of the code, name or e-mail, any case
        rows = rows.filter(Q(code__icontains=text) | Q(name__icontains=text) | Q(email__icontains=text))
    return json_response(paginate(request, rows, serializers.customer))


def locations(request, sandbox):
    default = operations.config(sandbox).default_location
    rows = Location.objects.filter(sandbox=sandbox).order_by("code")
    return json_response(paginate(request, rows, lambda row: serializers.location(row, default)))


def customer(request, sandbox, code):
    if request.method == "PATCH":
        data = read_json(request)
        row = Customer.objects.select_for_update().filter(sandbox=sandbox, code=code).first()
        if row is None:
            raise ApiError(404, "not_found", f"No customer “{code}”.")
        _check_version(request, row)
        for attribute, value in validation.clean_customer(sandbox, data, partial=True).items():
            setattr(row, attribute, value)
        row.version += 1
        row.save()
        return _with_etag(serializers.customer(row))
    row = Customer.objects.filter(sandbox=sandbox, code=code).first()
    if row is None:
        raise ApiError(404, "not_found", f"No customer “{code}”.")
    return _with_etag(serializers.customer(row))


# --- items and inventory ---

def items(request, sandbox):
    rows = Item.objects.filter(sandbox=sandbox).order_by("sku")
    if request.GET.get("sku"):
        rows = rows.filter(sku=request.GET["sku"])
    since = _updated_since(request)
    if since:
        rows = rows.filter(updated_at__gte=since).order_by("updated_at", "sku")
    return json_response(paginate(request, rows, serializers.item))


def item(request, sandbox, sku):
    if request.method == "PATCH":
        data = read_json(request)
        row = Item.objects.select_for_update().filter(sandbox=sandbox, sku=sku).first()
        if row is None:
            raise ApiError(404, "not_found", f"No item with SKU “{sku}”.")
        _check_version(request, row)
        for attribute, value in validation.clean_item_patch(sandbox, data).items():
            setattr(row, attribute, value)
        operations.item_changed(row)
        return _with_etag(serializers.item(row))
    row = Item.objects.filter(sandbox=sandbox, sku=sku).first()
    if row is None:
        raise ApiError(404, "not_found", f"No item with SKU “{sku}”.")
    return _with_etag(serializers.item(row))


def inventory_quantity(request, sandbox, sku):
    location_code = request.GET.get("location") or operations.config(sandbox).default_location
    location = Location.objects.filter(sandbox=sandbox, code=location_code).first()
    if location is None:
        raise ApiError(404, "not_found", f"No location “{location_code}”.", field="location")
    item_row = Item.objects.filter(sandbox=sandbox, sku=sku).first()
    if item_row is None:
        raise ApiError(404, "not_found", f"No item with SKU “{sku}”.")
    level = (InventoryLevel.objects.select_related("item", "location").filter(item=item_row, location=location)
             .first() or InventoryLevel(sandbox=sandbox, item=item_row, location=location))
    return json_response(serializers.inventory_level(level))


def _cursor_position(request):
    """Cursors are opaque to clients; here they encode the last feed position seen."""
    raw = request.GET.get("cursor")
    if not raw:
        return 0
    try:
        kind, _, seq = base64.urlsafe_b64decode(raw.encode() + b"==").decode().partition(":")
        if kind != "seq" or not validation.WHOLE_NUMBER.fullmatch(seq):
            raise ValueError
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "invalid_cursor", "The cursor is not one this API returned.", field="cursor") from None


def _cursor(seq):
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _feed(request, rows, serialize):
    position = _cursor_position(request)
    size = query_int(request, "page_size", FEED_PAGE_SIZE, maximum=200)
    page = list(rows.filter(seq__gt=position).order_by("seq")[:size])
    last = page[-1].seq if page else position
    return json_response({"results": [serialize(row) for row in page], "cursor": _cursor(last)})


def inventory_changes(request, sandbox):
    return _feed(request, InventoryChange.objects.filter(sandbox=sandbox), serializers.inventory_change)


def events(request, sandbox):
    rows = Event.objects.filter(sandbox=sandbox)
    if request.GET.get("type"):
        rows = rows.filter(type__in=request.GET["type"].split(","))
    return _feed(request, rows, serializers.event)


def inventory_adjustments(request, sandbox):
    clean = validation.clean_adjustment(sandbox, read_json(request), operations.config(sandbox).default_location)
    try:
        adjustment, level = operations.adjust(sandbox, clean["item"], clean["location"], clean["quantity"],
                                              clean["reason_code"], clean["reference"])
    except operations.ActionRefused as refused:
        _refused(refused)
    return json_response(serializers.adjustment(adjustment, level), status=201)


# --- sales orders ---

def _order_queryset(sandbox):
    return (SalesOrder.objects.filter(sandbox=sandbox).select_related("customer", "location")
            .prefetch_related("lines__item"))


def sales_orders(request, sandbox):
    if request.method == "POST":
        clean = validation.clean_sales_order(sandbox, read_json(request), operations.config(sandbox).default_location)
        order = operations.create_sales_order(sandbox, clean)
        return _with_etag(serializers.sales_order(_order_queryset(sandbox).get(pk=order.pk)), status=201)
    rows = _order_queryset(sandbox).order_by("id")
    if request.GET.get("external_order_id"):
        rows = rows.filter(external_order_id=request.GET["external_order_id"])
    if request.GET.get("customer_id"):
        rows = rows.filter(customer__code=request.GET["customer_id"])
    rows = _between(request, rows, "order_date", moment=True, prefix="order_date")
    return json_response(paginate(request, rows, serializers.sales_order))


def sales_order(request, sandbox, code):
    if request.method == "PATCH":
        data = read_json(request)
        row = SalesOrder.objects.select_for_update().filter(sandbox=sandbox, code=code).first()
        if row is None:
            raise ApiError(404, "not_found", f"No sales order “{code}”.")
        _check_version(request, row)
        clean = validation.clean_sales_order_patch(sandbox, data)
        status = clean.pop("status", None)
        for attribute, value in clean.items():
            setattr(row, attribute, value)
        if status is None:
            operations.touch(row)
        else:  # saves the other changes too, so the status events carry the final Version
            try:
                operations.change_status(row, status)
            except operations.ActionRefused as refused:
                _refused(refused)
    row = _order_queryset(sandbox).filter(code=code).first()
    if row is None:
        raise ApiError(404, "not_found", f"No sales order “{code}”.")
    return _with_etag(serializers.sales_order(row))


# --- shipments, invoices, payments, returns, GL ---

def shipments(request, sandbox):
    rows = Shipment.objects.filter(sandbox=sandbox).select_related("order").order_by("id")
    since = _updated_since(request)
    if since:
        rows = rows.filter(updated_at__gte=since).order_by("updated_at", "id")
    if request.GET.get("sales_order_id"):
        rows = rows.filter(order__code=request.GET["sales_order_id"])
    return json_response(paginate(request, rows, serializers.shipment))


def shipment(request, sandbox, code):
    row = Shipment.objects.filter(sandbox=sandbox, code=code).select_related("order").first()
    if row is None:
        raise ApiError(404, "not_found", f"No shipment “{code}”.")
    return json_response(serializers.shipment(row))


def invoices(request, sandbox):
    if request.method == "POST":
        clean = validation.clean_invoice(sandbox, read_json(request))
        try:
            order = operations.locked_order(sandbox, clean["order"].code)
            row = operations.invoice(order, clean["invoice_date"], shipment=clean["shipment"], lines=clean["lines"])
        except operations.ActionRefused as refused:
            _refused(refused)
        return json_response(serializers.invoice(row), status=201)
    rows = (Invoice.objects.filter(sandbox=sandbox).select_related("order", "customer", "shipment")
            .order_by("id"))
    if request.GET.get("sales_order_id"):
        rows = rows.filter(order__code=request.GET["sales_order_id"])
    if request.GET.get("shipment_id"):
        rows = rows.filter(shipment__code=request.GET["shipment_id"])
    rows = _between(request, rows, "invoice_date")
    return json_response(paginate(request, rows, serializers.invoice))


def payments(request, sandbox):
    if request.method == "POST":
        row = operations.record_payment(sandbox, validation.clean_payment(sandbox, read_json(request)))
        return json_response(serializers.payment(row), status=201)
    rows = Payment.objects.filter(sandbox=sandbox).select_related("invoice__order").order_by("id")
    if request.GET.get("invoice_id"):
        rows = rows.filter(invoice__code=request.GET["invoice_id"])
    if request.GET.get("reference"):
        rows = rows.filter(reference=request.GET["reference"])
    rows = _between(request, rows, "received_at", moment=True)
    return json_response(paginate(request, rows, serializers.payment))


def returns(request, sandbox):
    if request.method == "POST":
        try:
            row = operations.record_return(sandbox, validation.clean_return(sandbox, read_json(request)))
        except operations.ActionRefused as refused:
            _refused(refused)
        return json_response(serializers.return_(row), status=201)
    rows = Return.objects.filter(sandbox=sandbox).select_related("order").order_by("id")
    if request.GET.get("sales_order_id"):
        rows = rows.filter(order__code=request.GET["sales_order_id"])
    if request.GET.get("external_return_id"):
        rows = rows.filter(external_return_id=request.GET["external_return_id"])
    rows = _between(request, rows, "return_date")
    return json_response(paginate(request, rows, serializers.return_))


def return_(request, sandbox, code):
    row = Return.objects.filter(sandbox=sandbox, code=code).select_related("order").first()
    if row is None:
        raise ApiError(404, "not_found", f"No return “{code}”.")
    return json_response(serializers.return_(row))


def gl_accounts(request, sandbox):
    return json_response(paginate(request, operations.chart_of_accounts(sandbox), serializers.gl_account))


def journal_entries(request, sandbox):
    if request.method == "POST":
        accounts = dict(operations.chart_of_accounts(sandbox).values_list("account", "active"))
        clean = validation.clean_journal_entry(read_json(request), accounts)
        row = operations.create_journal_entry(sandbox, clean)
        return json_response(serializers.journal_entry(row), status=201)
    rows = JournalEntry.objects.filter(sandbox=sandbox).order_by("id")
    if request.GET.get("reference"):
        rows = rows.filter(reference=request.GET["reference"])
    rows = _between(request, rows, "date")
    return json_response(paginate(request, rows, serializers.journal_entry))


def custom_fields(request, sandbox):
    entity = request.GET.get("entity")
    if request.method == "POST":
        clean = validation.clean_custom_field(sandbox, read_json(request), entity)
        row = CustomFieldDefinition.objects.create(sandbox=sandbox, **clean)
        return json_response(serializers.custom_field(row), status=201)
    rows = CustomFieldDefinition.objects.filter(sandbox=sandbox).order_by("entity", "name")
    if entity:
        rows = rows.filter(entity=entity)
    return json_response(paginate(request, rows, serializers.custom_field))
