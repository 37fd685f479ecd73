"""POST / PUT / PATCH / DELETE on a resource, with the side effects PrestaShop has: order histories move the
order's state, products get a stock row, stock changes the product's quantity, orders announce themselves to the
webhook module."""

import re
import secrets
import string

from django.db import transaction
from django.db.models import Sum

from sandbox import core
from sandbox.prestashop import clock, payload
from sandbox.prestashop.errors import ApiError
from sandbox.prestashop.models import (
    Combination,
    Order,
    OrderHistory,
    OrderRow,
    OrderState,
    Product,
    StockAvailable,
    model_for,
)
from sandbox.prestashop.resources import ORDER_ROW_FIELDS

SYSTEM = "prestashop"


def is_id(text):
    """A record id as PrestaShop reads one: ASCII digits that fit a bigint (str.isdigit() also takes "²")."""
    return re.fullmatch(r"[0-9]{1,18}", text) is not None


def fake_password_hash():
    """A bcrypt-shaped value: PrestaShop returns the hash, and the sandbox never derives one from a real password."""
    alphabet = string.ascii_letters + string.digits + "./"
    return "$2y$10$" + "".join(secrets.choice(alphabet) for _ in range(53))


def new_reference():
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(9))


def _assign(obj, resource, body, languages, partial):
    """Copy the body's fields onto `obj`; PUT (not partial) blanks the writable fields the body leaves out."""
    model_name = type(obj).__name__
    for spec in resource.fields:
        if spec.name == "id" or (spec.name == "date_upd" and "date_upd" in resource.timestamps):
            continue  # create/update check the id; the shop sets date_upd itself
        present = spec.name in body.values
        if present and spec.read_only:
            raise ApiError(400, 93, f'parameter "{spec.name}" not writable. Please remove this attribute of this '
                                    "XML")
        if spec.read_only:
            continue
        if not present:
            if spec.required and (not partial or obj.pk is None):
                raise ApiError(400, 41, f'parameter "{spec.name}" required')
            if partial or spec.name == "date_add":
                continue
            setattr(obj, spec.name, type(obj)._meta.get_field(spec.name).get_default())
            continue
        raw = body.values[spec.name]
        if spec.lang:
            if not isinstance(raw, dict):
                raw = {str(languages[0].id): raw}
            current = None if not partial and obj.pk else getattr(obj, spec.name)
            setattr(obj, spec.name, payload.convert_lang(spec, raw, languages, model_name, current))
        else:
            value = payload.convert(spec, raw, model_name)
            if spec.required and spec.type == "string" and not value.strip():
                raise ApiError(400, 85, f'Validation error: "Property {model_name}->{spec.name} is empty"')
            setattr(obj, spec.name, value)


@transaction.atomic
def create(sandbox, shop, resource, body, languages):
    if body.values.get("id", "").strip():
        raise ApiError(400, 91, "id is forbidden when adding a new resource")
    model = model_for(resource.model)
    obj = model(sandbox=sandbox)
    _assign(obj, resource, body, languages, partial=False)
    now = clock.now(shop)
    for name in resource.timestamps:
        if name == "date_upd" or not getattr(obj, name):
            setattr(obj, name, now)
    before_save = BEFORE_CREATE.get(resource.name)
    if before_save:
        before_save(sandbox, obj, body)
    obj.save()
    after_save = AFTER_CREATE.get(resource.name)
    if after_save:
        after_save(sandbox, shop, obj, body)
    return obj


@transaction.atomic
def update(sandbox, shop, resource, body, languages, partial):
    body_id = str(body.values.get("id", "")).strip()
    if not body_id:
        raise ApiError(400, 90, "id is required when modifying a resource")
    object_id = body_id  # PrestaShop updates the record the body names, whatever the URL says
    if not is_id(object_id):
        raise ApiError(400, 85, f'Validation error: "Property {resource.model}->id is not valid"')
    model = model_for(resource.model)
    obj = model.objects.select_for_update().filter(sandbox=sandbox, pk=int(object_id)).first()
    if obj is None:
        raise ApiError(404, 92, f"Cannot update the {resource.singular} (id = {object_id}): it does not exist")
    before = {spec.name: getattr(obj, spec.name) for spec in resource.fields}
    _assign(obj, resource, body, languages, partial)
    if resource.name == "customers" and obj.passwd != before["passwd"]:
        obj.passwd = fake_password_hash()  # a new password is never kept, not even in the sandbox
    if "date_upd" in resource.timestamps:
        obj.date_upd = clock.now(shop)
    obj.save()
    after_save = AFTER_UPDATE.get(resource.name)
    if after_save:
        after_save(sandbox, shop, obj, before)
    return obj


