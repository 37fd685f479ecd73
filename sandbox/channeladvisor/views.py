"""HTTP views of the ChannelAdvisor sandbox. Each v1 view is wrapped by `api`: bearer token → rate limit →
concurrency slot → sandbox.core.endpoint (faults, call counts) → the handler. Handlers only read the request,
call odata/actions, and shape the answer."""

import functools
import json
import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt

from sandbox import core, corruption
from sandbox.channeladvisor import actions, auth, limits, odata
from sandbox.channeladvisor import models as m
from sandbox.channeladvisor import resources as r
from sandbox.channeladvisor.actions import Invalid
from sandbox.channeladvisor.odata import ODataError

SYSTEM = "channeladvisor"
JSON_TYPE = "application/json; odata.metadata=minimal; charset=utf-8"
DENIED = "Authorization has been denied for this request."


# --- answers ---

def json_response(data, status=200):
    return HttpResponse(json.dumps(data, ensure_ascii=False), status=status, content_type=JSON_TYPE)


def odata_error(status, message, code=""):
    return json_response({"error": {"code": code, "message": message}}, status)


def aspnet_error(status, message):
    return json_response({"Message": message}, status)


def no_content():
    return HttpResponse(status=204)


def fault_response(status, message, retry_after):
    return odata_error(status, message, str(status))


def too_many(exc):
    response = odata_error(429, exc.message, "429")
    response["Retry-After"] = str(exc.retry_after)
    return response


class Reply(Exception):
    """Stop a handler with this response (404s and the like)."""

    def __init__(self, response):
        super().__init__(response.status_code)
        self.response = response


@dataclass
class Caller:
    application: m.Application
    config: m.Config
    in_batch: bool = False


# --- the wrapper every v1 endpoint goes through ---

def answers_errors(handler):
    @functools.wraps(handler)
    def wrapped(request, sandbox, **kwargs):
        try:
            return handler(request, sandbox, **kwargs)
        except Reply as reply:
            return reply.response
        except (ODataError, Invalid) as exc:
            return odata_error(400, str(exc))

    return wrapped


def method_not_allowed(request):
    return aspnet_error(405, f"The requested resource does not support http method '{request.method}'.")


def api(pattern, methods):
    """Make `handler(request, sandbox, **kwargs)` a v1 endpoint; `view.handler` is what $batch calls."""

    def decorate(handler):
        safe_handler = answers_errors(handler)
        with_faults = core.endpoint(SYSTEM, pattern, fault_response=fault_response)(safe_handler)

        @csrf_exempt
        @functools.wraps(handler)
        def view(request, slug, **kwargs):
            sandbox = core.get_sandbox(slug)
            response = guard(request, sandbox, methods)
            if response is None:
                try:
                    limits.count_request(sandbox, request.ca.config)
                    with limits.in_flight(request.ca.application, request.ca.config):
                        return with_faults(request, slug, **kwargs)
                except limits.Limited as exc:
                    response = too_many(exc)
            core.record_call(sandbox, SYSTEM, request.method, pattern, response.status_code, 0)
            return response

        view.handler = safe_handler
        view.with_faults = with_faults  # what $batch runs for each part: faults and call counting, no auth
        view.methods = methods
        view.pattern = pattern
        return view

    return decorate


def guard(request, sandbox, methods):
    """None when the request may go on (its caller set on request.ca), else the refusal."""
    if request.method not in methods:
        return method_not_allowed(request)
    application = auth.bearer_application(sandbox, request)
    if application is None:
        response = aspnet_error(401, DENIED)
        response["WWW-Authenticate"] = "Bearer"
        return response
    request.ca = Caller(application, auth.config_for(sandbox))
    return None


# --- request helpers ---

