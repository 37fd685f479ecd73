"""OData $batch: a multipart/mixed body of HTTP requests (top-level GETs and changesets of writes), each run
in-process against the same handlers as a direct call, answered as a multipart/mixed body of HTTP responses.

Every inner request counts toward the rate limit like a direct one and meets the fault profile on its own; the
batch holds one concurrency slot.
Parts run one after another and each stands alone (a failed part does not roll the others back)."""

import io
import re
import sys
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import WSGIRequest

from sandbox.channeladvisor import limits, views

MAX_REQUESTS = 100
BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
REQUEST_LINE = re.compile(r"^([A-Z]+) (\S+)(?: HTTP/1\.[01])?$")


class BatchError(Exception):
    """The batch body itself is malformed: the whole batch is answered 400."""


@dataclass
class Operation:
    method: str
    url: str
    headers: dict
    body: bytes
    content_id: str
    changeset: int | None  # index of its changeset, None for a top-level request


def boundary_of(content_type):
    if not content_type.lower().startswith("multipart/mixed"):
        raise BatchError("A $batch request must have Content-Type multipart/mixed with a boundary.")
    match = BOUNDARY.search(content_type)
    if match is None:
        raise BatchError("The multipart/mixed Content-Type has no boundary.")
    return match.group(1) or match.group(2)


def split_parts(body, boundary):
    """The parts between `--boundary` lines, up to the closing `--boundary--`."""
    delimiter = b"--" + boundary.encode("latin-1")
    sections = body.split(delimiter)
    if len(sections) < 2:
        raise BatchError(f"The body has no part delimited by '--{boundary}'.")
    parts = []
    for section in sections[1:]:
        if section.startswith(b"--"):
            return parts
        parts.append(section.removeprefix(b"\r\n").removeprefix(b"\n").removesuffix(b"\n").removesuffix(b"\r"))
    raise BatchError(f"The body does not end with the closing delimiter '--{boundary}--'.")


def split_head(message):
    """(headers with lower-case names, body) of a MIME part or HTTP message."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, rest = message.partition(separator)
        if found:
            break
    else:
        head, rest = message, b""
    headers = {}
    lines = head.decode("utf-8", "replace").splitlines()
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, rest, lines


def parse_operations(content_type, body):
    operations = []
    for index, part in enumerate(split_parts(body, boundary_of(content_type))):
        headers, content, _ = split_head(part)
        if headers.get("content-type", "").lower().startswith("multipart/mixed"):
            for inner in split_parts(content, boundary_of(headers["content-type"])):
                operations.append(parse_http_part(inner, index))
        else:
            operations.append(parse_http_part(part, None))
        if len(operations) > MAX_REQUESTS:
            break
    return operations


def parse_http_part(part, changeset):
    mime_headers, message, _ = split_head(part)
    if not mime_headers.get("content-type", "").lower().startswith("application/http"):
        raise BatchError("Each batch part must have Content-Type application/http.")
    headers, body, lines = split_head(message)
    request_line = next((line.strip() for line in lines if line.strip()), "")
    match = REQUEST_LINE.match(request_line)
    if match is None:
        raise BatchError(f"'{request_line[:100]}' is not an HTTP request line.")
    return Operation(match.group(1), match.group(2), headers, body.rstrip(b"\r\n") if body.strip() else b"",
                     mime_headers.get("content-id", ""), changeset)


def relative_path(url):
    """'https://host/.../v1/Products(1)?x', '/v1/Products(1)' or 'Products(1)' -> ('v1/Products(1)', 'x')."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if "/v1/" in path:
        path = path[path.index("/v1/") + 1:]
    elif not path.startswith("v1/"):
        path = "v1/" + path.lstrip("/")
    return path, parts.query


def resolve(path):
    from sandbox.channeladvisor.urls import urlpatterns

    for pattern in urlpatterns:
        match = pattern.resolve(path)
        if match is not None and hasattr(match.func, "handler"):
            return match.func, match.kwargs
    return None, {}


