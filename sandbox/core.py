"""The shared plumbing of every sandbox system: find the instance, inject faults, count calls, issue secrets,
queue signed webhooks. Each system's views use `endpoint`; nothing else here knows any protocol."""

import atexit
import functools
import json
import logging
import os
import secrets
import threading
import time
from datetime import timedelta

import requests
from django.db import connection, transaction
from django.http import Http404, HttpResponse
from django.utils import timezone

from portal.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from sandbox.faults import Decider
from sandbox.models import (
    FaultProfile,
    Sandbox,
    SandboxCall,
    SandboxCredential,
    WebhookDelivery,
    WebhookSubscription,
    digest,
)

log = logging.getLogger(__name__)
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def get_sandbox(slug):
    try:
        return Sandbox.objects.get(slug=slug)
    except Sandbox.DoesNotExist:
        raise Http404(f"No sandbox “{slug}”.") from None


def fault_profile(sandbox, system):
    return FaultProfile.objects.filter(sandbox=sandbox, system=system).first()


def endpoint(system, pattern, fault_response=None):
    """Decorate a sandbox view `view(request, sandbox, **kwargs)` taking the URL kwarg `slug`.

    It injects the faults configured for the system, records the call and its status. `fault_response(status,
    message, retry_after)` lets a system answer injected errors in its own error envelope.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, slug, **kwargs):
            started = time.monotonic()
            sandbox = get_sandbox(slug)
            profile = fault_profile(sandbox, system)
            fault, delay = ("", 0.0)
            if profile is not None:
                fault, delay = Decider.decide(profile, request.method in WRITE_METHODS)
            if delay:
                time.sleep(delay)
            response = None
            if fault.startswith("error:"):
                response = _fault(fault_response, int(fault.split(":")[1]), "Injected sandbox failure.", None)
            elif fault == "throttle":
                response = _fault(fault_response, 429, "Too many requests (sandbox).", profile.retry_after_seconds)
            elif fault == "hang":
                time.sleep(profile.hang_seconds)
                response = _fault(fault_response, 504, "Injected hang ended.", None)
            if response is None:
                response = view(request, sandbox, **kwargs)
                if fault == "commit_then_fail" and response.status_code < 300:
                    response = _fault(fault_response, 500, "Injected failure after the write was committed.", None)
            record_call(sandbox, system, request.method, pattern, response.status_code,
                        (time.monotonic() - started) * 1000, fault)
            return response

        return wrapper

    return decorate


def _fault(fault_response, status, message, retry_after):
    if fault_response is not None:
        response = fault_response(status, message, retry_after)
    else:
        response = HttpResponse(json.dumps({"error": message}), status=status, content_type="application/json")
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def record_call(sandbox, system, method, pattern, status, duration_ms, fault=""):
    SandboxCall.objects.create(sandbox=sandbox, system=system, method=method, endpoint=pattern, status=status,
                               duration_ms=duration_ms, fault=fault)


def stats(sandbox):
    """Counts of calls per system, method, endpoint and status."""
    from django.db.models import Avg, Count

    rows = (SandboxCall.objects.filter(sandbox=sandbox)
            .values("system", "method", "endpoint", "status")
            .annotate(count=Count("id"), avg_ms=Avg("duration_ms"))
            .order_by("system", "endpoint", "method", "status"))
    out = {"sandbox": sandbox.slug, "total": 0, "systems": {}}
    for row in rows:
        system = out["systems"].setdefault(row["system"], {"total": 0, "calls": []})
        system["total"] += row["count"]
        out["total"] += row["count"]
        system["calls"].append({k: row[k] for k in ("method", "endpoint", "status", "count")}
                               | {"avg_ms": round(row["avg_ms"] or 0, 2)})
    return out


# --- secrets the sandbox accepts (stored as hashes only) ---

def new_secret(nbytes=24):
    return secrets.token_urlsafe(nbytes)


def store_secret(sandbox, system, kind, secret, identifier=""):
    SandboxCredential.objects.create(sandbox=sandbox, system=system, kind=kind, identifier=identifier,
                                     secret_hash=digest(secret))


def secret_matches(sandbox, system, kind, secret, identifier=None):
    """True when `secret` is an active secret of that kind (and, if given, for that identifier)."""
    if not secret:
        return False
    rows = SandboxCredential.objects.filter(sandbox=sandbox, system=system, kind=kind, active=True,
                                            secret_hash=digest(secret))
    if identifier is not None:
        rows = rows.filter(identifier=identifier)
    return rows.exists()


# --- outbound webhooks (signed, retried, optionally duplicated and reordered by the fault profile) ---

RETRY_DELAYS = [5, 30, 120, 600, 1800]
IN_FLIGHT = timedelta(seconds=30)  # a sender that died mid-request leaves its delivery due again after this
LOOP_SECONDS = 1.0  # how often the deliverer looks again while deliveries are pending
LINGER = timedelta(seconds=10)  # pending deliveries due within this keep it looping; later ones wait for the schedule
FLUSH_SECONDS = 5  # how long a short-lived process (the CLI) waits at exit for its webhooks to leave


def queue_webhook(sandbox, system, event, payload):
    """Queue `payload` for every active subscriber of `system`; delivery starts after the commit."""
    profile = fault_profile(sandbox, system)
    now = timezone.now()
    created = []
    for subscription in WebhookSubscription.objects.filter(sandbox=sandbox, system=system, active=True):
        if subscription.events and event not in subscription.events:
            continue
        copies, delay = Decider.webhook_plan(profile)
        body = json.dumps(payload, sort_keys=True)
        for _ in range(copies):
            created.append(WebhookDelivery.objects.create(
                subscription=subscription, event=event, body=body, next_attempt_at=now + timedelta(seconds=delay)))
    if created:
        transaction.on_commit(_deliverer.wake)
    return created


class _Deliverer:
    """One thread per process that sends due webhooks as soon as they are queued, then every LOOP_SECONDS while
    some are due soon (retries, reordered copies); it ends when nothing is, so an idle process holds no thread and
    no connection. The "deliver due webhooks" schedule is the safety net for anything left over."""

    def __init__(self):
        self.lock = threading.Lock()
        self.event = threading.Event()
        self.thread = None
        self.stopping = False

    def wake(self):
        with self.lock:
            self.event.set()
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
                self.thread.start()

    def _run(self):
        try:
            while True:
                self.event.clear()
                try:
                    deliver_due()
                    pending = _due_soon()
                except Exception:  # the schedule retries whatever this pass left
                    log.exception("Sandbox webhook delivery failed")
                    pending = False
                finally:
                    connection.close()  # this thread's own connection: never held while idle
                with self.lock:
                    if self.stopping or (not pending and not self.event.is_set()):
                        self.thread = None
                        return
                self.event.wait(LOOP_SECONDS)
        finally:
            with self.lock:
                if self.thread is threading.current_thread():
                    self.thread = None

    def flush(self):
        """At interpreter exit: let the current pass finish, so a CLI command's webhooks leave with it."""
        with self.lock:
            thread, self.stopping = self.thread, True
            self.event.set()
        if thread is not None:
            thread.join(FLUSH_SECONDS)

    def after_fork(self):
        # A forked child (a django-q2 worker) inherits none of the parent's threads.
        self.__init__()


