"""Events customers subscribe to: a record became a dead letter, a record succeeded after a human retry, an
integration was paused. Emitting writes one Delivery row per subscription after the pipeline's commit; a worker
sends it signed (portal.signing: HMAC-SHA256 over "<timestamp>.<body>") and a schedule retries what failed,
with exponential backoff, until it is delivered or MAX_ATTEMPTS are spent.

The pipeline's hooks call record_finished(); nothing here may make the pipeline fail, so every error is logged."""

import json
import logging
import secrets
import time
import uuid
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api.models import Delivery, DeliveryStatus, Event, Subscription
from portal import signing

log = logging.getLogger(__name__)

EVENT_HEADER = "X-Portal-Event"
DELIVERY_HEADER = "X-Portal-Delivery"
TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 8  # 1, 2, 4 ... 64 minutes apart: about two hours of a receiver being down
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
CLAIM_FOR = timedelta(seconds=TIMEOUT_SECONDS * 3)  # a sender that died gives the delivery back after this
SUBSCRIBED_CACHE_SECONDS = 10

# organization id -> (checked at, set of events someone subscribed to): the pipeline asks once per finished record.
_subscribed = {}


def forget_subscriptions():
    _subscribed.clear()


def _events_subscribed(organization_id):
    now = time.monotonic()
    cached = _subscribed.get(organization_id)
    if cached and now - cached[0] < SUBSCRIBED_CACHE_SECONDS:
        return cached[1]
    names = set()
    for events in Subscription.objects.filter(organization_id=organization_id, active=True).values_list(
            "events", flat=True):
        names.update(events or [])
    _subscribed[organization_id] = (now, names)
    return names


# ---- emitting ---------------------------------------------------------------------------------------------------

def record_finished(record, status):
    """The pipeline's one call: after the commit that made a record dead or succeeded, emit what it means."""
    if status not in ("dead", "succeeded"):
        return
    try:
        record_id, organization_id = record.pk, record.organization_id
        transaction.on_commit(lambda: _safely(_record_finished, record_id, organization_id, status))
    except Exception:
        log.exception("Could not schedule the events of record %s", getattr(record, "pk", None))


def _safely(function, *args):
    try:
        function(*args)
    except Exception:
        log.exception("Emitting an event failed (%s%r); the pipeline goes on", function.__name__, args)


def _record_finished(record_id, organization_id, status):
    from integrations.models import SyncRecord

    event = Event.RECORD_DEAD if status == "dead" else Event.RECORD_RECOVERED
    if event not in _events_subscribed(organization_id):  # the usual case costs no query (cached a few seconds)
        return
    record = SyncRecord.objects.select_related("integration", "organization").filter(pk=record_id).first()
    if record is None:
        return
    if event == Event.RECORD_RECOVERED and not record.audit_entries.filter(action="retry").exists():
        return  # succeeded on its own: not a recovery
    emit(record.organization, event, describe_record(record))


def integration_paused(integration):
    """Call in the transaction that paused it (a signal does, for every way of pausing): sent after its commit."""
    organization = integration.organization
    data = {"integration": describe_integration(integration)}
    transaction.on_commit(lambda: _safely(_emit_paused, organization, integration.pk, data))


def _emit_paused(organization, integration_id, data):
    from integrations.models import AuditEntry

    data["by"] = (AuditEntry.objects.filter(action="pause_integration", before__integration=integration_id)
                  .order_by("-at").values_list("actor_name", flat=True).first() or "")
    _emit_if_subscribed(organization, Event.INTEGRATION_PAUSED, data)


def watch_pauses():
    """Hear every pause, whoever made it (API, the setup pages, the admin), from the model's saves."""
    from django.db.models.signals import post_save, pre_save

    from integrations.models import Integration, IntegrationState

    def remember_state(sender, instance, update_fields=None, **kwargs):
        if instance.pk and (update_fields is None or "state" in update_fields):
            instance._state_before_save = sender.objects.filter(pk=instance.pk).values_list(
                "state", flat=True).first()

    def tell_if_paused(sender, instance, created, **kwargs):
        before = instance.__dict__.pop("_state_before_save", None)
        if not created and instance.state == IntegrationState.PAUSED and before not in (None, IntegrationState.PAUSED):
            try:
                integration_paused(instance)
            except Exception:
                log.exception("Could not schedule the pause event of integration %s", instance.pk)

    pre_save.connect(remember_state, sender=Integration, dispatch_uid="api.events.remember_state")
    post_save.connect(tell_if_paused, sender=Integration, dispatch_uid="api.events.tell_if_paused")


