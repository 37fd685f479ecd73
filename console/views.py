"""The customer's pages: thin views over the same services the admin uses, scoped by portal.access."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from integrations.models import Connection, Integration
from portal.access import customer_view, role_in
from portal.tenancy import visible_organizations


@login_required
def home(request):
    """The organizations the user belongs to; one organization goes straight to its overview."""
    organizations = list(visible_organizations(request.user).order_by("name"))
    if len(organizations) == 1:
        return redirect("console:organization", org=organizations[0].slug)
    rows = [{"organization": o, "role": role_in(request.user, o)} for o in organizations]
    return render(request, "console/home.html", {"rows": rows})


@customer_view("view")
def organization(request):
    org = request.organization
    return render(request, "console/organization.html", {
        "connections": Connection.objects.filter(organization=org).order_by("kind", "name"),
        "integrations": Integration.objects.filter(organization=org).select_related(
            "channel_connection", "tims_connection").order_by("name"),
    })
