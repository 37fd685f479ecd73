"""TIMS sandbox routes, mounted at /sandbox/<slug>/tims/ (the `slug` kwarg reaches sandbox.core.endpoint)."""

from django.urls import path, re_path

from sandbox.tims import views
from sandbox.tims.api import route

ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def api(pattern, authenticated=True, **handlers):
    return path(pattern, route(pattern, handlers, authenticated=authenticated))


urlpatterns = [
    api("oauth/token", authenticated=False, POST=views.oauth_token),
    api("api/v1/openapi.json", authenticated=False, GET=views.openapi),
    api("api/v1/customers", GET=views.customers, POST=views.customers),
    api("api/v1/customers/<str:code>", GET=views.customer, PATCH=views.customer),
    api("api/v1/items", GET=views.items),
    api("api/v1/items/<str:sku>", GET=views.item, PATCH=views.item),
    api("api/v1/inventory/items/<str:sku>/quantity", GET=views.inventory_quantity),
    api("api/v1/inventory/changes", GET=views.inventory_changes),
    api("api/v1/inventory/adjustments", POST=views.inventory_adjustments),
    api("api/v1/sales-orders", GET=views.sales_orders, POST=views.sales_orders),
    api("api/v1/sales-orders/<str:code>", GET=views.sales_order, PATCH=views.sales_order),
    api("api/v1/shipments", GET=views.shipments),
    api("api/v1/shipments/<str:code>", GET=views.shipment),
    api("api/v1/invoices", GET=views.invoices, POST=views.invoices),
    api("api/v1/payments", GET=views.payments, POST=views.payments),
    api("api/v1/returns", GET=views.returns, POST=views.returns),
    api("api/v1/returns/<str:code>", GET=views.return_),
    api("api/v1/gl/accounts", GET=views.gl_accounts),
    api("api/v1/gl/journal-entries", GET=views.journal_entries, POST=views.journal_entries),
    api("api/v1/locations", GET=views.locations),
    api("api/v1/custom-fields", GET=views.custom_fields, POST=views.custom_fields),
    api("api/v1/events", GET=views.events),
    # Anything else answers 404 in the TIMS errors envelope rather than Django's HTML page.
    re_path(r"^(?P<rest>.*)$", route("<unknown>", dict.fromkeys(ALL_METHODS, views.not_found),
                                     authenticated=False)),
]
