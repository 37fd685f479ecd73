"""The organization's developer pages (API keys, event subscriptions), under /app/<org>/developers/."""

from django.urls import path

from api import pages

app_name = "api_pages"
urlpatterns = [
    path("keys/", pages.api_keys, name="keys"),
    path("keys/<int:key_id>/revoke/", pages.revoke_key, name="revoke_key"),
    path("subscriptions/", pages.subscriptions, name="subscriptions"),
]
