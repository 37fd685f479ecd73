"""The admin pages for the sandbox shop load, and the webhook module can be subscribed from there."""

import random

import pytest
from django.urls import reverse

from sandbox.models import Sandbox, WebhookSubscription
from sandbox.prestashop import provision
from sandbox.prestashop.models import model_for

pytestmark = pytest.mark.django_db

MODELS = ["Shop", "KeyPermission", "Order", "OrderRow", "Customer", "Product", "Language", "Country", "Currency",
          "Carrier", "OrderState", "Address", "Combination", "StockAvailable", "OrderHistory", "OrderCarrier",
          "OrderPayment", "WebhookModule"]


def test_admin_lists_and_webhook_subscription(admin_client):
    sandbox = Sandbox.objects.create(slug="ps-admin")
    provision.seed(sandbox)
    provision.generate(sandbox, orders=3, products=3, customers=2, state=None, unknown_sku=0, rng=random.Random(4))
    for name in MODELS:
        url = reverse(f"admin:sandbox_prestashop_{name.lower()}_changelist")
        assert admin_client.get(url).status_code == 200, name
    order = model_for("Order").objects.filter(sandbox=sandbox).first()
    assert admin_client.get(reverse("admin:sandbox_prestashop_order_change", args=[order.pk])).status_code == 200
    response = admin_client.post(reverse("admin:sandbox_prestashop_webhookmodule_add"), {
        "sandbox": sandbox.pk, "url": "https://receiver.example.com/hooks", "events": "[]", "active": "on",
        "secret": "top-secret"})
    assert response.status_code == 302, response.content[:2000]
    subscription = WebhookSubscription.objects.get(sandbox=sandbox)
    assert subscription.system == "prestashop" and subscription.signing == {"secret": "top-secret"}
