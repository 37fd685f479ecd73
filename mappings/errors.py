"""Errors of the mapping engine. All are permanent: retrying the same record with the same mapping fails again;
a person must fix the mapping, a value map or the record (the pipeline dead-letters them with this message)."""


class MappingError(Exception):
    permanent = True


class TransformError(MappingError):
    """A transform could not convert a value (not a number, not a date...) or is misconfigured."""


class UnmappedValueError(MappingError):
    """A strict value map has no entry for a value. Carries the map and the value so staff can add it."""

    def __init__(self, map_name, value, value_map_id=None):
        self.map_name = map_name
        self.value = value
        self.value_map_id = value_map_id
        super().__init__(f"Value map “{map_name}” has no entry for {value!r}; add it in the value map "
                         f"({self.admin_url or 'admin → Mappings → Value maps'}).")

    @property
    def admin_url(self):
        """Where staff add the missing entry (the value map's admin page, pre-filled with the value)."""
        if self.value_map_id is None:
            return ""
        from urllib.parse import urlencode

        from django.urls import NoReverseMatch, reverse

        try:
            url = reverse("admin:mappings_valuemap_change", args=[self.value_map_id])
        except NoReverseMatch:  # outside a configured project (the standalone benchmark)
            return ""
        return f"{url}?{urlencode({'add_source': str(self.value)})}"


class MappingFailed(MappingError):
    """The mapped output is invalid: carries the field-level messages."""

    def __init__(self, messages):
        self.messages = list(messages)
        super().__init__("; ".join(self.messages) or "mapping failed")


class CompileError(MappingError):
    """A mapping definition is not valid (bad expression, unknown target field...). Forms prevent it on save."""
