"""Mapping sets (per integration and direction), their field mappings and rules, value maps, versions,
and the values seen that no value map covers."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from integrations.models import Integration
from mappings import expr, schemas, transforms
from portal.models import Organization

map_name_validator = RegexValidator(r"^[A-Za-z0-9_.-]+$", "Use letters, digits, _ . and - only (no spaces).")


class ValueMap(models.Model):
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="value_maps",
        help_text="Empty: a global template that new organizations get a copy of.",
    )
    name = models.CharField(max_length=64, validators=[map_name_validator],
                            help_text="Mappings use it as value_map:<name>.")
    description = models.CharField(max_length=200, blank=True)
    default = models.CharField(max_length=200, blank=True,
                               help_text="Used for values without an entry (non-strict maps only). "
                                         "Empty: the value passes through unchanged.")
    strict = models.BooleanField(default=False, help_text="A value without an entry stops the record "
                                 "(a permanent error naming the map and the value) instead of passing through.")
    version = models.PositiveIntegerField(default=0, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="value_map_name_unique_per_org"),
            models.UniqueConstraint(fields=["name"], condition=models.Q(organization__isnull=True),
                                    name="value_map_name_unique_global"),
        ]

    def __str__(self):
        return f"{self.name} ({self.organization or 'global template'})"

    def compiled(self):
        return transforms.CompiledValueMap(
            self.name, {entry.source: entry.target for entry in self.entries.all()}, self.default, self.strict,
            pk=self.pk, version=self.version,
        )


class ValueMapEntry(models.Model):
    value_map = models.ForeignKey(ValueMap, on_delete=models.CASCADE, related_name="entries")
    source = models.CharField(max_length=200)
    target = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["source"]
        verbose_name_plural = "entries"
        constraints = [models.UniqueConstraint(fields=["value_map", "source"], name="value_map_entry_unique")]

    def __str__(self):
        return f"{self.source} → {self.target}"


class MappingSet(models.Model):
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="mapping_sets")
    template_key = models.CharField(max_length=40, blank=True, editable=False,
                                    help_text="Which default this set was made from.")
    name = models.CharField(max_length=100)
    flow = models.CharField(max_length=20, blank=True, help_text="The flow that uses it (orders, catalog, inventory).")
    source = models.CharField(max_length=40, choices=schemas.SOURCE_CHOICES)
    target = models.CharField(max_length=40, choices=schemas.TARGET_CHOICES)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=0, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["integration__organization__name", "integration__name", "name"]
        constraints = [models.UniqueConstraint(fields=["integration", "name"], name="mapping_set_name_unique")]

    def __str__(self):
        return f"{self.name} ({self.integration})"

    @property
    def organization_id(self):
        return self.integration.organization_id


def _check_expression(text, label):
    problem = expr.check(text) if text and text.strip() else None
    return {label: problem} if problem else {}


class MappingLine(models.Model):
    """What field mappings and rules share: a target, an expression, transforms and a condition."""

    position = models.PositiveIntegerField(default=0)
    target = models.CharField(max_length=200, help_text="Target field, e.g. ShippingAddress.City, LineItems[].SKU, "
                                                        "CustomFields.GiftNote.")
    transforms = models.CharField(max_length=500, blank=True,
                                  help_text="A chain such as trim | upper | truncate:64 | value_map:countries.")
    condition = models.TextField(blank=True, help_text="Only when this is true, e.g. total.amount > 100.")
    active = models.BooleanField(default=True)

    class Meta:
        abstract = True

    def line_errors(self, expression_field):
        errors = {}
        mapping_set = self._meta.get_field("mapping_set").get_cached_value(self, None) if not self.mapping_set_id \
            else self.mapping_set
        if mapping_set is not None and mapping_set.target:
            try:
                schemas.field_spec(schemas.schema_for(mapping_set.target), self.target)
            except (ValueError, KeyError) as error:
                errors["target"] = str(error)
        errors.update(_check_expression(getattr(self, expression_field), expression_field))
        errors.update(_check_expression(self.condition, "condition"))
        problem = transforms.check_chain(self.transforms)
        if problem:
            errors["transforms"] = problem
        return errors


class FieldMapping(MappingLine):
    mapping_set = models.ForeignKey(MappingSet, on_delete=models.CASCADE, related_name="fields")
    source = models.TextField(blank=True, help_text="An expression into the source record, e.g. customer.email, "
                                                    "lines[].sku, extra.gift_note, concat(a, ' ', b).")
    required = models.BooleanField(default=False, help_text="An empty result stops the record.")

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"{self.target} ← {self.source}"

    def clean(self):
        errors = self.line_errors("source")
        if errors:
            raise ValidationError(errors)


class RuleKind(models.TextChoices):
    ENRICHMENT = "enrichment", "Enrichment (cost center, project, location...)"
    CONDITIONAL = "conditional", "Conditional (discount, tax, status...)"


class RuleMode(models.TextChoices):
    DEFAULT = "default", "Fill only when empty"
    SET = "set", "Always set"


class Rule(MappingLine):
    mapping_set = models.ForeignKey(MappingSet, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=RuleKind.choices, default=RuleKind.ENRICHMENT)
    value = models.TextField(help_text="An expression, e.g. 'WEB' or "
                                       "round(decimal(lines[].unit_price.amount) * 0.05, 2).")
    mode = models.CharField(max_length=10, choices=RuleMode.choices, default=RuleMode.DEFAULT)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.name

    def clean(self):
        errors = self.line_errors("value")
        if not (self.value or "").strip():
            errors["value"] = "A rule needs a value expression (use null to clear the field)."
        if errors:
            raise ValidationError(errors)


class Version(models.Model):
    """A snapshot of a mapping set or a value map after a change: who, when, what changed."""

    mapping_set = models.ForeignKey(MappingSet, null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="versions")
    value_map = models.ForeignKey(ValueMap, null=True, blank=True, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    snapshot = models.JSONField()
    changes = models.JSONField(default=list, help_text="Plain-words list of what changed since the previous version.")
    comment = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["mapping_set", "number"], name="mapping_set_version_unique"),
            models.UniqueConstraint(fields=["value_map", "number"], name="value_map_version_unique"),
            models.CheckConstraint(
                condition=models.Q(mapping_set__isnull=True) ^ models.Q(value_map__isnull=True),
                name="version_of_exactly_one_thing"),
        ]

    def __str__(self):
        return f"{self.subject} v{self.number}"

    @property
    def subject(self):
        return self.mapping_set or self.value_map


class UnmappedValue(models.Model):
    """A value a value map had no entry for, seen by the pipeline: staff add entries from this list."""

    value_map = models.ForeignKey(ValueMap, on_delete=models.CASCADE, related_name="unmapped_values")
    value = models.CharField(max_length=200)
    times_seen = models.PositiveIntegerField(default=1)
    example = models.CharField(max_length=200, blank=True, help_text="A record that carried it (e.g. an order ref).")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [models.UniqueConstraint(fields=["value_map", "value"], name="unmapped_value_unique")]

    def __str__(self):
        return f"{self.value_map.name}: {self.value}"
