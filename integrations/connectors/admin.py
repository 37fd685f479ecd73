"""Circuit breakers and rate windows, visible (and resettable) in the admin."""

from django.contrib import admin, messages

from integrations.connectors import breaker
from integrations.connectors.models import CircuitBreaker, RateState
from portal import tenancy


class ConnectionStateAdmin(admin.ModelAdmin):
    """A connection's state belongs to the connection's organization: company staff see all (by permission), and
    should a customer ever be given access, only their own connections' rows."""

    list_select_related = ("connection",)

    def get_queryset(self, request):
        return tenancy.scope(super().get_queryset(request), request.user, "connection__organization")


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(ConnectionStateAdmin):
    list_display = ("connection", "state", "consecutive_failures", "retry_at", "last_failure_at", "last_success_at")
    list_filter = ("state",)
    search_fields = ("connection__name", "connection__organization__name")
    readonly_fields = [f.name for f in CircuitBreaker._meta.fields]
    actions = ["close_circuit"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Close the circuit (resume calls now)")
    def close_circuit(self, request, queryset):
        for row in queryset.select_related("connection"):
            breaker.reset(row.connection)
        self.message_user(request, f"Closed {queryset.count()} circuit(s).", messages.SUCCESS)


@admin.register(RateState)
class RateStateAdmin(ConnectionStateAdmin):
    list_display = ("connection", "window_start", "window_count", "previous_count", "paused_until")
    search_fields = ("connection__name",)
    readonly_fields = [f.name for f in RateState._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
