from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from integrations import webhooks
from portal.health import healthz
from portal.metrics import metrics

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("sandbox/", include("sandbox.urls")),
    # Hooks answer with or without the trailing slash: APPEND_SLASH cannot redirect a POST (it raises, a 500).
    path("hooks/tims/<int:connection_id>/", webhooks.receive_tims_webhook, name="tims_webhook"),
    path("hooks/tims/<int:connection_id>", webhooks.receive_tims_webhook),
    path("hooks/<int:integration_id>/<slug:system>/", webhooks.receive_webhook, name="webhook"),
    path("hooks/<int:integration_id>/<slug:system>", webhooks.receive_webhook),
    re_path(r"^hooks/", webhooks.not_found),
]
