from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from portal.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("sandbox/", include("sandbox.urls")),
]
