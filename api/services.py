"""The API's business actions as plain functions (the views only parse and answer): saving a connection with its
secrets merged, pausing and resuming an integration, value map entries. Each is audited; secrets never are."""

from django.db import transaction

from integrations.pipeline import actions
from mappings import services as mapping_services
from mappings.models import ValueMapEntry

CONNECTION_FIELDS = ("name", "base_url", "settings", "rate_limit_per_minute", "max_concurrent_requests")


def _connection_view(connection):
    """What the audit log keeps of a connection: its fields and which secrets are set, never their values."""
    return {**{name: getattr(connection, name) for name in CONNECTION_FIELDS}, "kind": connection.kind,
            "credentials_set": sorted(name for name, value in (connection.credentials or {}).items() if value)}


def save_connection(connection, data, actor):
    """Create or change a connection from validated data; `credentials` are merged (None removes one)."""
    creating = connection.pk is None
    before = None if creating else _connection_view(connection)
    credentials = data.pop("credentials", None)
    for name, value in data.items():
        setattr(connection, name, value)
    if credentials:
        merged = dict(connection.credentials or {})
        for name, value in credentials.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        connection.credentials = merged
    connection.full_clean()
    with transaction.atomic():
        connection.save()
        actions.audit(actor, "connection_create" if creating else "connection_change", before=before,
                      after=_connection_view(connection), organization=connection.organization,
                      reason="secrets changed: " + ", ".join(sorted(credentials)) if credentials else "")
    return connection


def pause(integration, actor):
    """The setup pages' pause (records wait, nothing is lost); subscribers hear `integration.paused` from the save."""
    from setup.integrations import services as setup_services

    try:
        setup_services.pause(integration, actor)
    except setup_services.SetupProblem as exc:
        raise ValueError(str(exc)) from None
    return integration


def resume(integration, actor):
    """Back to the state it was paused from; waiting records are due at once (the setup pages' resume)."""
    from setup.integrations import services as setup_services

    try:
        setup_services.resume(integration, actor)
    except setup_services.SetupProblem as exc:
        raise ValueError(str(exc)) from None
    return integration


def set_entry(value_map, source, target, actor, retry_waiting=False):
    """Add or change one entry: versioned like the admin, audited, and optionally retry the dead letters it fixes.
    Returns (entry, waiting count, retried count)."""
    with transaction.atomic():
        old = value_map.entries.filter(source=source).values_list("target", flat=True).first()
        mapping_services.set_entry(value_map, source, target, actor if getattr(actor, "pk", None) else None)
        actions.audit(actor, "value_map_entry_set", reason=f"value map “{value_map.name}”",
                      before=None if old is None else {"value_map": value_map.pk, "source": source, "target": old},
                      after={"value_map": value_map.pk, "source": source, "target": target},
                      organization=value_map.organization)
        waiting = actions.waiting_on_map(value_map, [source])
        count = waiting.count()
        retried = actions.retry(waiting, actor, f"value map “{value_map.name}” fixed") if retry_waiting else 0
    return value_map.entries.get(source=source), count, retried


def delete_entry(entry, actor):
    value_map = entry.value_map
    with transaction.atomic():
        ValueMapEntry.objects.filter(pk=entry.pk).delete()
        mapping_services.record_version(value_map, actor if getattr(actor, "pk", None) else None,
                                        comment=f"Removed {entry.source!r}")
        actions.audit(actor, "value_map_entry_delete", reason=f"value map “{value_map.name}”",
                      before={"value_map": value_map.pk, "source": entry.source, "target": entry.target},
                      organization=value_map.organization)
    return value_map

