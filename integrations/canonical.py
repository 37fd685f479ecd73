"""The canonical model: the shape every connector reads into and writes from.

Mappings work on nested dicts by path, so every class has to_dict()/from_dict() that are JSON-safe and exact:
money is Decimal (written as a string, never a float), datetimes are timezone-aware (written in ISO 8601).
Fields the model does not name (custom fields, channel extras) go in `extra` so a mapping can still reach them.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation


class CanonicalError(ValueError):
    """A value that does not fit the canonical model (naive datetime, NaN amount, wrong type)."""


def decimal(value) -> Decimal:
    """A finite Decimal from a str/int/Decimal (floats are refused: they have already lost digits)."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or isinstance(value, float):
        raise CanonicalError(f"{value!r} is not an exact amount; pass it as a string or Decimal.")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise CanonicalError(f"“{value}” is not a number.") from None
    else:
        raise CanonicalError(f"{value!r} is not an amount.")
    if not result.is_finite():
        raise CanonicalError(f"{value!r} is not a finite amount.")
    return result


def aware(value: datetime | None, name="datetime") -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise CanonicalError(f"{name} {value.isoformat()} has no time zone; the canonical model needs aware datetimes.")
    return value


class Canonical:
    """Shared behaviour: validation after init, to_dict()/from_dict().

    Stored payloads outlive the model: from_dict keeps keys it does not know (a field an older or newer model had)
    aside in `unknown_fields`, and to_dict writes them back, so loading never fails on them and a round trip is
    exact. A field that was renamed is declared in the class's RENAMED ({old name: new name}).
    """

    RENAMED: typing.ClassVar[dict[str, str]] = {}

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                aware(value, f"{type(self).__name__}.{f.name}")
            elif isinstance(value, Decimal) and not value.is_finite():
                raise CanonicalError(f"{type(self).__name__}.{f.name} must be a finite amount, not {value}.")

    @property
    def unknown_fields(self) -> dict:
        """Keys a loaded payload had that this model does not name (kept, not lost)."""
        return self.__dict__.get("_unknown_fields", {})

    def to_dict(self) -> dict:
        data = {f.name: _dump(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {**self.unknown_fields, **data}

    @classmethod
    def from_dict(cls, data: dict, *, strict=False):
        """Load a payload; unknown keys are kept aside (strict=True refuses them, to catch a typo in new code)."""
        if not isinstance(data, dict):
            raise CanonicalError(f"{cls.__name__} needs a dict, not {type(data).__name__}.")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = {key: value for key, value in data.items() if key not in fields}
        if unknown and strict:
            raise CanonicalError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}.")
        values = {key: value for key, value in data.items() if key in fields}
        for old, new in cls.RENAMED.items():
            if old in unknown and new not in values:
                values[new] = unknown.pop(old)
        missing = [name for name, f in fields.items() if name not in values and
                   f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise CanonicalError(f"{cls.__name__} needs {', '.join(missing)}; the payload has none.")
        item = cls(**{name: _load(hints[name], value, f"{cls.__name__}.{name}", strict)
                      for name, value in values.items()})
        if unknown:
            item._unknown_fields = unknown
        return item


def _dump(value):
    if isinstance(value, Canonical):
        return value.to_dict()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _dump(v) for k, v in value.items()}
    return value


def _load(hint, value, where, strict=False):
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _load(options[0], value, where, strict)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_load(item, v, where, strict) for v in value]
    if origin is dict:
        return dict(value)
    if isinstance(hint, type) and issubclass(hint, Canonical):
        return hint.from_dict(value, strict=strict)
    if hint is Decimal:
        return decimal(value)
    if hint is datetime:
        if isinstance(value, datetime):
            return aware(value, where)
        try:
            return aware(datetime.fromisoformat(value), where)
        except (TypeError, ValueError):
            raise CanonicalError(f"{where}: “{value}” is not an ISO 8601 datetime.") from None
    if hint is date:
        return value if isinstance(value, date) else date.fromisoformat(value)
    if hint is int and isinstance(value, str):
        return int(value)
    return value


@dataclass
class Money(Canonical):
    amount: Decimal
    currency: str  # ISO 4217

    def __post_init__(self):
        self.amount = decimal(self.amount)
        super().__post_init__()


@dataclass
class Address(Canonical):
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""  # ISO 3166-1 alpha-2
    phone: str = ""
    email: str = ""
    source_id: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Customer(Canonical):
    source: str
    source_id: str
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    phone: str = ""
    billing_address: Address | None = None
    shipping_addresses: list[Address] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: str = ""  # optimistic-concurrency token where the system has one (TIMS)
    extra: dict = field(default_factory=dict)


