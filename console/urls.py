"""The customer's console: their organizations, records, failures, value maps and audit log."""

from django.urls import path

from console import views

app_name = "console"
urlpatterns = [
    path("", views.home, name="home"),
    path("<slug:org>/", views.organization, name="organization"),
]
