import itertools

from integrations.models import Connection, Integration

SECRET_WS_KEY = "WSKEY-7f3a9c1e5b2d48e6a0c4f1b3d5e7a9c2"
_numbers = itertools.count(1)


def make_connection(organization, kind="prestashop", name=None, **extra):
    defaults = {
        "prestashop": {"settings": {"timezone": "Europe/Paris"}, "credentials": {"ws_key": SECRET_WS_KEY}},
        "channeladvisor": {"settings": {"profile_id": 12345},
                           "credentials": {"application_id": "app-1", "shared_secret": "CA-SHARED-SECRET-1",
                                           "refresh_token": "CA-REFRESH-TOKEN-1"}},
        "tims": {"settings": {"default_location": "MAIN"},
                 "credentials": {"client_id": "tims-client", "client_secret": "TIMS-CLIENT-SECRET-1"}},
    }[kind]
    name = name or f"{organization.slug} {kind} {next(_numbers)}"
    connection = Connection(organization=organization, kind=kind, name=name,
                            base_url=extra.pop("base_url", f"https://{kind}.example.com"), **{**defaults, **extra})
    connection.full_clean()
    connection.save()
    return connection


def make_integration(organization, template="prestashop_tims", name=None):
    channel = make_connection(organization, template.split("_")[0])
    tims = make_connection(organization, "tims")
    integration = Integration(organization=organization, name=name or f"{organization.slug} {template}",
                              template=template, channel_connection=channel, tims_connection=tims, flows=["orders"])
    integration.full_clean()
    integration.save()
    return integration
