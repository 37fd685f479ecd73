"""The webservice gateway `/api/...`: authentication, format choice, method override, then list / read / schema /
write on a resource. Parsing, rendering and writes live in their own modules; this file only routes."""

import base64
import binascii
import hashlib
import time

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import corruption
from sandbox.models import SandboxCredential, digest
from sandbox.prestashop import payload, query, render, writes
from sandbox.prestashop.errors import ApiError, did_you_mean
from sandbox.prestashop.models import KeyPermission, Language, Shop, model_for
from sandbox.prestashop.resources import RESOURCES, Permissions, allowed_methods

SYSTEM = "prestashop"
REALM = ('Basic realm="Welcome to PrestaShop Webservice, please enter the authentication key as the login. '
         'No password required."')
VALID_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


def wants_json(request):
    """Io-Format header, then Output-Format header, then ?output_format, then ?io_format: the first one set wins."""
    for value in (request.headers.get("Io-Format"), request.headers.get("Output-Format"),
                  request.GET.get("output_format"), request.GET.get("io_format")):
        if value:
            return value.strip().upper() == "JSON"
    return False


def presented_key(request):
    """The key from ?ws_key or the Basic username; None when neither is there."""
    if "ws_key" in request.GET:
        return request.GET["ws_key"].strip()
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[0].strip()


def authenticate(request, sandbox):
    key = presented_key(request)
    if key is None:
        raise ApiError(401, 16, "Please enter the authentication key as the login. No password required",
                       authenticate=True)
    if not key:
        raise ApiError(401, 17, "Authentication key is empty", authenticate=True)
    if len(key) != 32:
        raise ApiError(401, 18, "Invalid authentication key format", authenticate=True)
    key_hash = digest(key)
    credential = SandboxCredential.objects.filter(sandbox=sandbox, system=SYSTEM, kind="ws_key",
                                                  secret_hash=key_hash).order_by("-active").first()
    if credential is None:
        raise ApiError(401, 19, "Authentification key does not exist", authenticate=True)
    if not credential.active:
        raise ApiError(401, 20, "Authentification key is not active", authenticate=True)
    row = KeyPermission.objects.filter(sandbox=sandbox, key_hash=key_hash).first()
    permissions = Permissions(row.grants if row else None)
    if not permissions.resources():
        raise ApiError(401, 21, "No permission for this authentication key", authenticate=True)
    return permissions


def finish(response, started, shop=None):
    response["X-Powered-By"] = "PrestaShop Webservice"
    if shop is not None:
        response["PSWS-Version"] = shop.version
    response["Execution-Time"] = f"{time.monotonic() - started:.3f}"
    response["Content-Sha1"] = hashlib.sha1(response.content).hexdigest()
    return response


def respond(body, as_json, status=200):
    content_type = "application/json" if as_json else "text/xml;charset=utf-8"
    return HttpResponse(body, status=status, content_type=content_type)


def error_response(error, as_json):
    if error.empty_body:
        return HttpResponse(b"", status=error.status, content_type="text/xml;charset=utf-8")
    response = respond(render.errors([(error.code, error.message)], as_json), as_json, error.status)
    if error.authenticate:
        response["WWW-Authenticate"] = REALM
    return response


def fault_response(status, message, retry_after):
    """Faults injected by sandbox.core answer in PrestaShop's (XML) error envelope too."""
    return respond(render.errors([(0, message)], False), False, status)


@csrf_exempt
def api(request, sandbox, resource=None, object_id=None):
    started = time.monotonic()
    as_json = wants_json(request)
    shop = None
    try:
        permissions = authenticate(request, sandbox)
        shop, _ = Shop.objects.get_or_create(sandbox=sandbox)
        method = request.GET.get("ps_method", request.method).upper()
        languages = list(Language.objects.filter(sandbox=sandbox, active=True).order_by("id"))
        ctx = render.Context(request.build_absolute_uri(f"/sandbox/{sandbox.slug}/prestashop/api/"), languages,
                             as_json, version=shop.version)
        if resource == "orders":
            ctx.corrupted = corruption.overrides(sandbox, SYSTEM)
        response = route(request, sandbox, shop, ctx, permissions, method, resource, object_id)
    except ApiError as error:
        response = error_response(error, as_json)
    if request.method == "HEAD":
        response.content = b""
    return finish(response, started, shop)


def route(request, sandbox, shop, ctx, permissions, method, resource_name, object_id):
    if method not in VALID_METHODS or (method == "PATCH" and shop.version.startswith("1.")):
        raise ApiError(405, 23, f"Method {method} is not valid")  # PATCH arrived with PrestaShop 8.0
    if not resource_name:
        if method not in ("GET", "HEAD"):
            raise ApiError(405, 23, f"Method {method} is not valid")
        patch = not shop.version.startswith("1.")
        grants = {name: [m for m in allowed_methods(RESOURCES[name], patch) if permissions.allows(name, m)]
                  for name in permissions.resources()}
        return respond(render.index(ctx, shop.name, grants), ctx.json)
    resource = RESOURCES.get(resource_name)
    if resource is None:
        raise ApiError(400, 27, f'Resource of type "{resource_name}" does not exists.'
                       + did_you_mean(resource_name, RESOURCES))
    if resource_name not in permissions.resources():
        raise ApiError(401, 26, f'Resource of type "{resource_name}" is not allowed with this authentication key')
    if method in resource.forbidden_methods:
        raise ApiError(405, 101, f"Method {method} is not allowed for the resource {resource_name}")
    if not permissions.allows(resource_name, method):
        raise ApiError(405, 25, f"Method {method} is not allowed for the resource {resource_name} with this "
                                "authentication key")
    if method in ("GET", "HEAD"):
        if "schema" in request.GET:
            return schema(request, ctx, resource)
        if object_id is None:
            return list_records(request, sandbox, ctx, resource)
        return read_record(request, sandbox, ctx, resource, object_id)
    if method == "DELETE":
        if object_id is None or not writes.is_id(object_id):
            raise ApiError(400, 87, "You have to set an id to delete a resource")
        writes.delete(sandbox, resource, int(object_id))
        return respond("", ctx.json)
    send_email = wants_email(request)
    if method == "POST":
        body = payload.parse(read_body(request), resource)
        obj = writes.create(sandbox, shop, resource, body, ctx.languages, send_email=send_email)
        return single_response(sandbox, ctx, resource, obj, status=201)
    bodies = payload.parse_all(read_body(request), resource)
    objects = writes.update_all(sandbox, shop, resource, bodies, ctx.languages, partial=method == "PATCH",
                                send_email=send_email)
    if len(objects) == 1:
        return single_response(sandbox, ctx, resource, objects[0])
    return many_response(request, sandbox, ctx, resource, objects)


