"""Webhook endpoints: verify, persist the inbox row in the same transaction, answer 202. Webhooks are only hints:
the worker reads the record back from the source, so payload order and duplicates don't matter."""

import json
import logging

from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.models import Integration, IntegrationState
from integrations.pipeline import records
from portal import signing

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 256 * 1024


def _order_hint(payload, id_field):
    order_id = payload.get(id_field) if isinstance(payload, dict) else None
    if isinstance(order_id, bool) or not isinstance(order_id, int | str) or not str(order_id).strip():
        return None
    return "orders", "order", str(order_id).strip()[:100]


# system -> payload -> (flow, entity type, source id) or None
HINTS = {
    "prestashop": lambda payload: _order_hint(payload, "id_order"),
    "channeladvisor": lambda payload: _order_hint(payload, "ID"),
}


def problem(status, message):
    return JsonResponse({"error": message}, status=status)


@csrf_exempt
@require_POST
def receive_webhook(request, integration_id, system):
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY_BYTES:
        return problem(413, f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
    integration = (Integration.objects.select_related("channel_connection")
                   .filter(pk=integration_id).first())
    if integration is None or system not in HINTS or integration.channel_connection.kind != system:
        return problem(404, "No such webhook endpoint.")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        return problem(413, f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
    reason = signing.verify(integration.webhook_secret.get("secret", ""),
                            request.headers.get(signing.TIMESTAMP_HEADER),
                            request.headers.get(signing.SIGNATURE_HEADER), body)
    if reason:
        return problem(401, reason)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return problem(400, f"The body is not valid JSON: {exc}.")
    hint = HINTS[system](payload)
    if hint is None:
        return problem(400, "The body names no order id.")
    if integration.state in (IntegrationState.DRAFT, IntegrationState.PAUSED) or hint[0] not in integration.flows:
        return JsonResponse({"accepted": False, "reason": "This integration does not run that flow now."},
                            status=202)
    flow, entity_type, source_id = hint
    with transaction.atomic():
        record, created = records.receive_hint(integration, flow=flow, entity_type=entity_type, source_id=source_id)
    return JsonResponse({"accepted": True, "record": record.pk, "new": created}, status=202)


