"""The wizard's forms. Secret fields are write-only: never rendered with a value, empty means keep."""

import re
from urllib.parse import urlsplit

from django import forms
from django.db.models import Q

from integrations import kinds
from integrations.models import Connection, base_url_problem
from sandbox.models import Sandbox

KEEP = "Leave empty to keep the current value."
LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
# Secrets each wizard asks for on its first step (ChannelAdvisor's refresh token comes from the consent).
ASKED = {"prestashop": ("ws_key",), "channeladvisor": ("application_id", "shared_secret"),
         "tims": ("client_id", "client_secret", "webhook_secret")}
HELP = {
    "ws_key": "The 32-character key from Advanced Parameters › Webservice in the shop's back office.",
    "application_id": "From ChannelAdvisor's developer console (Applications).",
    "shared_secret": "Shown next to the application id in the developer console.",
    "client_id": "The API client the TIMS administrator made for this portal.",
    "client_secret": "Given with the client id.",
    "webhook_secret": "Optional: signs TIMS's webhooks to the portal, if TIMS sends them.",
}
ADDRESS_HELP = {
    "prestashop": "The shop's root, e.g. https://shop.example.com (the webservice is under /api/).",
    "channeladvisor": "https://api.channeladvisor.com for the real service.",
    "tims": "The TIMS server's root, e.g. https://tims.example.com (the API is under /api/v1/).",
}


def sandbox_for(request, base_url, kind, organization):
    """The portal's own sandbox this address points at (/sandbox/<slug>/<kind> on this server), if the
    organization may use it; a local address is allowed only then."""
    parts = urlsplit(base_url)
    match = re.fullmatch(rf"/sandbox/([-\w]+)/{kind}/?", parts.path or "")
    if not match:
        return None
    here = urlsplit(f"//{request.get_host()}")
    same_server = parts.netloc == request.get_host() or (
        parts.hostname in LOOPBACK and here.hostname in LOOPBACK and parts.port == here.port)
    if not same_server:
        return None
    return Sandbox.objects.filter(Q(organization=organization) | Q(organization__isnull=True),
                                  slug=match.group(1)).first()


class ConnectForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="How this connection is called on the portal's pages.")
    base_url = forms.CharField(label="Address", max_length=500)

    def __init__(self, *args, request, organization, kind, connection=None, has_secrets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.request, self.organization, self.kind, self.connection = request, organization, kind, connection
        self.sandbox = None
        self.fields["base_url"].help_text = ADDRESS_HELP[kind]
        labels = dict(kinds.KINDS[kind].secrets)
        optional = set(kinds.KINDS[kind].optional_secrets)
        for name in ASKED[kind]:
            stored = name in has_secrets
            self.fields[name] = forms.CharField(
                label=labels[name].split(" (")[0], required=not stored and name not in optional, max_length=500,
                strip=True, widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                help_text=HELP[name] + (" A value is stored. " + KEEP if stored else ""))

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        taken = Connection.objects.filter(organization=self.organization, name__iexact=name)
        if self.connection is not None:
            taken = taken.exclude(pk=self.connection.pk)
        if taken.exists():
            raise forms.ValidationError(f"{self.organization.name} already has a connection named “{name}”.")
        return name

    def clean_base_url(self):
        url = self.cleaned_data["base_url"].strip().rstrip("/")
        self.sandbox = sandbox_for(self.request, url, self.kind, self.organization)
        on_premises = bool(self.connection and self.connection.on_premises)
        problem = base_url_problem(url, allow_local=bool(self.sandbox or on_premises))
        if problem:
            raise forms.ValidationError(problem)
        return url

    def typed_secrets(self):
        return {name: self.cleaned_data[name] for name in ASKED[self.kind] if self.cleaned_data.get(name)}


class TimezoneForm(forms.Form):
    timezone = forms.CharField(label="Shop time zone", max_length=64,
                               help_text="An IANA name such as Europe/Paris (International › Localization).")

    def clean_timezone(self):
        value = self.cleaned_data["timezone"].strip()
        problem = kinds._timezone(value)
        if problem:
            raise forms.ValidationError(problem)
        return value


class AccountForm(forms.Form):
    """ChannelAdvisor: the profile and the distribution center quantities go to, from what the account has."""

    profile_id = forms.TypedChoiceField(label="Profile", coerce=int)
    distribution_center_id = forms.TypedChoiceField(
        label="Distribution center for quantities", coerce=int,
        help_text="Stock from TIMS is written to this warehouse. Externally managed ones (FBA and the like) are "
                  "not offered: ChannelAdvisor does not take quantities for them.")

    def __init__(self, *args, profiles=(), centers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["profile_id"].choices = [
            (p["ID"], f"{p.get('AccountName') or p.get('CompanyName') or 'Profile'} ({p['ID']})") for p in profiles]
        writable = [dc for dc in centers if not dc.get("IsExternallyManaged")]
        self.fields["distribution_center_id"].choices = [
            (dc["ID"], f"{dc.get('Name') or dc.get('Code')} ({dc.get('Code')}, ID {dc['ID']})") for dc in writable
        ] or [(0, "The default distribution center (0)")]


class DefaultsForm(forms.Form):
    """TIMS: the default location and the guest customer, from what TIMS has."""

    default_location = forms.ChoiceField(label="Default location",
                                         help_text="Orders are booked to this warehouse when no rule names another.")
    default_customer_code = forms.ChoiceField(
        label="Guest customer", required=False,
        help_text="Guest checkouts are booked to this TIMS customer. “None” creates a customer for each buyer.")
    currency = forms.CharField(label="TIMS currency", max_length=3, required=False, initial="USD",
                               help_text="The ISO code TIMS keeps its amounts in.")

    def __init__(self, *args, locations=(), customers=(), current_customer="", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_location"].choices = [
            (loc["Code"], f"{loc['Code']} — {loc.get('Name', '')}" + (" (TIMS's default)" if loc.get("IsDefault")
                                                                     else "")) for loc in locations]
        choices = [("", "None: create a TIMS customer for every buyer")]
        choices += [(c["CustomerID"], f"{c['CustomerID']} — {c.get('Name', '')}") for c in customers]
        if current_customer and current_customer not in {code for code, _ in choices}:
            choices.append((current_customer, f"{current_customer} (the current one)"))
        self.fields["default_customer_code"].choices = choices

    def clean_currency(self):
        value = (self.cleaned_data.get("currency") or "USD").strip().upper()
        problem = kinds._currency(value)
        if problem:
            raise forms.ValidationError(f"The currency {problem}.")
        return value
