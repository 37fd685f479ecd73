"""Invariant 9 in the admin: a customer's user never sees another tenant's names or data.

The walk goes over every registered ModelAdmin, so a new admin (or a new list filter, foreign key or autocomplete
field on an old one) is covered without touching this file: changelists with every filter choice, facets, search
and the raw-id popup; add and change forms; history pages; the autocomplete endpoint for every relation of every
registered model; the front page and the app pages. Every org_b name carries the word "Borealis".
"""

import json
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.admin.filters import FieldListFilter, RelatedFieldListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from integrations.connectors.models import CircuitBreaker, RateState
from integrations.models import AuditEntry, Connection, Integration, Link, SyncAttempt, SyncRecord
from mappings import services
from mappings.models import MappingSet, ValueMap
from portal.models import Membership, Role
from sandbox.models import Sandbox
from tests.factories import make_connection, make_integration

pytestmark = pytest.mark.django_db

LEAK = "borealis"  # lower case: matched against the lower-cased page
SEARCH = "orealis"  # matches org_b's names in a search, while the echoed search box does not contain LEAK


def tenant_data(organization, label, user):
    """A tenant's worth of objects in every model the admin shows, each named after the tenant."""
    slug = label.lower()
    Sandbox.objects.create(slug=f"{slug}-trial", name=f"{label} trial sandbox", organization=organization)
    integration = make_integration(organization)
    Integration.objects.filter(pk=integration.pk).update(name=f"{label} webshop integration")
    Connection.objects.filter(pk=integration.channel_connection_id).update(name=f"{label} shop connection")
    Connection.objects.filter(pk=integration.tims_connection_id).update(name=f"{label} TIMS connection")
    spare = make_connection(organization, "channeladvisor", name=f"{label} marketplace connection")
    integration.refresh_from_db()
    for mapping_set in MappingSet.objects.filter(integration=integration):
        MappingSet.objects.filter(pk=mapping_set.pk).update(name=f"{label} {mapping_set.name}")
    value_map = ValueMap.objects.create(organization=organization, name=f"{slug}_carriers",
                                        description=f"{label} carriers")
    value_map.entries.create(source=f"{label} Express", target="UPS")
    services.record_version(value_map, user, comment=f"{label} first version")
    mapping_set = MappingSet.objects.filter(integration=integration).first()
    services.record_version(mapping_set, user, comment=f"{label} set version")
    services.note_unmapped(value_map, f"{label} pigeon", example=f"{label} example")
    record = SyncRecord.objects.create(
        organization=organization, integration=integration, flow="orders", entity_type="order",
        source_system="prestashop", source_id=f"{slug}-17", business_key=f"{slug}:order:17",
        reference=f"{label.upper()}-ORDER-17", status="dead", error_class="permanent",
        error_message=f"{label} customer unknown", source_payload={"reference": f"{label} payload"})
    SyncAttempt.objects.create(record=record, number=1, started_at=timezone.now(), outcome="dead",
                               error_message=f"{label} attempt failed")
    AuditEntry.objects.create(actor=user, actor_name=user.username, organization=organization, action="retry",
                              record=record, reason=f"{label} retried it")
    Link.objects.create(integration=integration, entity_type="order", source_id=f"{slug}-src",
                        target_id=f"{slug}-tgt", record=record)
    for connection in (integration.channel_connection, spare):
        CircuitBreaker.objects.create(connection=connection, last_failure=f"{label} timeout")
        RateState.objects.create(connection=connection, window_start=timezone.now())
    return integration


@pytest.fixture
def tenants(cast):
    borealis_user = get_user_model().objects.create_user("borealis_buyer", "buyer@borealis.example", "pw",
                                                         is_staff=True)
    Membership.objects.create(organization=cast.org_b, user=borealis_user, role=Role.ADMIN)
    tenant_data(cast.org_a, "Acme", cast.owner_a)
    tenant_data(cast.org_b, "Borealis", borealis_user)
    return cast


def request_for(user, path="/admin/", params=None):
    request = RequestFactory().get(path, params or {})
    request.user = user
    return request


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def assert_no_leak(response, where):
    body = response.content.decode(errors="replace").lower()
    assert LEAK not in body, f"{where} ({response.status_code}) shows another tenant's data: " + body[
        max(0, body.find(LEAK) - 300): body.find(LEAK) + 200]


