"""The admin: secrets are write-only, tenants never see each other, bad input is a form error."""

import pytest
from django.urls import reverse

from integrations.models import Connection
from tests.factories import SECRET_WS_KEY, make_connection, make_integration

pytestmark = pytest.mark.django_db


def change_url(obj):
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def form_data(connection, **overrides):
    data = {
        "organization": connection.organization_id, "kind": connection.kind, "name": connection.name,
        "base_url": connection.base_url, "settings": '{"timezone": "Europe/Paris"}', "sandbox": "",
        "rate_limit_per_minute": "", "max_concurrent_requests": "", "ws_key": "",
    }
    data.update(overrides)
    return data


def test_secret_never_appears_in_the_change_form(cast, login):
    connection = make_connection(cast.org_a)
    for user in (cast.superuser, cast.integration_admin, cast.owner_a, cast.operations, cast.member_a):
        html = login(user).get(change_url(connection)).content.decode()
        assert SECRET_WS_KEY not in html, user.username


def test_operations_staff_cannot_see_or_change_credentials(cast, login):
    connection = make_connection(cast.org_a)
    client = login(cast.operations)
    html = client.get(change_url(connection)).content.decode()
    assert 'name="ws_key"' not in html
    response = client.post(change_url(connection), form_data(connection, ws_key="STOLEN-KEY"))
    assert response.status_code == 403
    assert Connection.objects.get(pk=connection.pk).credentials["ws_key"] == SECRET_WS_KEY


def test_blank_secret_keeps_the_stored_value_and_a_new_one_replaces_it(cast, login):
    connection = make_connection(cast.org_a)
    client = login(cast.integration_admin)
    response = client.post(change_url(connection), form_data(connection, name="Renamed"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Connection.objects.get(pk=connection.pk).credentials["ws_key"] == SECRET_WS_KEY
    client.post(change_url(connection), form_data(connection, ws_key="NEW-KEY-0123456789"))
    assert Connection.objects.get(pk=connection.pk).credentials["ws_key"] == "NEW-KEY-0123456789"


def test_outsider_gets_404_on_another_organizations_objects(cast, login):
    connection = make_connection(cast.org_a)
    integration = make_integration(cast.org_a)
    client = login(cast.outsider_b)
    for obj in (connection, integration, cast.org_a):
        assert client.get(change_url(obj)).status_code == 404
    listing = client.get(reverse("admin:integrations_connection_changelist")).content.decode()
    assert connection.name not in listing


def test_members_see_their_own_organization_and_roles_limit_changes(cast, login):
    connection = make_connection(cast.org_a)
    assert login(cast.member_a).get(change_url(connection)).status_code == 200
    response = login(cast.member_a).post(change_url(connection), form_data(connection, name="x"))
    assert response.status_code == 403
    response = login(cast.owner_a).post(change_url(connection), form_data(connection, name="Owner renamed"))
    assert response.status_code == 302


def test_company_staff_see_every_organization(cast, login):
    a, b = make_connection(cast.org_a), make_connection(cast.org_b)
    listing = login(cast.operations).get(reverse("admin:integrations_connection_changelist")).content.decode()
    assert a.name in listing and b.name in listing


def test_customers_can_only_pick_their_own_organization(cast, login):
    make_connection(cast.org_b)
    html = login(cast.owner_a).get(reverse("admin:integrations_connection_add")).content.decode()
    assert cast.org_a.name in html and cast.org_b.name not in html


def test_an_unknown_kind_is_a_form_error(cast, login):
    data = {"organization": cast.org_a.pk, "kind": "sftp", "name": "x", "base_url": "https://x.example.com",
            "settings": "{}"}
    response = login(cast.integration_admin).post(reverse("admin:integrations_connection_add"), data)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


@pytest.mark.parametrize("overrides,message", [
    ({"base_url": "not a url"}, "is not a web address"),
    ({"base_url": "https://user:pw@shop.example.com"}, "credentials in the secret fields"),
    ({"settings": '{"timezone": "Mars/Olympus"}'}, "is not a time zone"),
    ({"settings": '{"timezone": "Europe/Paris", "colour": "blue"}'}, "is not a PrestaShop setting"),
    ({"settings": "{not json"}, "Enter a valid JSON"),
    ({"settings": "{}"}, "Shop time zone (timezone) is required"),
])
def test_bad_connection_input_is_a_form_error_in_plain_words(cast, login, overrides, message):
    connection = make_connection(cast.org_a)
    response = login(cast.integration_admin).post(change_url(connection), form_data(connection, **overrides))
    assert response.status_code == 200
    assert message in response.content.decode()


def test_plain_http_is_refused_in_production_unless_allowed(cast, login, settings):
    settings.DEBUG = False
    connection = make_connection(cast.org_a)
    client = login(cast.integration_admin)
    response = client.post(change_url(connection), form_data(connection, base_url="http://shop.example.com"))
    assert "Use https" in response.content.decode()
    response = client.post(change_url(connection),
                           form_data(connection, base_url="http://10.0.0.5:8080", on_premises="on"))
    assert response.status_code == 302
    saved = Connection.objects.get(pk=connection.pk)
    assert saved.on_premises and saved.on_premises_allowed_by == cast.integration_admin


def test_only_integration_admins_may_allow_on_premises_hosts(cast, login, settings):
    settings.DEBUG = False
    connection = make_connection(cast.org_a)
    response = login(cast.owner_a).post(change_url(connection),
                                        form_data(connection, base_url="http://10.0.0.5", on_premises="on"))
    assert response.status_code == 200 and "Use https" in response.content.decode()
    assert not Connection.objects.get(pk=connection.pk).on_premises


def test_integration_refuses_a_connection_of_the_wrong_kind_or_organization(cast, login):
    integration = make_integration(cast.org_a)
    foreign_tims = make_connection(cast.org_b, "tims")
    data = {"organization": cast.org_a.pk, "name": integration.name, "template": "channeladvisor_tims",
            "channel_connection": integration.channel_connection_id, "tims_connection": foreign_tims.pk,
            "flows": ["orders"], "state": "draft"}
    html = login(cast.superuser).post(change_url(integration), data).content.decode()
    assert "needs a ChannelAdvisor connection" in html
    assert "belongs to another organization" in html


def test_front_page_lists_what_needs_attention(cast, login):
    connection = make_connection(cast.org_a)
    Connection.objects.filter(pk=connection.pk).update(status="failing")
    html = login(cast.operations).get(reverse("admin:index")).content.decode()
    assert "Needs your attention" in html and "Connections: failing" in html
    assert "No background worker has ever reported" in html
