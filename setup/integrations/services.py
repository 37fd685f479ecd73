"""The integration wizard's business steps as plain functions: pair two connections, choose flows, pause and resume.
Views and tests call these; every change is audited."""

from django.db import transaction
from django.utils import timezone

from integrations import kinds
from integrations.flows import registry
from integrations.models import Connection, ConnectionStatus, Integration, IntegrationState, RecordStatus, SyncRecord
from integrations.pipeline import actions, records

CHANNEL_KINDS = {channel_kind: template for template, (_, channel_kind) in kinds.TEMPLATES.items()}
ACTIVE_STATES = (IntegrationState.LIVE, IntegrationState.SHADOW)


class SetupProblem(ValueError):
    """Input the wizard refuses, in plain words for the page."""


def template_for(channel):
    """The integration template a channel connection's kind calls for."""
    template = CHANNEL_KINDS.get(channel.kind)
    if template is None:
        raise SetupProblem(f"{channel.name} is a {channel.get_kind_display()} connection, not a sales channel.")
    return template


def connection_problem(connection):
    """Why a connection is not ready to carry an integration, or "" when it is."""
    if connection.missing_secrets:
        return f"{connection.name} is missing {', '.join(connection.missing_secrets)}."
    if connection.status in (ConnectionStatus.FAILING, ConnectionStatus.NEEDS_ATTENTION):
        why = connection.last_check_message or connection.last_failure_message or connection.get_status_display()
        return f"{connection.name} is not working: {why[:200]}"
    if connection.status == ConnectionStatus.NEW:
        return f"{connection.name} has not been tested yet."
    return ""


def candidates(organization):
    """(channel connections, TIMS connections) of the organization, for step 1."""
    connections = list(Connection.objects.filter(organization=organization).order_by("kind", "name"))
    return ([c for c in connections if c.kind in CHANNEL_KINDS], [c for c in connections if c.kind == "tims"])


def pairing_problem(organization, channel, tims, exclude=None):
    """Why these two connections cannot be paired (another tenant's, wrong kinds, the shop already busy), or ""."""
    if channel is None or tims is None:
        return "Choose a sales channel connection and a TIMS connection."
    if channel.organization_id != organization.pk or tims.organization_id != organization.pk:
        return "That connection belongs to another organization."
    if channel.kind not in CHANNEL_KINDS:
        return f"{channel.name} is not a sales channel (PrestaShop or ChannelAdvisor)."
    if tims.kind != "tims":
        return f"{tims.name} is not a TIMS connection."
    other = busy_with(channel, exclude)
    if other is not None:
        # Two integrations reading one shop would import each of its orders twice.
        return (f"{channel.name} already feeds “{other.name}” ({other.get_state_display().lower()}); pause that one "
                "first.")
    return ""


def busy_with(channel, exclude=None):
    """The live or shadow integration of the organization already reading this channel account (the same connection,
    or another connection to the same shop or ChannelAdvisor profile), if any."""
    if channel.kind not in CHANNEL_KINDS:
        return None
    busy = Integration.objects.filter(organization_id=channel.organization_id, state__in=ACTIVE_STATES,
                                      channel_connection__kind=channel.kind).select_related("channel_connection")
    if exclude is not None:
        busy = busy.exclude(pk=exclude.pk)
    return next((i for i in busy if _same_account(i.channel_connection, channel)), None)


def _same_account(a, b):
    if a.pk == b.pk:
        return True
    same_host = a.base_url.rstrip("/").lower() == b.base_url.rstrip("/").lower()
    return same_host and (a.settings or {}).get("profile_id") == (b.settings or {}).get("profile_id")


def start_problem(integration):
    """Why this integration must not start reading (shadow, live or resumed), or ""."""
    other = busy_with(integration.channel_connection, exclude=integration)
    if other is None:
        return ""
    return (f"“{other.name}” already reads {integration.channel_connection.name} "
            f"({other.get_state_display().lower()}); pause it first, or each order would be imported twice.")


def unique_name(organization, wanted):
    names = set(Integration.objects.filter(organization=organization).values_list("name", flat=True))
    name, n = wanted[:100], 2
    while name in names:
        name = f"{wanted[:95]} ({n})"
        n += 1
    return name


def create_integration(organization, channel, tims, actor, name=""):
    """A draft integration of the pair, with its template's default flows; the mappings and value maps are made
    with it (mappings.signals). Nothing polls or writes until a shadow run or going live."""
    problem = pairing_problem(organization, channel, tims)
    if problem:
        raise SetupProblem(problem)
    template = template_for(channel)
    name = (name or "").strip() or f"{channel.name} + {tims.name}"
    if len(name) > 100:
        raise SetupProblem("The name may be at most 100 characters.")
    with transaction.atomic():
        integration = Integration(organization=organization, name=unique_name(organization, name),
                                  template=template, channel_connection=channel, tims_connection=tims,
                                  flows=registry.default_flows(template), state=IntegrationState.DRAFT)
        integration.full_clean()
        integration.save()
        actions.audit(actor, "create_integration", organization=organization,
                      after={"integration": integration.pk, "name": integration.name, "template": template,
                             "channel_connection": channel.pk, "tims_connection": tims.pk,
                             "flows": integration.flows})
    return integration


