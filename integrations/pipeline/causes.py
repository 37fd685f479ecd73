"""Dead letters grouped by cause: a failure's message with its ids and values taken out, so records that fail the
same way ("SKU “…” is not in TIMS", "value “…” missing from map ps_states") are one row staff fix once."""

import re

CAUSE_LENGTH = 200
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"|'[^']*'")
# Ids and numbers: SO000066, C000123, GLV-00024, 1ZDEMO123, 41, 12.50, 2026-12-02T05:00:00Z
_ID = re.compile(r"\b(?=[\w.:/+-]*\d)[\w.:/+-]+\b")
# A named thing's id without digits (PrestaShop order references are nine capitals: XKBKNABJK).
# The noun in any case ("Order XKBKNABJK is not paid yet"), the id in capitals only, so words are left alone.
_NAMED = re.compile(r"\b((?i:order|reference|record|shipment|product|customer|invoice|sku))\s+([A-Z][A-Z0-9_-]{3,})\b")
_SPACES = re.compile(r"\s+")


def cause_of(message, details=None):
    """The message as a cause: quoted values become “…”, ids and numbers #, at most CAUSE_LENGTH characters. An
    unmapped value keeps its map and value (quoted): each value is its own fix, then one retry for all."""
    text = str(message or "")
    keep_values = isinstance(details, dict) and isinstance(details.get("value_map"), dict)
    quoted = _QUOTED.findall(text) if keep_values else []
    text = _QUOTED.sub("\x00", text)
    text = _NAMED.sub(r"\1 #", _ID.sub("#", text))
    for value in quoted:
        text = text.replace("\x00", value, 1)
    return _SPACES.sub(" ", text.replace("\x00", "“…”")).strip()[:CAUSE_LENGTH]
