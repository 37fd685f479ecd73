"""Pricing in the admin: each integration's rule and promotions, the prices last sent, and held prices with the
old and new values side by side and approve / reject one click away (audited)."""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from portal.admin_scoping import OrganizationScopedAdmin
from pricing import services
from pricing.models import HoldStatus, PriceHold, PriceRule, Promotion, SentPrice


@admin.register(PriceRule)
class PriceRuleAdmin(OrganizationScopedAdmin):
    organization_path = "integration__organization"
    list_display = ["integration", "in_words", "hold_change_over", "hold_below_cost", "updated_at"]
    fields = ["integration", "base", "adjust", "percent", "rounding", "floor", "ceiling", "exchange_rate",
              "currency", "hold_change_over", "hold_below_cost"]

    @admin.display(description="Rule")
    def in_words(self, rule):
        return rule.in_words()


@admin.register(Promotion)
class PromotionAdmin(OrganizationScopedAdmin):
    organization_path = "integration__organization"
    list_display = ["name", "integration", "skus", "kind", "value", "starts_at", "ends_at"]
    list_filter = ["integration"]
    search_fields = ["name", "skus"]


@admin.register(SentPrice)
class SentPriceAdmin(OrganizationScopedAdmin):
    organization_path = "integration__organization"
    list_display = ["sku", "price", "regular", "integration", "sent_at"]
    list_filter = ["integration"]
    search_fields = ["sku"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PriceHold)
class PriceHoldAdmin(OrganizationScopedAdmin):
    organization_path = "integration__organization"
    list_display = ["sku", "old_price", "new_price", "cost", "why", "status", "integration", "created_at"]
    list_filter = ["status", "integration"]
    search_fields = ["sku"]
    readonly_fields = ["status", "integration", "sku", "old_price", "new_price", "cost", "rule", "why",
                       "the_record", "decided_by", "decided_at", "created_at"]
    fields = readonly_fields
    change_form_template = "admin/pricing/pricehold/change_form.html"

    def has_add_permission(self, request):
        return False

    @admin.display(description="Why it waits")
    def why(self, hold):
        return format_html_join("", "<div>{}</div>", ((reason,) for reason in hold.reasons)) or "—"

    @admin.display(description="Record")
    def the_record(self, hold):
        if not hold.record_id:
            return "—"
        return format_html('<a href="{}">record {}</a>', reverse("admin:integrations_syncrecord_change",
                                                                 args=[hold.record_id]), hold.record_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        hold = self.get_object(request, object_id)
        if request.method == "POST" and hold is not None and ("_approve" in request.POST or "_reject" in request.POST):
            if not super().has_change_permission(request, hold):
                self.message_user(request, "You may not decide prices for this organization.", messages.ERROR)
                return HttpResponseRedirect(request.path)
            approve = "_approve" in request.POST
            try:
                services.decide(hold, request.user, approve=approve)
            except services.Undecidable as exc:
                self.message_user(request, str(exc), messages.WARNING)
                return HttpResponseRedirect(request.path)
            self.message_user(request, f"{hold.sku}: {hold.new_price} approved and sent now." if approve else
                              f"{hold.sku}: {hold.new_price} rejected; the channel keeps {hold.old_price}.",
                              messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:pricing_pricehold_changelist"))
        context = {"title": "A price change waits for you", "show_save": False, "show_save_and_continue": False,
                   "show_save_and_add_another": False, "show_delete": False,
                   "decide": hold is not None and hold.status == HoldStatus.OPEN}
        return super().change_view(request, object_id, form_url, {**context, **(extra_context or {})})
