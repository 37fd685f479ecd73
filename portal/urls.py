from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from integrations.webhooks import receive_webhook
from portal.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("sandbox/", include("sandbox.urls")),
    path("hooks/<int:integration_id>/<slug:system>/", receive_webhook, name="webhook"),
]
