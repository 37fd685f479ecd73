"""The Redis broker, against a real Redis: settings pick it when REDIS_URL is set, and several clusters share one queue
without processing any record twice.

Three real `manage.py qcluster` processes consume one Redis list. Every PrestaShop order becomes a sync record whose
step writes a sales order into the sandbox TIMS (served by the live server); each record id is enqueued three times
in a row, so several workers of different clusters race for the same record. One cluster is killed with SIGKILL
mid-run; the test acts as the sweeper. Afterwards each order is in TIMS exactly once (counted through TIMS's API) and
each record has exactly one succeeded attempt, except a record whose first attempt died with the killed cluster
after writing its attempt row (an at-least-once retry, made by a live cluster, that TIMS's look-up keeps harmless).
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from django.db import connection as db

from integrations.models import Connection, Integration, RecordStatus, SyncAttempt, SyncRecord
from integrations.pipeline import pollers, records
from sandbox import services
from tests.integrations.flows.chaos import stop
from tests.integrations.flows.test_prestashop_orders import tims_orders

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]
REDIS_URL = "redis://127.0.0.1:6379/7"  # a database number no other test uses
ORDERS = 200
COPIES = 3  # broker messages per record
OPEN = (RecordStatus.PENDING, RecordStatus.RUNNING, RecordStatus.RETRYING)


def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis is unreachable at {REDIS_URL}: {exc}")
    return client


@pytest.fixture
def queue(tmp_path, monkeypatch):
    """A queue name of this test's own (site name, list key and stats keys), removed from Redis afterwards.

    Clusters get it through a settings module that only renames portal.settings_test's Q_CLUSTER; this process
    enqueues with the same name (django-q2 signs payloads with the name as salt, so both sides must agree).
    (django-q2's Q_CLUSTER_NAME variable is no way out: without ALT_CLUSTERS in Q_CLUSTER it raises KeyError.)
    """
    from django_q.conf import Conf

    client = redis_client()
    name = f"portal-test-{uuid.uuid4().hex[:12]}"
    module = f"redis_broker_settings_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        "from portal.settings_test import *  # noqa: F403\n"
        f"Q_CLUSTER = {{**Q_CLUSTER, 'name': {name!r}}}  # noqa: F405\n")
    for attribute, value in (("ORM", None), ("BROKER_CLASS", None), ("REDIS", REDIS_URL), ("PREFIX", name),
                             ("CLUSTER_NAME", name)):
        monkeypatch.setattr(Conf, attribute, value)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": module, "REDIS_URL": REDIS_URL,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH")])),
           "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db.settings_dict['NAME']}"}
    made = {"client": client, "name": name, "key": f"django_q:{name}:q", "env": env, "extra_keys": []}
    yield made
    for key in [*client.scan_iter(f"django_q:{name}:*"), *made["extra_keys"]]:
        client.delete(key)


def run_python(code, env):
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


BROKER_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django_q.brokers import get_broker
broker = get_broker()
print(json.dumps({"broker": type(broker).__module__ + "." + type(broker).__name__, "list_key": broker.list_key,
                  "redis": settings.Q_CLUSTER.get("redis"), "orm": settings.Q_CLUSTER.get("orm")}))
"""


def test_settings_pick_redis_when_redis_url_is_set_and_dispatch_lands_on_it(queue):
    from django_q.signing import SignedPackage

    client, env = queue["client"], queue["env"]
    plain = {**env, "DJANGO_SETTINGS_MODULE": "portal.settings"}  # the real settings module, reloaded
    without = {k: v for k, v in plain.items() if k != "REDIS_URL"}
    assert run_python(BROKER_PROBE, without) == {"broker": "portal.broker.OrderedORM",
                                                 "list_key": "portal", "redis": None, "orm": "default"}
    assert run_python(BROKER_PROBE, plain) == {"broker": "django_q.brokers.redis_broker.Redis",
                                               "list_key": "django_q:portal:q", "redis": REDIS_URL, "orm": None}

    # The pipeline's doorbell, rung in a process configured like the clusters below, lands on the real Redis list.
    assert client.llen(queue["key"]) == 0
    run_python("import django, json\ndjango.setup()\nfrom integrations.pipeline import records\n"
               "records.dispatch(424242)\nrecords.dispatch(424243)\nprint(json.dumps(True))", queue["env"])
    assert client.llen(queue["key"]) == 2
    tasks = [SignedPackage.loads(raw) for raw in client.lrange(queue["key"], 0, -1)]
    assert [(t["func"], t["args"], t["name"], t["group"]) for t in tasks] == [
        ("integrations.pipeline.runner.process", (424242,), "record-424242", "sync"),
        ("integrations.pipeline.runner.process", (424243,), "record-424243", "sync")]

    # And so does this process's, with the same broker settings.
    records.dispatch(424244)
    assert SignedPackage.loads(client.lrange(queue["key"], -1, -1)[0])["args"] == (424244,)


def start_cluster(env):
    env = {**env, "Q_WORKERS": "2", "Q_TIMEOUT": "20", "PIPELINE_LEASE_SECONDS": "25",
           "PIPELINE_BACKOFF_BASE_SECONDS": "1"}
    return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def group_pids(cluster):
    """Every process of the cluster's process group (it runs in a session of its own)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == cluster.pid:
                pids.append(int(entry.name))
    return pids



def wait_for(condition, deadline, sweep=False, pause=0.5):
    while time.monotonic() < deadline:
        if sweep:
            records.sweep()
        if condition():
            return True
        time.sleep(pause)
    return False


def state():
    attempts = Counter(SyncAttempt.objects.values_list("outcome", flat=True))
    errors = Counter(SyncAttempt.objects.exclude(outcome="succeeded").values_list("error_message", flat=True))
    return {"records": Counter(SyncRecord.objects.values_list("status", flat=True)), "attempts": attempts,
            "errors": errors.most_common(3)}


def test_three_clusters_on_one_redis_queue_process_each_record_once(live_server, cast, queue):
    began = time.monotonic()
    sandbox, _ = services.create_sandbox("redis-broker")
    secrets = services.issue_credentials(sandbox, live_server.url)
    rng = random.Random(7)
    services.system_module("tims").generate(sandbox, orders=0, products=30, customers=0, state=None,
                                            unknown_sku=0, rng=rng)
    made = services.system_module("prestashop").generate(sandbox, orders=ORDERS, products=30, customers=20,
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

    dispatch = records.dispatch
    records.dispatch = lambda record_id: None  # the records first; the test rings every doorbell itself below
    try:
        assert pollers.poll_integration(integration.pk) == ORDERS
    finally:
        records.dispatch = dispatch
    record_ids = list(SyncRecord.objects.order_by("pk").values_list("pk", flat=True))
    assert len(record_ids) == ORDERS
    print(f"set up in {time.monotonic() - began:.1f}s")

    client, key = queue["client"], queue["key"]
    # With REDIS_URL set the clusters' rate governor keeps its state in Redis per database and connection id:
    # clean it away afterwards.
    queue["extra_keys"] += [f"portal:governor:{db.settings_dict['NAME']}:{connection.pk}:{part}"
                            for connection in (shop, tims) for part in ("window", "leases")]
    client.delete(*queue["extra_keys"])
    clusters = [start_cluster(queue["env"]) for _ in range(3)]
    victim, killed_workers = clusters[0], set()
    try:
        for record_id in record_ids:  # duplicate messages back to back: several workers race for one record
            for _ in range(COPIES):
                records.dispatch(record_id)
        print(f"enqueued {client.llen(key)} in {time.monotonic() - began:.1f}s")

        # Kill one cluster while it runs records (a lease names its owner host:pid, a process of that cluster). The
        # cluster is frozen first, so the records it holds cannot finish between looking and killing.
        host, interrupted = socket.gethostname(), set()

        def victim_caught_running():
            if SyncRecord.objects.filter(status=RecordStatus.SUCCEEDED).count() < ORDERS // 5:
                return False
            killed_workers.update(f"{host}:{pid}" for pid in group_pids(victim))
            os.killpg(victim.pid, signal.SIGSTOP)
            running = SyncRecord.objects.filter(status=RecordStatus.RUNNING).values_list("pk", "lease_owner")
            interrupted.update(pk for pk, lease in running if lease.split("/")[0] in killed_workers)
            if not interrupted:
                os.killpg(victim.pid, signal.SIGCONT)
            return bool(interrupted)
        assert wait_for(victim_caught_running, time.monotonic() + 40, pause=0.05), state()
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        print(f"killed a cluster at {time.monotonic() - began:.1f}s, interrupting {len(interrupted)} records")

        def settled():  # fails at once when a record runs to success twice, instead of at the deadline
            runs = SyncAttempt.objects.filter(outcome="succeeded").count()
            assert runs <= ORDERS + len(interrupted), ("a record succeeded twice", state())
            return not SyncRecord.objects.filter(status__in=OPEN).exists()
        assert wait_for(settled, time.monotonic() + 75, sweep=True, pause=1), state()
        # Duplicate messages may still be queued: let the live clusters drain them; none may run a record again.
        assert wait_for(lambda: client.llen(key) == 0, time.monotonic() + 20), client.llen(key)
        time.sleep(2)
        assert settled(), state()
        print(f"settled at {time.monotonic() - began:.1f}s")
    finally:
        for cluster in clusters:
            stop(cluster)

    assert Counter(SyncRecord.objects.values_list("status", flat=True)) == {RecordStatus.SUCCEEDED: ORDERS}, state()
    rows, succeeded = Counter(), defaultdict(list)
    for record_id, outcome, worker in SyncAttempt.objects.values_list("record_id", "outcome", "worker"):
        rows[record_id] += 1
        if outcome == "succeeded":
            succeeded[record_id].append(worker)
        elif outcome == "crashed":  # the sweeper counted the killed cluster's attempt: only interrupted records
            assert record_id in interrupted, (record_id, outcome)
        else:  # a failed try (the live server choked) is retried, never a second run of a claimed record
            assert outcome == "retrying", (record_id, outcome)
    assert set(succeeded) == set(record_ids)
    twice = {pk: workers for pk, workers in succeeded.items() if len(workers) > 1}
    # Only a record the kill interrupted may have run again, and only its killed attempt may be the extra one.
    for pk, workers in twice.items():
        assert pk in interrupted and len(workers) == 2, (pk, workers)
        assert sum(worker in killed_workers for worker in workers) == 1, (pk, workers, killed_workers)
    assert len({w for ws in succeeded.values() for w in ws} - killed_workers) >= 2  # both live clusters worked
    # Every claim left an attempt row: a killed one is recorded by the sweeper as "the worker stopped" (a refunded
    # try, e.g. an open circuit, leaves a row without counting, hence at most).
    for pk, attempts in SyncRecord.objects.values_list("pk", "attempts"):
        assert attempts <= rows[pk] + (pk in interrupted), (pk, attempts, rows[pk])

    in_tims = tims_orders(tims)
    assert set(in_tims) == {o["reference"] for o in made["orders"]}
    assert all(count == 1 for count in in_tims.values()), {k: v for k, v in in_tims.items() if v > 1}
    print(f"done in {time.monotonic() - began:.1f}s")
