"""The one HTTP entry point of every connector.

Each connection gets its own pooled requests.Session. A call goes: circuit breaker → rate governor → address check
→ request (timeouts, TLS verified, no redirect to another host) → call record → error classification.
Tests mock one place (requests' adapter, through `responses`).
"""

import contextlib
import contextvars
import ipaddress
import json
import logging
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from integrations.connectors import errors
from portal.logging import mask

log = logging.getLogger(__name__)

USER_AGENT = "IntegrationPortal/1.0 (+https://github.com/integration-portal; connectors)"
CORRELATION_HEADER = "X-Correlation-ID"
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
MAX_REDIRECTS = 3
EXCERPT_BYTES = 4096
QUICK_RETRY_DELAYS = (0.2, 0.6)  # safe requests get two more quick tries before the error reaches the pipeline
MAX_QUICK_RETRY_AFTER = 2.0
SECRET_QUERY_KEYS = {"ws_key", "access_token", "refresh_token", "client_secret", "token", "api_key", "key",
                     "password", "secret", "signature"}


# --- SSRF protection ---------------------------------------------------------------------------------------------

def address_is_internal(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (address.is_loopback or address.is_private or address.is_link_local or address.is_reserved
            or address.is_multicast or address.is_unspecified or not address.is_global)


def refuse_internal_host(host: str):
    """Refuse literal internal addresses before any socket is opened (names are checked again on connect)."""
    host = (host or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise errors.UnsafeAddress(_unsafe_message(host))
    try:
        internal = address_is_internal(host)
    except ValueError:
        return  # a name: the connect-time guard checks the address it actually resolved to
    if internal:
        raise errors.UnsafeAddress(_unsafe_message(host))


def _unsafe_message(host):
    return (f"{host} is a loopback or private address. Only sandbox connections and on-premises connections that an "
            "Integration admin allowed may call such addresses.")


class _GuardedConnectionMixin:
    """Checks the address the socket really connected to, so DNS answers (or rebinding) cannot reach inside."""

    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        if address_is_internal(peer):
            sock.close()
            raise errors.UnsafeAddress(f"{self.host} resolved to {peer}. " + _unsafe_message(peer))
        return sock


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def allows_internal(connection) -> bool:
    return bool(connection.sandbox_id or connection.on_premises)


_sessions = {}
_sessions_lock = threading.Lock()


def session_for(connection) -> requests.Session:
    """One pooled Session per connection (and per address policy) in this process."""
    key = (connection.pk, allows_internal(connection))
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # a proxy from the environment would hide the real peer from the guard
            adapter = HTTPAdapter(pool_maxsize=10) if key[1] else GuardedAdapter(pool_maxsize=10)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = USER_AGENT
            _sessions[key] = session
        return session


def close_sessions():
    with _sessions_lock:
        for session in _sessions.values():
            session.close()
        _sessions.clear()


# --- call recording ---------------------------------------------------------------------------------------------

@dataclass
class CallRecord:
    connection_id: int
    method: str
    url: str  # secrets removed
    status: int | None
    duration_ms: float
    request_bytes: int
    response_bytes: int
    response_excerpt: str  # masked
    correlation_id: str
    error: str = ""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class CallRecorder:
    """Collects the calls of one unit of work (one attempt); the pipeline opens one per attempt."""

    def __init__(self, correlation_id=None):
        self.correlation_id = correlation_id or uuid.uuid4().hex
        self.calls: list[CallRecord] = []

    @property
    def total_ms(self):
        return sum(c.duration_ms for c in self.calls)


_recorder = contextvars.ContextVar("connector_call_recorder", default=None)

# In-process counters per connection id: calls, errors, bytes_in, bytes_out, ms.
COUNTERS: dict[int, Counter] = defaultdict(Counter)


@contextlib.contextmanager
def recording(recorder: CallRecorder | None = None):
    recorder = recorder or CallRecorder()
    token = _recorder.set(recorder)
    try:
        yield recorder
    finally:
        _recorder.reset(token)


def current_recorder() -> CallRecorder | None:
    return _recorder.get()


def scrub_url(url: str, secrets=()) -> str:
    """The URL with user info, secret query values and any known secret value replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode([(k, "***" if k.lower() in SECRET_QUERY_KEYS else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="[]|,$()'=:")
    return scrub_text(urlunsplit((parts.scheme, netloc, parts.path, query, "")), secrets)


def scrub_text(text: str, secrets=()) -> str:
    for secret in secrets:
        if secret and len(str(secret)) >= 4:
            text = text.replace(str(secret), "***")
    return mask(text)


# --- the client --------------------------------------------------------------------------------------------------

class HttpClient:
    """Speaks HTTP for one connection. `system` names the remote in messages ("PrestaShop")."""

    def __init__(self, connection, system, *, lane="normal", use_governor=True, use_breaker=True,
                 describe_error=None):
        self.connection = connection
        self.system = system
        self.lane = lane
        self.use_governor = use_governor
        self.use_breaker = use_breaker
        self.describe_error = describe_error  # callable(response) -> (message, [field sentences])
        self.last_response = None

    @property
    def secrets(self):
        values = [v for v in (self.connection.credentials or {}).values() if isinstance(v, str)]
        cache = self.connection.token_cache or {}
        values += [v for k, v in cache.items() if isinstance(v, str) and "token" in k]
        return values

    def request(self, method, url, **kwargs) -> requests.Response:
        """Send one request; a safe one (a read, or a write with an Idempotency-Key) that fails transiently is
        tried again at once a couple of times, so one dropped answer does not cost the whole unit of work."""
        safe = method in ("GET", "HEAD") or "Idempotency-Key" in (kwargs.get("headers") or {})
        for delay in QUICK_RETRY_DELAYS if safe else ():
            try:
                return self._request_once(method, url, **kwargs)
            except errors.CircuitOpen:
                raise
            except errors.TransientError as exc:
                if exc.retry_after and exc.retry_after > MAX_QUICK_RETRY_AFTER:
                    raise  # a long pause is the pipeline's business, not a worker's sleep
                time.sleep(max(delay, exc.retry_after or 0))
        return self._request_once(method, url, **kwargs)

    def _request_once(self, method, url, *, params=None, data=None, json_body=None, headers=None, auth=None,
                      timeout=None, check=True) -> requests.Response:
        from integrations.connectors import breaker, governor, health

        if not allows_internal(self.connection):
            refuse_internal_host(urlsplit(url).hostname)
        if self.use_breaker:
            breaker.before_call(self.connection)
        slot = governor.acquire(self.connection, self.lane) if self.use_governor else None
        try:
            response = self._send(method, url, params=params, data=data, json_body=json_body, headers=headers,
                                  auth=auth, timeout=timeout)
        except errors.ConnectorError as exc:
            # No answer (timeout, refused, TLS, a redirect elsewhere): the connection is failing.
            health.record_call(self.connection, health.FAILURE, scrub_text(str(exc), self.secrets))
            if self.use_breaker and isinstance(exc, errors.TransientError):
                breaker.record_failure(self.connection, str(exc))
            raise
        finally:
            if slot is not None:
                governor.release(self.connection, slot)
        self.last_response = response
        outcome = health.outcome_of(response.status_code)
        health.record_call(self.connection, outcome, f"{self.system} answered {response.status_code}: "
                           f"{self._excerpt(response)[:300]}" if outcome == health.FAILURE else "")
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if response.status_code == 429:
                if self.use_governor:
                    governor.pause(self.connection, retry_after or 5)
                exc = errors.RateLimited(
                    f"{self.system} is limiting our requests (429); retry "
                    + (f"after {retry_after:g} s." if retry_after else "shortly."),
                    retry_after=retry_after, status=429, system=self.system, response_excerpt=self._excerpt(response))
            else:
                exc = errors.TransientError(
                    f"{self.system} had an internal problem ({response.status_code}); it will be retried.",
                    retry_after=retry_after, status=response.status_code, system=self.system,
                    response_excerpt=self._excerpt(response))
            if self.use_breaker and response.status_code != 429:
                # A 429 means the system is up and pacing us: the governor pauses; the circuit stays closed.
                breaker.record_failure(self.connection, str(exc))
            raise exc
        if self.use_breaker:
            breaker.record_success(self.connection)
        if check and response.status_code >= 400:
            raise self.error_for(response)
        return response

    def _send(self, method, url, *, params, data, json_body, headers, auth, timeout):
        session = session_for(self.connection)
        recorder = current_recorder()
        correlation_id = recorder.correlation_id if recorder else uuid.uuid4().hex
        all_headers = {CORRELATION_HEADER: correlation_id, **(headers or {})}
        body = data
        if json_body is not None:
            body = json.dumps(json_body, default=_json_default).encode()
            all_headers.setdefault("Content-Type", "application/json")
        request = requests.Request(method, url, params=params, data=body, headers=all_headers, auth=auth)
        prepared = session.prepare_request(request)
        origin = urlsplit(prepared.url)
        started = time.monotonic()
        response, error = None, ""
        try:
            for _ in range(MAX_REDIRECTS + 1):
                response = session.send(prepared, timeout=timeout or (CONNECT_TIMEOUT, READ_TIMEOUT), verify=True,
                                        allow_redirects=False)
                if not response.is_redirect:
                    break
                target = urlsplit(urljoin(prepared.url, response.headers["Location"]))
                if (target.scheme, target.hostname, target.port) != (origin.scheme, origin.hostname, origin.port):
                    raise errors.PermanentError(
                        f"{self.system} redirected us to another host ({target.hostname}); we do not follow that. "
                        "Check the base URL (https, www, trailing path).", status=response.status_code,
                        system=self.system)
                prepared.url = urlunsplit(target)
                if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                    prepared.method, prepared.body = "GET", None
                    prepared.headers.pop("Content-Length", None)
                    prepared.headers.pop("Content-Type", None)
            else:
                raise errors.PermanentError(f"{self.system} redirected us more than {MAX_REDIRECTS} times.",
                                            system=self.system)
            _ = response.content  # read the body inside the timing
            return response
        except requests.exceptions.SSLError as exc:
            error = f"TLS: {exc}"
            raise errors.PermanentError(
                f"{self.system}'s TLS certificate could not be verified ({_short(exc)}); the server needs a valid "
                "certificate for its name.", system=self.system) from None
        except requests.exceptions.Timeout as exc:
            error = f"timeout: {exc}"
            raise errors.TransientError(f"{self.system} did not answer in time ({_short(exc)}).",
                                        system=self.system) from None
        except requests.exceptions.ConnectionError as exc:
            error = f"connection: {exc}"
            raise errors.TransientError(f"Could not connect to {self.system} ({_short(exc)}).",
                                        system=self.system) from None
        except errors.ConnectorError as exc:
            error = str(exc)
            raise
        finally:
            self._record(prepared, response, started, correlation_id, error)

    def _record(self, prepared, response, started, correlation_id, error):
        duration_ms = (time.monotonic() - started) * 1000
        secrets = self.secrets
        content = response.content if response is not None else b""
        body = prepared.body or b""
        record = CallRecord(
            connection_id=self.connection.pk, method=prepared.method, url=scrub_url(prepared.url, secrets),
            status=response.status_code if response is not None else None, duration_ms=round(duration_ms, 2),
            request_bytes=len(body), response_bytes=len(content),
            response_excerpt=scrub_text(content[:EXCERPT_BYTES].decode("utf-8", "replace"), secrets),
            correlation_id=correlation_id, error=scrub_text(error, secrets))
        counters = COUNTERS[self.connection.pk]
        counters["calls"] += 1
        counters["errors"] += int(bool(error) or (record.status or 0) >= 400)
        counters["bytes_in"] += record.response_bytes
        counters["bytes_out"] += record.request_bytes
        counters["ms"] += int(duration_ms)
        recorder = current_recorder()
        if recorder is not None:
            recorder.calls.append(record)
        log.debug("%s %s %s → %s in %.0f ms", self.system, record.method, record.url, record.status, duration_ms)

    def _excerpt(self, response):
        return scrub_text(response.content[:EXCERPT_BYTES].decode("utf-8", "replace"), self.secrets)

    def error_for(self, response) -> errors.ConnectorError:
        """A 4xx answer as the right error, with the remote's own words when the connector can read them."""
        status = response.status_code
        message, described = (self.describe_error(response) if self.describe_error else ("", []))
        detail = f": {message}" if message else ""
        # describe_error gives FieldError (data, TIMS) or plain sentences (PrestaShop, ChannelAdvisor).
        fields = [item for item in described if isinstance(item, errors.FieldError)]
        kwargs = {"status": status, "system": self.system, "response_excerpt": self._excerpt(response),
                  "field_errors": [str(item) for item in described], "fields": fields}
        if status in (401, 403):
            del kwargs["field_errors"], kwargs["fields"]
            return errors.AuthError(f"{self.system} answered {status}{detail}", **kwargs)
        if status == 404:
            return errors.NotFound(f"{self.system} has no such record (404){detail}", **kwargs)
        if status in (409, 412):
            return errors.Conflict(f"{self.system} reports a conflict ({status}){detail}", **kwargs)
        if status in (400, 422):
            return errors.ValidationFailed(f"{self.system} refused the data ({status}){detail}", **kwargs)
        return errors.PermanentError(f"{self.system} answered {status}{detail}", **kwargs)


def parse_retry_after(value) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def parse_json(response, system):
    """The body as JSON with exact decimals; a malformed body is transient (truncated or a proxy's error page)."""
    from decimal import Decimal

    try:
        return json.loads(response.content or b"null", parse_float=Decimal)
    except ValueError:
        raise errors.TransientError(
            f"{system} answered {response.status_code} with a body that is not valid JSON "
            f"(starts with {response.content[:60]!r}).", status=response.status_code, system=system) from None


def _json_default(value):
    from decimal import Decimal

    if isinstance(value, Decimal):
        # JSON numbers go through float here; refuse the rare amount a float cannot carry exactly.
        as_float = float(value)
        if Decimal(repr(as_float)) != value:
            raise TypeError(f"{value} cannot be sent as a JSON number without losing digits.")
        return as_float
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _short(exc):
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "…"
