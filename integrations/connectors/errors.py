"""Every connector failure is one of three kinds, so the pipeline knows whether to retry.

- TransientError: try again later (network, timeout, 5xx, 429, a circuit that is open); `retry_after` in seconds
  when the remote said so.
- PermanentError: retrying the same request cannot help (validation, not found, conflict, a refused address,
  an unsafe XML body); `fields` holds the remote's field errors as data (FieldError: path, code, message) for code
  to act on, `field_errors` the same as readable sentences for the person who fixes it.
- AuthError: the credentials are wrong, expired or lack a permission; the connection is marked as needing attention.
"""

import re
from dataclasses import dataclass

# Field error codes flows act on (TIMS's envelope: {"errors": [{"field", "code", "message"}]}).
UNKNOWN_SKU = "unknown_sku"
UNKNOWN_CUSTOMER = "unknown_customer"
UNKNOWN_CUSTOM_FIELD = "unknown_custom_field"

_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class FieldError:
    """One refused field: `path` like "LineItems[3].SKU", a machine `code` like "unknown_sku", the remote's words."""

    path: str = ""
    code: str = ""
    message: str = ""

    def __str__(self):
        where = f"{self.path}: " if self.path else ""
        code = f" ({self.code})" if self.code else ""
        return f"{where}{self.message.strip().rstrip('.')}{code}."

    @property
    def index(self) -> int | None:
        """The first list index in the path: 3 for "LineItems[3].SKU", None when there is none."""
        match = _INDEX.search(self.path)
        return int(match.group(1)) if match else None

    @property
    def name(self) -> str:
        """The last segment of the path without an index: "GiftNote" for "CustomFields.GiftNote"."""
        return _INDEX.sub("", self.path.rsplit(".", 1)[-1])


class ConnectorError(Exception):
    retryable = False

    def __init__(self, message, *, status=None, system="", code="", response_excerpt=""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.system = system
        self.code = code
        self.response_excerpt = response_excerpt

    def __str__(self):
        return self.message


class TransientError(ConnectorError):
    retryable = True

    def __init__(self, message, *, retry_after=None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """429 from the remote, or our own governor could not get a slot in time."""


class CircuitOpen(TransientError):
    """The connection's circuit breaker is open: the call was not made."""


class PermanentError(ConnectorError):
    def __init__(self, message, *, field_errors=None, fields=None, **kwargs):
        super().__init__(message, **kwargs)
        self.fields: list[FieldError] = list(fields or [])
        # Sentences for display; derived from `fields` unless the connector has only sentences (PrestaShop).
        self.field_errors = list(field_errors) if field_errors is not None else [str(f) for f in self.fields]

    def fields_with_code(self, *codes) -> list[FieldError]:
        """The field errors with one of these codes, e.g. exc.fields_with_code(errors.UNKNOWN_SKU)."""
        return [f for f in self.fields if f.code in codes]

    def has_code(self, *codes) -> bool:
        return bool(self.fields_with_code(*codes))


class ValidationFailed(PermanentError):
    """The remote refused the data (400/422); field_errors say which field and why."""


class NotFound(PermanentError):
    pass


class Conflict(PermanentError):
    """409, or 412 on a stale version: re-read the record and decide again."""


class UnsafeAddress(PermanentError):
    """The address is loopback/private and the connection is neither a sandbox nor on-premises."""


class UnsafeContent(PermanentError):
    """A body we refuse to parse (XML entities, external references)."""


class AuthError(ConnectorError):
    pass
