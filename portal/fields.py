"""Model fields whose values are encrypted before they reach the database."""

import json

from django.db import models

from portal import crypto


class EncryptedJSONField(models.TextField):
    """A dict of secrets stored as one Fernet token; an empty dict is stored as an empty string."""

    description = "Encrypted JSON"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", dict)
        kwargs.setdefault("editable", False)  # forms handle secrets through write-only fields
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        if not value:
            return {}
        return json.loads(crypto.decrypt(value))

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        return json.loads(value)

    def get_prep_value(self, value):
        if not value:
            return ""
        return crypto.encrypt(json.dumps(value, sort_keys=True))

    def value_to_string(self, obj):
        return "<encrypted>"  # serializers (dumpdata) never see the plaintext


def encrypted_fields():
    """Every (model, field) pair that stores encrypted secrets, for key rotation."""
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedJSONField):
                yield model, field
