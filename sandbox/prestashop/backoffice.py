"""What shop staff do in the PrestaShop back office, for tests and demos (`manage.py sandbox act --system
prestashop refund|edit-customer`): a credit slip (order_slip) for refunded units, and an edit of a customer.

What PrestaShop 8 does, and so the sandbox (see docs/sandboxes/prestashop.md):
- A standard refund (OrderSlip::create) writes one order_slip with an order_slip_detail per refunded order row
  (`id_order_detail` = the row's id, `product_quantity`, `amount_tax_excl/incl` = the rows' totals), the products'
  and shipping's totals, `amount` (the products without tax), `shipping_cost` (1 when shipping is refunded) with
  `shipping_cost_amount` (shipping with tax), `partial` 0, `order_slip_type`, `conversion_rate` and
  `date_add`/`date_upd` in shop time; only for a paid order (OrderRefundUpdater). The customer is mailed
  `credit_slip` (OrderSlipCreator) and the order's `date_upd` moves. When every unit is refunded the sandbox also
  moves the order to "Refunded" (a history row, `valid` 0, the state's "refund" mail) unless `keep_state` — a step
  merchants take in PrestaShop, which issue #16 asks the sandbox to take for them.
- Editing an address that an order uses does not change it: PrestaShop marks it `deleted` and saves the edit as a
  new address (Address::isUsed), so orders keep what they were placed with. Each record saved gets a new date_upd.
"""

import re
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Q, Sum

from sandbox.prestashop import clock, payload, writes
from sandbox.prestashop.models import (
    Address,
    Customer,
    Order,
    OrderHistory,
    OrderRow,
    OrderSlip,
    OrderSlipDetail,
    OrderState,
    Shop,
)

CENT = Decimal("0.01")
CLOSED_STATES = ("canceled", "payment error")  # nothing was paid, so nothing can be refunded
NAME = re.compile(r"^[^0-9!<>,;?=+()@#\"°{}_$%:]+$")  # Validate::isCustomerName / isName
PHONE = re.compile(r"^[+0-9. ()/-]*$")  # Validate::isPhoneNumber


class Refused(Exception):
    """What the back office would refuse (shown as a CommandError)."""


def _shop(sandbox):
    return Shop.objects.get_or_create(sandbox=sandbox)[0]


def _money(value):
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _state_name(sandbox, state_id):
    state = OrderState.objects.filter(sandbox=sandbox, pk=state_id).first()
    return (state.name.get("en") or next(iter(state.name.values()), "")) if state else ""


def refunded_units(sandbox, order):
    """{order row id: units already on this order's credit slips}."""
    return dict(OrderSlipDetail.objects.filter(sandbox=sandbox, order_slip__id_order=order.id)
                .values_list("id_order_detail").annotate(total=Sum("product_quantity")))


def slip_json(slip):
    fields = ["id", "id_customer", "id_order", "conversion_rate", "total_products_tax_excl",
              "total_products_tax_incl", "total_shipping_tax_excl", "total_shipping_tax_incl", "amount",
              "shipping_cost", "shipping_cost_amount", "partial", "order_slip_type"]
    data = {name: str(getattr(slip, name)) for name in fields}
    data.update(date_add=clock.show(slip.date_add), date_upd=clock.show(slip.date_upd))
    data["order_slip_details"] = [
        {"id": str(row.id), "id_order_detail": str(row.id_order_detail), "product_quantity": str(row.product_quantity),
         "amount_tax_excl": str(row.amount_tax_excl), "amount_tax_incl": str(row.amount_tax_incl)}
        for row in slip.details.order_by("id")]
    return data


def _wanted(order, rows, left, sku, quantity):
    if quantity is not None and quantity < 1:
        raise Refused("--quantity must be 1 or more.")
    if sku is None:
        if quantity is not None:
            raise Refused("--quantity needs --sku.")
        wanted = [(row, left[row.id]) for row in rows if left[row.id] > 0]
        if not wanted:
            raise Refused(f"Every unit of order {order.id} is refunded already.")
        return wanted
    named = [row for row in rows if row.product_reference.lower() == sku.lower()]  # MySQL compares case-blind
    if not named:
        raise Refused(f"Order {order.id} has no product with reference '{sku}'; its references are "
                      f"{', '.join(sorted({row.product_reference for row in rows}))}.")
    available = sum(left[row.id] for row in named)
    quantity = available if quantity is None else quantity
    if not available or quantity > available:
        raise Refused(f"Only {available} unit(s) of '{sku}' on order {order.id} are left to refund; asked for "
                      f"{quantity}.")
    wanted = []
    for row in named:
        units = min(quantity, left[row.id])
        if units:
            wanted.append((row, units))
            quantity -= units
    return wanted


