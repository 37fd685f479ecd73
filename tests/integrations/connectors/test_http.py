import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses

from integrations.connectors import breaker, errors, http
from integrations.connectors.models import BreakerState, CircuitBreaker

from .conftest import PS_KEY


def client(connection, **kwargs):
    return http.HttpClient(connection, "PrestaShop", **kwargs)


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.5", "192.168.1.1", "169.254.169.254", "[::1]", "localhost",
                                  "0.0.0.0", "[::ffff:127.0.0.1]"])
def test_internal_addresses_are_refused_for_ordinary_connections(make_connection, host):
    connection = make_connection("prestashop", base_url=f"http://{host}")
    with pytest.raises(errors.UnsafeAddress, match="loopback or private"):
        client(connection).request("GET", f"http://{host}/api/")


@responses.activate
def test_internal_addresses_are_allowed_for_on_premises(make_connection):
    responses.get("http://10.0.0.5/api/", body="ok")
    connection = make_connection("tims", base_url="http://10.0.0.5", on_premises=True)
    assert client(connection).request("GET", "http://10.0.0.5/api/").text == "ok"


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_a_name_that_resolves_inside_is_refused_at_connect_time(make_connection, local_server, monkeypatch):
    # DNS answers 127.0.0.1 for an innocent-looking name: the socket-level guard still refuses it.
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        return real("127.0.0.1" if host == "innocent.example" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    connection = make_connection("prestashop", base_url=f"http://innocent.example:{local_server}")
    with pytest.raises(errors.UnsafeAddress, match="resolved to 127.0.0.1"):
        client(connection).request("GET", f"http://innocent.example:{local_server}/")


def test_sandbox_connections_may_call_local_servers(make_connection, local_server):
    connection = make_connection("prestashop", base_url=f"http://127.0.0.1:{local_server}", on_premises=True)
    assert client(connection).request("GET", f"http://127.0.0.1:{local_server}/").text == "hello"


@responses.activate
def test_calls_are_recorded_without_secrets(make_connection):
    responses.get("https://shop.example.com/api/orders", json={"token": "leaky-token-value", "orders": []})
    connection = make_connection("prestashop")
    with http.recording() as recorder:
        client(connection).request("GET", "https://shop.example.com/api/orders",
                                   params={"ws_key": PS_KEY, "display": "full", "access_token": "abcdefgh"})
    (call,) = recorder.calls
    assert PS_KEY not in call.url and "abcdefgh" not in call.url
    assert "ws_key=***" in call.url and "display=full" in call.url
    assert call.status == 200 and call.method == "GET" and call.response_bytes > 0
    assert "leaky-token-value" not in call.response_excerpt
    sent = responses.calls[0].request
    assert sent.headers["User-Agent"].startswith("IntegrationPortal/")
    assert sent.headers[http.CORRELATION_HEADER] == recorder.correlation_id == call.correlation_id
    assert http.COUNTERS[connection.pk]["calls"] == 1


@responses.activate
def test_basic_auth_key_never_reaches_the_record(make_connection):
    responses.get("https://shop.example.com/api/", body=f"echo {PS_KEY}")
    connection = make_connection("prestashop")
    with http.recording() as recorder:
        client(connection).request("GET", "https://shop.example.com/api/", auth=(PS_KEY, ""))
    assert PS_KEY not in repr(recorder.calls)


@responses.activate
def test_redirect_to_another_host_is_refused(make_connection):
    responses.get("https://shop.example.com/api/", status=302, headers={"Location": "https://evil.example/api/"})
    with pytest.raises(errors.PermanentError, match="another host"):
        client(make_connection("prestashop")).request("GET", "https://shop.example.com/api/")


@responses.activate
def test_redirect_on_the_same_host_is_followed(make_connection):
    responses.get("https://shop.example.com/api", status=301, headers={"Location": "/api/"})
    responses.get("https://shop.example.com/api/", body="here")
    assert client(make_connection("prestashop")).request("GET", "https://shop.example.com/api").text == "here"


@responses.activate
def test_timeout_is_transient(make_connection):
    responses.get("https://shop.example.com/api/", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(errors.TransientError, match="did not answer in time") as info:
        client(make_connection("prestashop")).request("GET", "https://shop.example.com/api/")
    assert type(info.value) is errors.TransientError


@responses.activate
def test_connection_refused_is_transient(make_connection):
    responses.get("https://shop.example.com/api/", body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(errors.TransientError, match="Could not connect"):
        client(make_connection("prestashop")).request("GET", "https://shop.example.com/api/")


@responses.activate
def test_tls_failure_is_permanent(make_connection):
    responses.get("https://shop.example.com/api/", body=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(errors.PermanentError, match="TLS certificate"):
        client(make_connection("prestashop")).request("GET", "https://shop.example.com/api/")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@responses.activate
def test_5xx_is_transient(make_connection, status):
    responses.get("https://shop.example.com/api/", status=status)
    with pytest.raises(errors.TransientError) as info:
        client(make_connection("prestashop")).request("GET", "https://shop.example.com/api/")
    assert type(info.value) is errors.TransientError and info.value.status == status


@responses.activate
def test_429_carries_retry_after_and_pauses_the_connection(make_connection):
    from integrations.connectors import governor

    responses.get("https://shop.example.com/api/", status=429, headers={"Retry-After": "7"})
    connection = make_connection("prestashop")
    with pytest.raises(errors.RateLimited) as info:
        client(connection).request("GET", "https://shop.example.com/api/")
    assert info.value.retry_after == 7
    lease, wait = governor.get_governor().try_acquire(connection, "high")
    assert lease is None and 5 < wait <= 7


def test_retry_after_as_http_date():
    assert http.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert http.parse_retry_after("2.5") == 2.5
    assert http.parse_retry_after("soon") is None


@pytest.mark.parametrize("status,error", [(400, errors.ValidationFailed), (422, errors.ValidationFailed),
                                          (404, errors.NotFound), (409, errors.Conflict), (412, errors.Conflict),
                                          (401, errors.AuthError), (403, errors.AuthError)])
@responses.activate
def test_4xx_classes(make_connection, status, error):
    responses.get("https://shop.example.com/api/", status=status)
    with pytest.raises(error):
        client(make_connection("prestashop")).request("GET", "https://shop.example.com/api/")


@responses.activate
def test_breaker_opens_after_repeated_failures_probes_and_closes(make_connection):
    connection = make_connection("prestashop")
    responses.get("https://shop.example.com/api/", status=503)
    for _ in range(breaker.THRESHOLD):
        with pytest.raises(errors.TransientError):
            client(connection).request("GET", "https://shop.example.com/api/")
    assert CircuitBreaker.objects.get(pk=connection.pk).state == BreakerState.OPEN
    calls_before = len(responses.calls)
    with pytest.raises(errors.CircuitOpen):
        client(connection).request("GET", "https://shop.example.com/api/")
    assert len(responses.calls) == calls_before  # the call was not made

    # Cooldown over: one probe goes through; its failure opens the circuit again for longer.
    CircuitBreaker.objects.filter(pk=connection.pk).update(retry_at="2000-01-01T00:00:00Z")
    with pytest.raises(errors.TransientError):
        client(connection).request("GET", "https://shop.example.com/api/")
    row = CircuitBreaker.objects.get(pk=connection.pk)
    assert row.state == BreakerState.OPEN and row.times_opened == 2

    # Next probe succeeds and closes it.
    CircuitBreaker.objects.filter(pk=connection.pk).update(retry_at="2000-01-01T00:00:00Z")
    responses.replace(responses.GET, "https://shop.example.com/api/", body="fine")
    client(connection).request("GET", "https://shop.example.com/api/")
    row = CircuitBreaker.objects.get(pk=connection.pk)
    assert row.state == BreakerState.CLOSED and row.consecutive_failures == 0


def test_only_one_worker_wins_the_half_open_probe(make_connection):
    connection = make_connection("prestashop")
    CircuitBreaker.objects.create(connection=connection, state=BreakerState.OPEN, retry_at="2000-01-01T00:00:00Z")
    breaker.before_call(connection)  # the probe
    with pytest.raises(errors.CircuitOpen, match="probe"):
        breaker.before_call(connection)


@responses.activate
def test_auth_and_validation_errors_do_not_trip_the_breaker(make_connection):
    connection = make_connection("prestashop")
    responses.get("https://shop.example.com/api/", status=400)
    for _ in range(breaker.THRESHOLD + 1):
        with pytest.raises(errors.ValidationFailed):
            client(connection).request("GET", "https://shop.example.com/api/")
    assert not CircuitBreaker.objects.filter(pk=connection.pk, state=BreakerState.OPEN).exists()


def test_a_success_anywhere_resets_the_count_of_failures_in_a_row(make_connection):
    connection = make_connection("prestashop")
    for _ in range(breaker.THRESHOLD - 1):  # failures seen by other workers...
        breaker.record_failure(connection, "503")
    breaker._remember(connection, True)  # ...while this worker still believes the circuit healthy
    breaker.record_success(connection)
    for _ in range(breaker.THRESHOLD - 1):
        breaker.record_failure(connection, "503")
    assert CircuitBreaker.objects.get(pk=connection.pk).state == BreakerState.CLOSED
