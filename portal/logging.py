"""A logging filter that masks secrets before any handler sees them."""

import logging
import re

# Key/value pairs in URLs, headers and bodies whose value is a secret.
SECRET_PATTERN = re.compile(
    r"(?i)(ws_key|access_token|refresh_token|client_secret|shared_secret|password|secret|token|api_key|authorization)"
    r"(['\"]?\s*[:=]\s*['\"]?)(Basic |Bearer )?([^\s&\"',;}]+)"
)
BARE_AUTH_PATTERN = re.compile(r"(?i)\b(Basic|Bearer) ([A-Za-z0-9._~+/=-]{8,})")


def mask(text: str) -> str:
    text = SECRET_PATTERN.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}***", text)
    return BARE_AUTH_PATTERN.sub(lambda m: f"{m.group(1)} ***", text)


def mask_record(record):
    try:
        message = record.getMessage()
    except Exception:  # a malformed log call must not break logging
        return record
    masked = mask(message)
    if masked != message:
        record.msg, record.args = masked, ()
    return record


def install_record_factory():
    """Mask secrets as each record is made, so no handler (files, Sentry, pytest's capture) ever sees them."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "masks_secrets", False):
        return

    def factory(*args, **kwargs):
        return mask_record(previous(*args, **kwargs))

    factory.masks_secrets = True
    logging.setLogRecordFactory(factory)


class MaskSecretsFilter(logging.Filter):
    def filter(self, record):
        mask_record(record)
        return True
