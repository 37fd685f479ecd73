"""Helpers for the fault-injection test: real django-q2 clusters, killing their processes, restarting PostgreSQL,
a test process that survives the restart, counting through the sandboxes' own APIs, and progress diagnostics."""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from django.db import InterfaceError, OperationalError
from django.db import connection as db

from integrations.connectors import errors
from integrations.connectors.checks import client_for
from integrations.models import Link, RecordStatus, SyncRecord

ROOT = Path(__file__).resolve().parents[3]
OPEN = (RecordStatus.PENDING, RecordStatus.RUNNING, RecordStatus.RETRYING)
DB_ERRORS = (OperationalError, InterfaceError)


# --- clusters ------------------------------------------------------------------------------------------------------

def start_cluster(log_dir, name, workers=2):
    """A `manage.py qcluster` process on the test database with the ORM broker, in its own process group."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings_test", "Q_WORKERS": str(workers),
           "Q_TIMEOUT": "20", "PIPELINE_LEASE_SECONDS": "25", "PIPELINE_BACKOFF_BASE_SECONDS": "1",
           "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db.settings_dict['NAME']}"}
    env.pop("REDIS_URL", None)
    log = open(Path(log_dir) / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it open
    try:
        return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()


def worker_pids(cluster):
    """The cluster's worker processes (descendants of the qcluster process that are not the sentinel)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _parent(int(entry.name))
            if parent is not None and parent != cluster.pid and _descends(int(entry.name), cluster.pid):
                pids.append(int(entry.name))
    return pids


