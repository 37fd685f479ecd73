"""Run the demo: migrate, seed the sandbox and demo organization, then the web server and workers together."""

import json
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from portal.demo import seed_demo


class Command(BaseCommand):
    help = "Migrate, seed the demo, then serve the portal and run a django-q2 cluster until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
        parser.add_argument("--seed-only", action="store_true", help="Seed and exit without serving.")

    def handle(self, *args, port, seed_only, **options):
        call_command("migrate", interactive=False, verbosity=0)
        summary = seed_demo(f"http://127.0.0.1:{port}")
        self.stdout.write(json.dumps(summary, indent=2, default=str))
        broker = "Redis" if settings.REDIS_URL else "the database (django-q2 ORM broker)"
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        self.stdout.write(self.style.SUCCESS(
            f"\nDemo ready on http://127.0.0.1:{port}/admin/  — log in as admin / admin (demo only)\n"
            f"Health: http://127.0.0.1:{port}/healthz   Sandboxes: http://127.0.0.1:{port}/sandbox/demo/...\n"
            f"Database: {database}; task broker: {broker}. Press Ctrl-C to stop.\n"))
        if seed_only:
            return
        self.serve(port)

    def serve(self, port):
        python = sys.executable
        processes = [
            subprocess.Popen([python, "manage.py", "qcluster"]),
            subprocess.Popen([python, "manage.py", "runserver", "--noreload", f"0.0.0.0:{port}"]),
        ]
        try:
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
