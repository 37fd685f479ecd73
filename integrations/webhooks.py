"""Webhook endpoints: verify, persist the inbox row in the same transaction, answer 202. Webhooks are only hints:
the worker reads the record back from the source, so payload order and duplicates don't matter.

The answer is the door: whatever is refused is refused here, in plain words with a 4xx, and stores nothing.
"""

import hashlib
import json
import logging
import re
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.connectors import ids
from integrations.flows import registry
from integrations.models import Connection, Integration, IntegrationState, WebhookReceipt
from integrations.pipeline import records
from integrations.pipeline.pollers import POLLING_STATES
from portal import signing

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 32  # real hints are a few levels deep; deeper is a probe
MAX_NUMBER_CHARS = 40  # int() of thousands of digits is slow and, past 4300, a ValueError
# A signature is good for MAX_SKEW_SECONDS either side of now, so a receipt must outlive both sides.
RECEIPT_KEEP = timedelta(seconds=2 * signing.MAX_SKEW_SECONDS + 60)
# A burst of TIMS hints rings one poll until a poll starts reading; a ring not picked up this long is rung again.
RING_PENDING = timedelta(seconds=30)
NOT_PENDING = datetime(2000, 1, 1, tzinfo=UTC)
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")  # PostgreSQL text holds neither NUL nor a lone surrogate


class Refused(ValueError):
    """A body we will not read, with the reason in plain words."""


def problem(status, message):
    return JsonResponse({"error": message}, status=status)


def not_found(request, *args, **kwargs):
    """Anything else under /hooks/: a JSON 404 (never an APPEND_SLASH redirect of a POST, which is a 500)."""
    return problem(404, "No such webhook endpoint.")


