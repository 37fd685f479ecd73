from django.apps import AppConfig


class CustomersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "customers"
    verbose_name = "Customers"

    def ready(self):
        from portal.admin_site import ADDITIONAL_ATTENTION

        if attention not in ADDITIONAL_ATTENTION:
            ADDITIONAL_ATTENTION.append(attention)


def attention(request):
    """Front page: buyers who may be a TIMS customer already, whose orders wait for a person."""
    from django.urls import reverse

    from customers.models import CustomerMatch, MatchStatus
    from portal.tenancy import scope

    count = scope(CustomerMatch.objects.filter(status=MatchStatus.OPEN), request.user,
                  "integration__organization").count()
    if not count:
        return []
    url = reverse("admin:customers_customermatch_changelist") + f"?status__exact={MatchStatus.OPEN}"
    return [("Likely duplicate customers: orders wait for your decision", count, url, "warning")]
