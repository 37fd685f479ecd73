"""The first full load of a catalog into ChannelAdvisor over real HTTP: every TIMS item a product once, in $batch
calls of up to 100, with progress; run again it sends nothing; a crash mid-way resumes without duplicates; an item
the channel cannot take is listed with what to fix."""

from decimal import Decimal

import pytest
from django.db import transaction

from catalog import first_load
from catalog.models import SentProduct
from integrations.connectors.channeladvisor.client import ChannelAdvisorClient
from jobs import work
from jobs.models import Job, JobStatus
from sandbox.channeladvisor import models as ca
from sandbox.models import SandboxCall
from sandbox.tims.models import Item
from tests.integrations.flows.test_inventory import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def queued_by_hand(monkeypatch):
    monkeypatch.setattr(work, "_enqueue", lambda job_id: None)


def more_items(w, n, start=0):
    with transaction.atomic():
        Item.objects.bulk_create([Item(sandbox=w.sandbox, sku=f"LOAD-{i:05d}", description=f"Welding wire {i} mm",
                                       unit_price=Decimal("12.00"), cost=Decimal("5.00"), weight=Decimal("1.2"),
                                       custom_fields={"Brand": "Lincoln", "Diameter": f"{i}"})
                                  for i in range(start, start + n)])


def run(w):
    job = first_load.start(w.market)
    work.run(job.pk)
    return Job.objects.get(pk=job.pk)


def batches(w):
    return SandboxCall.objects.filter(sandbox=w.sandbox, system="channeladvisor", endpoint__icontains="batch").count()


def test_every_item_becomes_a_product_once_in_batches_with_progress(world):  # noqa: F811
    more_items(world, 150)
    items = Item.objects.filter(sandbox=world.sandbox).count()
    job = run(world)
    assert job.status == JobStatus.DONE and job.done == job.total == items, job.error
    assert "150 created" in job.result and "updated" in job.result  # the generated catalog was there already
    loaded = set(ca.Product.objects.filter(sandbox=world.sandbox, sku__startswith="LOAD-").values_list("sku",
                                                                                                     flat=True))
    assert len(loaded) == 150 and SentProduct.objects.filter(integration=world.market).count() == items
    made = ca.Product.objects.get(sandbox=world.sandbox, sku="LOAD-00007")
    assert made.title == "Welding wire 7 mm" and made.brand == "Lincoln"
    assert batches(world) <= (items // 100 + 1) * 3 + 3, "a hundred products per call, not one each"

    mark = SandboxCall.objects.order_by("-pk").values_list("pk", flat=True).first()
    again = run(world)
    assert again.status == JobStatus.DONE and f"{items} unchanged" in again.result
    writes = SandboxCall.objects.filter(sandbox=world.sandbox, system="channeladvisor", pk__gt=mark,
                                        method__in=("POST", "PATCH", "PUT"))
    assert not writes.exists(), "nothing is written twice"
    assert ca.Product.objects.filter(sandbox=world.sandbox, sku__startswith="LOAD-").count() == 150


def test_a_crash_mid_way_resumes_without_duplicates(world, monkeypatch):  # noqa: F811
    more_items(world, 250)
    real = ChannelAdvisorClient.batch
    calls = []

    def crash_on_the_third(self, parts, **kwargs):
        calls.append(len(parts))
        if len(calls) == 3:
            raise SystemError("the worker died")
        return real(self, parts, **kwargs)

    monkeypatch.setattr(ChannelAdvisorClient, "batch", crash_on_the_third)
    assert run(world).status == JobStatus.FAILED
    partly = ca.Product.objects.filter(sandbox=world.sandbox, sku__startswith="LOAD-").count()
    assert 0 < partly < 250
    monkeypatch.setattr(ChannelAdvisorClient, "batch", real)
    job = run(world)
    assert job.status == JobStatus.DONE, job.error
    assert ca.Product.objects.filter(sandbox=world.sandbox, sku__startswith="LOAD-").count() == 250


def test_an_item_the_channel_cannot_take_is_listed_with_the_fix(world):  # noqa: F811
    more_items(world, 3)
    Item.objects.filter(sandbox=world.sandbox, sku="LOAD-00001").update(description="x" * 150)
    job = run(world)
    assert job.status == JobStatus.DONE and "1 refused" in job.result and "Shorten the item's Description" in job.result
    assert not ca.Product.objects.filter(sandbox=world.sandbox, sku="LOAD-00001").exists()
    assert ca.Product.objects.filter(sandbox=world.sandbox, sku="LOAD-00002").exists()
