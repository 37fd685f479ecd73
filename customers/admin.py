"""Customers in the admin: likely duplicates a person decides (buyer and candidates side by side, one click to link
or create), how each buyer is linked, and every change the portal made to a TIMS customer."""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from customers import services
from customers.models import BuyerLink, CustomerChange, CustomerMatch, MatchStatus
from portal.admin_scoping import OrganizationScopedAdmin

COMPARED = (("name", "Name"), ("email", "E-mail"), ("phone", "Phone"), ("line1", "Address"),
            ("postal_code", "Postal code"), ("city", "City"), ("country", "Country"))


def record_link(record_id, text=None):
    if not record_id:
        return "—"
    return format_html('<a href="{}">{}</a>', reverse("admin:integrations_syncrecord_change", args=[record_id]),
                       text or f"record {record_id}")


@admin.register(CustomerMatch)
class CustomerMatchAdmin(OrganizationScopedAdmin):
    organization_path = "integration__organization"
    list_display = ["buyer_in_words", "best_candidate", "best_score", "status", "orders_waiting", "integration",
                    "created_at"]
    list_filter = ["status", "integration"]
    search_fields = ["buyer_key", "best_code", "decided_code"]
    readonly_fields = ["status", "integration", "buyer_in_words", "side_by_side", "waiting_records", "decided_code",
                       "decided_by", "decided_at", "created_at"]
    fields = readonly_fields
    change_form_template = "admin/customers/customermatch/change_form.html"

    def has_add_permission(self, request):
        return False

    @admin.display(description="Buyer")
    def buyer_in_words(self, match):
        return f"{match.buyer.get('name') or '?'} <{match.buyer.get('email') or ''}>"

    @admin.display(description="Most like", ordering="best_code")
    def best_candidate(self, match):
        best = match.candidates[0] if match.candidates else {}
        return f"{match.best_code} {best.get('name', '')}".strip()

    @admin.display(description="Orders waiting")
    def orders_waiting(self, match):
        return len(match.waiting) if match.status == MatchStatus.OPEN else "—"

    @admin.display(description="Orders that waited")
    def waiting_records(self, match):
        return format_html_join(", ", "{}", ((record_link(pk),) for pk in match.waiting)) or "—"

    @admin.display(description="The buyer and the TIMS customers most like them")
    def side_by_side(self, match):
        decide = match.status == MatchStatus.OPEN
        heads = format_html_join("", "<th>{}</th>", ((f"{c['code']} · {c['score']} %",) for c in match.candidates))
        rows = format_html_join("", "<tr><th>{}</th><td><b>{}</b></td>{}</tr>", (
            (label, match.buyer.get(key) or "—", format_html_join("", "<td>{}</td>", (
                (c.get(key) or "—",) for c in match.candidates))) for key, label in COMPARED))
        why = format_html_join("", "<td>{}</td>", ((", ".join(c.get("reasons", [])),) for c in match.candidates))
        buttons = format_html_join("", "<td>{}</td>", ((format_html(
            '<button type="submit" class="button" name="_link" value="{}">The same: link to {}</button>',
            c["code"], c["code"]) if decide else "",) for c in match.candidates))
        return format_html('<table class="side-by-side"><tr><th></th><th>This buyer</th>{}</tr>{}'
                           '<tr><th>Why</th><td></td>{}</tr><tr><th></th><td></td>{}</tr></table>',
                           heads, rows, why, buttons)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        match = self.get_object(request, object_id)
        if request.method == "POST" and match is not None and ("_link" in request.POST or "_create" in request.POST):
            if not super().has_change_permission(request, match):
                self.message_user(request, "You may not decide for this organization.", messages.ERROR)
                return HttpResponseRedirect(request.path)
            code = request.POST.get("_link") or request.POST.get("other_code", "") if "_link" in request.POST else None
            if "_link" in request.POST and not code:
                self.message_user(request, "Type the TIMS customer code to link to.", messages.ERROR)
                return HttpResponseRedirect(request.path)
            try:
                retried = services.decide(match, request.user, link_to=code)
            except services.Undecidable as exc:
                self.message_user(request, str(exc), messages.WARNING)
                return HttpResponseRedirect(request.path)
            what = f"linked to TIMS customer {code.upper()}" if code else "to be created as a new TIMS customer"
            self.message_user(request, f"{self.buyer_in_words(match)}: {what}. {retried} waiting order(s) go on now.",
                              messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:customers_customermatch_changelist"))
        context = {"title": "Is this buyer a TIMS customer already?", "show_save": False,
                   "show_save_and_continue": False, "show_save_and_add_another": False,
                   "show_delete": False, "decide": match is not None and match.status == MatchStatus.OPEN}
        return super().change_view(request, object_id, form_url, {**context, **(extra_context or {})})


@admin.register(BuyerLink)
class BuyerLinkAdmin(OrganizationScopedAdmin):
    organization_path = "integration__organization"
    list_display = ["buyer_key", "customer_code", "linked_by", "score", "integration", "created_at"]
    list_filter = ["linked_by", "integration"]
    search_fields = ["buyer_key", "customer_code"]
    readonly_fields = ["integration", "buyer_key", "customer_code", "linked_by", "score", "first_record",
                       "created_at", "updated_at"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    @admin.display(description="Linked by")
    def first_record(self, link):
        return record_link(link.record_id)


@admin.register(CustomerChange)
class CustomerChangeAdmin(OrganizationScopedAdmin):
    organization_path = "integration__organization"
    list_display = ["at", "customer_code", "field", "before", "after", "outcome", "source", "from_record"]
    list_filter = ["applied", "field", "integration"]
    search_fields = ["customer_code", "before", "after", "source"]
    readonly_fields = ["at", "integration", "customer_code", "field", "before", "after", "applied", "source",
                       "from_record"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the log is never rewritten

    @admin.display(description="Outcome", boolean=False)
    def outcome(self, change):
        return "changed in TIMS" if change.applied else "kept TIMS's (policy)"

    @admin.display(description="Record")
    def from_record(self, change):
        return record_link(change.record_id)
