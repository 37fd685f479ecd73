import random
import xml.etree.ElementTree as ET

import pytest
import requests

from sandbox import services
from sandbox.models import Sandbox
from sandbox.prestashop import provision

XLINK = "{http://www.w3.org/1999/xlink}href"


class Shop:
    """A live sandbox shop and a key for it, with small helpers for raw HTTP calls."""

    def __init__(self, sandbox, api, key):
        self.sandbox, self.api, self.key = sandbox, api, key

    def url(self, path=""):
        return self.api + path

    def get(self, path="", key=None, **kwargs):
        return requests.get(self.url(path), auth=(key or self.key, ""), timeout=10, **kwargs)

    def send(self, method, path, xml, key=None, **kwargs):
        return requests.request(method, self.url(path), data=xml.encode(), auth=(key or self.key, ""), timeout=10,
                                **kwargs)

    def xml(self, path="", **kwargs):
        response = self.get(path, **kwargs)
        assert response.status_code == 200, response.text
        return ET.fromstring(response.content)

    def json(self, path="", params=None, **kwargs):
        response = self.get(path, params={**(params or {}), "output_format": "JSON"}, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


def error_code(response):
    if response.headers.get("Content-Type", "").startswith("application/json"):
        return response.json()["errors"][0]["code"]
    return int(ET.fromstring(response.content).find("errors/error/code").text)


def make_sandbox(slug, server_root):
    """A sandbox through sandbox.services; if another system's half-built sandbox breaks that (they are developed
    in parallel), fall back to this system alone so these tests only judge PrestaShop."""
    try:
        sandbox, _ = services.create_sandbox(slug)
        return sandbox, services.issue_credentials(sandbox, server_root)["prestashop"]
    except Exception:  # noqa: BLE001 - any failure in another system's provisioning
        sandbox = Sandbox.objects.create(slug=slug, name=slug)
        provision.seed(sandbox)
        return sandbox, provision.issue_credentials(sandbox, server_root + services.base_path(sandbox, "prestashop"))


@pytest.fixture
def shop(live_server):
    sandbox, credentials = make_sandbox("ps-test", live_server.url)
    assert len(credentials["ws_key"]) == 32
    return Shop(sandbox, credentials["base_url"] + "/api/", credentials["ws_key"])


@pytest.fixture
def filled(shop):
    """A shop with generated products, customers and orders, dated over the past days so that a write made now
    visibly moves an order's date_upd."""
    shop.summary = provision.generate(shop.sandbox, orders=12, products=8, customers=5, state=None, unknown_sku=2,
                                      rng=random.Random(7), history_days=20)
    return shop

# Only these apps' tables are flushed after each live-server test: flushing every table is most of a test's time.
APPS = ["django.contrib.contenttypes", "django.contrib.auth", "portal", "sandbox", "sandbox.prestashop"]
