"""Contract: 429 + Retry-After for the per-profile rate limit and the per-application concurrency limit, both
counted in the database so that two server processes share them."""

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.utils import timezone

from sandbox import services
from sandbox.channeladvisor.models import InFlightSlot, RateCounter

ROOT = Path(__file__).resolve().parents[3]


def test_rate_limit_answers_429_with_retry_after(ca):
    ca.configure(requests_per_window=3, rate_window_seconds=60)
    codes = [ca.get("Products").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = ca.get("Products")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["error"]["message"]


def test_rate_window_resets(ca):
    ca.configure(requests_per_window=2, rate_window_seconds=1)
    time.sleep(1 - time.time() % 1 + 0.05)  # start at the beginning of a window
    assert [ca.get("Products").status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(1.05)
    assert ca.get("Products").status_code == 200


def test_rate_limit_is_per_profile_so_applications_share_it(ca, other_app):
    ca.configure(requests_per_window=2, rate_window_seconds=60)
    assert ca.get("Products").status_code == 200
    assert other_app.get("Products").status_code == 200
    assert other_app.get("Products").status_code == 429
    assert ca.get("Products").status_code == 429


def concurrent_gets(clients_and_urls):
    """Start every GET at once on its own thread; returns the responses in order."""
    results = [None] * len(clients_and_urls)
    barrier = threading.Barrier(len(clients_and_urls))

    def run(index, client, url):
        barrier.wait()
        results[index] = client.get(url)

    threads = [threading.Thread(target=run, args=(index, client, url))
               for index, (client, url) in enumerate(clients_and_urls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_concurrency_limit_with_real_threads(ca, other_app, sandbox):
    if connection.vendor == "sqlite":
        pytest.skip("the in-memory SQLite test database shares one connection between the server's threads")
    ca.configure(concurrent_requests=2)
    token, other_token = ca.access_token, other_app.access_token  # fetched before the slow part
    assert token and other_token
    services.set_faults(sandbox, "channeladvisor", latency_ms=800)  # each call holds its slot ~0.8 s
    responses = concurrent_gets([(ca, "Products")] * 5 + [(other_app, "Products")])
    mine = [response.status_code for response in responses[:5]]
    assert mine.count(200) == 2, mine
    assert mine.count(429) == 3, mine
    assert all(r.headers.get("Retry-After") for r in responses[:5] if r.status_code == 429)
    assert responses[5].status_code == 200  # the limit is per application
    services.set_faults(sandbox, "channeladvisor", latency_ms=0)
    assert ca.get("Products").status_code == 200  # slots were given back
    assert not InFlightSlot.objects.filter(sandbox=sandbox).exists()


def test_a_leaked_slot_expires(ca, sandbox):
    ca.configure(concurrent_requests=1)
    application = ca.sandbox.channeladvisor_applications.get(application_id=ca.credentials["application_id"])
    now = timezone.now()
    slot = InFlightSlot.objects.create(sandbox=sandbox, application=application, started_at=now,
                                       expires_at=now + timedelta(seconds=60))  # as a crashed process leaves it
    assert ca.get("Products").status_code == 429
    InFlightSlot.objects.filter(pk=slot.pk).update(expires_at=now - timedelta(seconds=1))
    assert ca.get("Products").status_code == 200


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def second_process(live_server):
    """The same project served by gunicorn in another process, on the same (test) database."""
    port = free_port()
    database = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings",
           "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"}
    if connection.vendor != "postgresql":
        pytest.skip("the two-process test needs PostgreSQL")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "portal.wsgi:application", "--bind",
                                f"127.0.0.1:{port}", "--workers", "1", "--threads", "4", "--log-level", "warning"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{root}/sandbox/no-such-sandbox/channeladvisor/v1/Orders", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        yield root
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_limits_are_shared_across_processes(ca, live_server, second_process, sandbox):
    other_base = ca.base.replace(live_server.url, second_process)
    token = ca.access_token

    class Elsewhere:  # the same application, talking to the other process
        def get(self, url):
            return requests.get(f"{other_base}/v1/{url}", headers={"Authorization": f"Bearer {token}"}, timeout=20)

    elsewhere = Elsewhere()
    assert elsewhere.get("Products").status_code == 200
    # concurrency: two slow calls in the other process take both slots; a call here is refused
    ca.configure(concurrent_requests=2)
    services.set_faults(sandbox, "channeladvisor", latency_ms=1500)
    results = {}

    def slow(index):
        results[index] = elsewhere.get("Products").status_code

    threads = [threading.Thread(target=slow, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.7)
    here = ca.get("Products")
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results.values()) == [200, 200]
    assert here.status_code == 429 and here.headers["Retry-After"]
    # rate: the count continues across both processes
    services.set_faults(sandbox, "channeladvisor", latency_ms=0)
    ca.configure(concurrent_requests=5, requests_per_window=2, rate_window_seconds=3600)
    RateCounter.objects.filter(sandbox=sandbox).delete()
    codes = [elsewhere.get("Products").status_code, ca.get("Products").status_code,
             elsewhere.get("Products").status_code, ca.get("Products").status_code]
    assert codes == [200, 200, 429, 429]
