"""Existing shops catch up with what new ones get: every order with a carrier has its order_carriers row (as
PaymentModule::validateOrder makes it), and the seeded order states carry PrestaShop 8's flags and mail templates."""

from django.db import migrations
from django.db.models import Exists, OuterRef

# English name: (template, invoice, send_email, logable, delivery, shipped, paid), frozen here on purpose.
STATES = {
    "Awaiting bank wire payment": ("bankwire", False, True, False, False, False, False),
    "Payment error": ("payment_error", False, True, False, False, False, False),
    "Shipped": ("shipped", True, True, True, True, True, True),
    "Payment accepted": ("payment", True, True, True, False, False, True),
    "Refunded": ("refund", True, True, False, False, False, False),
    "Delivered": ("", True, False, True, True, True, True),
    "Processing in progress": ("preparation", True, True, True, True, False, True),
    "Canceled": ("order_canceled", False, True, False, False, False, False),
    "Awaiting check payment": ("cheque", False, True, False, False, False, False),
    "On backorder (paid)": ("outofstock", True, True, False, False, False, True),
}
FLAGS = ("invoice", "send_email", "logable", "delivery", "shipped", "paid")


def forwards(apps, schema_editor):
    Order = apps.get_model("sandbox_prestashop", "Order")
    OrderCarrier = apps.get_model("sandbox_prestashop", "OrderCarrier")
    OrderState = apps.get_model("sandbox_prestashop", "OrderState")
    has_row = OrderCarrier.objects.filter(sandbox_id=OuterRef("sandbox_id"), id_order=OuterRef("pk"))
    missing = Order.objects.exclude(id_carrier=0).filter(~Exists(has_row))
    OrderCarrier.objects.bulk_create([
        OrderCarrier(sandbox_id=order.sandbox_id, id_order=order.pk, id_carrier=order.id_carrier,
                     shipping_cost_tax_excl=order.total_shipping_tax_excl,
                     shipping_cost_tax_incl=order.total_shipping_tax_incl, date_add=order.date_add)
        for order in missing.iterator()], batch_size=500)
    for state in OrderState.objects.all().iterator():
        values = STATES.get((state.name or {}).get("en", ""))
        if values is None:
            continue
        template, *flags = values
        state.template = {iso: template for iso in (state.name or {})}
        for name, flag in zip(FLAGS, flags, strict=True):
            setattr(state, name, flag)
        state.save(update_fields=["template", *FLAGS])


class Migration(migrations.Migration):
    dependencies = [("sandbox_prestashop", "0002_mail_log")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
