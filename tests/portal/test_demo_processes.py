"""`manage.py demo` as a real process tree on a temporary SQLite database: SIGTERM stops every process within
seconds, and a wedged cluster (its workers SIGKILLed) is restarted by the demo's watchdog."""

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children():
    """pid -> parent pid of every process on this machine."""
    out = {}
    for entry in Path("/proc").iterdir():
        try:
            out[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            pass
    return out


def descendants(pid):
    parents, found, frontier = children(), set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.2)
    return predicate()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """The demo seeded once; its integrations paused, so the cluster only answers the watchdog's probes."""
    path = tmp_path_factory.mktemp("demo") / "seeded.sqlite3"
    subprocess.run([sys.executable, "manage.py", "demo", "--seed-only", "--port", "8000"], cwd=ROOT,
                   env=demo_env(path), check=True, timeout=120, stdout=subprocess.DEVNULL)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE integrations_integration SET state = 'paused'")
    return path


def demo_env(path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "DATABASE_URL": f"sqlite:///{path}",
           "PYTHONUNBUFFERED": "1", "Q_WORKERS": "2"}
    env.pop("REDIS_URL", None)
    env.pop("HOST", None)
    return env


@pytest.fixture
def demo(seeded, tmp_path):
    started = []

    def start(*args):
        path = tmp_path / "demo.sqlite3"
        shutil.copy(seeded, path)
        log = tmp_path / "demo.log"
        process = subprocess.Popen([sys.executable, "manage.py", "demo", "--port", str(free_port()), *args],
                                   cwd=ROOT, env=demo_env(path), stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                   start_new_session=True)
        started.append(process)
        process.log, process.db = log, path
        assert wait_for(lambda: "running." in log.read_text(errors="replace") or process.poll() is not None, 60)
        assert process.poll() is None, log.read_text()
        process.tree = descendants(process.pid)
        return process

    yield start
    for process in started:  # whatever a failed test left behind, even orphans of a demo that died
        for pid in {process.pid, *process.tree, *descendants(process.pid)}:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        process.wait(timeout=10)


def test_sigterm_stops_the_demo_and_every_process_it_started(demo):
    process = demo()
    tree = process.tree
    assert len(tree) >= 7, "runserver, qcluster, its sentinel, two workers, monitor and pusher"
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert wait_for(lambda: process.poll() is not None and not any(alive(pid) for pid in tree), 10), \
        (sorted(pid for pid in tree if alive(pid)), process.log.read_text()[-2000:])
    assert process.returncode == 0
    assert time.monotonic() - stopped_at < 10


def test_the_watchdog_restarts_a_cluster_whose_workers_were_killed(demo):
    process = demo("--watchdog-seconds", "6")
    cluster = next(pid for pid in descendants(process.pid) if children().get(pid) == process.pid
                   and b"qcluster" in Path(f"/proc/{pid}/cmdline").read_bytes())
    assert wait_for(lambda: beat(process.db) is not None, 20), "the watchdog's probe reached a worker"
    sentinel = next(pid for pid, parent in children().items() if parent == cluster)
    # Every process under the sentinel: a worker killed while holding the task queue's lock wedges the cluster,
    # though the sentinel starts new ones.
    for pid in [pid for pid, parent in children().items() if parent == sentinel]:
        os.kill(pid, signal.SIGKILL)
    killed_at = time.time()
    assert wait_for(lambda: "restarting the cluster" in process.log.read_text(errors="replace"), 30)
    assert wait_for(lambda: not alive(cluster), 10)
    assert wait_for(lambda: (beat(process.db) or 0) > killed_at, 25), "the new cluster answers"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


def beat(path):
    """The Unix time of the last worker heartbeat in the demo's database, or None."""
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT max(strftime('%s', beat_at) + 0.0) FROM portal_workerheartbeat").fetchone()
    return row[0]


SQLITE_QUERIES = """
from datetime import timedelta
from django.utils import timezone
from alerts import evaluate
from alerts.models import AlertRule
from integrations.models import Integration
from reconciliation.compute import cohort
for integration in Integration.objects.all():
    start = timezone.now() - timedelta(days=30)
    cohort(integration, start, timezone.now())  # the query runs, orders or not
results = evaluate.run()
assert len(results) == AlertRule.objects.filter(active=True).count() > 0, results
print("ok")
"""


def test_the_reconciliation_and_the_alert_rules_run_on_the_demo_database(seeded, tmp_path):
    """The demo's SQLite: its JSON lookups and DISTINCT differ from PostgreSQL's, on which the rest is tested."""
    path = tmp_path / "queries.sqlite3"
    shutil.copy(seeded, path)
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", SQLITE_QUERIES], cwd=ROOT,
                          env=demo_env(path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
    assert "could not be evaluated" not in done.stderr, done.stderr[-3000:]