def _emit_if_subscribed(organization, event, data):
    if event in _events_subscribed(organization.pk):
        emit(organization, event, data)


def describe_record(record):
    return {"record": {
        "id": record.pk, "integration": {"id": record.integration_id, "name": record.integration.name},
        "flow": record.flow, "entity_type": record.entity_type, "source_id": record.source_id,
        "reference": record.reference, "status": record.status, "target_id": record.target_id,
        "error_class": record.error_class, "error_message": record.error_message,
        "suggested_fix": record.suggested_fix, "attempts": record.attempts,
        "finished_at": record.finished_at.isoformat() if record.finished_at else None}}


def describe_integration(integration):
    return {"id": integration.pk, "name": integration.name, "state": integration.state}


def emit(organization, event, data, subscriptions=None):
    """A Delivery row per active subscription to `event` (or the ones given), each sent after this commit."""
    chosen = subscriptions if subscriptions is not None else [
        s for s in Subscription.objects.filter(organization=organization, active=True) if event in s.events]
    made = []
    with transaction.atomic():
        for subscription in chosen:
            body = json.dumps({"id": str(uuid.uuid4()), "event": event, "created_at": timezone.now().isoformat(),
                               "organization": {"id": organization.pk, "slug": organization.slug},
                               "data": data}, ensure_ascii=False, separators=(",", ":"))
            made.append(Delivery.objects.create(subscription=subscription, event=event, body=body,
                                                next_attempt_at=timezone.now()))
        for delivery in made:
            transaction.on_commit(lambda pk=delivery.pk: enqueue(pk))
    return made


def send_test(subscription):
    return emit(subscription.organization, Event.PING, {"message": "A test event from the integration portal."},
                subscriptions=[subscription])[0]


def new_secret():
    return secrets.token_urlsafe(32)


# ---- sending ----------------------------------------------------------------------------------------------------

def enqueue(delivery_id):
    from django_q.tasks import async_task

    try:
        async_task("api.events.deliver", delivery_id, task_name=f"event-delivery-{delivery_id}",
                   q_options={"group": "events", "save": False})
    except Exception:  # the schedule picks it up
        log.warning("Could not enqueue event delivery %s; deliver_due will send it", delivery_id, exc_info=True)


def backoff(attempts):
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def deliver(delivery_id, now=None):
    """Send one delivery if it is due and nobody else is sending it. Returns True when the receiver took it."""
    now = now or timezone.now()
    claimed = Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now).update(
        next_attempt_at=now + CLAIM_FOR)
    if not claimed:
        return False
    delivery = Delivery.objects.select_related("subscription").get(pk=delivery_id)
    code, error = _post(delivery)
    attempts = delivery.attempts + 1
    fields = {"attempts": attempts, "last_attempt_at": now, "response_code": code, "last_error": error}
    if error is None:
        fields.update(status=DeliveryStatus.DELIVERED, delivered_at=timezone.now(), next_attempt_at=None,
                      last_error="")
    elif attempts >= MAX_ATTEMPTS:
        fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    else:
        fields.update(next_attempt_at=now + backoff(attempts))
    Delivery.objects.filter(pk=delivery_id).update(**fields)
    return error is None


def _post(delivery):
    body = delivery.body.encode()
    timestamp = str(int(time.time()))
    secret = (delivery.subscription.signing_secret or {}).get("secret", "")
    headers = {"Content-Type": "application/json", "User-Agent": "integration-portal-events/1",
               EVENT_HEADER: delivery.event, DELIVERY_HEADER: str(delivery.pk),
               signing.TIMESTAMP_HEADER: timestamp, signing.SIGNATURE_HEADER: signing.sign(secret, timestamp, body)}
    try:
        response = _session().post(delivery.subscription.url, data=body, headers=headers, timeout=TIMEOUT_SECONDS,
                                   allow_redirects=False)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong is kept in words and tried again
        return None, f"{type(exc).__name__}: {exc}"[:1000]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"The receiver answered {response.status_code}: {response.text[:300]}"


def _session():
    from integrations.connectors.http import GuardedAdapter

    session = requests.Session()
    session.trust_env = False  # a proxy from the environment would hide the real peer from the guard
    if not getattr(settings, "API_EVENTS_ALLOW_PRIVATE", settings.DEBUG):
        session.mount("http://", GuardedAdapter())
        session.mount("https://", GuardedAdapter())
    return session


def deliver_due(now=None, limit=200):
    """The schedule: send what is due (new rows whose task was lost, and retries). Returns how many went through."""
    now = now or timezone.now()
    due = list(Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
               .order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    return sum(1 for pk in due if deliver(pk, now=now))