@transaction.atomic
def delete(sandbox, resource, object_id):
    model = model_for(resource.model)
    obj = model.objects.filter(sandbox=sandbox, pk=object_id).first()
    if obj is None:
        raise ApiError(404, 87, f"Id(s) not exists: {object_id}")
    obj.delete()
    # Stock rows go with what they count, as in PrestaShop.
    if resource.name == "products":
        StockAvailable.objects.filter(sandbox=sandbox, id_product=object_id).delete()
        Combination.objects.filter(sandbox=sandbox, id_product=object_id).delete()
    elif resource.name == "combinations":
        StockAvailable.objects.filter(sandbox=sandbox, id_product_attribute=object_id).delete()
        refresh_product_quantity(sandbox, obj.id_product)


# --- side effects ---

def _order_before_create(sandbox, order, body):
    order.reference = order.reference or new_reference()
    order.secure_key = order.secure_key or secrets.token_hex(16)


def _order_after_create(sandbox, shop, order, body):
    # PrestaShop builds rows from the cart; the sandbox takes them from the posted association instead.
    spec_by_name = {spec.name: spec for spec in ORDER_ROW_FIELDS if spec.name != "id"}
    for row in body.associations.get("order_rows", []):
        values = {name: payload.convert(spec_by_name[name], text, "OrderDetail")
                  for name, text in row.items() if name in spec_by_name}
        OrderRow.objects.create(sandbox=sandbox, order=order, **values)
    if order.current_state:
        OrderHistory.objects.create(sandbox=sandbox, id_order=order.id, id_order_state=order.current_state,
                                    date_add=order.date_add)
    core.queue_webhook(sandbox, SYSTEM, "order.created", {"event": "order.created", "id_order": order.id})


def _order_after_update(sandbox, shop, order, before):
    if order.current_state != before["current_state"]:
        OrderHistory.objects.create(sandbox=sandbox, id_order=order.id, id_order_state=order.current_state,
                                    date_add=order.date_upd)
        announce_state_change(sandbox, order)


def announce_state_change(sandbox, order):
    core.queue_webhook(sandbox, SYSTEM, "order.state_changed",
                       {"event": "order.state_changed", "id_order": order.id})


def _history_before_create(sandbox, history, body):
    if not Order.objects.filter(sandbox=sandbox, pk=history.id_order).exists():
        raise ApiError(400, 85, 'Validation error: "Property OrderHistory->id_order is not valid"')
    if not OrderState.objects.filter(sandbox=sandbox, pk=history.id_order_state).exists():
        raise ApiError(400, 85, 'Validation error: "Property OrderHistory->id_order_state is not valid"')


def _history_after_create(sandbox, shop, history, body):
    """Adding a history row is how a state changes: the order follows it, and its date_upd moves."""
    order = Order.objects.select_for_update().get(sandbox=sandbox, pk=history.id_order)
    state = OrderState.objects.get(sandbox=sandbox, pk=history.id_order_state)
    order.current_state = state.id
    order.date_upd = history.date_add
    if state.paid:
        order.valid = True
    order.save(update_fields=["current_state", "date_upd", "valid"])
    announce_state_change(sandbox, order)


def _product_after_create(sandbox, shop, product, body):
    StockAvailable.objects.create(sandbox=sandbox, id_product=product.id, id_product_attribute=0,
                                  id_shop=1, quantity=0, depends_on_stock=False, out_of_stock=2)


def _combination_after_create(sandbox, shop, combination, body):
    StockAvailable.objects.create(sandbox=sandbox, id_product=combination.id_product,
                                  id_product_attribute=combination.id, id_shop=1, quantity=0,
                                  depends_on_stock=False, out_of_stock=2)


def refresh_product_quantity(sandbox, product_id):
    """The product's read-only `quantity` mirrors its stock rows (the product row itself, or its combinations)."""
    rows = StockAvailable.objects.filter(sandbox=sandbox, id_product=product_id)
    combos = rows.exclude(id_product_attribute=0)
    source = combos if combos.exists() else rows
    total = source.aggregate(total=Sum("quantity"))["total"] or 0
    Product.objects.filter(sandbox=sandbox, pk=product_id).update(quantity=total)


def _stock_after_update(sandbox, shop, stock, before):
    refresh_product_quantity(sandbox, stock.id_product)
    if stock.quantity != before["quantity"]:
        Product.objects.filter(sandbox=sandbox, pk=stock.id_product).update(date_upd=clock.now(shop))


BEFORE_CREATE = {"orders": _order_before_create, "order_histories": _history_before_create,
                 "customers": lambda sandbox, customer, body: _customer_secrets(customer)}
AFTER_CREATE = {"orders": _order_after_create, "order_histories": _history_after_create,
                "products": _product_after_create, "combinations": _combination_after_create}
AFTER_UPDATE = {"orders": _order_after_update, "stock_availables": _stock_after_update}


def _customer_secrets(customer):
    customer.passwd = fake_password_hash()  # PrestaShop stores a hash of what was posted; we store a fake one
    customer.secure_key = customer.secure_key or secrets.token_hex(16)
