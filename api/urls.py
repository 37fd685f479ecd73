"""The REST API (Django REST framework) and its OpenAPI schema."""

from django.urls import path  # noqa: F401

app_name = "api"
urlpatterns = []