def wants_email(request):
    """`?sendemail=1` as PHP's (bool) Tools::getValue('sendemail') reads it: anything but "", "0" is true."""
    return request.GET.get("sendemail", "").strip() not in ("", "0")


def read_body(request):
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ApiError(413, 127, "The XML body is too large.") from None
    return payload.xml_bytes(raw, request.content_type)


def schema(request, ctx, resource):
    kind = request.GET["schema"]
    if kind not in ("blank", "synopsis"):
        raise ApiError(400, 28, "Please select a schema of type 'synopsis' to get the whole schema informations "
                                "(which fields are required, which kind of content...) or 'blank' to get an empty "
                                "schema to fill before using POST request")
    return respond(render.schema(ctx, resource, kind == "synopsis"), ctx.json)


def load_associations(sandbox, resource, objects, display):
    """{parent id: {name: (association, rows, fields)}} with one query per association, never one per record."""
    result = {obj.id: {} for obj in objects}
    for association in resource.associations:
        if not display.shows_association(association.name):
            continue
        rows_by_parent = {obj.id: [] for obj in objects}
        model = model_for(association.model)
        seen = set()
        for row in model.objects.filter(sandbox=sandbox, **{f"{association.link}__in": list(rows_by_parent)}) \
                .order_by("id"):
            parent = getattr(row, association.link)
            if association.distinct:  # a getter with SELECT DISTINCT lists each linked record once
                key = (parent, getattr(row, association.id_column))
                if key in seen:
                    continue
                seen.add(key)
            rows_by_parent[parent].append(row)
        row_fields = display.association_fields(association)
        for parent_id, rows in rows_by_parent.items():
            result[parent_id][association.name] = (association, rows, row_fields)
    return result


def shown_fields(resource, display):
    if display.mode == "fields":
        return [spec for spec in resource.fields if spec.name in display.fields]
    return list(resource.fields)


def list_records(request, sandbox, ctx, resource):
    list_query = query.parse(request.GET, resource, ctx.languages)
    queryset = model_for(resource.model).objects.filter(sandbox=sandbox)
    objects = list(query.apply(queryset, list_query))
    display = list_query.display
    if display.mode == "ids":
        items = [(obj, None, None) for obj in objects]
    else:
        associations = load_associations(sandbox, resource, objects, display)
        fields = shown_fields(resource, display)
        items = [(obj, fields, associations[obj.id]) for obj in objects]
    body = render.json_list(ctx, resource, items) if ctx.json else render.xml_list(ctx, resource, items)
    return respond(body, ctx.json)


def read_record(request, sandbox, ctx, resource, object_id):
    obj = None
    if writes.is_id(object_id):
        obj = model_for(resource.model).objects.filter(sandbox=sandbox, pk=int(object_id)).first()
    if obj is None:
        raise ApiError(404, 87, "", empty_body=True)
    if "display" in request.GET:
        display = query.parse_display(request.GET["display"], resource)
        if display.mode == "ids":
            display = query.Display("full")
        fields = shown_fields(resource, display)
        items = [(obj, fields, load_associations(sandbox, resource, [obj], display)[obj.id])]
        if ctx.json:  # PrestaShop's quirk: with `display`, even one record comes back in the plural list form
            return respond(render.json_list(ctx, resource, items), True)
        return respond(render.xml_single(ctx, resource, obj, fields, items[0][2]), False)
    return single_response(sandbox, ctx, resource, obj)


def many_response(request, sandbox, ctx, resource, objects):
    """A PUT or PATCH of several records answers as PrestaShop's detail view does: in XML every record one after
    the other under <prestashop>; in JSON only the last one, unless the URL asks for `display` (then a list)."""
    display = query.Display("full")
    associations = load_associations(sandbox, resource, objects, display)
    fields = list(resource.fields)
    if ctx.json:
        if "display" in request.GET:
            items = [(obj, fields, associations[obj.id]) for obj in objects]
            return respond(render.json_list(ctx, resource, items), True)
        last = objects[-1]
        return respond(render.json_single(ctx, resource, last, fields, associations[last.id]), True)
    return respond(render.xml_many(ctx, resource, [(obj, fields, associations[obj.id]) for obj in objects]), False)


def single_response(sandbox, ctx, resource, obj, status=200):
    display = query.Display("full")
    associations = load_associations(sandbox, resource, [obj], display)[obj.id]
    fields = list(resource.fields)
    render_single = render.json_single if ctx.json else render.xml_single
    return respond(render_single(ctx, resource, obj, fields, associations), ctx.json, status)
