from django.apps import AppConfig


class MappingsConfig(AppConfig):
    name = "mappings"
    verbose_name = "Mappings"

    def ready(self):
        from mappings import signals  # noqa: F401 - connects the receivers

        try:
            from portal.admin_site import ADDITIONAL_ATTENTION
        except ImportError:  # the admin front page hook is optional
            return
        if unmapped_values_attention not in ADDITIONAL_ATTENTION:
            ADDITIONAL_ATTENTION.append(unmapped_values_attention)


def unmapped_values_attention(request):
    """Front page: values the pipeline met that no value map covers (strict ones stop orders)."""
    from django.urls import reverse

    from mappings.models import UnmappedValue
    from portal.tenancy import scope

    values = scope(UnmappedValue.objects.all(), request.user, "value_map__organization")
    strict = values.filter(value_map__strict=True).count()
    other = values.filter(value_map__strict=False).count()
    url = reverse("admin:mappings_unmappedvalue_changelist")
    items = []
    if strict:
        items.append(("Unmapped values in strict value maps (orders wait)", strict,
                      url + "?value_map__strict__exact=1", "error"))
    if other:
        items.append(("Unmapped values (passed through)", other, url + "?value_map__strict__exact=0", "warning"))
    return items
