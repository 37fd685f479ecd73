"""Guided setup: connection wizards (setup/connection_urls.py) and integration wizards (setup/integration_urls.py)."""

from django.urls import include, path

app_name = "setup"
urlpatterns = [
    path("", include("setup.connection_urls")),
    path("", include("setup.integration_urls")),
]