@dataclass
class OrderLine(Canonical):
    sku: str
    quantity: int
    unit_price: Money
    name: str = ""
    tax: Money | None = None
    discount: Money | None = None
    source_id: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Order(Canonical):
    source: str
    source_id: str
    currency: str
    total: Money
    number: str = ""  # the reference people quote (PrestaShop reference, marketplace order id)
    status: str = ""
    payment_status: str = ""
    shipping_status: str = ""
    ordered_at: datetime | None = None
    updated_at: datetime | None = None
    customer: Customer | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    lines: list[OrderLine] = field(default_factory=list)
    subtotal: Money | None = None
    shipping: Money | None = None
    tax: Money | None = None
    discount: Money | None = None
    shipping_method: str = ""
    payment_method: str = ""
    notes: str = ""
    version: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Product(Canonical):
    source: str
    source_id: str
    sku: str
    name: str = ""
    description: str = ""
    price: Money | None = None
    cost: Money | None = None
    ean: str = ""
    upc: str = ""
    mpn: str = ""
    brand: str = ""
    unit_of_measure: str = ""
    weight: Decimal | None = None
    active: bool = True
    updated_at: datetime | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class StockLevel(Canonical):
    sku: str
    available: int
    source: str = ""
    source_id: str = ""
    location: str = ""
    on_hand: int | None = None
    allocated: int | None = None
    updated_at: datetime | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class ShipmentLine(Canonical):
    sku: str
    quantity: int
    source_id: str = ""


@dataclass
class Shipment(Canonical):
    source: str
    source_id: str
    order_id: str = ""
    carrier: str = ""
    shipping_class: str = ""
    tracking_number: str = ""
    shipped_at: datetime | None = None
    lines: list[ShipmentLine] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


@dataclass
class Fulfillment(Canonical):
    """One shipment as a channel keeps it: a ChannelAdvisor Fulfillment, a PrestaShop order_carriers row.
    `already` is true when the channel had it before this call (a replay found it, nothing was written)."""

    source: str
    source_id: str
    order_id: str
    tracking_number: str = ""
    carrier: str = ""
    shipping_class: str = ""
    lines: list[ShipmentLine] = field(default_factory=list)
    already: bool = False
    state: str = ""  # the channel order's shipping status or state after the call ("Shipped", "PartiallyShipped")
    extra: dict = field(default_factory=dict)


@dataclass
class Invoice(Canonical):
    source: str
    source_id: str
    order_id: str = ""
    customer_id: str = ""
    invoice_date: datetime | None = None
    lines: list[OrderLine] = field(default_factory=list)
    total: Money | None = None
    balance: Money | None = None
    status: str = ""
    shipment_id: str = ""  # the shipment it bills ("" for an invoice of the whole order)
    shipping: Money | None = None  # the freight it bills
    extra: dict = field(default_factory=dict)


@dataclass
class Payment(Canonical):
    source: str
    source_id: str
    amount: Money
    invoice_id: str = ""
    order_id: str = ""
    method: str = ""
    reference: str = ""
    received_at: datetime | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class JournalLine(Canonical):
    account: str
    debit: Decimal = Decimal("0")
    credit: Decimal = Decimal("0")
    memo: str = ""


@dataclass
class JournalEntry(Canonical):
    """A GL entry: debits equal credits to the cent; `reference` names the source document it posts."""

    reference: str
    entry_date: date | None = None
    lines: list[JournalLine] = field(default_factory=list)
    source_id: str = ""  # the entry's id in TIMS, once posted
    memo: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def debits(self) -> Decimal:
        return sum((line.debit for line in self.lines), Decimal("0"))

    @property
    def credits(self) -> Decimal:
        return sum((line.credit for line in self.lines), Decimal("0"))


@dataclass
class ReturnLine(Canonical):
    sku: str
    quantity: int
    reason: str = ""
    restock: bool = False
    amount: Money | None = None
    source_id: str = ""


@dataclass
class Return(Canonical):
    source: str
    source_id: str
    order_id: str = ""
    lines: list[ReturnLine] = field(default_factory=list)
    refund: Money | None = None
    status: str = ""
    created_at: datetime | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Price(Canonical):
    sku: str
    price: Money
    kind: str = "retail"  # retail, cost, sale, min, max
    source: str = ""
    source_id: str = ""
    extra: dict = field(default_factory=dict)


MODELS = {cls.__name__: cls for cls in (Order, OrderLine, Customer, Address, Product, StockLevel, Shipment,
                                        ShipmentLine, Invoice, Payment, Return, ReturnLine, Price, Money)}
