"""What a flow step may raise besides connector errors, and the backoff between attempts."""

import random
from datetime import timedelta

from django.conf import settings

BACKOFF_CAP_SECONDS = 3600
MAX_ATTEMPTS = 12  # about a day of retries before a transient failure becomes a dead letter


class Hold(Exception):
    """A business rule says: not yet (e.g. 'import paid orders only'). Re-checked at `recheck_at`."""

    def __init__(self, message, *, recheck_after=timedelta(minutes=15), give_up_at=None, fix=""):
        super().__init__(message)
        self.message = message
        self.recheck_after = recheck_after
        self.give_up_at = give_up_at
        self.fix = fix


class Rejected(Exception):
    """A permanent business error found by a flow (unknown SKU, unmapped value): dead-letter with a fix."""

    def __init__(self, message, *, fix="", error_class="permanent", details=None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.error_class = error_class
        self.details = details or {}


class Skipped(Exception):
    """Nothing to do, for a reason people may want to see (a shipment of an order the portal did not create).
    Not an error: the record ends "skipped" with the reason in its notes."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def backoff(attempt, retry_after=None, rng=random):
    """Seconds to wait before the next attempt: exponential with ±20% jitter, never sooner than Retry-After."""
    base = settings.PIPELINE_BACKOFF_BASE_SECONDS
    delay = min(BACKOFF_CAP_SECONDS, base * 2 ** max(attempt - 1, 0))
    delay *= rng.uniform(0.8, 1.2)
    if retry_after:
        delay = max(delay, float(retry_after))
    return delay
