"""Products, TIMS → ChannelAdvisor: each TIMS item becomes the channel's product, created once when missing (if the
integration creates products), then only the fields that changed are sent; an item TIMS deactivates is blocked.

TIMS item.updated (the shared events stream) → the item read again from TIMS → the product's fields (title,
identifiers, weight, cost, custom fields as attributes), refused in words when the channel cannot take them → the
product looked up by SKU (its link first) → created with what TIMS has, or PATCHed with what differs from what was
last sent → remembered.
"""

import re

from django.db import transaction

from catalog.models import SentProduct
from integrations.connectors import errors
from integrations.connectors.checks import client_for
from integrations.flows import registry
from integrations.pipeline import records
from integrations.pipeline.outcomes import Rejected, Skipped

ENTITY = "product"
# TIMS custom fields that are ChannelAdvisor product properties; the other custom fields become attributes.
PROPERTIES = {"Brand": ("Brand", 150), "Manufacturer": ("Manufacturer", 150), "MPN": ("MPN", 50),
              "UPC": ("UPC", 20), "EAN": ("EAN", 20), "ISBN": ("ISBN", 20), "LongDescription": ("Description", 32000),
              "Subtitle": ("Subtitle", 120)}
TITLE_LENGTH = 120
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
TAG = re.compile(r"<[^>]+>")


def syndicate(record):
    integration = record.integration
    sku = record.source_id
    tims = client_for(integration.tims_connection, lane=PRODUCTS.lane)
    item = tims.get_json(f"items/{sku}")
    wanted = product_fields(sku, item)
    sent = SentProduct.objects.filter(integration=integration, sku=sku).first()
    changes = {k: v for k, v in wanted.items() if sent is None or sent.fields.get(k) != v}
    records.save_fields(record, mapped_payload=wanted, reference=sku[:100])
    if not changes:
        raise Skipped(f"{sku}: the channel has what TIMS has.")
    if record.shadow:
        records.save_fields(record, notes=f"Shadow mode: would send {', '.join(changes)} of {sku}.")
        return
    channel = client_for(integration.channel_connection, lane=PRODUCTS.lane)
    product_id = records.linked_target(record, ENTITY, sku) or channel.product_ids([sku]).get(sku)
    if product_id is None:
        if integration.option("products") == "update_only":
            raise Skipped(f"{sku} is not a product in the channel, and this integration only updates products "
                          "(its option products is update_only).")
        records.mark_sent(record)
        try:
            product_id = channel.create_product({"Sku": sku, **wanted})
        except errors.ValidationFailed as exc:
            raise Rejected(f"ChannelAdvisor refused to create {sku}: {exc}", fix="Correct the item in TIMS "
                           "(or the field named above), then retry.") from exc
        what = "created"
    else:
        try:
            channel.update_product(product_id, changes)
        except errors.ValidationFailed as exc:
            raise Rejected(f"ChannelAdvisor refused the change to {sku}: {exc}", fix="Correct the item in TIMS "
                           "(or the field named above), then retry.") from exc
        what = "updated: " + ", ".join(changes)
    records.link(record, product_id, ENTITY, sku)
    with transaction.atomic():
        SentProduct.objects.update_or_create(integration=integration, sku=sku,
                                             defaults={"channel_id": str(product_id), "fields": wanted})
    records.save_fields(record, target_id=str(product_id), notes=f"Product {product_id} {what}.")


def product_fields(sku, item):
    """The channel product's fields from a TIMS item, as text; a value the channel cannot take is refused whole,
    so no product is ever half made."""
    title = clean(sku, "Description", item.get("Description") or "")
    if len(title) > TITLE_LENGTH:
        raise Rejected(f"TIMS item {sku} has a Description of {len(title)} characters; a ChannelAdvisor title "
                       f"holds {TITLE_LENGTH}.", fix=f"Shorten the item's Description in TIMS to {TITLE_LENGTH} "
                       "characters (a long text belongs in the custom field LongDescription), then retry.")
    if TAG.search(title):
        raise Rejected(f"TIMS item {sku} has HTML in its Description (“{TAG.search(title).group(0)}”); a "
                       "ChannelAdvisor title is plain text.", fix="Remove the markup from the item's Description "
                       "in TIMS (HTML belongs in the custom field LongDescription), then retry.")
    fields = {"Title": title, "Weight": str(item.get("Weight") or "0"), "Cost": str(item.get("Cost") or "0"),
              "IsBlocked": item.get("Active") is False,
              "BlockComment": "Inactive in TIMS" if item.get("Active") is False else ""}
    attributes = []
    for name, value in sorted((item.get("CustomFields") or {}).items()):
        text = clean(sku, f"custom field {name}", "" if value is None else str(value))
        if name in PROPERTIES:
            target, limit = PROPERTIES[name]
            if len(text) > limit:
                raise Rejected(f"TIMS item {sku}'s {name} is {len(text)} characters; ChannelAdvisor's {target} "
                               f"holds {limit}.", fix=f"Shorten {name} in TIMS to {limit} characters, then retry.")
            fields[target] = text
        elif text:
            attributes.append({"Name": name, "Value": text[:4000]})
    if attributes:
        fields["Attributes"] = attributes
    return fields


def clean(sku, name, text):
    found = CONTROL.search(text)
    if found:
        raise Rejected(f"TIMS item {sku}'s {name} holds a control character (code {ord(found.group(0))}) at "
                       f"position {found.start() + 1}.", fix=f"Remove it from the item's {name} in TIMS, then retry.")
    return text.strip()


PRODUCTS = registry.declare(registry.Flow(
    name="products", label="Products to the channel", source=registry.TIMS, target=registry.CHANNEL,
    entity_type=ENTITY,
    triggers=(registry.Poll("events", position="cursor", system=registry.TIMS, events=("item.updated",)),),
    step=syndicate, supersedes=True, lane="low",
    templates={"channeladvisor_tims": False},
))
