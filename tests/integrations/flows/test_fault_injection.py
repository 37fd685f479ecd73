"""Under injected faults nothing is lost and nothing is duplicated.

Real django-q2 clusters (separate processes) work off PrestaShop orders into TIMS while both sandboxes misbehave
(the chaos profile: 5xx, 429 bursts, latency, TIMS writes committed then answered with 500), webhooks arrive twice
and out of order on top of polling, and worker processes are killed with SIGKILL mid-run. Afterwards every order
is in TIMS exactly once or a dead letter with a reason; once the faults stop and dead letters are retried, every
order is in TIMS exactly once. TIMS is counted through its own API.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection as db

from integrations.models import Connection, Integration, RecordStatus, SyncRecord
from integrations.pipeline import actions, pollers, records
from portal import signing
from sandbox import services
from sandbox.faults import Decider
from tests.integrations.flows.test_prestashop_orders import tims_orders

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]
ORDERS = 40
OPEN = (RecordStatus.PENDING, RecordStatus.RUNNING, RecordStatus.RETRYING)


def start_cluster():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings_test", "Q_WORKERS": "2", "Q_TIMEOUT": "20",
           "PIPELINE_LEASE_SECONDS": "25", "PIPELINE_BACKOFF_BASE_SECONDS": "1",
           "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db.settings_dict['NAME']}"}
    env.pop("REDIS_URL", None)
    return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def worker_pids(cluster):
    """The cluster's worker processes (children of its sentinel), found through /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) != cluster.pid and _ancestor(int(entry.name), cluster.pid):
                pids.append(int(entry.name))
    return pids


def _ancestor(pid, ancestor):
    for _ in range(6):
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
    return False


def stop(cluster):
    try:
        os.killpg(cluster.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    cluster.wait(timeout=30)


def send_hints(live_server, integration, order_ids, rng):
    """Each order's webhook twice, in shuffled order, signed as the shop's module would."""
    deliveries = [oid for oid in order_ids for _ in range(2)]
    rng.shuffle(deliveries)
    secret = integration.webhook_secret["secret"]
    for order_id in deliveries:
        body = json.dumps({"event": "order.created", "id_order": order_id}).encode()
        stamp = str(int(time.time()))
        response = requests.post(f"{live_server.url}/hooks/{integration.pk}/prestashop/", data=body, timeout=30,
                                 headers={"Content-Type": "application/json", signing.TIMESTAMP_HEADER: stamp,
                                          signing.SIGNATURE_HEADER: signing.sign(secret, stamp, body)})
        assert response.status_code == 202, response.text


def wait_until_settled(deadline):
    """Act as the sweeper schedule (faster than once a minute) until no record is open."""
    while time.monotonic() < deadline:
        records.sweep()
        if not SyncRecord.objects.filter(status__in=OPEN).exists():
            return True
        time.sleep(2)
    return False


def progress():
    """What the records and their attempts look like, for the failure message."""
    from collections import Counter

    from django.db.models import Avg, Count

    from integrations.models import SyncAttempt

    attempts = list(SyncAttempt.objects.values("outcome").annotate(n=Count("id"), ms=Avg("duration_ms")))
    errors = Counter(SyncAttempt.objects.exclude(outcome="succeeded").values_list("error_message", flat=True))
    return {"records": Counter(SyncRecord.objects.values_list("status", flat=True)), "attempts": attempts,
            "errors": errors.most_common(5)}


def test_no_order_is_lost_or_duplicated_under_faults(live_server, cast):
    Decider.reset()
    sandbox, _ = services.create_sandbox("chaos")
    secrets = services.issue_credentials(sandbox, live_server.url)
    rng = random.Random(2026)
    services.system_module("tims").generate(sandbox, orders=0, products=30, customers=0, state=None,
                                            unknown_sku=0, rng=rng)
    made = services.system_module("prestashop").generate(sandbox, orders=ORDERS, products=30, customers=12,
                                                         state="Payment accepted", unknown_sku=0, rng=rng)
    shop = Connection.objects.create(
        organization=cast.org_a, kind="prestashop", name="Shop", sandbox=sandbox,
        base_url=secrets["prestashop"]["base_url"], credentials={"ws_key": secrets["prestashop"]["ws_key"]},
        settings={"timezone": made["timezone"]})
    tims = Connection.objects.create(
        organization=cast.org_a, kind="tims", name="TIMS", sandbox=sandbox, base_url=secrets["tims"]["base_url"],
        credentials={k: secrets["tims"][k] for k in ("client_id", "client_secret")},
        settings={"default_location": "MAIN", "default_customer_code": "C-GUEST"})
    integration = Integration.objects.create(
        organization=cast.org_a, name="Shop + TIMS", template="prestashop_tims", channel_connection=shop,
        tims_connection=tims, flows=["orders"], state="live", options={"first_poll_days": 30})
    for system in ("tims", "prestashop"):
        services.set_faults(sandbox, system, "chaos", seed=7, hang_rate=0.0, latency_ms=5, jitter_ms=40)

    clusters = [start_cluster(), start_cluster()]
    try:
        send_hints(live_server, integration, [o["id"] for o in made["orders"]], rng)
        pollers.poll_integration(integration.pk)  # polling on top of the webhooks: duplicates must collapse
        time.sleep(8)
        for cluster in clusters:  # kill workers mid-run; each cluster's guard starts new ones
            for pid in worker_pids(cluster)[:2]:
                os.kill(pid, signal.SIGKILL)
        time.sleep(5)
        stop(clusters.pop(0))  # and one whole cluster dies; another one comes up
        clusters.append(start_cluster())
        assert wait_until_settled(time.monotonic() + 300), progress()

        references = {o["reference"] for o in made["orders"]}
        in_tims = tims_orders(tims)
        assert all(count == 1 for count in in_tims.values()), {k: v for k, v in in_tims.items() if v > 1}
        settled = SyncRecord.objects.filter(integration=integration)
        dead = {r.reference for r in settled.filter(status=RecordStatus.DEAD)}
        assert all(r.error_message for r in settled.filter(status=RecordStatus.DEAD))
        assert set(in_tims) | dead >= references  # every order is in TIMS or a dead letter with a reason

        for system in ("tims", "prestashop"):
            services.set_faults(sandbox, system, "none")
        actions.retry(settled.filter(status=RecordStatus.DEAD), cast.operations, "faults are over")
        assert wait_until_settled(time.monotonic() + 180)
        final = tims_orders(tims)
        assert set(final) == references and all(count == 1 for count in final.values()), final
    finally:
        for cluster in clusters:
            stop(cluster)
