"""Messages about alerts, by email and by a signed webhook (Slack-compatible: the text is in "text"). Every try is
kept as a Delivery, so a message that did not go through is seen, and sent again on the next evaluation."""

import json
import time

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from alerts.models import Delivery
from portal import signing

WEBHOOK_TIMEOUT_SECONDS = 10


def send(rule, kind, subject, text, alerts=(), alert=None):
    """Send one message to each of the rule's channels. True when every channel took it."""
    payload = {"text": f"*{subject}*\n{text}", "username": "Integration portal", "kind": kind,
               "rule": {"id": rule.pk, "name": rule.name, "kind": rule.kind},
               "alerts": [describe(a) for a in alerts]}
    results = []
    if rule.recipients:
        results.append(_deliver(rule, alert, kind, "email", lambda: _mail(rule, subject, text)))
    if rule.webhook_url:
        results.append(_deliver(rule, alert, kind, "webhook", lambda: _post(rule, payload)))
    return bool(results) and all(results)


def describe(alert):
    return {"id": alert.pk, "subject": alert.subject, "about": alert.subject_label, "message": alert.message,
            "started_at": alert.started_at.isoformat(), "firing": alert.firing,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "url": absolute(alert.url)}


def absolute(path):
    base = getattr(settings, "PORTAL_BASE_URL", "") or ""
    return f"{base.rstrip('/')}{path}" if path and base else path


def _deliver(rule, alert, kind, channel, attempt):
    try:
        detail = attempt()
        ok = True
    except Exception as exc:  # noqa: BLE001 - whatever went wrong is kept, in words, and sent again later
        detail, ok = f"{type(exc).__name__}: {exc}"[:2000], False
    Delivery.objects.create(rule=rule, alert=alert, kind=kind, channel=channel, at=timezone.now(), ok=ok,
                            detail=detail)
    return ok


def _mail(rule, subject, text):
    send_mail(f"[Integration portal] {subject}", text, settings.DEFAULT_FROM_EMAIL, rule.recipients)
    return f"mailed to {', '.join(rule.recipients)}"


def _post(rule, payload):
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    secret = (rule.webhook_signing or {}).get("secret", "")
    if secret:
        timestamp = str(int(time.time()))
        headers.update({signing.TIMESTAMP_HEADER: timestamp,
                        signing.SIGNATURE_HEADER: signing.sign(secret, timestamp, body)})
    response = requests.post(rule.webhook_url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS)
    if response.status_code >= 300:
        raise RuntimeError(f"the receiver answered {response.status_code}: {response.text[:300]}")
    return f"{response.status_code} from {rule.webhook_url}"