def offered_flows(integration):
    """[(flow, on by default, what it does)] the integration's template offers, in declaration order."""
    kind = integration.channel_connection.kind
    return [(flow, bool(flow.templates.get(integration.template)), describe_flow(flow, kind))
            for flow in registry.all_flows() if flow.offered_to(integration.template)]


SYSTEM_LABEL = {registry.TIMS: "TIMS"}


def describe_flow(flow, channel_kind):
    """What a flow does, in words read off its declaration (source, target, entity, triggers)."""
    channel = kinds.KINDS[channel_kind].label

    def system(role):
        return SYSTEM_LABEL.get(role, channel)

    how = []
    for trigger in flow.triggers:
        if isinstance(trigger, registry.Poll) and (not trigger.kinds or channel_kind in trigger.kinds):
            how.append({"watermark": f"reads {system(trigger.system)}'s {trigger.stream} changed since the last poll",
                        "feed": f"reads {system(trigger.system)}'s {trigger.stream} not yet imported",
                        "cursor": f"follows {system(trigger.system)}'s {trigger.stream} feed"}[trigger.position]
                       + (f" ({', '.join(trigger.events)})" if trigger.events else ""))
        elif isinstance(trigger, registry.Webhook) and (not trigger.kinds or channel_kind in trigger.kinds):
            how.append(f"acts at once on {system(trigger.system)}'s webhooks")
        elif isinstance(trigger, registry.Chained):
            parent = registry.get(trigger.after)
            how.append(f"follows “{parent.label if parent else trigger.after}”")
    what = f"{flow.entity_type.capitalize()} records from {system(flow.source)} to {system(flow.target)}"
    return f"{what}: {'; '.join(dict.fromkeys(how))}." if how else f"{what}."


def set_flows(integration, names, actor):
    offered = {flow.name for flow, _, _ in offered_flows(integration)}
    unknown = [name for name in names if name not in offered]
    if unknown:
        raise SetupProblem(f"Not a flow of this integration: {', '.join(unknown)}.")
    if not names:
        raise SetupProblem("Turn on at least one flow.")
    chosen = [flow.name for flow in registry.all_flows() if flow.name in names]  # declaration order
    before = list(integration.flows or [])
    if chosen != before:
        integration.flows = chosen
        integration.save(update_fields=["flows", "updated_at"])
        actions.audit(actor, "set_flows", organization=integration.organization,
                      before={"integration": integration.pk, "flows": before},
                      after={"integration": integration.pk, "flows": chosen})
    return chosen


def pause(integration, actor):
    """Stop polling and work: records already received wait (runner), nothing is lost; resume goes on from there."""
    if integration.state not in ACTIVE_STATES:
        raise SetupProblem(f"{integration.name} is {integration.get_state_display().lower()}: only a live or "
                           "shadow integration can be paused.")
    with transaction.atomic():
        before = integration.state
        integration.state = IntegrationState.PAUSED
        integration.options = {**(integration.options or {}), "paused_from": before}
        integration.save(update_fields=["state", "options", "updated_at"])
        actions.audit(actor, "pause_integration", organization=integration.organization,
                      before={"integration": integration.pk, "state": before},
                      after={"integration": integration.pk, "state": IntegrationState.PAUSED})


RESUME_RING_LIMIT = 500  # rung at once on resume; the sweeper rings the rest within a minute


def resume(integration, actor):
    """Back to the state it was paused in; the streams go on from their positions and waiting work is due now."""
    if integration.state != IntegrationState.PAUSED:
        raise SetupProblem(f"{integration.name} is not paused.")
    if start_problem(integration):
        raise SetupProblem(start_problem(integration))
    options = dict(integration.options or {})
    state = options.pop("paused_from", IntegrationState.LIVE)
    if state not in ACTIVE_STATES:
        state = IntegrationState.LIVE
    with transaction.atomic():
        integration.state, integration.options = state, options
        integration.save(update_fields=["state", "options", "updated_at"])
        # What the pause put back (pending, due later); a retry keeps its own back-off.
        waiting = SyncRecord.objects.filter(integration=integration, status=RecordStatus.PENDING, lease_owner="")
        pks = list(waiting.order_by("pk").values_list("pk", flat=True)[:RESUME_RING_LIMIT])
        waiting.update(next_attempt_at=timezone.now())
        for pk in pks:
            records.dispatch_after_commit(pk)
        actions.audit(actor, "resume_integration", organization=integration.organization,
                      before={"integration": integration.pk, "state": IntegrationState.PAUSED},
                      after={"integration": integration.pk, "state": state})
    return state


def health_line(integration, counts):
    """One line: open work and dead letters of the last day, or what is wrong with a connection."""
    for connection in (integration.channel_connection, integration.tims_connection):
        if connection.status in (ConnectionStatus.FAILING, ConnectionStatus.NEEDS_ATTENTION):
            return "bad", f"{connection.name}: {connection.get_status_display().lower()}"
    dead, open_ = counts.get((integration.pk, "dead"), 0), counts.get((integration.pk, "open"), 0)
    if integration.state == IntegrationState.DRAFT:
        return "muted", "Not started: run a shadow run to see what it would do."
    if integration.state == IntegrationState.PAUSED:
        return "warn", f"Paused; {open_} records wait."
    if dead:
        return "bad", f"{dead} need a human; {open_} in progress."
    return "ok", f"Working; {open_} in progress." if open_ else "Working; nothing waiting."
