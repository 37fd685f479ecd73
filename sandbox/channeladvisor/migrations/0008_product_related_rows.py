"""Attributes, images and labels become rows of their own (they were JSON lists on the product), so they can be
read, filtered and written one by one; relationship fields derived for existing products. A migration of its own,
so the data copy and the column drops run in separate transactions (PostgreSQL refuses ALTER TABLE with pending
deferred constraint checks)."""

from django.db import migrations


def copy_related_rows(apps, schema_editor):
    Product = apps.get_model("sandbox_channeladvisor", "Product")
    attributes = apps.get_model("sandbox_channeladvisor", "ProductAttribute")
    images = apps.get_model("sandbox_channeladvisor", "ProductImage")
    labels = apps.get_model("sandbox_channeladvisor", "ProductLabel")
    skus = dict(Product.objects.values_list("id", "sku"))
    for product in Product.objects.iterator():
        attributes.objects.bulk_create([attributes(product=product, name=row.get("Name", "")[:100],
                                                   value=row.get("Value") or "") for row in product.attributes or []
                                        if row.get("Name")], ignore_conflicts=True)
        images.objects.bulk_create([images(product=product, placement_name=row.get("PlacementName", "")[:50],
                                           url=(row.get("Url") or "")[:255]) for row in product.images or []
                                    if row.get("PlacementName")], ignore_conflicts=True)
        labels.objects.bulk_create([labels(product=product, name=name[:100]) for name in product.labels or []
                                    if name], ignore_conflicts=True)
        product.product_type = "Parent" if product.is_parent else ("Child" if product.parent_product_id else "Item")
        product.is_in_relationship = product.is_parent or product.parent_product_id is not None
        product.parent_sku = skus.get(product.parent_product_id, "")
        product.save(update_fields=["product_type", "is_in_relationship", "parent_sku"])


class Migration(migrations.Migration):

    dependencies = [
        ('sandbox_channeladvisor', '0007_product_entity'),
    ]

    operations = [
        migrations.RunPython(copy_related_rows, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='product',
            name='attributes',
        ),
        migrations.RemoveField(
            model_name='product',
            name='images',
        ),
        migrations.RemoveField(
            model_name='product',
            name='labels',
        ),
    ]
