from django.contrib import admin
from django.urls import include, path, re_path

from integrations import webhooks
from portal.health import healthz
from portal.metrics import metrics
from portal.site import home

urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("app/", include("console.urls")),
    path("app/<slug:org>/developers/", include("api.page_urls")),
    path("setup/", include("setup.urls")),
    path("api/", include("api.urls")),
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