def _parent(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _descends(pid, ancestor):
    for _ in range(6):
        pid = _parent(pid)
        if pid is None or pid <= 1:
            return False
        if pid == ancestor:
            return True
    return False


def kill_workers(cluster, count):
    """SIGKILL up to `count` of the cluster's worker processes; the sentinel's guard starts new ones."""
    killed = worker_pids(cluster)[:count]
    for pid in killed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return killed


def stop(cluster):
    """SIGKILL the whole cluster (qcluster, sentinel, pusher, monitor, workers): no graceful shutdown."""
    try:
        os.killpg(cluster.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    cluster.wait(timeout=30)


def log_tails(log_dir, lines=25):
    out = {}
    for path in sorted(Path(log_dir).glob("*.log")):
        out[path.name] = path.read_text(errors="replace").splitlines()[-lines:]
    return out


# --- PostgreSQL --------------------------------------------------------------------------------------------------

def postgres_restart_command():
    """The command that restarts the local cluster serving the test database, or (None, why it cannot)."""
    if db.vendor != "postgresql":
        return None, "the test database is not PostgreSQL"
    if db.settings_dict.get("HOST") not in ("127.0.0.1", "localhost", "", None):
        return None, f"the database host {db.settings_dict.get('HOST')} is not this machine"
    if os.geteuid() != 0:
        return None, "the test does not run as root"
    if not shutil.which("pg_ctlcluster") or not Path("/etc/postgresql").is_dir():
        return None, "pg_ctlcluster (postgresql-common) is not installed"
    port = str(db.settings_dict.get("PORT") or 5432)
    for version in sorted(os.listdir("/etc/postgresql")):
        conf = Path("/etc/postgresql", version, "main", "postgresql.conf")
        if conf.is_file() and any("".join(line.split("#")[0].split()) == f"port={port}"
                                  for line in conf.read_text().splitlines()):
            return ["pg_ctlcluster", "-m", "fast", "--skip-systemctl-redirect", version, "main", "restart"], ""
    return None, f"no local PostgreSQL cluster listens on port {port}"


def restart_postgres(timeout=90):
    """Restart PostgreSQL (fast mode: every session is cut), wait until it accepts connections, reconnect.
    Returns the seconds it took, or the reason it was not possible."""
    command, why = postgres_restart_command()
    if command is None:
        return why
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode:
        wait_for_postgres(timeout)  # whatever happened, do not leave the suite without a database
        raise AssertionError(f"{' '.join(command)} failed: {result.stdout} {result.stderr}")
    wait_for_postgres(timeout)
    db.close()  # this process's session died with the server: the next query opens a new one
    return round(time.monotonic() - started, 1)


def wait_for_postgres(timeout=90):
    port = str(db.settings_dict.get("PORT") or 5432)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", port], timeout=10).returncode == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"PostgreSQL did not come back within {timeout} s")


def surviving_db_errors(fn, *args, **kwargs):
    """Run fn; if the database went away under it, drop this process's connection (the next query reconnects)."""
    try:
        return fn(*args, **kwargs)
    except DB_ERRORS:
        db.close()
        return None


# --- counting through the sandboxes' own APIs ---------------------------------------------------------------------

def _retrying(fn, attempts=20):
    """Reads under chaos: an injected 5xx/429/hang or an open circuit is waited out, like any client would."""
    for attempt in range(attempts):
        try:
            return fn()
        except errors.TransientError:
            if attempt == attempts - 1:
                raise
            time.sleep(min(1 + attempt, 5))


def tims_sales_orders(tims_connection):
    """ExternalOrderID → [SalesOrderID, ...] for every sales order TIMS has, read from its API."""
    def read():
        found = defaultdict(list)
        for page in client_for(tims_connection).pages("sales-orders"):
            for raw in page:
                found[raw["ExternalOrderID"]].append(str(raw["SalesOrderID"]))
        return dict(found)

    return _retrying(read)


def channeladvisor_unexported(ca_connection):
    """Ids of the orders ChannelAdvisor still lists as not exported for this application, read from its API."""
    return _retrying(lambda: {order.source_id for page in client_for(ca_connection).new_orders() for order in page})


def links_by_source(integration):
    return dict(Link.objects.filter(integration=integration, entity_type="order").values_list("source_id",
                                                                                              "target_id"))


# --- diagnostics -------------------------------------------------------------------------------------------------

def snapshot():
    """One line of progress: records by status and the doorbells waiting in the ORM broker's queue."""
    from django_q.models import OrmQ

    return {"records": dict(Counter(SyncRecord.objects.values_list("status", flat=True))),
            "queued_tasks": OrmQ.objects.count()}


def progress(log_dir=None, sandbox=None):
    """What the records, their attempts, the sandboxes' injected faults and the clusters look like."""
    from django.db.models import Avg, Count, Max

    from integrations.models import PollState, SyncAttempt
    from sandbox.models import SandboxCall

    def gather():
        attempts = list(SyncAttempt.objects.values("outcome").annotate(n=Count("id"), ms=Avg("duration_ms")))
        errors_seen = Counter(SyncAttempt.objects.exclude(outcome="succeeded").values_list("error_message",
                                                                                              flat=True))
        open_records = list(SyncRecord.objects.filter(status__in=OPEN).values(
            "pk", "status", "reference", "attempts", "next_attempt_at", "lease_expires_at", "error_message")[:10])
        out = {**snapshot(),
               "max_attempts": SyncRecord.objects.aggregate(m=Max("attempts"))["m"],
               "attempts": attempts, "errors": errors_seen.most_common(8), "open": open_records,
               "polls": list(PollState.objects.values_list("name", "integration_id", "connection_id",
                                                             "last_polled_at", "lease_until", "last_error")),
               "dead": list(SyncRecord.objects.filter(status=RecordStatus.DEAD).values_list(
                   "reference", "error_message")[:10])}
        if sandbox is not None:
            out["faults"] = list(SandboxCall.objects.filter(sandbox=sandbox).exclude(fault="").values(
                "system", "fault").annotate(n=Count("id")).order_by("system", "fault"))
        return out

    out = surviving_db_errors(gather) or {"database": "unavailable"}
    if log_dir is not None:
        out["cluster_logs"] = log_tails(log_dir)
    return out
