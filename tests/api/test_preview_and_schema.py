"""Mapping preview of a pasted payload (never a 500), and the OpenAPI schema: generated, valid, served."""

import json
import re

import pytest
import yaml
from django.core.management import call_command
from openapi_spec_validator import validate

from mappings.models import MappingSet
from mappings.templates import sample_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def order_set(integration_a):
    return MappingSet.objects.filter(integration=integration_a, flow="orders").first()


def test_preview_maps_a_pasted_order(cast, key_for, api, order_set):
    client = api(key_for(cast.org_a))  # preview writes nothing: a read key may
    payload = sample_record(order_set.source, order_set.integration.template)
    response = client.post(f"/api/mapping-sets/{order_set.pk}/preview/", {"payload": payload}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["ok"] is True and body["output"]["ExternalOrderID"] and body["errors"] == []


def test_preview_says_what_is_wrong_with_bad_payloads(cast, key_for, api, order_set):
    client = api(key_for(cast.org_a))
    url = f"/api/mapping-sets/{order_set.pk}/preview/"
    empty = client.post(url, {"payload": {}}, format="json")
    assert empty.status_code == 200 and empty.json()["ok"] is False and empty.json()["errors"]
    weird = client.post(url, {"payload": {"lines": "not a list", "total": {"a": [1, {"b": None}]},
                                          "ordered_at": 12}}, format="json")
    assert weird.status_code == 200 and weird.json()["ok"] is False
    for body, word in (({"payload": [1, 2]}, "JSON object"), ({}, "payload"), ({"payload": "text"}, "JSON object")):
        response = client.post(url, body, format="json")
        assert response.status_code == 400 and word in json.dumps(response.json()), body
    response = client.generic("POST", url, b'{"payload": {"total": 1e999999}}', content_type="application/json")
    assert response.status_code == 400 and "too large" in response.json()["detail"]
    assert client.generic("POST", url, b"{oops", content_type="application/json").status_code == 400
    other = MappingSet.objects.exclude(integration__organization=cast.org_a).first()
    if other is not None:
        assert client.post(f"/api/mapping-sets/{other.pk}/preview/", {"payload": {}}, format="json").status_code == 404


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    validate(schema)
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": schema["components"]["securitySchemes"]["ApiKey"]["description"]}
    paths = schema["paths"]
    for expected in ("/api/records/{id}/retry/", "/api/records/{id}/discard/", "/api/failures/retry-all/",
                     "/api/value-maps/{value_map_pk}/entries/{id}/", "/api/mapping-sets/{id}/preview/",
                     "/api/integrations/{id}/go-live/", "/api/connections/{id}/test/", "/api/audit/"):
        assert expected in paths, expected
    connection_out = schema["components"]["schemas"]["Connection"]["properties"]
    assert "credentials" not in connection_out and "credentials_set" in connection_out
    assert "credentials" in schema["components"]["schemas"]["ConnectionRequest"]["properties"]


def test_schema_and_reference_are_served_without_the_internet(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"openapi: 3" in schema.content
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs and "/static/drf_spectacular_sidecar/" in docs
    # Every script and stylesheet comes from our own static files (a nonce may spell anything, so look at URLs).
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs)
    assert sources and all(url.startswith("/") for url in sources), sources
