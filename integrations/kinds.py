"""What each kind of connection needs: its secrets, its settings schema, its default limits."""

import zoneinfo
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Setting:
    name: str
    label: str
    type: type = str
    required: bool = False
    max_length: int = 200
    check: object = None  # callable(value) -> error sentence or None
    help: str = ""


def _timezone(value):
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"“{value}” is not a time zone; use an IANA name such as Europe/Paris."
    return None


def _currency(value):
    return None if len(value) == 3 and value.isalpha() and value.isupper() else "must be a code such as EUR or USD"


def _non_negative(value):
    return None if value >= 0 else "must be zero or more"


@dataclass(frozen=True)
class Kind:
    code: str
    label: str
    secrets: tuple  # (name, label) pairs, stored encrypted
    optional_secrets: tuple = ()  # names among `secrets` a connection may go without
    settings: tuple = field(default_factory=tuple)
    rate_per_minute: int = 600
    max_concurrent: int = 4


KINDS = {
    "prestashop": Kind(
        "prestashop",
        "PrestaShop",
        secrets=(("ws_key", "Webservice key"),),
        settings=(
            Setting("timezone", "Shop time zone", required=True, check=_timezone,
                    help="The shop's own time zone: PrestaShop stores dates in it (e.g. Europe/Paris)."),
            Setting("language_id", "Language id", type=int, check=_non_negative,
                    help="Which language to read multi-language fields in (default: the first)."),
            Setting("shop_id", "Shop id", type=int, check=_non_negative, help="For multistore shops."),
        ),
        rate_per_minute=600,
        max_concurrent=4,
    ),
    "channeladvisor": Kind(
        "channeladvisor",
        "ChannelAdvisor",
        secrets=(("application_id", "Application id"), ("shared_secret", "Shared secret"),
                 ("refresh_token", "Refresh token")),
        settings=(
            Setting("profile_id", "Profile id", type=int, required=True, check=_non_negative),
            Setting("distribution_center_id", "Distribution center id", type=int, check=_non_negative,
                    help="Where quantities are updated (0 is the default DC)."),
        ),
        rate_per_minute=2000,
        max_concurrent=5,
    ),
    "tims": Kind(
        "tims",
        "TIMS",
        secrets=(("client_id", "Client id"), ("client_secret", "Client secret"),
                 ("webhook_secret", "Webhook secret (signs TIMS's outbound webhooks to /hooks/tims/<id>/)")),
        optional_secrets=("webhook_secret",),
        settings=(
            Setting("default_location", "Default location", required=True, max_length=20,
                    help="Warehouse code used when a rule names no other."),
            Setting("default_customer_code", "Default customer code", max_length=20,
                    help="Customer that guest checkouts are booked to (leave empty to create customers)."),
            Setting("currency", "Currency", max_length=3, check=_currency,
                    help="The ISO 4217 code TIMS keeps its amounts in (default USD)."),
        ),
        rate_per_minute=600,
        max_concurrent=4,
    ),
}

KIND_CHOICES = [(kind.code, kind.label) for kind in KINDS.values()]


def validate_settings(kind_code, values):
    """Return ({cleaned settings}, [plain-words errors]) for a kind's settings dict."""
    kind = KINDS.get(kind_code)
    if kind is None:
        return {}, [f"“{kind_code}” is not a kind of connection; choose one of {', '.join(KINDS)}."]
    if not isinstance(values, dict):
        return {}, ["Settings must be a JSON object such as {\"timezone\": \"Europe/Paris\"}."]
    known = {s.name: s for s in kind.settings}
    errors, cleaned = [], {}
    for name in values:
        if name not in known:
            errors.append(f"“{name}” is not a {kind.label} setting; known settings: {', '.join(known)}.")
    for spec in kind.settings:
        value = values.get(spec.name)
        if value in (None, ""):
            if spec.required:
                errors.append(f"{spec.label} ({spec.name}) is required for {kind.label}.")
            continue
        if spec.type is int:
            if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
                errors.append(f"{spec.label} ({spec.name}) must be a whole number, not {value!r}.")
                continue
            value = int(value)
        elif not isinstance(value, str):
            errors.append(f"{spec.label} ({spec.name}) must be text, not {value!r}.")
            continue
        elif len(value) > spec.max_length:
            errors.append(f"{spec.label} ({spec.name}) must be at most {spec.max_length} characters.")
            continue
        problem = spec.check(value) if spec.check else None
        if problem:
            errors.append(f"{spec.label} ({spec.name}): {problem}" if not problem.startswith("“") else problem)
            continue
        cleaned[spec.name] = value
    return cleaned, errors


TEMPLATES = {
    "prestashop_tims": ("PrestaShop + TIMS", "prestashop"),
    "channeladvisor_tims": ("ChannelAdvisor + TIMS", "channeladvisor"),
}
TEMPLATE_CHOICES = [(code, label) for code, (label, _) in TEMPLATES.items()]

# Import rules per template; an integration's `options` override them.
DEFAULT_OPTIONS = {
    "prestashop_tims": {
        "first_poll_days": 7,  # how far back the very first poll looks
        "paid_only": True,
        "hold_days": 7,
        # Order state names (the shop's own wording) that mean "not paid yet"; such orders wait.
        "unpaid_states": ["Awaiting bank wire payment", "Awaiting check payment",
                          "Awaiting Cash On Delivery validation", "Payment error"],
        # States that are never imported as new orders (they may still update an order TIMS already has).
        "skip_states": ["Canceled", "Refunded"],
        # Shipments and cancellations from TIMS: the shop's state names to move orders to, and whether the
        # shop emails the buyer (PrestaShop's sendemail: the "shipped" mail carries the tracking link).
        "shipped_state": "Shipped",
        "cancelled_state": "Canceled",
        "notify_buyer": True,
        # Stock to the channel: how often the quantities it shows are compared with TIMS's (and drift corrected).
        # Its rules ("stock_rules": locations, buffer, share, cap, overrides) default to TIMS's whole Available.
        "reconcile_every_hours": 24,
        # Invoices in TIMS: "shipment" (each shipment bills what it shipped), "fully_shipped" (one invoice once the
        # order has shipped in full) or "import" (bill at import, for channels that collect at checkout).
        "invoice_on": "shipment",
    },
    "channeladvisor_tims": {
        "paid_only": True,
        "hold_days": 7,
        "paid_statuses": ["Cleared", "Deposited"],
        "skip_states": ["Canceled"],
        "reconcile_every_hours": 24,
        "invoice_on": "shipment",
    },
}
