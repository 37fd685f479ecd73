"""Pollers: PrestaShop by date_upd (shop time, overlap window), ChannelAdvisor by exported=false.

Each page's records are committed before the watermark moves, so a crash mid-poll re-reads rather than skips;
the inbox's unique key makes a re-read harmless.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from integrations.connectors import errors
from integrations.connectors.checks import client_for
from integrations.models import Integration, IntegrationState, PollState
from integrations.pipeline import records

log = logging.getLogger(__name__)
POLLING_STATES = (IntegrationState.LIVE, IntegrationState.SHADOW)


def poll_all():
    """The schedule: one task per integration that polls, so a slow shop does not hold up the others."""
    from django_q.tasks import async_task

    ids = list(Integration.objects.filter(state__in=POLLING_STATES).values_list("pk", flat=True))
    for integration_id in ids:
        async_task("integrations.pipeline.pollers.poll_integration", integration_id,
                   task_name=f"poll-{integration_id}", q_options={"group": "poll"})
    return len(ids)


def poll_integration(integration_id):
    integration = Integration.objects.select_related("channel_connection", "tims_connection").get(pk=integration_id)
    if integration.state not in POLLING_STATES or "orders" not in integration.flows:
        return 0
    state, _ = PollState.objects.get_or_create(integration=integration, name="orders")
    try:
        received = (poll_prestashop if integration.template == "prestashop_tims" else poll_channeladvisor)(
            integration, state)
    except errors.ConnectorError as exc:
        PollState.objects.filter(pk=state.pk).update(last_error=str(exc)[:2000], last_polled_at=timezone.now())
        log.warning("Polling %s failed: %s", integration, exc)
        return 0
    PollState.objects.filter(pk=state.pk).update(last_error="", last_polled_at=timezone.now(), received=received)
    return received


def _receive_page(integration, orders, version_of):
    with transaction.atomic():
        for order in orders:
            records.receive(integration, flow="orders", entity_type="order", source_id=order.source_id,
                            source_version=version_of(order), reference=order.number or order.source_id,
                            payload=order.to_dict())
    return len(orders)


def poll_prestashop(integration, state):
    channel = client_for(integration.channel_connection, lane="high")
    since = state.watermark or timezone.now() - timedelta(days=integration.option("first_poll_days") or 1)
    received = 0
    for page in channel.changed_orders(since):
        received += _receive_page(integration, page, lambda order: order.updated_at.isoformat()
                                  if order.updated_at else "")
        newest = max((order.updated_at for order in page if order.updated_at), default=None)
        if newest and (state.watermark is None or newest > state.watermark):
            state.watermark = newest  # committed rows only: the page above is already in the database
            PollState.objects.filter(pk=state.pk).update(watermark=newest)
    return received


def poll_channeladvisor(integration, state):
    """exported=false lists what TIMS does not have yet; the order flow exports each one once TIMS has it."""
    channel = client_for(integration.channel_connection, lane="high")
    received = 0
    for page in channel.new_orders():
        received += _receive_page(integration, page, lambda order: "")
    return received
