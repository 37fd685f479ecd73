"""The console's people (the shared cast, plus an operator and an admin of org A) and dead letters to work on."""

from dataclasses import dataclass

import pytest

from integrations.models import ErrorClass, RecordStatus, SyncRecord
from integrations.pipeline import records
from integrations.pipeline.causes import cause_of
from mappings.models import ValueMap
from portal.models import Membership, Role
from tests.factories import make_integration

MAP = "ps_carriers"


@dataclass
class People:
    viewer: object
    operator: object
    admin: object
    owner: object
    outsider: object
    staff: object


@pytest.fixture
def people(cast, django_user_model):
    def member(name, role):
        user = django_user_model.objects.create_user(name, f"{name}@example.com", "pw")
        Membership.objects.create(organization=cast.org_a, user=user, role=role)
        return user

    return People(viewer=cast.member_a, operator=member("operator_a", Role.OPERATOR),
                  admin=member("admin_a", Role.ADMIN), owner=cast.owner_a, outsider=cast.outsider_b,
                  staff=cast.operations)


@pytest.fixture
def no_dispatch(monkeypatch):
    monkeypatch.setattr(records, "dispatch", lambda record_id: None)


def dead_letter(integration, source_id, value="Acme Freight|Overnight", map_name=MAP, **extra):
    """A dead letter stopped by a value the map lacks, as the flows write one."""
    record, _ = records.receive(integration, flow="orders", entity_type="order", source_id=str(source_id),
                                reference=f"REF{source_id}", payload={"id": source_id, "email": "zoe@example.com"})
    message = f"Value map “{map_name}” has no entry for '{value}'; add it in the value map."
    details = {"value_map": {"name": map_name, "value": value, "url": "/admin/"}}
    SyncRecord.objects.filter(pk=record.pk).update(
        status=RecordStatus.DEAD, error_class=ErrorClass.UNMAPPED, error_message=message,
        error_cause=cause_of(message, details), error_details=details,
        suggested_fix=f"Add “{value}” to the value map {map_name}, then retry.", **extra)
    record.refresh_from_db()
    return record


@pytest.fixture
def world(cast, no_dispatch):
    """Org A with an integration, a template map and two dead letters on it; org B with one of its own."""
    template = ValueMap.objects.create(organization=None, name=MAP, strict=True, description="Carriers")
    template.entries.create(source="UPS|Ground", target="UPS")
    integration_a = make_integration(cast.org_a, name="Acme shop")
    integration_b = make_integration(cast.org_b, name="Borealis shop")
    return {"template": template, "integration_a": integration_a, "integration_b": integration_b,
            "dead_a": [dead_letter(integration_a, 1), dead_letter(integration_a, 2)],
            "dead_b": dead_letter(integration_b, 3)}
