"""What each system's ids look like, checked at the webhook door before an id reaches the inbox or a connector.

A hint's id ends up in a connector's URL or filter (PrestaShop's `filter[id]=[...]`), so anything that is not
plainly an id of that system is refused rather than cleaned up: cutting or escaping would turn one id into another.
"""

import re

_DIGITS = re.compile(r"[0-9]{1,10}")
_EVENT_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")
MAX_EVENT_TYPE = 60

# kind → what its order ids are, in words for the refusal
ID_RULES = {
    "prestashop": "a whole number from 1 to 9999999999",
    "channeladvisor": "a whole number from 1 to 9999999999",
}


def valid_source_id(kind, value) -> str | None:
    """The id in its one spelling (so "042" and 42 are the same record), or None when `value` is not an id of
    that system. A kind with no rule here has no ids we accept yet."""
    if kind in ("prestashop", "channeladvisor"):
        return _positive_integer(value)
    return None


def describe(kind) -> str:
    return ID_RULES.get(kind, "an id this portal knows how to check (none yet for this system)")


def valid_sequence(value) -> int | None:
    """A TIMS event feed's Seq: a positive whole number (JSON number or digits)."""
    text = _positive_integer(value)
    return int(text) if text else None


def valid_event_type(value) -> str | None:
    """An event type such as "inventory.changed"; nothing with spaces, quotes or control characters."""
    if isinstance(value, str) and len(value) <= MAX_EVENT_TYPE and _EVENT_TYPE.fullmatch(value):
        return value
    return None


def _positive_integer(value) -> str | None:
    if isinstance(value, bool):  # True is an int to Python, not an id
        return None
    if isinstance(value, int):
        return str(value) if 0 < value < 10**10 else None
    if isinstance(value, str) and _DIGITS.fullmatch(value) and int(value) > 0:
        return str(int(value))
    return None
