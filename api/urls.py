"""The REST API (Django REST framework) and its OpenAPI schema: /api/schema/ and the reference at /api/docs/."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from api import views

app_name = "api"

router = DefaultRouter()
router.include_format_suffixes = False  # /records/1.json would be one more way in, and one more schema path
router.register("organizations", views.OrganizationViewSet, basename="organization")
router.register("connections", views.ConnectionViewSet, basename="connection")
router.register("integrations", views.IntegrationViewSet, basename="integration")
# `id` is the integration's, as in every /api/integrations/{id}/... path
router.register(r"integrations/(?P<id>[0-9]+)/payouts", views.IntegrationPayoutViewSet, basename="integration-payout")
router.register("payouts", views.PayoutViewSet, basename="payout")
router.register("records", views.RecordViewSet, basename="record")
router.register("failures", views.FailureViewSet, basename="failure")
router.register("value-maps", views.ValueMapViewSet, basename="value-map")
router.register(r"value-maps/(?P<value_map_pk>[0-9]+)/entries", views.EntryViewSet, basename="value-map-entry")
router.register("mapping-sets", views.MappingSetViewSet, basename="mapping-set")
router.register("audit", views.AuditViewSet, basename="audit")
router.register("event-deliveries", views.DeliveryViewSet, basename="event-delivery")
router.register("customer-matches", views.CustomerMatchViewSet, basename="customer-match")
router.register("customer-changes", views.CustomerChangeViewSet, basename="customer-change")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    *router.urls,
    re_path(r"^", views.not_found),
]
