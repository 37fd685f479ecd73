"""A logging filter that masks secrets before any handler sees them."""

import logging
import re

# Key/value pairs in URLs, headers and bodies whose value is a secret.
SECRET_PATTERN = re.compile(
    r"(?i)(ws_key|access_token|refresh_token|client_secret|shared_secret|password|secret|token|api_key|authorization)"
    r"(\"?\s*[:=]\s*\"?)(Basic |Bearer )?([^\s&\"',;]+)"
)


def mask(text: str) -> str:
    return SECRET_PATTERN.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}***", text)


class MaskSecretsFilter(logging.Filter):
    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not break logging
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True