_deliverer = _Deliverer()
atexit.register(_deliverer.flush)
os.register_at_fork(after_in_child=_deliverer.after_fork)


def _due_soon():
    return WebhookDelivery.objects.filter(delivered_at__isnull=True,
                                          next_attempt_at__lte=timezone.now() + LINGER).exists()


def deliver_due(limit=100):
    """Send the webhooks that are due; failures are retried later on a backoff. Returns how many were sent."""
    now = timezone.now()
    due = list(WebhookDelivery.objects.filter(delivered_at__isnull=True, next_attempt_at__lte=now)
               .select_related("subscription").order_by("next_attempt_at", "id")[:limit])
    sent = 0
    for delivery in due:
        # Claimed first: several processes run deliverers, and one attempt must go out once.
        claimed = WebhookDelivery.objects.filter(pk=delivery.pk, delivered_at__isnull=True,
                                                 next_attempt_at=delivery.next_attempt_at)
        if claimed.update(next_attempt_at=now + IN_FLIGHT):
            sent += _deliver(delivery)
    return sent


def _deliver(delivery):
    subscription = delivery.subscription
    secret = subscription.signing.get("secret", "")
    timestamp = str(int(time.time()))
    body = delivery.body.encode()
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
               SIGNATURE_HEADER: sign(secret, timestamp, body), "X-Webhook-Event": delivery.event}
    delivery.attempts += 1
    try:
        response = requests.post(subscription.url, data=body, headers=headers, timeout=10, allow_redirects=False)
        delivery.last_status = response.status_code
        ok = 200 <= response.status_code < 300
        delivery.last_error = "" if ok else response.text[:500]
    except requests.RequestException as exc:
        ok = False
        delivery.last_error = str(exc)[:500]
    if ok:
        delivery.delivered_at = timezone.now()
    elif delivery.attempts <= len(RETRY_DELAYS):
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=RETRY_DELAYS[delivery.attempts - 1])
    else:
        delivery.next_attempt_at = None  # gave up, as a real module would; kept for inspection
    delivery.save()
    return int(ok)
