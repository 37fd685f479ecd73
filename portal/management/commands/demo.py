"""Run the demo: migrate, seed the sandbox and demo organization, then the web server and workers together."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from portal.demo import release_leases, seed_demo

STOP_GRACE_SECONDS = 5  # a worker may finish its task this long; then its process group is killed
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Command(BaseCommand):
    help = ("Migrate, seed the demo, then serve the portal and run a django-q2 cluster until Ctrl-C or SIGTERM "
            "(a cluster whose workers stop reporting is restarted).")

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST") or "127.0.0.1",
                            help="Address to listen on (HOST; default 127.0.0.1). 0.0.0.0 opens it to the network.")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
        parser.add_argument("--seed-only", action="store_true", help="Seed and exit without serving.")
        parser.add_argument("--watchdog-seconds", type=int,
                            default=int(os.environ.get("DEMO_WATCHDOG_SECONDS") or 60),
                            help="Restart the cluster when no worker has answered a probe for this long.")

    def handle(self, *args, host, port, seed_only, watchdog_seconds, **options):
        host = host.strip("[]")
        # The workers and the sandboxes' webhooks reach the portal here: a wildcard bind is reachable on loopback.
        reach = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        root = f"http://[{reach}]:{port}" if ":" in reach else f"http://{reach}:{port}"
        os.environ.setdefault("PORTAL_BASE_URL", root)  # the workers it starts link alert messages to this portal
        call_command("migrate", interactive=False, verbosity=0)
        summary = seed_demo(root)
        self.stdout.write(json.dumps(summary, indent=2, default=str))
        broker = "Redis" if settings.REDIS_URL else "the database (django-q2 ORM broker)"
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        self_service = summary.get("self_service", {})
        self.stdout.write(self.style.SUCCESS(
            f"\nDemo ready on {root}/admin/  — log in as admin / admin (demo only)\n"
            f"Customer pages: {root}/app/  — sign in as {self_service.get('customer_login', 'owner / owner')}\n"
            f"REST API: {root}/api/docs/   curl -H \"Authorization: Api-Key {self_service.get('api_key', '')}\" "
            f"{root}/api/failures/\n"
            f"Health: {root}/healthz   Sandboxes: {root}/sandbox/demo/...\n"
            f"Database: {database}; task broker: {broker}. Press Ctrl-C to stop.\n"))
        newcomer = summary.get("newcomer")
        if newcomer:
            lines = [f"A new customer to set up from scratch: sign in on {root}/app/ as {newcomer['login']} "
                     f"({newcomer['organization']}), then Connections › Add, with:"]
            for system in ("prestashop", "tims", "channeladvisor"):
                lines.append(f"  {system}: " + "   ".join(f"{k}: {v}" for k, v in newcomer[system].items()))
            self.stdout.write("\n".join(lines) + "\n")
        if host not in LOOPBACK:
            self.stdout.write(self.style.WARNING(
                f"Listening on {host}: anyone who can reach this machine can try admin / admin. Error details are "
                "shown only to this machine; other clients need their host name in DJANGO_ALLOWED_HOSTS.\n"))
        if seed_only:
            return
        addrport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.serve(addrport, watchdog_seconds)

    def serve(self, addrport, watchdog_seconds):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: stop.set())
        web = spawn("runserver", "--noreload", addrport)
        cluster, watchdog = spawn("qcluster"), Watchdog(watchdog_seconds)
        try:
            while not stop.wait(1):
                if web.poll() is not None:
                    raise CommandError(f"The web server stopped (exit code {web.returncode}).")
                why = ("the cluster exited" if cluster.poll() is not None
                       else f"no worker answered for {watchdog_seconds} s" if watchdog.stale() else "")
                if why:
                    self.stdout.write(self.style.WARNING(f"Watchdog: {why}; restarting the cluster."))
                    self.stop_processes([cluster])
                    cluster, watchdog = spawn("qcluster"), Watchdog(watchdog_seconds)
        finally:
            self.stop_processes([cluster, web])
            connection.close()

    def stop_processes(self, processes):
        """SIGTERM (django-q2 lets workers finish their task), then after the grace SIGKILL each process group:
        a wedged cluster or an orphaned worker must not outlive the demo. Leases of killed workers are released."""
        for process in processes:
            signal_group(process, signal.SIGTERM, leader_only=True)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
            signal_group(process, signal.SIGKILL)
            process.wait()
        wait_for_group_exit(processes, timeout=5)
        released = release_leases()
        if released:
            self.stdout.write(f"Released {released} record(s) whose worker was stopped; the sweeper retries them.")


def spawn(*args):
    # A session of its own: signals reach it only from us, and its whole tree can be killed as one group.
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, start_new_session=True)


def signal_group(process, signum, leader_only=False):
    try:
        if leader_only:
            os.kill(process.pid, signum)
        else:
            os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def wait_for_group_exit(processes, timeout):
    """Killed grandchildren are reaped by init a moment later; wait so their leases are seen as free."""
    deadline = time.monotonic() + timeout
    while not all(group_gone(p.pid) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.1)


def group_gone(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


class Watchdog:
    """Rings a heartbeat task through the broker every few seconds; stale when no worker ran one for `seconds`.
    It proves the scheduler-free path (broker → pusher → worker → database), which a wedged cluster does not."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.probe_every = max(1.0, seconds / 4)
        self.seen_at = self.probed_at = time.monotonic()
        self.last_beat = _latest_beat()

    def stale(self):
        from django_q.tasks import async_task

        now = time.monotonic()
        if now - self.probed_at >= self.probe_every:
            try:
                async_task("portal.health.beat", save=False)
            except DatabaseError:
                pass
            self.probed_at = now
        try:
            beat = _latest_beat()
        except DatabaseError:  # a busy SQLite file: look again on the next turn
            return False
        if beat != self.last_beat:
            self.last_beat, self.seen_at = beat, now
        return now - self.seen_at > self.seconds


def _latest_beat():
    from portal.health import last_beat

    return last_beat()
