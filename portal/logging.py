"""Logging: secrets masked before any handler sees them; the ids of the work in hand on every line; JSON lines."""

import contextlib
import contextvars
import json
import logging
import re
from datetime import UTC, datetime

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


# The ids of the work this thread or task is doing; every log record made meanwhile carries them.
CONTEXT_FIELDS = ("record_id", "correlation_id")
_context = contextvars.ContextVar("portal_log_context", default=None)


@contextlib.contextmanager
def log_context(record_id=None, correlation_id=None):
    """Within the block, log records carry these ids (through LogContextFilter); an inner block adds to an outer."""
    given = {"record_id": record_id, "correlation_id": correlation_id}
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in given.items() if v not in (None, "")}})
    try:
        yield
    finally:
        _context.reset(token)


class LogContextFilter(logging.Filter):
    """Copies the current log_context onto each record; ids passed explicitly (`extra=`) win."""

    def filter(self, record):
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for a log shipper: time (ISO 8601, UTC), level, logger, message, the context's ids,
    and the traceback when there is one. Everything is masked again: not every record comes through our factory."""

    def format(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not lose the line
            message = f"{record.msg} {record.args}"
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(message),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = mask(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = mask(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)