def inner_request(outer, method, path, query, headers, body):
    full_path = outer.path[: outer.path.index("/v1/") + 1] + path
    environ = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": outer.META.get("SCRIPT_NAME", ""),
        "PATH_INFO": unquote_to_bytes(full_path).decode("iso-8859-1"), "QUERY_STRING": query,
        "SERVER_NAME": outer.META.get("SERVER_NAME", "localhost"), "SERVER_PORT": outer.META.get("SERVER_PORT", "80"),
        "HTTP_HOST": outer.get_host(), "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": outer.scheme,
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": headers.get("content-type", "application/json"),
    }
    return WSGIRequest(environ)


def execute(outer, sandbox, operation):
    path, query = relative_path(operation.url)
    view, kwargs = resolve(path)
    if view is None:
        return views.aspnet_error(404, f"No HTTP resource was found that matches the request URI '{path}'.")
    if view.handler is views.batch.handler:
        return views.odata_error(400, "A $batch request cannot contain another $batch.")
    if operation.method not in view.methods:
        return views.aspnet_error(405, f"The requested resource does not support http method "
                                       f"'{operation.method}'.")
    try:
        limits.count_request(sandbox, outer.ca.config)
    except limits.Limited as exc:
        return views.too_many(exc)
    request = inner_request(outer, operation.method, path, query, operation.headers, operation.body)
    request.ca = views.Caller(outer.ca.application, outer.ca.config, in_batch=True)
    # Each part meets the fault profile and is counted like a direct call, so some parts of one batch can fail
    # (or commit and then fail) while the others succeed.
    return view.with_faults(request, sandbox.slug, **kwargs)


def http_message(operation, response):
    status = response.status_code
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if operation.content_id:
        lines.append(f"Content-ID: {operation.content_id}")
    lines += ["", f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    for name in ("Content-Type", "Location", "Retry-After"):
        if response.has_header(name):
            lines.append(f"{name}: {response[name]}")
    lines.append("")
    return "\r\n".join(lines).encode() + b"\r\n" + response.content


def render(results):
    """The multipart/mixed answer: top-level responses as parts, each changeset's responses in a nested part."""
    batch_boundary = f"batchresponse_{uuid.uuid4()}"
    out = []
    index = 0
    while index < len(results):
        operation, _ = results[index]
        if operation.changeset is None:
            out.append(b"--" + batch_boundary.encode() + b"\r\n" + http_message(*results[index]) + b"\r\n")
            index += 1
            continue
        changeset_boundary = f"changesetresponse_{uuid.uuid4()}"
        out.append(f"--{batch_boundary}\r\nContent-Type: multipart/mixed; boundary={changeset_boundary}\r\n\r\n"
                   .encode())
        while index < len(results) and results[index][0].changeset == operation.changeset:
            out.append(f"--{changeset_boundary}\r\n".encode() + http_message(*results[index]) + b"\r\n")
            index += 1
        out.append(f"--{changeset_boundary}--\r\n".encode())
    out.append(f"--{batch_boundary}--\r\n".encode())
    return b"".join(out), batch_boundary


def run(request, sandbox):
    try:
        body = request.body
        operations = parse_operations(request.headers.get("Content-Type", ""), body)
    except RequestDataTooBig:
        return views.odata_error(400, "The batch body is too large.")
    except BatchError as exc:
        return views.odata_error(400, str(exc))
    if len(operations) > MAX_REQUESTS:
        return views.odata_error(400, f"A batch can hold at most {MAX_REQUESTS} requests.")
    if not operations:
        return views.odata_error(400, "The batch holds no request.")
    results = [(operation, execute(request, sandbox, operation)) for operation in operations]
    content, boundary = render(results)
    return views.HttpResponse(content, status=200, content_type=f"multipart/mixed; boundary={boundary}")