def read_json(request):
    try:
        raw = request.body
    except RequestDataTooBig:
        raise Invalid("The request body is too large.") from None
    if not raw.strip():
        raise Invalid("The request body is empty; a JSON object is expected.")
    try:
        data = json.loads(raw.decode("utf-8"))
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # a lone surrogate ("\\ud800") cannot be stored
    except UnicodeEncodeError:
        raise Invalid("The request body is not valid JSON: it contains a lone surrogate (such as \\ud800), "
                      "which is not a Unicode character.") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Invalid(f"The request body is not valid JSON: {str(exc)[:200]}") from None
    return data


def parse_key(key):
    # ASCII digits only: int() also takes " 7", "1_0" and other scripts' digits, which OData keys are not.
    value = int(key) if re.fullmatch(r"[0-9]{1,19}", key) else 0
    if not 0 < value < 2**63:
        raise Reply(odata_error(400, f"The key value '{key[:40]}' is not valid for an ID."))
    return value


def get_or_404(queryset, key, name):
    row = queryset.filter(pk=parse_key(key)).first()
    if row is None:
        raise Reply(odata_error(404, f"No {name} with ID {key} was found."))
    return row


def v1_root(request):
    path = request.path
    return request.build_absolute_uri(path[: path.index("/v1/") + 4])


def context_url(request, entity_set, select=None):
    suffix = f"({','.join(select)})" if select else ""
    return f"{v1_root(request)}$metadata#{entity_set}{suffix}"


def entity_response(request, entity_set, data, status=200):
    return json_response({"@odata.context": context_url(request, entity_set) + "/$entity", **data}, status)


def list_response(request, queryset, resource, expand_allowed, serialize, prefetch, entity_set):
    """The OData list envelope: one page (at most resource.page_size rows) and a nextLink while more remain."""
    query = odata.parse_query(request.GET, resource, expand_allowed)
    if query.filter is not None:
        queryset = queryset.filter(query.filter)
    page = resource.page_size if query.top is None else min(query.top, resource.page_size)
    rows = list(queryset.order_by(*query.ordering).prefetch_related(*prefetch(query.expand))
                [query.skip: query.skip + page + 1])
    more = len(rows) > page and (query.top is None or query.top > page)
    body = {"@odata.context": context_url(request, entity_set, query.select)}
    if query.count:
        body["@odata.count"] = queryset.count()
    body["value"] = [odata.project(serialize(row, query.expand, r.LIST_EXPAND_CAP), query.select, query.expand)
                     for row in rows[:page]]
    if more:
        params = request.GET.copy()
        params["$skip"] = str(query.skip + page)
        if query.top is not None:
            params["$top"] = str(query.top - page)
        params.pop("access_token", None)  # never echo a secret into a link
        body["@odata.nextLink"] = request.build_absolute_uri(request.path) + "?" + params.urlencode(safe="$(),'/:")
    return json_response(body)


def single_response(request, row, resource, expand_allowed, serialize, entity_set):
    query = odata.parse_query(request.GET, resource, expand_allowed)
    return entity_response(request, entity_set,
                           odata.project(serialize(row, query.expand), query.select, query.expand))


# --- OAuth ---

def oauth_error(error, description, status=400):
    return json_response({"error": error, "error_description": description}, status)


def oauth_fault(status, message, retry_after):
    return oauth_error("temporarily_unavailable", message, status)


@csrf_exempt
@core.endpoint(SYSTEM, "oauth2/token", fault_response=oauth_fault)
def token(request, sandbox):
    if request.method != "POST":
        return method_not_allowed(request)
    application = auth.client_application(sandbox, request)
    if application is None:
        return oauth_error("invalid_client", "The application ID or shared secret is not valid.")
    config = auth.config_for(sandbox)
    try:
        form = request.POST
    except RequestDataTooBig:
        return oauth_error("invalid_request", "The request body is too large.")
    grant = form.get("grant_type", "")
    if grant == "refresh_token":
        if not auth.refresh_token_matches(application, form.get("refresh_token", "")):
            return oauth_error("invalid_grant", "The refresh token is not valid.")
        return json_response({"access_token": auth.issue_access_token(application, config), "token_type": "bearer",
                              "expires_in": config.access_token_seconds})
    if grant == "authorization_code":
        if not auth.redeem_code(application, form.get("code", ""), form.get("redirect_uri", "")):
            return oauth_error("invalid_grant", "The authorization code is not valid, was used, or has expired.")
        return json_response({"access_token": auth.issue_access_token(application, config), "token_type": "bearer",
                              "expires_in": config.access_token_seconds,
                              "refresh_token": auth.new_refresh_token(application)})
    return oauth_error("unsupported_grant_type", "grant_type must be refresh_token or authorization_code.")


