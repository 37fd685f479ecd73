"""The rules an organization starts with, so a new tenant is watched before anyone thinks of it."""

from alerts.models import AlertKind, AlertRule

DEFAULT_RULES = [
    ("Dead letters", AlertKind.DEAD_LETTERS, 1, 15),
    ("A connection's calls are paused", AlertKind.CIRCUIT_OPEN, 1, 5),
    ("A stream is not read", AlertKind.STREAM_SILENT, 1, 10),
    ("Work waits too long", AlertKind.BACKLOG_AGE, 1, 30),
    ("Stock drifted in a channel", AlertKind.RECONCILIATION, 10, 60),
    ("Reconciliation differences", AlertKind.CASH_RECONCILIATION, 1, 60),
]


def ensure_default_rules(organization, emails):
    """Creates the default rules this organization does not have yet (by kind); never changes edited ones."""
    have = set(AlertRule.objects.filter(organization=organization).values_list("kind", flat=True))
    return [AlertRule.objects.create(organization=organization, name=name, kind=kind, threshold=threshold,
                                     minutes=minutes, emails=emails)
            for name, kind, threshold, minutes in DEFAULT_RULES if kind not in have]
