"""/healthz: is the database answering, and has a worker beaten recently?"""

import socket

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.models import WorkerHeartbeat


def beat():
    """The scheduled task: scheduler, broker and a worker all had to work for this row to move. The demo's
    watchdog also enqueues it directly, as a probe of broker and workers."""
    WorkerHeartbeat.objects.update_or_create(name=beat_name(), defaults={"beat_at": timezone.now()})


def beat_name():
    return f"worker@{socket.gethostname()}"


def last_beat():
    """When a worker on this host last beat, or None."""
    return WorkerHeartbeat.objects.filter(name=beat_name()).values_list("beat_at", flat=True).first()


def check_database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"ok": False, "problem": f"The database does not answer: {exc.__class__.__name__}."}
    return {"ok": True}


def check_worker():
    latest = WorkerHeartbeat.objects.order_by("-beat_at").first()
    if latest is None:
        return {"ok": False, "problem": "No background worker has ever reported. Start one: manage.py qcluster."}
    age = (timezone.now() - latest.beat_at).total_seconds()
    result = {"last_heartbeat": latest.beat_at.isoformat(), "age_seconds": round(age, 1)}
    if age > settings.HEARTBEAT_MAX_AGE_SECONDS:
        return {"ok": False, "problem": f"No worker has reported for {int(age)} seconds: are the workers running?",
                **result}
    return {"ok": True, **result}


@never_cache
@require_GET
def healthz(request):
    checks = {"database": check_database()}
    checks["worker"] = check_worker() if checks["database"]["ok"] else {"ok": False, "problem": "Not checked."}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503)
