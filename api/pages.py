"""The organization's developer pages: API keys and event subscriptions (admins and owners only)."""

from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render

from api import events, keys
from api.models import ApiKey, Delivery, Event, Scope, Subscription
from integrations.pipeline.actions import audit
from portal.access import customer_view

SUBSCRIBABLE = [(Event.RECORD_DEAD.value, Event.RECORD_DEAD.label),
                (Event.RECORD_RECOVERED.value, Event.RECORD_RECOVERED.label),
                (Event.INTEGRATION_PAUSED.value, Event.INTEGRATION_PAUSED.label)]


class KeyForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="What it is for, e.g. “nightly export”.")
    scope = forms.ChoiceField(choices=Scope.choices, initial=Scope.READ,
                              help_text="Read sees; operate also retries, discards and pauses; admin also changes "
                                        "connections and value maps.")


class SubscriptionForm(forms.Form):
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https",
                         help_text="We POST signed JSON here when an event happens.")
    events = forms.MultipleChoiceField(choices=SUBSCRIBABLE, widget=forms.CheckboxSelectMultiple,
                                       initial=[value for value, _ in SUBSCRIBABLE])

    def clean_url(self):
        url = self.cleaned_data["url"]
        parts = urlsplit(url)
        if parts.username or parts.password:
            raise forms.ValidationError("Leave credentials out of the address: every delivery is signed instead.")
        if not settings.API_EVENTS_ALLOW_PRIVATE:
            from integrations.connectors.errors import UnsafeAddress
            from integrations.connectors.http import refuse_internal_host

            if parts.scheme != "https":
                raise forms.ValidationError("Use an https:// address.")
            try:
                refuse_internal_host(parts.hostname or "")
            except UnsafeAddress as exc:
                raise forms.ValidationError(str(exc)) from None
        return url


@customer_view("admin")
def api_keys(request):
    organization = request.organization
    form, new_key = KeyForm(), None
    if request.method == "POST":
        form = KeyForm(request.POST)
        if form.is_valid():
            # Rendered in this answer, never redirected: the whole key must not wait in a session or a message.
            key, new_key = keys.create(organization=organization, scope=form.cleaned_data["scope"],
                                       name=form.cleaned_data["name"], created_by=request.user)
            form = KeyForm()
    rows = ApiKey.objects.filter(organization=organization).select_related("created_by", "revoked_by")
    return render(request, "api/keys.html", {"form": form, "new_key": new_key, "keys": rows,
                                             "api_docs": "/api/docs/"})


@customer_view("admin")
def revoke_key(request, key_id):
    key = get_object_or_404(ApiKey, pk=key_id, organization=request.organization)
    if request.method == "POST":
        if keys.revoke(key, request.user):
            messages.success(request, f"API key {key.prefix} is revoked: requests with it are refused from now on.")
        else:
            messages.warning(request, f"API key {key.prefix} was revoked already.")
        return redirect("api_pages:keys", org=request.organization.slug)
    return render(request, "api/revoke_key.html", {"key": key})


@customer_view("admin")
def subscriptions(request):
    organization = request.organization
    form, new_secret = SubscriptionForm(), None
    if request.method == "POST" and request.POST.get("action") == "subscribe":
        form = SubscriptionForm(request.POST)
        if form.is_valid():
            new_secret = events.new_secret()
            with transaction.atomic():
                subscription = Subscription.objects.create(
                    organization=organization, url=form.cleaned_data["url"], events=form.cleaned_data["events"],
                    signing_secret={"secret": new_secret}, created_by=request.user)
                audit(request.user, "event_subscribe", organization=organization,
                      after={"subscription": subscription.pk, "url": subscription.url, "events": subscription.events})
            events.forget_subscriptions()
            form = SubscriptionForm()
    elif request.method == "POST":
        subscription = get_object_or_404(Subscription, pk=request.POST.get("subscription") or 0,
                                         organization=organization)
        if request.POST.get("action") == "test":
            delivery = events.send_test(subscription)
            messages.success(request, f"A test event is on its way to {subscription.url} (delivery {delivery.pk}).")
        elif request.POST.get("action") == "unsubscribe":
            with transaction.atomic():
                Subscription.objects.filter(pk=subscription.pk).update(active=False)
                audit(request.user, "event_unsubscribe", organization=organization,
                      before={"subscription": subscription.pk, "url": subscription.url, "active": True},
                      after={"active": False})
            events.forget_subscriptions()
            messages.success(request, f"{subscription.url} gets no more events.")
        return redirect("api_pages:subscriptions", org=organization.slug)
    rows = Subscription.objects.filter(organization=organization).order_by("-active", "-created_at")
    deliveries = Delivery.objects.filter(subscription__organization=organization).select_related(
        "subscription")[:100]
    return render(request, "api/subscriptions.html", {
        "form": form, "new_secret": new_secret, "subscriptions": rows, "deliveries": deliveries})
