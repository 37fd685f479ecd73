"""Buyers linked by e-mail before customers had their own links: each becomes a buyer link by its normalized
e-mail (a customer link held the raw e-mail, or "sha256:<digest>" for a long one)."""

import hashlib

from django.db import migrations

from customers.matching import KEY_LENGTH, normalized_email


def key_of(source_id):
    if source_id.startswith("sha256:"):
        return "email#" + source_id.removeprefix("sha256:")
    key = "email:" + normalized_email(source_id)
    return key if len(key) <= KEY_LENGTH else "email#" + hashlib.sha256(normalized_email(source_id).encode()).hexdigest()


def forward(apps, schema_editor):
    Link = apps.get_model("integrations", "Link")
    BuyerLink = apps.get_model("customers", "BuyerLink")
    old = Link.objects.filter(entity_type="customer")
    batch = [BuyerLink(integration_id=link.integration_id, buyer_key=key_of(link.source_id),
                       customer_code=link.target_id, linked_by="email", record_id=link.record_id)
             for link in old.iterator()]
    BuyerLink.objects.bulk_create(batch, batch_size=1000, ignore_conflicts=True)
    old.delete()


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