SCOPE_WORDS = {"orders": "orders", "inventory": "inventory (products and quantities)",
               "orders.readonly": "orders (read only)", "inventory.readonly": "inventory (read only)"}
CONSENT_SALT = "sandbox.channeladvisor.consent"
CONSENT_MAX_AGE = 15 * 60
AUTHORIZE_PARAMS = ("client_id", "response_type", "access_type", "scope", "redirect_uri", "state")


def authorize_page(request, status, title, context):
    from django.shortcuts import render

    return render(request, "sandbox_channeladvisor/authorize.html", {"title": title, **context}, status=status)


def redirect_back(redirect_uri, answer):
    parts = urlsplit(redirect_uri)
    query = "&".join(filter(None, [parts.query, urlencode(answer)]))
    return HttpResponseRedirect(urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")))


@csrf_exempt
@core.endpoint(SYSTEM, "oauth2/authorize", fault_response=oauth_fault)
def authorize(request, sandbox):
    """The consent ("grant") page of the authorization-code flow, GET or POST as ChannelAdvisor documents it.

    The request is checked before anything is shown: an unknown client_id or a redirect_uri that is not registered
    for the application is refused on the page itself (never redirected, so the page cannot be used to send users
    elsewhere). Then the sandbox account's user sees what the application asks for and answers Allow or Deny;
    both go back to the redirect_uri, with ?code=&state= or ?error=access_denied&state=."""
    from django.core import signing

    if request.method not in ("GET", "POST"):
        return method_not_allowed(request)
    data = request.POST if request.method == "POST" else request.GET
    params = {name: data.get(name, "") for name in AUTHORIZE_PARAMS}
    application = m.Application.objects.filter(sandbox=sandbox, application_id=params["client_id"]).first()
    if application is None:
        return authorize_page(request, 400, "Unknown application", {
            "problem": "No ChannelAdvisor application has this client_id (the application ID). Check the ID "
                       "the developer console shows for the application."})
    redirect_uri = params["redirect_uri"]
    if redirect_uri not in application.registered_redirect_uris():
        registered = application.registered_redirect_uris()
        return authorize_page(request, 400, "Redirect URI not registered", {
            "application": application,
            "problem": (f"The redirect_uri “{redirect_uri[:300]}” is not registered for this application. "
                        + ("Registered: " + ", ".join(registered) + "." if registered else
                           "The application has no redirect URI yet; add it in the developer console (the "
                           "sandbox's admin: ChannelAdvisor applications)."))})
    echo = {"state": params["state"]} if params["state"] else {}
    if (params["response_type"] or "code") != "code":
        return redirect_back(redirect_uri, {"error": "unsupported_response_type",
                                            "error_description": "Only response_type=code is supported.", **echo})
    decision = data.get("decision", "") if request.method == "POST" else ""
    if decision:
        try:
            signed = signing.loads(data.get("consent", ""), salt=CONSENT_SALT, max_age=CONSENT_MAX_AGE)
        except signing.BadSignature:
            signed = None
        if signed != {**params, "sandbox": sandbox.slug}:
            return authorize_page(request, 400, "This page has expired", {
                "application": application,
                "problem": "The consent form was changed or is older than 15 minutes. Go back to the application "
                           "and start the connection again."})
        if decision != "allow":
            return redirect_back(redirect_uri, {"error": "access_denied",
                                                "error_description": "The user denied access.", **echo})
        return redirect_back(redirect_uri, {"code": auth.new_authorization_code(application, redirect_uri), **echo})
    scopes = [SCOPE_WORDS.get(word, word) for word in params["scope"].split()] or ["orders", "inventory"]
    config = auth.config_for(sandbox)
    return authorize_page(request, 200, "Authorize application", {
        "application": application, "config": config, "scopes": scopes, "params": params,
        "offline": params["access_type"] == "offline",
        "consent": signing.dumps({**params, "sandbox": sandbox.slug}, salt=CONSENT_SALT)})


# --- Orders ---

def orders_of(sandbox):
    return m.Order.objects.filter(sandbox=sandbox)


def order_serializer(sandbox):
    """r.order_json, serving the raw values `sandbox corrupt` set for some orders' fields."""
    changes = corruption.overrides(sandbox, SYSTEM)
    if not changes:
        return r.order_json

    def serialize(order, expand=None, cap=None):
        return corruption.apply(r.order_json(order, expand, cap), changes.get(order.id))

    return serialize


@api("v1/Orders", ["GET", "POST"])
def orders(request, sandbox):
    if request.method == "POST":
        order = actions.create_order(sandbox, request.ca.config, read_json(request))
        return entity_response(request, "Orders", order_serializer(sandbox)(order, {"Items": {}}), status=201)
    exported = odata.parse_bool(request.GET.get("exported", "false"), "exported")
    mine = m.OrderExport.objects.filter(application=request.ca.application).values("order_id")
    queryset = orders_of(sandbox)
    queryset = queryset.filter(pk__in=mine) if exported else queryset.exclude(pk__in=mine)
    return list_response(request, queryset, r.ORDER_RESOURCE, r.ORDER_EXPAND, order_serializer(sandbox),
                         r.order_prefetches, "Orders")


@api("v1/Orders(key)", ["GET"])
def order(request, sandbox, key):
    row = get_or_404(orders_of(sandbox), key, "order")
    return single_response(request, row, r.ORDER_RESOURCE, r.ORDER_EXPAND, order_serializer(sandbox), "Orders")


@api("v1/Orders(key)/collection", ["GET"])
def order_collection(request, sandbox, key, collection):
    row = get_or_404(orders_of(sandbox), key, "order")
    profile_id = row.profile_id
    if collection == "Items":
        return list_response(request, row.items.all(), r.ORDER_ITEM_RESOURCE, r.ORDER_ITEM_EXPAND,
                             lambda item, expand, cap: r.order_item_json(item, profile_id, expand, cap),
                             lambda expand: [], "Orders/Items")
    if collection == "Fulfillments":
        return list_response(request, row.fulfillments.all(), r.FULFILLMENT_RESOURCE, r.FULFILLMENT_EXPAND,
                             lambda item, expand, cap: r.fulfillment_json(item, profile_id, expand, cap),
                             lambda expand: [], "Fulfillments")
    return list_response(request, row.adjustments.all(), r.ADJUSTMENT_RESOURCE, {},
                         lambda item, expand, cap: r.adjustment_json(item, profile_id), lambda expand: [],
                         "Orders/Adjustments")


@api("v1/Orders(key)/Export", ["POST", "DELETE"])
def order_export(request, sandbox, key):
    if request.ca.in_batch:
        return odata_error(400, "Export is not supported in a $batch request; call Orders(ID)/Export directly.")
    row = get_or_404(orders_of(sandbox), key, "order")
    actions.set_exported(row, request.ca.application, request.method == "POST")
    return no_content()


@api("v1/Orders(key)/Ship", ["POST"])
def order_ship(request, sandbox, key):
    row = get_or_404(orders_of(sandbox), key, "order")
    actions.ship_order(row, read_json(request))
    return no_content()


@api("v1/Orders(key)/Adjust", ["POST"])
def order_adjust(request, sandbox, key):
    row = get_or_404(orders_of(sandbox), key, "order")
    actions.adjust_order(row, read_json(request))
    return no_content()


@api("v1/OrderItems(key)", ["GET"])
def order_item(request, sandbox, key):
    item = get_or_404(m.OrderItem.objects.filter(order__sandbox=sandbox), key, "order item")
    return single_response(request, item, r.ORDER_ITEM_RESOURCE, r.ORDER_ITEM_EXPAND,
                           lambda row, expand, cap=None: r.order_item_json(row, item.order.profile_id, expand),
                           "OrderItems")


@api("v1/OrderItems(key)/Adjust", ["POST"])
def order_item_adjust(request, sandbox, key):
    item = get_or_404(m.OrderItem.objects.filter(order__sandbox=sandbox), key, "order item")
    actions.adjust_item(item, read_json(request))
    return no_content()


# --- Fulfillments ---

def fulfillments_of(sandbox):
    return m.Fulfillment.objects.filter(order__sandbox=sandbox).select_related("order")


def serialize_fulfillment(row, expand, cap=None):
    return r.fulfillment_json(row, row.order.profile_id, expand, cap)


@api("v1/Fulfillments", ["GET", "POST"])
def fulfillments(request, sandbox):
    if request.method == "POST":
        row = actions.create_fulfillment(sandbox, request.ca.config, read_json(request))
        response = entity_response(request, "Fulfillments", r.fulfillment_json(row, row.order.profile_id), status=201)
        response["Location"] = f"{v1_root(request)}Fulfillments({row.id})"
        return response
    return list_response(request, fulfillments_of(sandbox), r.FULFILLMENT_RESOURCE, r.FULFILLMENT_EXPAND,
                         serialize_fulfillment, lambda expand: ["items__order_item"] if expand else [],
                         "Fulfillments")


@api("v1/Fulfillments(key)", ["GET", "PATCH", "PUT"])
def fulfillment(request, sandbox, key):
    row = get_or_404(fulfillments_of(sandbox), key, "fulfillment")
    if request.method == "GET":
        return single_response(request, row, r.FULFILLMENT_RESOURCE, r.FULFILLMENT_EXPAND, serialize_fulfillment,
                               "Fulfillments")
    # PUT and PATCH both update the properties sent, as ChannelAdvisor documents them side by side.
    actions.update_fulfillment(row, read_json(request))
    return no_content()


@api("v1/Fulfillments(key)/Move", ["POST"])
def fulfillment_move(request, sandbox, key):
    row = get_or_404(fulfillments_of(sandbox), key, "fulfillment")
    rows = list(row.items.select_related("fulfillment__order"))
    if not rows:
        return odata_error(400, f"Fulfillment {row.id} holds no items to move.")
    actions.move_fulfillment_items(rows, read_json(request))
    return no_content()


@api("v1/FulfillmentItems(key)/Move", ["POST"])
def fulfillment_item_move(request, sandbox, key):
    item = get_or_404(m.FulfillmentItem.objects.filter(fulfillment__order__sandbox=sandbox)
                      .select_related("fulfillment__order"), key, "fulfillment item")
    actions.move_fulfillment_items([item], read_json(request))
    return no_content()


# --- Products ---

def products_of(sandbox):
    return m.Product.objects.filter(sandbox=sandbox)


@api("v1/Products", ["GET", "POST"])
def products(request, sandbox):
    if request.method == "POST":
        product = actions.create_product(sandbox, request.ca.config, read_json(request))
        response = entity_response(request, "Products", r.product_json(product), status=201)
        response["Location"] = f"{v1_root(request)}Products({product.id})"
        return response
    return list_response(request, products_of(sandbox), r.PRODUCT_RESOURCE, r.PRODUCT_EXPAND, r.product_json,
                         r.product_prefetches, "Products")


@api("v1/Products(key)", ["GET", "PUT", "PATCH", "DELETE"])
def product(request, sandbox, key):
    row = get_or_404(products_of(sandbox), key, "product")
    if request.method == "GET":
        return single_response(request, row, r.PRODUCT_RESOURCE, r.PRODUCT_EXPAND, r.product_json, "Products")
    if request.method == "DELETE":
        actions.delete_product(row)
        return no_content()
    # PUT and PATCH both update the properties sent (ChannelAdvisor merges a PUT too).
    actions.update_product(row, read_json(request))
    return no_content()


RELATED = {  # collection -> (rows of a product, Resource, serializer, key property, entity set for the context)
    "Attributes": (lambda p: p.attribute_values.all(), r.ATTRIBUTE_RESOURCE, r.attribute_json, "Name",
                   "Products/Attributes"),
    "Images": (lambda p: p.image_rows.all(), r.IMAGE_RESOURCE, r.image_json, "PlacementName", "Products/Images"),
    "Labels": (lambda p: p.label_rows.all(), r.LABEL_RESOURCE, r.label_json, "Name", "Products/Labels"),
}
MEMBER_KEY_PART = re.compile(r"\s*([A-Za-z]+)\s*=\s*('(?:[^']|'')*'|[0-9]+)\s*(?:,|$)")


def member_name(raw, product, key_property):
    """The name in Attributes('Color'), or in the $batch form Attributes(ProductID=12,Name='Color')."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == "'" and "=" not in raw.split("'")[0]:
        return raw[1:-1].replace("''", "'")
    values, position = {}, 0
    while position < len(raw):
        match = MEMBER_KEY_PART.match(raw, position)
        if match is None or match.end() == position:
            raise Reply(odata_error(400, f"The key '{raw[:100]}' is not valid: use ('{key_property}') or "
                                         f"(ProductID={product.id},{key_property}='...')."))
        values[match.group(1)] = match.group(2)
        position = match.end()
    product_id = values.pop("ProductID", None)
    name = values.pop(key_property, None)
    if values or name is None or not name.startswith("'"):
        raise Reply(odata_error(400, f"The key '{raw[:100]}' must name the {key_property} as a quoted string."))
    if product_id is not None and int(product_id) != product.id:
        raise Reply(odata_error(400, f"The key's ProductID {product_id} is not the product {product.id} of the URL."))
    return name[1:-1].replace("''", "'")


@api("v1/Products(key)/collection", ["GET", "POST"])
def product_collection(request, sandbox, key, collection):
    row = get_or_404(products_of(sandbox), key, "product")
    if collection == "Children":
        if request.method != "GET":
            return method_not_allowed(request)
        return list_response(request, products_of(sandbox).filter(parent_product_id=row.id), r.CHILD_RESOURCE,
                             r.CHILD_EXPAND, lambda child, expand, cap: r.child_json(child, expand), lambda expand: [],
                             "Products/Children")
    if collection == "BundleComponents":
        if request.method != "GET":
            return odata_error(400, "Bundle components are not emulated by the sandbox.")
        return json_response({"@odata.context": context_url(request, "Products/BundleComponents"), "value": []})
    rows_of, resource, serialize, key_property, entity_set = RELATED[collection]
    if request.method == "POST":
        body = read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get(key_property), str):
            return odata_error(400, f"'{key_property}' is required.")
        name = body[key_property]
        if collection == "Attributes":
            actions.set_attribute(row, name, {"Value": body.get("Value")})
        elif collection == "Images":
            actions.set_image(row, name, {k: v for k, v in body.items() if k != key_property})
        else:
            actions.set_label(row, name)
        created = rows_of(row).get(**{resource.fields[key_property].column: name})
        return entity_response(request, entity_set, serialize(created, row), status=201)
    return list_response(request, rows_of(row), resource, {}, lambda item, expand, cap: serialize(item, row),
                         lambda expand: [], entity_set)


@api("v1/Products(key)/collection(member)", ["GET", "PUT", "PATCH", "POST", "DELETE"])
def product_member(request, sandbox, key, collection, member):
    row = get_or_404(products_of(sandbox), key, "product")
    rows_of, resource, serialize, key_property, entity_set = RELATED[collection]
    name = member_name(member, row, key_property)
    rows = rows_of(row).filter(**{resource.fields[key_property].column: name})
    missing = odata_error(404, f"The product {row.id} has no {collection[:-1].lower()} named '{name[:100]}'.")
    if request.method == "GET":
        found = rows.first()
        return missing if found is None else entity_response(request, entity_set, serialize(found, row))
    if request.method == "DELETE":
        return no_content() if actions.remove_related(row, rows) else missing
    if collection == "Attributes":
        actions.set_attribute(row, name, read_json(request))
    elif collection == "Images":
        actions.set_image(row, name, read_json(request))
    else:
        actions.set_label(row, name)  # a label has nothing but its name: the body, if any, is not read
    return no_content()


@api("v1/Products(key)/UpdateAttributes", ["POST"])
def product_update_attributes(request, sandbox, key):
    row = get_or_404(products_of(sandbox), key, "product")
    actions.update_attributes(row, read_json(request))
    return no_content()


@api("v1/ProductLabels", ["GET"])
def product_labels(request, sandbox):
    rows = m.ProductLabel.objects.filter(product__sandbox=sandbox).select_related("product")
    return list_response(request, rows, r.LABEL_RESOURCE, {},
                         lambda item, expand, cap: r.label_json(item, item.product), lambda expand: [],
                         "ProductLabels")


@api("v1/Products(key)/UpdateQuantity", ["POST"])
def product_quantity(request, sandbox, key):
    row = get_or_404(products_of(sandbox), key, "product")
    actions.update_quantity(row, read_json(request))
    return no_content()


@api("v1/Products(key)/DCQuantities", ["GET"])
def product_dc_quantities(request, sandbox, key):
    row = get_or_404(products_of(sandbox), key, "product")
    return list_response(request, row.dc_quantities.all(), r.DC_QUANTITY_RESOURCE, {},
                         lambda dc, expand, cap: r.dc_quantity_json(dc, row), lambda expand: [],
                         "Products/DCQuantities")


# --- account: profiles and distribution centers ---

@api("v1/Profiles", ["GET"])
def profiles(request, sandbox):
    return list_response(request, m.Config.objects.filter(sandbox=sandbox), r.PROFILE_RESOURCE, {},
                         lambda row, expand, cap: r.profile_json(row), lambda expand: [], "Profiles")


@api("v1/DistributionCenters(key)", ["GET"])
def distribution_center(request, sandbox, key):
    if not re.fullmatch(r"[0-9]{1,9}", key):
        return odata_error(400, f"The key value '{key[:40]}' is not valid for an ID.")
    row = m.DistributionCenter.objects.filter(sandbox=sandbox, profile_id=request.ca.config.profile_id,
                                              dc_id=int(key)).first()
    if row is None:
        return odata_error(404, f"No distribution center with ID {key} was found.")
    return single_response(request, row, r.DISTRIBUTION_CENTER_RESOURCE, {},
                           lambda dc, expand, cap=None: r.distribution_center_json(dc), "DistributionCenters")


@api("v1/DistributionCenters", ["GET"])
def distribution_centers(request, sandbox):
    rows = m.DistributionCenter.objects.filter(sandbox=sandbox, profile_id=request.ca.config.profile_id)
    return list_response(request, rows, r.DISTRIBUTION_CENTER_RESOURCE, {},
                         lambda row, expand, cap: r.distribution_center_json(row), lambda expand: [],
                         "DistributionCenters")


@api("v1/$batch", ["POST"])
def batch(request, sandbox):
    from sandbox.channeladvisor import batch as batch_module  # it routes through urls, which import this module

    return batch_module.run(request, sandbox)


@csrf_exempt
def no_such_resource(request, slug):
    core.get_sandbox(slug)
    uri = request.build_absolute_uri()
    return aspnet_error(404, f"No HTTP resource was found that matches the request URI '{uri}'.")