def visible_admins(user):
    request = request_for(user)
    return [(model, model_admin) for model, model_admin in admin.site._registry.items()
            if model_admin.has_view_or_change_permission(request)]


def changelist_urls(model, model_admin, user):
    """The changelist plain, searched, faceted, as a raw-id popup, and with every choice of every list filter,
    plus every related filter pointed straight at each object the user may not see."""
    url = admin_url(model, "changelist")
    urls = [url, f"{url}?q={SEARCH}", f"{url}?_facets=1", f"{url}?_popup=1&_to_field=id"]
    changelist = model_admin.get_changelist_instance(request_for(user, url))
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            urls.append(url + choice["query_string"])
        if isinstance(spec, RelatedFieldListFilter):
            remote = spec.field.remote_field.model if spec.field.remote_field else spec.field.related_model
            for pk in remote._default_manager.values_list("pk", flat=True):
                urls.append(f"{url}?{urlencode({spec.lookup_kwarg: pk})}&_facets=1")
    return urls


def others_objects(model, model_admin, user):
    own = model_admin.get_queryset(request_for(user)).values("pk")
    return list(model._default_manager.exclude(pk__in=own))


@pytest.mark.parametrize("username", ["owner_a", "member_a"])
def test_a_customer_never_sees_another_tenants_names_anywhere_in_the_admin(tenants, login, username):
    user = getattr(tenants, username)
    client = login(user)
    visible = visible_admins(user)
    assert {model for model, _ in visible} >= {Connection, Integration, SyncRecord, MappingSet, ValueMap}

    for url in ["/admin/"] + [reverse("admin:app_list", args=[label])
                               for label in {m._meta.app_label for m, _ in visible}]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_no_leak(response, url)

    for model in admin.site._registry:
        response = client.get(admin_url(model, "changelist"))
        assert_no_leak(response, f"{model.__name__} changelist")

    checked_filters = 0
    for model, model_admin in visible:
        for url in changelist_urls(model, model_admin, user):
            response = client.get(url)
            assert response.status_code in (200, 302), url
            assert_no_leak(response, url)
            checked_filters += 1
        if model_admin.has_add_permission(request_for(user)):
            url = admin_url(model, "add")
            response = client.get(url, follow=True)  # an add page may hand over to its own form
            assert response.status_code == 200, url
            assert_no_leak(response, url)
        for obj in model_admin.get_queryset(request_for(user))[:5]:
            for view in ("change", "history", "delete"):
                url = admin_url(model, view, obj.pk)
                response = client.get(url)
                assert response.status_code in ((200,) if view != "delete" else (200, 403)), url
                assert_no_leak(response, url)
        for obj in others_objects(model, model_admin, user):
            for view in ("change", "history", "delete"):
                url = admin_url(model, view, obj.pk)
                response = client.get(url)
                assert response.status_code in (302, 403, 404), url
                assert_no_leak(response, url)
    assert checked_filters > 50

    for model in admin.site._registry:
        relations = [f for f in model._meta.get_fields() if f.is_relation and f.concrete]
        for field in relations:
            for term in ("", SEARCH):
                url = reverse("admin:autocomplete") + "?" + urlencode({
                    "app_label": model._meta.app_label, "model_name": model._meta.model_name,
                    "field_name": field.name, "term": term})
                response = client.get(url)
                assert_no_leak(response, url)
                if response.status_code == 200:
                    assert json.loads(response.content)["results"] is not None


def test_another_tenants_custom_admin_pages_are_not_found(tenants, login):
    client = login(tenants.owner_a)
    record = SyncRecord.objects.get(organization=tenants.org_b)
    value_map = ValueMap.objects.get(organization=tenants.org_b, name="borealis_carriers")
    mapping_set = MappingSet.objects.filter(integration__organization=tenants.org_b).first()
    for url in [admin_url(SyncRecord, "preview", record.pk), admin_url(SyncRecord, "edit_payload", record.pk),
                admin_url(MappingSet, "preview", mapping_set.pk), admin_url(ValueMap, "export", value_map.pk),
                admin_url(ValueMap, "import", value_map.pk)]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert_no_leak(response, url)


