"""The customer site's frame: the navigation of an organization's pages, built from URL names so a page that is
not there yet is simply not listed."""

from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse

from portal.access import may
from portal.tenancy import is_company_staff

# (label, URL name taking the organization's slug, the action it needs)
NAVIGATION = [
    ("Overview", "console:organization", "view"),
    ("Records", "console:records", "view"),
    ("Failures", "console:failures", "view"),
    ("Value maps", "console:value_maps", "admin"),
    ("Connections", "setup:connections", "view"),
    ("Integrations", "setup:integrations", "view"),
    ("Audit log", "console:audit", "view"),
    ("Members", "accounts:members", "view"),
    ("API keys", "api_pages:keys", "admin"),
    ("Event subscriptions", "api_pages:subscriptions", "admin"),
]


def navigation(request):
    """Context processor: `site_nav` for the current organization (request.organization, set by customer_view)."""
    organization = getattr(request, "organization", None)
    if organization is None:
        return {}
    items = []
    for label, name, action in NAVIGATION:
        if not may(request.user, organization, action):
            continue
        try:
            url = reverse(name, kwargs={"org": organization.slug})
        except NoReverseMatch:
            continue
        first = not items  # the overview's address starts every other page's
        active = request.path == url or (not first and request.path.startswith(url))
        items.append({"label": label, "url": url, "active": active})
    return {"site_nav": items, "organization": organization, "role": getattr(request, "role", None)}


def home(request):
    """The front door: company staff to the admin, everyone else to their own pages (signing in first)."""
    if request.user.is_authenticated and is_company_staff(request.user):
        return redirect("admin:index")
    return redirect("console:home")