@transaction.atomic
def refund(sandbox, order_id, sku=None, quantity=None, shipping=None, send_email=True, keep_state=False):
    """A credit slip for `quantity` units of `sku` (default: all of them still unrefunded), or, without a SKU, for
    everything still unrefunded (shipping included, unless refunded before). `shipping` forces the shipping in or
    out. Returns {"order_slip": ..., "order": {id, current_state, state, date_upd}}."""
    shop = _shop(sandbox)
    order = Order.objects.select_for_update().filter(sandbox=sandbox, pk=order_id).first()
    if order is None:
        raise Refused(f"No order with id {order_id} in this shop.")
    state = _state_name(sandbox, order.current_state)
    paid_states = OrderState.objects.filter(sandbox=sandbox, paid=True).values_list("id", flat=True)
    paid = order.total_paid_real > 0 or OrderHistory.objects.filter(
        sandbox=sandbox, id_order=order.id, id_order_state__in=list(paid_states)).exists()
    if state.lower() in CLOSED_STATES or not paid:  # OrderRefundUpdater: refunds only once the order is paid
        raise Refused(f"Order {order.id} is {state or 'not paid'}: it has not been paid, so nothing can be refunded.")
    rows = list(OrderRow.objects.filter(sandbox=sandbox, order=order).order_by("id"))
    done = refunded_units(sandbox, order)
    left = {row.id: max(row.product_quantity - done.get(row.id, 0), 0) for row in rows}
    wanted = _wanted(order, rows, left, sku, quantity)
    shipping_refunded = OrderSlip.objects.filter(sandbox=sandbox, id_order=order.id, shipping_cost=1).exists()
    if shipping is None:
        shipping = sku is None and not shipping_refunded
    if shipping and shipping_refunded:
        raise Refused(f"The shipping of order {order.id} is refunded already.")
    details = [(row, units, _money(row.unit_price_tax_excl * units), _money(row.unit_price_tax_incl * units))
               for row, units in wanted]
    products_excl = sum((excl for _, _, excl, _ in details), Decimal(0))
    products_incl = sum((incl for _, _, _, incl in details), Decimal(0))
    shipping_excl = order.total_shipping_tax_excl if shipping else Decimal(0)
    shipping_incl = order.total_shipping_tax_incl if shipping else Decimal(0)
    now = clock.now(shop)
    everything = sum(left.values()) == sum(units for _, units in wanted)  # nothing left unrefunded after this
    # OrderSlip::create (standard refund, taxes added): `amount` is the products' total without tax,
    # `shipping_cost_amount` the shipping with tax, `partial` 0 (1 only for an amount-based partial refund),
    # `order_slip_type` 2 when shipping is refunded, else 0.
    slip = OrderSlip.objects.create(
        sandbox=sandbox, id_customer=order.id_customer, id_order=order.id, conversion_rate=order.conversion_rate,
        total_products_tax_excl=products_excl, total_products_tax_incl=products_incl,
        total_shipping_tax_excl=shipping_excl, total_shipping_tax_incl=shipping_incl,
        amount=products_excl, shipping_cost=1 if shipping else 0, shipping_cost_amount=shipping_incl,
        partial=0, order_slip_type=2 if shipping_incl > 0 else 0, date_add=now, date_upd=now)
    OrderSlipDetail.objects.bulk_create([
        OrderSlipDetail(sandbox=sandbox, order_slip=slip, id_order_detail=row.id, product_quantity=units,
                        amount_tax_excl=excl, amount_tax_incl=incl) for row, units, excl, incl in details])
    order.date_upd = now
    order.save(update_fields=["date_upd"])
    if send_email:  # OrderSlipCreator mails the customer "New credit slip regarding your order"
        writes.record_mail(sandbox, shop, order, "credit_slip", "New credit slip regarding your order")
    if everything and not keep_state:
        refunded = OrderState.objects.filter(sandbox=sandbox).filter(
            Q(name__en__iexact="Refunded") | Q(name__fr__iexact="Remboursé")).first()
        if refunded is not None and refunded.id != order.current_state:
            OrderHistory.objects.create(sandbox=sandbox, id_order=order.id, id_order_state=refunded.id, date_add=now)
            writes.follow_state(sandbox, shop, order, refunded, send_email)
            writes.announce_state_change(sandbox, order)
    order.refresh_from_db()
    return {"order_slip": slip_json(slip),
            "order": {"id": order.id, "current_state": order.current_state,
                      "state": _state_name(sandbox, order.current_state), "date_upd": clock.show(order.date_upd)}}


