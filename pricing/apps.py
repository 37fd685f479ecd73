from django.apps import AppConfig


class PricingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pricing"
    verbose_name = "Pricing"

    def ready(self):
        from portal.admin_site import ADDITIONAL_ATTENTION

        if attention not in ADDITIONAL_ATTENTION:
            ADDITIONAL_ATTENTION.append(attention)


def attention(request):
    """Front page: prices that looked wrong and wait for a person before they reach a channel."""
    from django.urls import reverse

    from portal.tenancy import scope
    from pricing.models import HoldStatus, PriceHold

    count = scope(PriceHold.objects.filter(status=HoldStatus.OPEN), request.user, "integration__organization").count()
    if not count:
        return []
    url = reverse("admin:pricing_pricehold_changelist") + f"?status__exact={HoldStatus.OPEN}"
    return [("Held prices: a change looked wrong and waits for approval", count, url, "warning")]
