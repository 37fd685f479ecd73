"""The organization's developer pages (API keys, event subscriptions), under /app/<org>/developers/."""

from django.urls import path  # noqa: F401

app_name = "api_pages"
urlpatterns = []