@csrf_exempt
@require_POST
def receive_webhook(request, integration_id, system):
    refused = length_problem(request)
    if refused:
        return refused
    integration = (Integration.objects.select_related("channel_connection", "tims_connection")
                   .filter(pk=integration_id).first())
    routes = registry.webhook_routes(integration, system) if integration else []
    if integration is None or integration.channel_connection.kind != system or not any(
            registry.offered_by(integration.template, system)):
        return problem(404, "No such webhook endpoint.")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        return problem(413, f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
    timestamp = request.headers.get(signing.TIMESTAMP_HEADER)
    signature = request.headers.get(signing.SIGNATURE_HEADER)
    reason = signing.verify(integration.webhook_secret.get("secret", ""), timestamp, signature, body)
    if reason:
        return problem(401, reason)
    try:
        payload = parse_json(body)
    except Refused as exc:
        return problem(400, str(exc))
    hints = []
    for flow, trigger in routes:
        value = hinted_value(payload, trigger)
        if value is None:
            continue
        kind = flow.source_kind(integration)
        source_id = ids.valid_source_id(kind, value)
        if source_id is None:  # refused whole: one bad id means the sender is not who we think
            return problem(400, f"{trigger.id_field} is not a {kind} {flow.entity_type} id: it must be "
                           f"{ids.describe(kind)}.")
        hints.append((flow, source_id))
    if routes and not hints:
        entities = " or ".join(sorted({flow.entity_type for flow, _ in routes}))
        return problem(400, f"The body names no {entities} id ("
                       + ", ".join(sorted({t.id_field for _, t in routes})) + ").")
    if integration.state in (IntegrationState.DRAFT, IntegrationState.PAUSED) or not hints:
        return JsonResponse({"accepted": False, "reason": "This integration does not run that flow now."},
                            status=202)
    accepted = []
    with transaction.atomic():
        if not remember(f"integration:{integration.pk}:{system}", timestamp, signature, body):
            return already_received()
        for flow, source_id in hints:
            record, created = records.receive_hint(integration, flow=flow.name, entity_type=flow.entity_type,
                                                   source_id=source_id)
            accepted.append({"flow": flow.name, "record": record.pk, "new": created})
    first = accepted[0]
    return JsonResponse({"accepted": True, "record": first["record"], "new": first["new"], "records": accepted},
                        status=202)


@csrf_exempt
@require_POST
def receive_tims_webhook(request, connection_id):
    """A TIMS outbound webhook: a hint that its event feed moved, so poll the connection's streams now (once for
    a burst). The body names the event type and Seq; what happened is read from the feed, never from the body."""
    refused = length_problem(request)
    if refused:
        return refused
    connection = Connection.objects.filter(pk=connection_id, kind="tims").first()
    if connection is None:
        return problem(404, "No such webhook endpoint.")
    secret = (connection.credentials or {}).get("webhook_secret")
    if not secret:
        return problem(404, "No such webhook endpoint: this TIMS connection has no webhook secret set.")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        return problem(413, f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
    timestamp = request.headers.get(signing.TIMESTAMP_HEADER)
    signature = request.headers.get(signing.SIGNATURE_HEADER)
    reason = signing.verify(secret, timestamp, signature, body)
    if reason:
        return problem(401, reason)
    try:
        payload = parse_json(body)
    except Refused as exc:
        return problem(400, str(exc))
    if not isinstance(payload, dict) or ids.valid_event_type(payload.get("Type")) is None \
            or ids.valid_sequence(payload.get("Seq")) is None:
        return problem(400, "A TIMS webhook body names its event: {\"Type\": \"inventory.changed\", \"Seq\": 123}.")
    if not Integration.objects.filter(tims_connection=connection, state__in=POLLING_STATES).exists():
        return JsonResponse({"accepted": False, "reason": "No live or shadow integration reads this TIMS connection."},
                            status=202)
    with transaction.atomic():
        if not remember(f"tims:{connection.pk}", timestamp, signature, body):
            return already_received()
        queued = poll_due(connection.pk)
        mark_hint(connection.pk)  # a poll already reading the feed reads it once more when it ends
        if queued:
            transaction.on_commit(lambda: enqueue_poll(connection.pk))
    return JsonResponse({"accepted": True, "poll": "queued" if queued else "already queued"}, status=202)


def length_problem(request):
    """Content-Length is read before the signature (Django's request.body int()s it): refuse nonsense plainly."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not (length.isascii() and length.isdigit() and len(length) <= 12):
        return problem(400, "Content-Length must be a whole number of bytes.")
    if int(length) > MAX_BODY_BYTES:
        return problem(413, f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
    return None


def parse_json(body):
    """The body as JSON, read with limits: strict UTF-8, at most MAX_DEPTH levels, short numbers, and no string
    that PostgreSQL cannot store (NUL, a lone surrogate). Raises Refused with the reason."""
    try:
        text = body.decode("utf-8")  # strict: json.loads(bytes) would let an encoded lone surrogate through
    except UnicodeDecodeError:
        raise Refused("The body is not valid JSON: it is not UTF-8 text.") from None
    try:
        payload = json.loads(text, parse_int=_number(int), parse_float=_number(float),
                             parse_constant=_no_constant)
    except RecursionError:
        raise Refused(f"The body is nested more than {MAX_DEPTH} levels deep.") from None
    except Refused:
        raise
    except ValueError as exc:
        raise Refused(f"The body is not valid JSON: {exc}.") from None
    stack = [(payload, 1)]  # walked without recursion, so depth costs nothing
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Refused(f"The body is nested more than {MAX_DEPTH} levels deep.")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
            stack.extend((key, depth) for key in value)
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and _UNSTORABLE.search(value):
            raise Refused("The body has a string with a NUL character or a lone surrogate (\\ud800-\\udfff "
                          "without its pair): send text as UTF-8.")
    return payload


def _number(convert):
    def parse(text):
        if len(text) > MAX_NUMBER_CHARS:
            raise Refused(f"The body has a number longer than {MAX_NUMBER_CHARS} characters.")
        return convert(text)
    return parse


def _no_constant(name):
    raise Refused(f"The body is not valid JSON: {name} is not a JSON number.")


def hinted_value(payload, trigger):
    """What a hint names under the trigger's id field, or None (an event it does not take, no id at all)."""
    if not isinstance(payload, dict):
        return None
    if trigger.events and payload.get("event") not in trigger.events:
        return None
    value = payload.get(trigger.id_field)
    return None if value is None or value == "" else value


def remember(endpoint, timestamp, signature, body):
    """True the first time this signed delivery is seen; False for a replay inside the signature window.

    Call inside the transaction that does the work: a failure forgets the receipt with the work."""
    digest = hashlib.sha256(f"{endpoint}\n{timestamp}\n{signature.strip().lower()}\n".encode() + body).hexdigest()
    try:
        with transaction.atomic():
            WebhookReceipt.objects.create(digest=digest, received_at=timezone.now())
    except IntegrityError:
        return False
    return True


def already_received():
    return JsonResponse({"accepted": False, "reason": "already received"}, status=202)


def poll_due(connection_id):
    """True when no ring of this connection's poll is pending (queued, not yet reading): one row per connection
    (kept in the receipts table, whose digests are hex and cannot clash), set by a conditional UPDATE so it holds
    across processes, and cleared by the poll when it starts reading (`poll_started`). A hint that comes while a
    poll reads rings again, so the end of a burst is read at once, not at the next tick."""
    key, now = ring_key(connection_id), timezone.now()
    if WebhookReceipt.objects.filter(digest=key, received_at__lt=now - RING_PENDING).update(received_at=now):
        return True
    try:
        with transaction.atomic():
            WebhookReceipt.objects.create(digest=key, received_at=now)
    except IntegrityError:
        return False  # rung moments ago
    return True


def ring_key(connection_id):
    return f"poll:tims:{connection_id}"


def poll_started(connection_id):
    """The pending ring is being answered: the next hint rings again."""
    WebhookReceipt.objects.filter(digest=ring_key(connection_id)).update(received_at=NOT_PENDING)


def hint_key(connection_id):
    return f"hint:tims:{connection_id}"


def mark_hint(connection_id):
    """When the connection's latest hint arrived: coalescing drops the hints of a burst, so the poll that runs
    meanwhile checks this when it ends and reads again (the trailing edge of the burst is never left waiting)."""
    key, now = hint_key(connection_id), timezone.now()
    if WebhookReceipt.objects.filter(digest=key).update(received_at=now):
        return
    try:
        with transaction.atomic():
            WebhookReceipt.objects.create(digest=key, received_at=now)
    except IntegrityError:
        WebhookReceipt.objects.filter(digest=key).update(received_at=now)


def hinted_since(connection_id, moment):
    return WebhookReceipt.objects.filter(digest=hint_key(connection_id), received_at__gte=moment).exists()


def enqueue_poll(connection_id):
    """Ring the doorbell; if the broker is down the minute's poll_all reads the stream anyway."""
    from django_q.tasks import async_task

    try:
        async_task("integrations.pipeline.pollers.poll_connection", connection_id,
                   task_name=f"poll_connection-{connection_id}", q_options={"group": "poll"})
    except Exception:
        log.warning("Could not enqueue a poll of connection %s; the schedule will poll it", connection_id,
                    exc_info=True)


def prune_webhook_receipts(now=None):
    """Forget receipts older than the signature window (a replay that old fails its timestamp check anyway)."""
    deleted, _ = WebhookReceipt.objects.filter(received_at__lt=(now or timezone.now()) - RECEIPT_KEEP).delete()
    return deleted
