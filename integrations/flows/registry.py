"""Flows as declarations: each flow is declared once, and everything generic reads the declarations.

Receiving a record (its source system), polling, webhook routing, the record admin's filters, the CLI and the
admin's front page ask this module; none of them switches on a flow's or a template's name.

A flow's systems are *roles*: "channel" is the integration's channel connection, "tims" its TIMS connection. A
trigger names the stream it reads; who owns the stream's position follows from its system: channel streams belong
to the integration, TIMS streams to the TIMS connection (read once, fanned out to every subscribing integration).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

CHANNEL, TIMS = "channel", "tims"


@dataclass(frozen=True)
class Poll:
    """Read a stream by its position: a datetime watermark ("watermark"), an opaque cursor ("cursor"), or a feed
    that lists what is still to do and has no position ("feed"). `kinds` limits it to some channel kinds."""

    stream: str
    position: str = "watermark"
    system: str = CHANNEL
    kinds: tuple = ()
    events: tuple = ()  # for a feed of several event types: the ones this flow takes
    route: str = ""  # an entity type: each item goes to the integration whose link of that entity owns it
    store: object = None  # callable(connection id, items): state the page keeps, in the commit that moves it
    hinted_by: tuple = ()  # webhook event types that say this stream has news (subscriptions include them)


@dataclass(frozen=True)
class Webhook:
    """A signed hint from a system: `id_field` of the body names the source id (read back, never trusted)."""

    id_field: str
    system: str = CHANNEL
    kinds: tuple = ()
    events: tuple = ()


@dataclass(frozen=True)
class Chained:
    """Records that follow another flow's record, written in the commit that finishes it, only if it succeeded.

    `follow(parent record)` returns the follow-ups as receive() keyword dicts (source_id, and optionally
    source_version, payload, reference, business_key); none when this integration has nothing to follow up."""

    after: str
    follow: object = None


@dataclass(frozen=True)
class Schedule:
    every_minutes: int


@dataclass(frozen=True)
class Flow:
    name: str
    label: str
    source: str  # CHANNEL or TIMS
    target: str
    entity_type: str
    triggers: tuple
    step: object = None  # callable(record)
    batch_step: object = None  # callable(records) -> {record pk: None (done) or an exception}
    batch_size: int = 1
    gather_seconds: int = 0  # a batch flow's records wait this long for others to join them (settings may cap it)
    supersedes: bool = False  # a newer record of the same business key ends an older one that has not run
    lane: str = "normal"  # the connectors' governor lane its calls use
    templates: dict = field(default_factory=dict)  # template code → on by default
    mapping: str = ""  # the mapping set template key it maps with, if any
    value_maps: dict = field(default_factory=dict)  # channel kind → value maps its step looks values up in

    def offered_to(self, template):
        return template in self.templates

    def source_kind(self, integration):
        return connection_for(integration, self.source).kind

    def triggers_of(self, cls):
        return [t for t in self.triggers if isinstance(t, cls)]


FLOWS: dict[str, Flow] = {}
# Modules whose import declares their flows.
FLOW_MODULES = ["integrations.flows.orders", "integrations.flows.fulfillment", "integrations.flows.inventory",
                "integrations.flows.invoices", "integrations.flows.payments", "integrations.flows.journal",
                "integrations.flows.returns", "integrations.flows.customers", "integrations.flows.prices",
                "integrations.flows.products"]
_loaded = False


def declare(flow: Flow) -> Flow:
    FLOWS[flow.name] = flow
    return flow


def load():
    global _loaded
    if not _loaded:
        for module in FLOW_MODULES:
            importlib.import_module(module)
        # in FLOW_MODULES order, even when one flow module imports another (orders uses customers)
        rank = {module: index for index, module in enumerate(FLOW_MODULES)}
        ordered = sorted(FLOWS.values(), key=lambda f: rank.get(getattr(f.step or f.batch_step, "__module__", ""),
                                                                 len(rank)))
        FLOWS.clear()
        FLOWS.update((flow.name, flow) for flow in ordered)
        _loaded = True
    return FLOWS


def get(name) -> Flow | None:
    return load().get(name)


def all_flows():
    return list(load().values())


def connection_for(integration, role):
    return integration.tims_connection if role == TIMS else integration.channel_connection


def flows_of(integration):
    """The declared flows this integration runs (its template offers them and they are switched on)."""
    return [flow for flow in all_flows() if flow.name in (integration.flows or []) and flow.offered_to(
        integration.template)]


def default_flows(template):
    return [flow.name for flow in all_flows() if flow.templates.get(template)]


def value_maps_of(integration):
    """Value maps the flows its template offers look values up in (so its defaults include them)."""
    kind = integration.channel_connection.kind
    return {name for flow in all_flows() if flow.offered_to(integration.template) for name in flow.value_maps.get(
        kind, ())}


def tims_events_read():
    """The TIMS event types some flow reads (a webhook subscription needs no others)."""
    return sorted({event for flow in all_flows() for trigger in flow.triggers_of(Poll) if trigger.system == TIMS
                   for event in trigger.events + trigger.hinted_by})


def events_of_stream(stream, system=TIMS):
    """The event types the flows reading this feed take (a feed asked for only those serves only those)."""
    return sorted({event for flow in all_flows() for trigger in flow.triggers_of(Poll)
                   if trigger.system == system and trigger.stream == stream for event in trigger.events})


def choices():
    return [(flow.name, flow.label) for flow in all_flows()]


def applies(trigger, integration):
    """Does a trigger apply to this integration's connections (e.g. a PrestaShop-only poll)?"""
    return not trigger.kinds or connection_for(integration, trigger.system).kind in trigger.kinds


def webhook_routes(integration, system_kind):
    """[(flow, trigger)] for a hint from `system_kind` sent to this integration."""
    return [(flow, trigger) for flow in flows_of(integration) for trigger in flow.triggers_of(Webhook)
            if connection_for(integration, trigger.system).kind == system_kind and applies(trigger, integration)]


def offered_by(template, system_kind):
    """Flows of a template that take webhooks from this kind of system (does the endpoint exist at all?)."""
    from integrations import kinds

    channel_kind = kinds.TEMPLATES.get(template, ("", ""))[1]
    return [flow for flow in all_flows() if flow.offered_to(template) for trigger in flow.triggers_of(Webhook)
            if (channel_kind if trigger.system == CHANNEL else "tims") == system_kind
            and (not trigger.kinds or system_kind in trigger.kinds)]


def follow_ups(record):
    """What the flows chained after this record's flow make of it (its integration's flows only)."""
    made = []
    for flow in flows_of(record.integration):
        for trigger in flow.triggers_of(Chained):
            if trigger.after == record.flow and trigger.follow is not None:
                made += [{"business_key": record.business_key, **item, "flow": flow.name,
                          "entity_type": flow.entity_type} for item in trigger.follow(record) or ()]
    return made


def handler_for(record):
    flow = get(record.flow)
    return flow.step if flow else None
