"""Each TIMS event queues a signed webhook whose body names the event's type and its position (Seq) in the
/events feed, so a receiver can take it as a hint and read the feed from there."""

import json
import random

import pytest

from sandbox import services
from sandbox.models import WebhookDelivery, WebhookSubscription
from sandbox.tims import backoffice, provision
from sandbox.tims.models import Event, SalesOrder

pytestmark = pytest.mark.django_db


def test_every_tims_event_queues_a_webhook_naming_its_type_and_seq():
    sandbox, _ = services.create_sandbox("tims-hooks")
    provision.generate(sandbox, orders=0, products=3, customers=1, state=None, unknown_sku=0, rng=random.Random(4))
    WebhookSubscription.objects.create(sandbox=sandbox, system="tims", url="http://127.0.0.1:9/hook",
                                       signing={"secret": "s"})
    already = Event.objects.filter(sandbox=sandbox).count()
    sku = "WLD-00001"
    backoffice.set_stock(sandbox, sku, 50)
    backoffice.update_item(sandbox, sku, unit_price="12.50")
    order = provision._order(sandbox, random.Random(5), None)
    backoffice.ship(sandbox, order.code, tracking_number="1Z1")
    backoffice.invoice(sandbox, SalesOrder.objects.get(pk=order.pk).code)

    events = list(Event.objects.filter(sandbox=sandbox).order_by("seq")[already:])
    assert {"inventory.changed", "item.updated", "shipment.created", "invoice.created"} <= {e.type for e in events}
    bodies = {json.loads(d.body)["Seq"]: (d.event, json.loads(d.body))
              for d in WebhookDelivery.objects.filter(subscription__sandbox=sandbox)}
    for event in events:
        name, body = bodies[event.seq]
        assert name == event.type == body["Type"]
        assert body["Data"] == event.data and body["CreatedAt"].endswith("Z")