CUSTOMER_FIELDS = ("firstname", "lastname", "email")
ADDRESS_FIELDS = ("firstname", "lastname", "company", "address1", "address2", "postcode", "city", "phone",
                  "phone_mobile")


def _check(changes):
    for name, value in changes.items():
        if name in ("firstname", "lastname") and (not value.strip() or not NAME.match(value) or len(value) > 255):
            raise Refused(f"{name} '{value}' is not a valid name.")
        if name in ("phone", "phone_mobile") and (not PHONE.match(value) or len(value) > 32):
            raise Refused(f"{name} '{value}' is not a valid phone number.")
        if name == "email" and not payload.EMAIL.match(value):
            raise Refused(f"'{value}' is not a valid e-mail address.")
        if name in ("address1", "city") and not value.strip():
            raise Refused(f"{name} cannot be empty.")


def _record(obj, names):
    return {"id": obj.id, **{name: getattr(obj, name) for name in names},
            "date_upd": clock.show(obj.date_upd), **({"deleted": obj.deleted} if hasattr(obj, "deleted") else {})}


@transaction.atomic
def edit_customer(sandbox, customer_id, address_id=None, **changes):
    """Change a customer's name or e-mail and/or one of their addresses (default: the newest live one).
    `changes` may hold firstname, lastname, email (the customer; names go to the address too), company,
    address1, address2, postcode, city, phone, phone_mobile (the address)."""
    changes = {name: value for name, value in changes.items() if value is not None}
    if not changes:
        raise Refused("Nothing to change: give --firstname, --lastname, --email, --phone, --address1, --city, ...")
    _check(changes)
    shop = _shop(sandbox)
    customer = Customer.objects.select_for_update().filter(sandbox=sandbox, pk=customer_id, deleted=False).first()
    if customer is None:
        raise Refused(f"No customer with id {customer_id} in this shop.")
    now = clock.now(shop)
    result = {"customer": None, "address": None, "replaced_address": None}
    customer_changes = {k: v for k, v in changes.items() if k in CUSTOMER_FIELDS and getattr(customer, k) != v}
    if customer_changes:
        for name, value in customer_changes.items():
            setattr(customer, name, value)
        customer.date_upd = now
        customer.save()
    result["customer"] = _record(customer, CUSTOMER_FIELDS)
    address_changes = {k: v for k, v in changes.items() if k in ADDRESS_FIELDS}
    if address_changes:
        addresses = Address.objects.select_for_update().filter(sandbox=sandbox, id_customer=customer.id,
                                                               deleted=False)
        address = (addresses.filter(pk=address_id) if address_id else addresses.order_by("-id")).first()
        if address is None:
            raise Refused(f"Customer {customer.id} has no address {address_id}." if address_id else
                          f"Customer {customer.id} has no address to edit.")
        used = Order.objects.filter(sandbox=sandbox).filter(
            Q(id_address_delivery=address.id) | Q(id_address_invoice=address.id)).exists()
        if used:  # Address::isUsed: keep the old one for the orders, save the edit as a new address
            address.deleted = True
            address.date_upd = now
            address.save()
            result["replaced_address"] = _record(address, ADDRESS_FIELDS)
            address.pk = None
            address.deleted = False
            address.date_add = now
        for name, value in address_changes.items():
            setattr(address, name, value)
        address.date_upd = now
        address.save()
        result["address"] = _record(address, ADDRESS_FIELDS)
    return result
