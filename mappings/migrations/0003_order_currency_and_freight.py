"""Existing order mappings made from the templates gain the sales order's Currency and ShippingAmount, which the
cash flows need (TIMS invoices in the order's currency and bills its freight); a set that has them is left alone."""

from django.db import migrations

NEW_FIELDS = [
    ("Currency", "coalesce(currency, total.currency)", "upper"),
    ("ShippingAmount", "shipping.amount", "decimal:2"),
]


def add_fields(apps, schema_editor):
    MappingSet = apps.get_model("mappings", "MappingSet")
    FieldMapping = apps.get_model("mappings", "FieldMapping")
    for mapping_set in MappingSet.objects.filter(template_key="order_to_tims"):
        after = mapping_set.fields.filter(target="TotalAmount").values_list("position", flat=True).first()
        position = (after if after is not None else 0) + 1
        for target, source, transforms in NEW_FIELDS:
            if not mapping_set.fields.filter(target=target).exists():
                FieldMapping.objects.create(mapping_set=mapping_set, position=position, target=target,
                                            source=source, transforms=transforms)
                position += 1


class Migration(migrations.Migration):
    dependencies = [("mappings", "0002_canonical_help_texts")]
    operations = [migrations.RunPython(add_fields, migrations.RunPython.noop)]
