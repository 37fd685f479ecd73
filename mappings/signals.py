"""A new integration gets its template's mapping sets and value maps in the same transaction, so it works
out of the box (and an integration never exists without them)."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from integrations.models import Integration


@receiver(post_save, sender=Integration, dispatch_uid="mappings_defaults_for_new_integration")
def create_default_mappings(sender, instance, created, raw=False, **kwargs):
    if created and not raw:  # not when loading fixtures
        from mappings.services import create_defaults

        create_defaults(instance)