def filter_choices(model, user, field_path):
    """The choices of one list filter (built directly: the changelist drops a filter with a single choice)."""
    model_admin = admin.site._registry[model]
    request = request_for(user, admin_url(model, "changelist"))
    item = next(i for i in model_admin.get_list_filter(request)
                if not isinstance(i, type) and (i if isinstance(i, str) else i[0]) == field_path)
    field = get_fields_from_path(model, field_path)[-1]
    if isinstance(item, str):
        spec = FieldListFilter.create(field, request, {}, model, model_admin, field_path)
    else:
        spec = item[1](field, request, {}, model, model_admin, field_path)
    return [name for _, name in spec.lookup_choices]


def test_list_filters_offer_only_the_customers_own_organizations_and_integrations(tenants, login):
    owner, root = tenants.owner_a, tenants.superuser
    assert filter_choices(Connection, owner, "organization") == ["Acme Welding Supply"]
    assert filter_choices(Connection, root, "organization") == ["Acme Welding Supply", "Borealis Gases"]
    assert filter_choices(SyncRecord, owner, "integration") == ["Acme webshop integration"]
    assert filter_choices(Membership, owner, "organization") == ["Acme Welding Supply"]
    assert sorted(filter_choices(SyncRecord, root, "integration")) == ["Acme webshop integration",
                                                                       "Borealis webshop integration"]
    client = login(owner)
    html = client.get(admin_url(Connection, "changelist")).content.decode()
    assert "Acme Welding Supply" in html and "Borealis Gases" not in html
    html = client.get(admin_url(SyncRecord, "changelist")).content.decode()
    assert "Acme webshop integration" in html and "Borealis webshop integration" not in html
    html = client.get(admin_url(Integration, "changelist") + "?_facets=1").content.decode()
    assert "Acme Welding Supply" in html and "Borealis Gases" not in html


@pytest.mark.parametrize("username", ["superuser", "operations"])
def test_company_staff_still_see_every_tenant_in_the_filters(tenants, login, username):
    client = login(getattr(tenants, username))
    html = client.get(admin_url(Connection, "changelist")).content.decode()
    assert "Acme Welding Supply" in html and "Borealis Gases" in html
    html = client.get(admin_url(SyncRecord, "changelist")).content.decode()
    assert "Acme webshop integration" in html and "Borealis webshop integration" in html
    html = client.get(admin_url(MappingSet, "add")).content.decode()
    assert "Acme webshop integration" in html and "Borealis webshop integration" in html
    response = client.get(reverse("admin:autocomplete") + "?" + urlencode({
        "app_label": "integrations", "model_name": "syncrecord", "field_name": "integration", "term": SEARCH}))
    assert [r["text"] for r in response.json()["results"]] == ["Borealis webshop integration"]


def test_every_admin_url_name_used_here_exists():
    for model, view in [(SyncRecord, "preview"), (MappingSet, "preview"), (ValueMap, "export")]:
        try:
            admin_url(model, view, 1)
        except NoReverseMatch:  # pragma: no cover - a renamed view would silently shrink the walk
            pytest.fail(f"{model.__name__} {view}")


def test_a_customer_cannot_pick_another_tenants_objects_by_posting_their_ids(tenants, login):
    client = login(tenants.owner_a)
    theirs = Integration.objects.get(organization=tenants.org_b)
    sandbox_b = Sandbox.objects.get(organization=tenants.org_b)
    response = client.post(admin_url(Integration, "add"), {
        "organization": tenants.org_b.pk, "name": "Smuggled", "template": "prestashop_tims",
        "channel_connection": theirs.channel_connection_id, "tims_connection": theirs.tims_connection_id,
        "flows": ["orders"], "state": "draft"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert_no_leak(response, "integration add")
    response = client.post(admin_url(Connection, "add"), {
        "organization": tenants.org_a.pk, "kind": "prestashop", "name": "Smuggled", "base_url": "https://x.example",
        "settings": "{}", "sandbox": sandbox_b.pk})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert_no_leak(response, "connection add")
    assert not Integration.objects.filter(name="Smuggled").exists()
    assert not Connection.objects.filter(name="Smuggled").exists()


def test_the_front_page_counts_only_the_customers_own_work(tenants, login):
    def dead_and_states(user):
        context = login(user).get("/admin/").context
        dead = sum(count for _, count, url, _ in context["attention_items"] if "/causes/" in url)
        return dead, dict(context["integration_states"])

    assert dead_and_states(tenants.owner_a) == (1, {"draft": 1})
    assert dead_and_states(tenants.superuser) == (2, {"draft": 2})
