"""The first full load of a catalog into ChannelAdvisor: every TIMS item as a product, a hundred per `$batch` on the
low lane (orders keep their higher-priority share of the budget), as a job with progress.

Resumable: a job whose worker died is queued again (jobs.work.take_back_stalled) and starts over cheaply, since
each chunk acts only on what is still to do: products that have what TIMS has are skipped, and products an earlier
run made are found by SKU, not made again.
"""

import json

from django.db import transaction

from catalog.models import SentProduct
from integrations.connectors.channeladvisor import batch as odata_batch
from integrations.connectors.checks import client_for
from integrations.flows import products as product_flow
from integrations.models import Integration, Link
from integrations.pipeline.outcomes import Rejected
from jobs import work

JOB = "catalog.first_load"
CHUNK = odata_batch.MAX_PARTS
LANE = "low"


def start(integration, user=None):
    return work.start(JOB, f"Load the catalog into {integration.name}", user=user,
                      organization=integration.organization, integration_id=integration.pk)


@work.kind(JOB)
def first_load(job, progress):
    integration = Integration.objects.select_related("tims_connection", "channel_connection").get(
        pk=job.arguments["integration_id"])
    tims = client_for(integration.tims_connection, lane=LANE)
    channel = client_for(integration.channel_connection, lane=LANE)
    items = [raw for page in tims.pages("items") for raw in page if isinstance(raw, dict) and raw.get("SKU")]
    progress.total(len(items))
    progress.done = 0  # a job taken back after a crash counts again from the start (what is done goes quickly)
    counts = {"created": 0, "updated": 0, "unchanged": 0, "refused": 0, "left": 0}
    refused = []
    for start_at in range(0, len(items), CHUNK):
        chunk = items[start_at:start_at + CHUNK]
        load_chunk(integration, channel, chunk, counts, refused)
        progress.advance(len(chunk))
    said = ", ".join(f"{n} {what}" for what, n in counts.items() if n) or "nothing to load"
    if counts["left"]:
        said += " (run it again for the ones left: the channel could not take them now)"
    return said + "." + ("" if not refused else " Refused: " + "; ".join(refused[:20])
                         + (f"; and {len(refused) - 20} more" if len(refused) > 20 else "") + ".")


def load_chunk(integration, channel, chunk, counts, refused):
    wanted = {}
    for raw in chunk:
        sku = raw["SKU"]
        try:
            wanted[sku] = product_flow.product_fields(sku, raw)
        except Rejected as exc:
            counts["refused"] += 1
            refused.append(f"{exc.message} {exc.fix}")
    sent = {row.sku: row for row in SentProduct.objects.filter(integration=integration, sku__in=list(wanted))}
    todo = {sku: fields for sku, fields in wanted.items() if sku not in sent or sent[sku].fields != fields}
    counts["unchanged"] += len(wanted) - len(todo)
    if not todo:
        return
    ids = channel.product_ids(list(todo))
    planned = []  # (sku, "created" | "updated", part)
    for sku, fields in todo.items():
        if sku not in ids:
            planned.append((sku, "created", odata_batch.BatchPart("POST", channel.url("Products"),
                                                                  {"Sku": sku, **fields})))
            continue
        before = sent[sku].fields if sku in sent else {}
        changes = {k: v for k, v in fields.items() if before.get(k) != v and k != "Attributes"}
        if changes:
            planned.append((sku, "updated", odata_batch.BatchPart("PATCH", channel.url(f"Products({ids[sku]})"),
                                                                  changes)))
        if fields.get("Attributes") and fields["Attributes"] != before.get("Attributes"):
            planned.append((sku, "updated", odata_batch.BatchPart(
                "POST", channel.url(f"Products({ids[sku]})/UpdateAttributes"),
                {"Value": {"Attributes": fields["Attributes"]}})))
    results = channel.batch([part for _, _, part in planned]) if planned else []
    outcome = {sku: "updated" for sku in todo}  # a product with nothing the channel lacks is only remembered
    problems = {}
    for (sku, what, _), result in zip(planned, results, strict=True):
        if result.ok:
            if what == "created":
                ids[sku] = json.loads(result.body or "{}").get("ID")
            if outcome.get(sku) not in ("refused", "left"):
                outcome[sku] = what
        else:
            outcome[sku] = "left" if result.retryable or result.status == 0 else "refused"
            problems[sku] = channel.part_message(result)
    with transaction.atomic():
        for sku, fields in todo.items():
            what = outcome[sku]
            counts[what] += 1
            if what == "refused":
                refused.append(f"{sku}: ChannelAdvisor said “{problems[sku]}”.")
            if what in ("refused", "left") or not ids.get(sku):
                continue
            SentProduct.objects.update_or_create(integration=integration, sku=sku,
                                                 defaults={"channel_id": str(ids[sku]), "fields": fields})
            Link.objects.get_or_create(integration=integration, entity_type=product_flow.ENTITY, source_id=sku,
                                       defaults={"target_id": str(ids[sku])})
