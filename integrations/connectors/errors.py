"""Every connector failure is one of three kinds, so the pipeline knows whether to retry.

- TransientError: try again later (network, timeout, 5xx, 429, a circuit that is open); `retry_after` in seconds
  when the remote said so.
- PermanentError: retrying the same request cannot help (validation, not found, conflict, a refused address,
  an unsafe XML body); `field_errors` holds readable sentences for the person who fixes it.
- AuthError: the credentials are wrong, expired or lack a permission; the connection is marked as needing attention.
"""


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
    def __init__(self, message, *, field_errors=None, **kwargs):
        super().__init__(message, **kwargs)
        self.field_errors = list(field_errors or [])


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
