"""HMAC-SHA256 webhook signatures, shared by our sandboxes (which send) and our hook endpoints (which verify)."""

import hashlib
import hmac
import re
import time

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
MAX_SKEW_SECONDS = 300
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over "<timestamp>.<raw body>": the timestamp is signed too, so it cannot be replayed later."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now=None) -> str | None:
    """None when the signature is good; otherwise the reason, in plain words."""
    if not secret:  # an empty key would let anyone sign
        return "No webhook secret is set for this endpoint."
    if not timestamp or not signature:
        return f"Missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header."
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):  # int() also reads "١٧٠٠"
        return f"{TIMESTAMP_HEADER} must be a Unix time in seconds."
    age = abs((now or time.time()) - int(timestamp))
    if age > MAX_SKEW_SECONDS:
        return f"The timestamp is {int(age)} seconds away from now (at most {MAX_SKEW_SECONDS} allowed)."
    signature = signature.strip().lower()
    if not _HEX_SIGNATURE.fullmatch(signature):  # compare_digest refuses non-ASCII text with a TypeError
        return f"{SIGNATURE_HEADER} must be 64 hex characters (HMAC-SHA256)."
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        return "The signature does not match the body: check the webhook secret."
    return None
