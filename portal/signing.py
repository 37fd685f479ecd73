"""HMAC-SHA256 webhook signatures, shared by our sandboxes (which send) and our hook endpoints (which verify)."""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
MAX_SKEW_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over "<timestamp>.<raw body>": the timestamp is signed too, so it cannot be replayed later."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now=None) -> str | None:
    """None when the signature is good; otherwise the reason, in plain words."""
    if not timestamp or not signature:
        return f"Missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header."
    try:
        age = abs((now or time.time()) - int(timestamp))
    except ValueError:
        return f"{TIMESTAMP_HEADER} must be a Unix time in seconds."
    if age > MAX_SKEW_SECONDS:
        return f"The timestamp is {int(age)} seconds away from now (at most {MAX_SKEW_SECONDS} allowed)."
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip().lower()):
        return "The signature does not match the body: check the webhook secret."
    return None
