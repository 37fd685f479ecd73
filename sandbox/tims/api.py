"""The HTTP plumbing every TIMS view shares: JSON answers, the errors envelope, bearer-token checks, paging, and
`route`, which turns a map of method → handler into one Django view wrapped by sandbox.core.endpoint."""

import hashlib
import json
from urllib.parse import urlencode

from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sandbox import core
from sandbox.tims import idempotency
from sandbox.tims.models import AccessToken
from sandbox.tims.validation import WHOLE_NUMBER, ValidationFailed

SYSTEM = "tims"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class ApiError(Exception):
    def __init__(self, status, code, message, field=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


def json_response(data, status=200, headers=None):
    response = HttpResponse(json.dumps(data, ensure_ascii=False), status=status,
                            content_type="application/json; charset=utf-8")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def errors_response(status, errors, headers=None):
    return json_response({"errors": errors}, status=status, headers=headers)


def error_response(status, code, message, field=None, headers=None):
    return errors_response(status, [{"field": field, "code": code, "message": message}], headers)


def fault_response(status, message, retry_after):
    """Injected faults (sandbox.faults) answered in the TIMS envelope; core adds Retry-After."""
    code = {429: "rate_limited", 504: "gateway_timeout"}.get(status, "server_error")
    return error_response(status, code, message)


def token_digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(request, sandbox):
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="tims", error="invalid_token"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "Send Authorization: Bearer <access token> from POST /oauth/token.",
                       headers={"WWW-Authenticate": 'Bearer realm="tims"'})
    row = AccessToken.objects.filter(sandbox=sandbox, token_hash=token_digest(token.strip())).first()
    if row is None:
        raise ApiError(401, "invalid_token", "The access token is not valid.", headers=challenge)
    if row.expires_at <= timezone.now():
        raise ApiError(401, "token_expired", "The access token has expired; request a new one.", headers=challenge)
    return row


def read_json(request):
    """The request body as a JSON object; anything else is a 400 in the errors envelope."""
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ApiError(413, "too_large", "The request body is too large.") from None
    if not raw.strip():
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "The request body is not valid UTF-8 JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    if not encodable(data):
        raise ApiError(400, "invalid_json", "The request body contains a lone surrogate (such as \\ud800), "
                       "which is not a Unicode character.")
    return data


def encodable(data):
    """False when JSON escapes made a lone surrogate ("\\ud800"): no UTF-8 text, so no database, can hold it."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def query_int(request, name, default, minimum=1, maximum=None):
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    if not WHOLE_NUMBER.fullmatch(raw):
        raise ApiError(400, "invalid_integer", f"{name} must be a whole number.", field=name)
    value = int(raw)
    if value < minimum:
        raise ApiError(400, "min_value", f"{name} must be at least {minimum}.", field=name)
    if maximum is not None and value > maximum:
        raise ApiError(400, "max_value", f"{name} must be at most {maximum}.", field=name)
    return value


def paginate(request, queryset, serialize):
    """`?page=N&page_size=M` (M at most 200) → {"results", "next", "count"}."""
    page = query_int(request, "page", 1)
    size = query_int(request, "page_size", DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
    count = queryset.count()
    start = (page - 1) * size
    rows = list(queryset[start:start + size]) if start < count else []
    next_url = None
    if start + size < count:
        params = request.GET.copy()
        params["page"] = str(page + 1)
        params["page_size"] = str(size)
        next_url = request.build_absolute_uri(request.path) + "?" + urlencode(sorted(params.items()))
    return {"results": [serialize(row) for row in rows], "next": next_url, "count": count}


def _answer(handler, request, sandbox, kwargs):
    try:
        return handler(request, sandbox, **kwargs)
    except ApiError as error:
        return error_response(error.status, error.code, error.message, error.field, error.headers)
    except ValidationFailed as failure:
        return errors_response(failure.status, failure.errors)
    except IntegrityError:
        # A unique code taken by a simultaneous request (e.g. the same new CustomerID); the caller can retry.
        return error_response(409, "conflict", "A simultaneous request created the same record; read it back.")


def _has_nul(request, kwargs):
    values = [*kwargs.values(), *request.GET.keys(), *(v for values in request.GET.lists() for v in values[1])]
    return any("\x00" in value for value in values if isinstance(value, str))


def route(pattern, handlers, authenticated=True):
    """One view for `pattern` answering the methods in `handlers`; writes go through the idempotency guard."""

    def view(request, sandbox, **kwargs):
        handler = handlers.get(request.method)
        if handler is None:
            return error_response(405, "method_not_allowed", f"{request.method} is not allowed here.",
                                  headers={"Allow": ", ".join(sorted(handlers))})
        if _has_nul(request, kwargs):
            # PostgreSQL text cannot hold NUL; such ids and filters cannot match anything.
            return error_response(400, "invalid_characters", "The path or query string contains a NUL character.")
        try:
            if authenticated:
                authenticate(request, sandbox)
            if request.method in core.WRITE_METHODS and authenticated:
                read_json(request)  # refuse a bad body before the key is taken
                return idempotency.run(request, sandbox, lambda: _answer(handler, request, sandbox, kwargs))
        except ApiError as error:
            return error_response(error.status, error.code, error.message, error.field, error.headers)
        except idempotency.KeyProblem as problem:
            return error_response(problem.status, problem.code, problem.message, field=idempotency.HEADER)
        return _answer(handler, request, sandbox, kwargs)

    view.__name__ = "tims_" + pattern.replace("/", "_").replace("<", "").replace(">", "").replace(":", "_")
    return csrf_exempt(core.endpoint(SYSTEM, pattern, fault_response=fault_response)(view))
