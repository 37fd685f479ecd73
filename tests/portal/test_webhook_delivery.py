"""Sandbox webhooks leave within a second or two of the commit, retries leave on their backoff without waiting for
the schedule, a short-lived process (the CLI) sends its own before it exits, and no thread or connection lingers."""

import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from sandbox import core, services
from sandbox.models import WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


class Receiver(BaseHTTPRequestHandler):
    received = []
    fail_first = 0

    def do_POST(self):  # noqa: N802 (the stdlib's name)
        Receiver.received.append((time.monotonic(), self.rfile.read(int(self.headers["Content-Length"]))))
        if Receiver.fail_first > 0:
            Receiver.fail_first -= 1
            self.send_response(503)
        else:
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received, Receiver.fail_first = [], 0
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox(receiver):
    sandbox, _ = services.create_sandbox("hooks-test")
    WebhookSubscription.objects.create(sandbox=sandbox, system="tims", url=receiver, signing={"secret": "s"})
    return sandbox


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def connections_to_test_db():
    with db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_a_webhook_and_its_retry_leave_without_the_schedule(sandbox):
    before = connections_to_test_db()
    Receiver.fail_first = 1
    with transaction.atomic():
        core.queue_webhook(sandbox, "tims", "shipment.created", {"ShipmentID": "SH1"})
        queued = time.monotonic()
    assert wait_for(lambda: len(Receiver.received) == 1, 2), "the first attempt leaves at once"
    assert Receiver.received[0][0] - queued < 2
    # The receiver failed: the retry is due RETRY_DELAYS[0] seconds later and goes out then, by itself.
    assert wait_for(lambda: len(Receiver.received) == 2, core.RETRY_DELAYS[0] + 3)
    assert Receiver.received[1][0] - Receiver.received[0][0] >= core.RETRY_DELAYS[0] - 0.5
    assert wait_for(lambda: WebhookDelivery.objects.filter(delivered_at__isnull=False).exists(), 2)
    # Nothing more to send: the deliverer ends, and its connection with it.
    assert wait_for(lambda: core._deliverer.thread is None, 3)
    assert not [t for t in threading.enumerate() if t.name == "sandbox-webhooks"]
    assert connections_to_test_db() == before


def test_a_short_lived_process_sends_its_webhooks_before_it_exits(sandbox):
    script = ("import django; django.setup()\n"
              "from django.db import transaction\n"
              "from sandbox import core\n"
              "from sandbox.models import Sandbox\n"
              "with transaction.atomic():\n"
              "    core.queue_webhook(Sandbox.objects.get(slug='hooks-test'), 'tims', 'invoice.created', {'I': 1})\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings_test",
           "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db.settings_dict['NAME']}"}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)
    assert len(Receiver.received) == 1, "delivered before the process ended, not a minute later by the schedule"
    assert WebhookDelivery.objects.get().delivered_at is not None


def test_deliveries_are_claimed_so_concurrent_deliverers_send_each_once(sandbox):
    WebhookDelivery.objects.create(subscription=WebhookSubscription.objects.get(), event="shipment.created",
                                   body="{}", next_attempt_at=timezone.now())  # queued without waking anyone
    results = []
    threads = [threading.Thread(target=lambda: results.append(core.deliver_due()) or db.close()) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 1 and len(Receiver.received) == 1
