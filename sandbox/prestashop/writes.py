"""POST / PUT / PATCH / DELETE on a resource, with the side effects PrestaShop has: order histories move the
order's state (and may mail the customer), orders get their order_carriers row, products get a stock row, stock
changes the product's quantity, orders announce themselves to the webhook module."""

import dataclasses
import re
import secrets
import string
import unicodedata
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from sandbox import core
from sandbox.prestashop import clock, payload
from sandbox.prestashop.errors import ApiError
from sandbox.prestashop.models import (
    Carrier,
    Category,
    Combination,
    CombinationOptionValue,
    Customer,
    Language,
    MailLog,
    Order,
    OrderCarrier,
    OrderHistory,
    OrderPayment,
    OrderRow,
    OrderState,
    Product,
    ProductCategory,
    ProductFeature,
    ProductFeatureLink,
    ProductFeatureValue,
    ProductOption,
    ProductOptionValue,
    SpecificPrice,
    StockAvailable,
    StockWrite,
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


def is_required(spec, shop):
    """Required on this shop's version: PrestaShop 8 made some 1.7 requirements optional (products' name)."""
    return spec.required and not (spec.optional_in_8 and shop is not None and not shop.version.startswith("1."))


def _assign(obj, resource, body, languages, partial, shop=None):
    """Copy the body's fields onto `obj`; PUT (not partial) blanks the writable fields the body leaves out."""
    model_name = resource.php_class or type(obj).__name__
    for spec in resource.fields:
        if spec.name == "id" or (spec.name == "date_upd" and "date_upd" in resource.timestamps):
            continue  # create/update check the id; the shop sets date_upd itself
        present = spec.name in body.values
        if present and spec.read_only:
            raise ApiError(400, 93, f'parameter "{spec.name}" not writable. Please remove this attribute of this '
                                    "XML")
        if spec.read_only:
            continue
        required = is_required(spec, shop)
        if spec.name == "link_rewrite" and obj.pk is None and resource.name in LINK_REWRITE_MODIFIED:
            required = False  # made from the name by the POST modifier, then checked (modify_link_rewrite)
        if not present:
            if required and (not partial or obj.pk is None):
                if spec.lang:  # saveEntityFromXml's 41 skips i18n fields: validateFieldsLang finds them empty
                    raise ApiError(400, 85, f'Validation error: "Property {model_name}->{spec.name} is empty."')
                raise ApiError(400, 41, f'parameter "{spec.name}" required')
            if partial or spec.name == "date_add":
                continue
            setattr(obj, spec.name, type(obj)._meta.get_field(spec.name).get_default())
            continue
        raw = body.values[spec.name]
        if spec.lang:
            if not isinstance(raw, dict):
                raw = {str(languages[0].id): raw}
            if spec.name == "link_rewrite" and obj.pk is None and resource.name in LINK_REWRITE_MODIFIED:
                spec = dataclasses.replace(spec, format=None)  # the POST modifier mends it before validation
            current = None if not partial and obj.pk else getattr(obj, spec.name)
            setattr(obj, spec.name, payload.convert_lang(spec, raw, languages, model_name, current, required))
        else:
            if required and raw == "":
                # Tools::isEmpty: only "" is empty ("0" is a value), whatever the field's type
                raise ApiError(400, 85, f'Validation error: "Property {model_name}->{spec.name} is empty."')
            value = payload.convert(spec, raw, model_name)
            if required and spec.type == "string" and not value.strip():
                raise ApiError(400, 85, f'Validation error: "Property {model_name}->{spec.name} is empty."')
            setattr(obj, spec.name, value)


def link_rewrite(text):
    """Tools::str2url (Tools::link_rewrite) without accented URLs: lower case, accents dropped, anything but letters,
    digits, spaces, quotes, colons, slashes, brackets and dashes removed, runs of those separators made one dash."""
    text = unicodedata.normalize("NFKD", str(text).strip()).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-zA-Z0-9\s'\:/\[\]\-]", "", text)
    text = re.sub(r"[\s'\:/\[\]\-]+", " ", text).strip()
    return text.replace(" ", "-").lower()


def modify_link_rewrite(obj, resource, languages, shop):
    """modifierWsLinkRewrite (products and categories, on POST only): an empty link_rewrite is made from the name,
    an invalid one is cleaned up — a bad link_rewrite is never refused on creation, only on PUT / PATCH."""
    rewrites = dict(obj.link_rewrite or {})
    for iso, name in (obj.name or {}).items():
        if not rewrites.get(iso):
            rewrites[iso] = link_rewrite(name)
        elif not payload.valid_text("isLinkRewrite", rewrites[iso]):
            rewrites[iso] = link_rewrite(rewrites[iso])
    obj.link_rewrite = rewrites
    model_name = resource.php_class or type(obj).__name__
    for text in rewrites.values():  # a language without a name keeps what was sent, and is then validated
        if text and not payload.valid_text("isLinkRewrite", text):
            raise ApiError(400, 85, f'Validation error: "Property {model_name}->link_rewrite is not valid"')
    if is_required(resource.field_map["link_rewrite"], shop) and not rewrites.get(languages[0].iso_code):
        raise ApiError(400, 85, f'Validation error: "Property {model_name}->link_rewrite is empty."')


LINK_REWRITE_MODIFIED = ("products", "categories")  # the resources whose link_rewrite has a POST ws_modifier


@transaction.atomic
def create(sandbox, shop, resource, body, languages, send_email=False):
    if body.values.get("id", "").strip():
        raise ApiError(400, 91, "id is forbidden when adding a new resource")
    model = model_for(resource.model)
    obj = model(sandbox=sandbox)
    _assign(obj, resource, body, languages, partial=False, shop=shop)
    if resource.name in LINK_REWRITE_MODIFIED:
        modify_link_rewrite(obj, resource, languages, shop)
    now = clock.now(shop)
    for name in resource.timestamps:
        if name == "date_upd" or not getattr(obj, name):
            setattr(obj, name, now)
    before_save = BEFORE_CREATE.get(resource.name)
    if before_save:
        before_save(sandbox, obj, body)
    check_associations(sandbox, resource, obj, body)
    obj.save()
    after_save = AFTER_CREATE.get(resource.name)
    if after_save:
        after_save(sandbox, shop, obj, body, send_email)
    write_associations(sandbox, resource, obj, body)
    return obj


@transaction.atomic
def update(sandbox, shop, resource, body, languages, partial, send_email=False):
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
    obj.ws_method = "PATCH" if partial else "PUT"  # for hooks that log the write (stock)
    _assign(obj, resource, body, languages, partial, shop=shop)
    if resource.name == "customers" and obj.passwd != before["passwd"]:
        obj.passwd = fake_password_hash()  # a new password is never kept, not even in the sandbox
    if "date_upd" in resource.timestamps:
        obj.date_upd = clock.now(shop)
    before_save = BEFORE_UPDATE.get(resource.name)
    if before_save:
        before_save(sandbox, obj, body)
    check_associations(sandbox, resource, obj, body)
    obj.save()
    after_save = AFTER_UPDATE.get(resource.name)
    if after_save:
        after_save(sandbox, shop, obj, before, send_email)
    write_associations(sandbox, resource, obj, body)
    return obj


def update_all(sandbox, shop, resource, bodies, languages, partial, send_email=False):
    """PUT / PATCH of one or several records, as PrestaShop's saveEntityFromXml does it: every record must carry
    its own id, once (checked before anything is saved); then they are saved in turn, each on its own, and the
    first that fails stops the rest — the ones before it stay saved, and the answer is only that error."""
    ids = [str(body.values.get("id", "")).strip() for body in bodies]
    named = [int(i) if is_id(i) else i for i in ids if i]  # PrestaShop compares them as (int)
    if len(set(named)) != len(named):
        raise ApiError(400, 89, "id is duplicate in request")
    if len(named) != len(ids):
        raise ApiError(400, 90, "id is required when modifying a resource")
    return [update(sandbox, shop, resource, body, languages, partial=partial, send_email=send_email)
            for body in bodies]


@transaction.atomic
def delete(sandbox, resource, object_id):
    model = model_for(resource.model)
    obj = model.objects.filter(sandbox=sandbox, pk=object_id).first()
    if obj is None:
        raise ApiError(404, 87, f"Id(s) not exists: {object_id}")
    _remove(obj)
    cascade = CASCADES.get(resource.name)
    if cascade:
        cascade(sandbox, obj)


# --- what goes with a deleted record (the models' delete() in PrestaShop) ---

def _remove(obj):
    """Delete a row but keep its id on the object (Django clears it), for what goes with it."""
    pk = obj.pk
    obj.delete()
    obj.pk = obj.id = pk


def _delete_product(sandbox, product):
    """Product::delete: its stock rows, combinations, specific prices, features and category links go with it."""
    combinations = list(Combination.objects.filter(sandbox=sandbox, id_product=product.id).values_list("id", flat=True))
    CombinationOptionValue.objects.filter(sandbox=sandbox, id_combination__in=combinations).delete()
    Combination.objects.filter(sandbox=sandbox, id_product=product.id).delete()
    StockAvailable.objects.filter(sandbox=sandbox, id_product=product.id).delete()
    SpecificPrice.objects.filter(sandbox=sandbox, id_product=product.id).delete()
    ProductFeatureLink.objects.filter(sandbox=sandbox, id_product=product.id).delete()
    ProductCategory.objects.filter(sandbox=sandbox, id_product=product.id).delete()


def _delete_combination(sandbox, combination, resum=True):
    """Combination::delete: its stock row, its option values and its specific prices; the product's default
    combination and stock sum follow (removeProductFromStockAvailable runs postSave)."""
    StockAvailable.objects.filter(sandbox=sandbox, id_product_attribute=combination.id).delete()
    CombinationOptionValue.objects.filter(sandbox=sandbox, id_combination=combination.id).delete()
    SpecificPrice.objects.filter(sandbox=sandbox, id_product_attribute=combination.id).delete()
    if resum:
        sum_combinations(sandbox, combination.id_product)
        update_default_combination(sandbox, combination.id_product)


def _delete_option_value(sandbox, value):
    """Attribute::delete: the combinations made with that value are deleted too."""
    used = CombinationOptionValue.objects.filter(sandbox=sandbox, id_attribute=value.id)
    for combination in Combination.objects.filter(sandbox=sandbox, pk__in=used.values("id_combination")):
        _remove(combination)
        _delete_combination(sandbox, combination)
    used.delete()


def _delete_option(sandbox, option):
    """AttributeGroup::delete: its values go, and with them the combinations that use them."""
    for value in ProductOptionValue.objects.filter(sandbox=sandbox, id_attribute_group=option.id):
        _remove(value)
        _delete_option_value(sandbox, value)


def _delete_feature(sandbox, feature):
    """Feature::delete: its values and every product's link to it."""
    ProductFeatureValue.objects.filter(sandbox=sandbox, id_feature=feature.id).delete()
    ProductFeatureLink.objects.filter(sandbox=sandbox, id_feature=feature.id).delete()


def _delete_feature_value(sandbox, value):
    ProductFeatureLink.objects.filter(sandbox=sandbox, id_feature_value=value.id).delete()


def _delete_category(sandbox, category):
    ProductCategory.objects.filter(sandbox=sandbox, id_category=category.id).delete()


CASCADES = {"products": _delete_product, "combinations": _delete_combination,
            "product_option_values": _delete_option_value, "product_options": _delete_option,
            "product_features": _delete_feature, "product_feature_values": _delete_feature_value,
            "categories": _delete_category}


# --- associations written with their record ---

def _association_error(model_name, text):
    # Stricter than PrestaShop, whose setters insert whatever ids they are given (documented in docs/sandboxes).
    return ApiError(400, 85, f'Validation error: "Property {model_name}->associations {text}"')


def _row_id(model_name, association, row, key="id"):
    text = str(row.get(key, "")).strip()
    if not is_id(text):
        raise _association_error(model_name, f"{association}: {key} “{text}” is not valid")
    return int(text)


def check_associations(sandbox, resource, obj, body):
    """Refuse association rows that point at nothing, before anything is saved."""
    model_name = type(obj).__name__
    for association in resource.associations:
        rows = body.associations.get(association.name)
        if rows is None or association.setter is None:
            continue
        if association.setter == "categories":
            ids = [_row_id(model_name, "categories", row) for row in rows]
            known = set(Category.objects.filter(sandbox=sandbox, pk__in=ids).values_list("id", flat=True))
            missing = [i for i in ids if i not in known]
            if missing:
                raise _association_error(model_name, f"categories: no category {missing[0]}")
        elif association.setter == "product_features":
            for row in rows:
                feature = _row_id(model_name, "product_features", row)
                value_id = _row_id(model_name, "product_features", row, "id_feature_value")
                value = ProductFeatureValue.objects.filter(sandbox=sandbox, pk=value_id).first()
                if not ProductFeature.objects.filter(sandbox=sandbox, pk=feature).exists():
                    raise _association_error(model_name, f"product_features: no feature {feature}")
                if value is None or value.id_feature != feature:
                    raise _association_error(model_name, f"product_features: feature {feature} has no value "
                                                         f"{value_id}")
        elif association.setter == "combinations":
            ids = [_row_id(model_name, "combinations", row) for row in rows]
            known = set(Combination.objects.filter(sandbox=sandbox, pk__in=ids).values_list("id", flat=True))
            missing = [i for i in ids if i not in known]
            if missing:
                raise _association_error(model_name, f"combinations: no combination {missing[0]}")
        elif association.setter == "option_values":
            ids = [_row_id(model_name, "product_option_values", row) for row in rows]
            known = set(ProductOptionValue.objects.filter(sandbox=sandbox, pk__in=ids).values_list("id", flat=True))
            missing = [i for i in ids if i not in known]
            if missing:
                raise _association_error(model_name, f"product_option_values: no product option value {missing[0]}")


def write_associations(sandbox, resource, obj, body):
    """The association setters: only associations present in the body are written (on PUT too: leaving
    <associations> out keeps them), and a present one replaces the whole set."""
    for association in resource.associations:
        rows = body.associations.get(association.name)
        if rows is None or association.setter is None:
            continue
        if association.setter == "categories":  # setWsCategories / updateCategories
            ProductCategory.objects.filter(sandbox=sandbox, id_product=obj.id).delete()
            seen = []
            for row in rows:
                if int(row["id"]) not in seen:
                    seen.append(int(row["id"]))
            ProductCategory.objects.bulk_create([
                ProductCategory(sandbox=sandbox, id_product=obj.id, id_category=category, position=position)
                for position, category in enumerate(seen)])
        elif association.setter == "product_features":  # setWsProductFeatures: delete all, add each
            ProductFeatureLink.objects.filter(sandbox=sandbox, id_product=obj.id).delete()
            ProductFeatureLink.objects.bulk_create([
                ProductFeatureLink(sandbox=sandbox, id_product=obj.id, id_feature=int(row["id"]),
                                   id_feature_value=int(row["id_feature_value"])) for row in rows])
        elif association.setter == "combinations":
            _set_combinations(sandbox, obj, [int(row["id"]) for row in rows])
        elif association.setter == "option_values":  # setWsProductOptionValues → setAttributes
            CombinationOptionValue.objects.filter(sandbox=sandbox, id_combination=obj.id).delete()
            CombinationOptionValue.objects.bulk_create([
                CombinationOptionValue(sandbox=sandbox, id_combination=obj.id, id_attribute=int(row["id"]),
                                       id_product=obj.id_product) for row in rows])


def _set_combinations(sandbox, product, ids):
    """Product::setWsCombinations: the product's combinations not listed are DELETED; listed ones of another
    product are moved to this one. So an empty <combinations/> in a PUT deletes them all."""
    for combination in Combination.objects.filter(sandbox=sandbox, id_product=product.id).exclude(pk__in=ids):
        _remove(combination)
        _delete_combination(sandbox, combination, resum=False)
    for combination in Combination.objects.filter(sandbox=sandbox, pk__in=ids).exclude(id_product=product.id):
        previous = combination.id_product
        Combination.objects.filter(pk=combination.pk).update(id_product=product.id)
        CombinationOptionValue.objects.filter(sandbox=sandbox, id_combination=combination.id).update(
            id_product=product.id)
        StockAvailable.objects.filter(sandbox=sandbox, id_product_attribute=combination.id).update(
            id_product=product.id)
        sum_combinations(sandbox, previous)
        update_default_combination(sandbox, previous)
    sum_combinations(sandbox, product.id)
    update_default_combination(sandbox, product.id)


def update_default_combination(sandbox, product_id):
    """Product::updateDefaultAttribute: the combination flagged default_on, else the first one, else none. Written
    with update() so the product's date_upd stays (PrestaShop does not touch it either)."""
    combinations = Combination.objects.filter(sandbox=sandbox, id_product=product_id).order_by("-default_on", "id")
    first = combinations.values_list("id", flat=True).first() or 0
    Product.objects.filter(sandbox=sandbox, pk=product_id).update(id_default_combination=first)


def _specific_price_links(sandbox, price, body):
    """Stricter than PrestaShop (which only checks the ids are unsigned integers): the product must exist, and a
    combination must be one of that product's."""
    if not Product.objects.filter(sandbox=sandbox, pk=price.id_product).exists():
        raise ApiError(400, 85, 'Validation error: "Property SpecificPrice->id_product is not valid"')
    if price.id_product_attribute and not Combination.objects.filter(
            sandbox=sandbox, pk=price.id_product_attribute, id_product=price.id_product).exists():
        raise ApiError(400, 85, 'Validation error: "Property SpecificPrice->id_product_attribute is not valid"')


def _value_links(field, model, model_name):
    def check(sandbox, obj, body):
        if not model.objects.filter(sandbox=sandbox, pk=getattr(obj, field)).exists():
            raise ApiError(400, 85, f'Validation error: "Property {model_name}->{field} is not valid"')
    return check


def _combination_links(sandbox, combination, body):
    if not Product.objects.filter(sandbox=sandbox, pk=combination.id_product).exists():
        raise ApiError(400, 85, 'Validation error: "Property Combination->id_product is not valid"')


# --- side effects ---

def _order_before_create(sandbox, order, body):
    order.reference = order.reference or new_reference()
    order.secure_key = order.secure_key or secrets.token_hex(16)


def _order_after_create(sandbox, shop, order, body, send_email):
    # PrestaShop builds rows from the cart; the sandbox takes them from the posted association instead.
    spec_by_name = {spec.name: spec for spec in ORDER_ROW_FIELDS if spec.name != "id"}
    for row in body.associations.get("order_rows", []):
        values = {name: payload.convert(spec_by_name[name], text, "OrderDetail")
                  for name, text in row.items() if name in spec_by_name}
        OrderRow.objects.create(sandbox=sandbox, order=order, **values)
    if order.current_state:
        OrderHistory.objects.create(sandbox=sandbox, id_order=order.id, id_order_state=order.current_state,
                                    date_add=order.date_add)
    add_order_carrier(sandbox, order)
    core.queue_webhook(sandbox, SYSTEM, "order.created", {"event": "order.created", "id_order": order.id})


def add_order_carrier(sandbox, order):
    """The row PaymentModule::validateOrder adds with every order that has a carrier: that carrier, the order's
    total weight and shipping costs, no tracking number yet."""
    if not order.id_carrier:
        return None
    rows = list(OrderRow.objects.filter(sandbox=sandbox, order=order))
    weights = dict(Product.objects.filter(sandbox=sandbox, pk__in={row.product_id for row in rows})
                   .values_list("id", "weight"))
    weight = sum((weights.get(row.product_id, 0) * row.product_quantity for row in rows), Decimal(0))
    return OrderCarrier.objects.create(
        sandbox=sandbox, id_order=order.id, id_carrier=order.id_carrier, weight=weight,
        shipping_cost_tax_excl=order.total_shipping_tax_excl, shipping_cost_tax_incl=order.total_shipping_tax_incl,
        date_add=order.date_add)


def _order_after_update(sandbox, shop, order, before, send_email):
    if order.current_state != before["current_state"]:
        # Order::setWsCurrentState → setCurrentState: a history row, the state's effects, and always its e-mail.
        OrderHistory.objects.create(sandbox=sandbox, id_order=order.id, id_order_state=order.current_state,
                                    date_add=order.date_upd)
        state = OrderState.objects.filter(sandbox=sandbox, pk=order.current_state).first()
        if state is not None:
            follow_state(sandbox, shop, order, state, send_email=True)
        announce_state_change(sandbox, order)
    # shipping_number lives on the order's first order_carriers row (setWsShippingNumber / getWsShippingNumber).
    if order.shipping_number and order.shipping_number != before["shipping_number"]:
        first = OrderCarrier.objects.filter(sandbox=sandbox, id_order=order.id).order_by("id").first()
        if first is not None:
            first.tracking_number = order.shipping_number
            first.save(update_fields=["tracking_number"])
    sync_shipping_number(sandbox, order.id)


def announce_state_change(sandbox, order):
    core.queue_webhook(sandbox, SYSTEM, "order.state_changed",
                       {"event": "order.state_changed", "id_order": order.id})


def follow_state(sandbox, shop, order, state, send_email):
    """What OrderHistory::changeIdOrderState does to the order, plus the state's e-mail when asked."""
    previous = OrderState.objects.filter(sandbox=sandbox, pk=order.current_state).first()
    if state.paid and not (previous and previous.paid):
        record_rest_paid(sandbox, shop, order)
    order.current_state = state.id
    order.valid = state.logable  # "the order is valid if and only if ... not cancelled": logable, not paid
    order.date_upd = clock.now(shop)
    if state.delivery:
        order.delivery_date = order.date_upd
    order.save(update_fields=["current_state", "valid", "date_upd", "delivery_date"])
    if send_email and state.send_email:
        language = Language.objects.filter(sandbox=sandbox, pk=order.id_lang).first()
        iso = language.iso_code if language else next(iter(state.name), "en")
        template = state.template.get(iso) or next((t for t in state.template.values() if t), "")
        if template:  # OrderHistory::sendEmail needs a template for the order's language
            record_mail(sandbox, shop, order, template, state.name.get(iso) or next(iter(state.name.values()), ""))


def record_rest_paid(sandbox, shop, order):
    """A state with `paid` records what is still owed as an order_payments row (changeIdOrderState does, per
    invoice): the module's name as the method, no transaction id, since no payment module sent one."""
    paid = (OrderPayment.objects.filter(sandbox=sandbox, order_reference=order.reference)
            .aggregate(total=Sum("amount"))["total"] or Decimal(0))
    rest = (order.total_paid_tax_incl or order.total_paid or Decimal(0)) - paid
    if rest > 0:
        OrderPayment.objects.create(sandbox=sandbox, order_reference=order.reference, id_currency=order.id_currency,
                                    amount=rest, payment_method=order.payment or order.module or "",
                                    conversion_rate=order.conversion_rate, transaction_id="",
                                    date_add=clock.now(shop))
        order.total_paid_real = paid + rest
        order.save(update_fields=["total_paid_real"])


def record_mail(sandbox, shop, order, template, subject):
    """Note a mail to the order's customer, when PrestaShop would send one (a valid address)."""
    customer = Customer.objects.filter(sandbox=sandbox, pk=order.id_customer).first()
    if customer is None or not payload.EMAIL.match(customer.email or ""):
        return None
    return MailLog.objects.create(sandbox=sandbox, id_order=order.id, template=template, recipient=customer.email,
                                  subject=subject, date_add=clock.now(shop))


def _history_before_create(sandbox, history, body):
    if not Order.objects.filter(sandbox=sandbox, pk=history.id_order).exists():
        raise ApiError(400, 85, 'Validation error: "Property OrderHistory->id_order is not valid"')
    if not OrderState.objects.filter(sandbox=sandbox, pk=history.id_order_state).exists():
        raise ApiError(400, 85, 'Validation error: "Property OrderHistory->id_order_state is not valid"')


def _history_after_create(sandbox, shop, history, body, send_email):
    """OrderHistory::addWs: the order follows the new state and its date_upd moves; `sendemail=1` mails the
    customer the state's template (addWithemail)."""
    order = Order.objects.select_for_update().get(sandbox=sandbox, pk=history.id_order)
    state = OrderState.objects.get(sandbox=sandbox, pk=history.id_order_state)
    follow_state(sandbox, shop, order, state, send_email)
    announce_state_change(sandbox, order)


def _order_carrier_links(sandbox, order_carrier, body):
    """Stricter than PrestaShop, which only checks that the ids are unsigned integers: a row pointing at a missing
    order or carrier is refused, so a client's wrong id shows at once (documented in docs/sandboxes)."""
    if not Order.objects.filter(sandbox=sandbox, pk=order_carrier.id_order).exists():
        raise ApiError(400, 85, 'Validation error: "Property OrderCarrier->id_order is not valid"')
    if not Carrier.objects.filter(sandbox=sandbox, pk=order_carrier.id_carrier).exists():
        raise ApiError(400, 85, 'Validation error: "Property OrderCarrier->id_carrier is not valid"')


def _order_carrier_after_create(sandbox, shop, order_carrier, body, send_email):
    sync_shipping_number(sandbox, order_carrier.id_order)  # OrderCarrier::add mails nobody, whatever sendemail says


def _order_carrier_after_update(sandbox, shop, order_carrier, before, send_email):
    """OrderCarrier::updateWs: the row only — the order's date_upd does not move. With `sendemail=1` the customer
    gets the "in transit" mail, when the order's carrier has a tracking URL."""
    sync_shipping_number(sandbox, order_carrier.id_order)
    if not send_email:
        return
    order = Order.objects.filter(sandbox=sandbox, pk=order_carrier.id_order).first()
    carrier = Carrier.objects.filter(sandbox=sandbox, pk=order.id_carrier).first() if order else None
    if carrier is not None and carrier.url:
        record_mail(sandbox, shop, order, "in_transit", "Package in transit")


def sync_shipping_number(sandbox, order_id):
    """orders.shipping_number as the webservice shows it: the first order_carriers row's tracking number. Written
    with update() so the order's date_upd stays as it is."""
    first = OrderCarrier.objects.filter(sandbox=sandbox, id_order=order_id).order_by("id").first()
    if first is not None:
        Order.objects.filter(sandbox=sandbox, pk=order_id).update(shipping_number=first.tracking_number)


def _product_after_create(sandbox, shop, product, body, send_email):
    StockAvailable.objects.create(sandbox=sandbox, id_product=product.id, id_product_attribute=0,
                                  id_shop=1, quantity=0, depends_on_stock=False, out_of_stock=2)


def _combination_after_create(sandbox, shop, combination, body, send_email):
    StockAvailable.objects.create(sandbox=sandbox, id_product=combination.id_product,
                                  id_product_attribute=combination.id, id_shop=1, quantity=0,
                                  depends_on_stock=False, out_of_stock=2)
    sum_combinations(sandbox, combination.id_product)  # StockAvailable::add runs postSave too
    update_default_combination(sandbox, combination.id_product)  # Combination::add → updateDefaultAttribute


def _combination_after_update(sandbox, shop, combination, before, send_email):
    update_default_combination(sandbox, combination.id_product)
    if before["id_product"] != combination.id_product:  # its stock row follows it (sandbox choice)
        StockAvailable.objects.filter(sandbox=sandbox, id_product_attribute=combination.id).update(
            id_product=combination.id_product)
        CombinationOptionValue.objects.filter(sandbox=sandbox, id_combination=combination.id).update(
            id_product=combination.id_product)
        for product_id in (before["id_product"], combination.id_product):
            sum_combinations(sandbox, product_id)
            update_default_combination(sandbox, product_id)


def refresh_product_quantity(sandbox, product_id):
    """The product's read-only `quantity` is its own stock row's (StockAvailable::getQuantityAvailableByProduct
    with id_product_attribute 0); 0 when it has none."""
    row = StockAvailable.objects.filter(sandbox=sandbox, id_product=product_id, id_product_attribute=0).first()
    Product.objects.filter(sandbox=sandbox, pk=product_id).update(quantity=row.quantity if row else 0)


def sum_combinations(sandbox, product_id):
    """StockAvailable::postSave after a combination's row is saved: the product's row (id_product_attribute 0)
    becomes the sum of its combinations' rows, through setQuantity — which does nothing when that row
    depends_on_stock, and creates the row (out_of_stock 0) when the product has none."""
    total = (StockAvailable.objects.filter(sandbox=sandbox, id_product=product_id)
             .exclude(id_product_attribute=0).aggregate(total=Sum("quantity"))["total"] or 0)
    row = StockAvailable.objects.select_for_update().filter(sandbox=sandbox, id_product=product_id,
                                                            id_product_attribute=0).first()
    if row is None:
        row = StockAvailable.objects.create(sandbox=sandbox, id_product=product_id, id_product_attribute=0,
                                            id_shop=1, quantity=total, depends_on_stock=False, out_of_stock=0)
        log_stock_write(sandbox, row, 0, "sum")
    elif not row.depends_on_stock:
        previous, row.quantity = row.quantity, total
        row.save(update_fields=["quantity"])
        log_stock_write(sandbox, row, previous, "sum")
    refresh_product_quantity(sandbox, product_id)


def log_stock_write(sandbox, row, previous, cause):
    StockWrite.objects.create(sandbox=sandbox, id_stock_available=row.id, id_product=row.id_product,
                              id_product_attribute=row.id_product_attribute, quantity=row.quantity,
                              previous_quantity=previous, cause=cause)


def _stock_before_update(sandbox, stock, body):
    """What ObjectModel::validateField and StockAvailable::updateWs refuse: a required field sent empty (left out
    is 41, see _assign), and any write to a row that depends on stock (advanced stock management) — judged on the
    row as the body leaves it, as PrestaShop does."""
    for name in ("quantity", "depends_on_stock", "out_of_stock"):
        if name in body.values and not str(body.values[name]).strip():
            raise ApiError(400, 85, f'Validation error: "Property StockAvailable->{name} is empty."')
    if stock.depends_on_stock:
        raise ApiError(500, 133, "You cannot update the available stock when it depends on stock.")


def _stock_after_update(sandbox, shop, stock, before, send_email):
    log_stock_write(sandbox, stock, before["quantity"], getattr(stock, "ws_method", "PUT"))
    if stock.id_product_attribute:
        sum_combinations(sandbox, stock.id_product)
    else:
        refresh_product_quantity(sandbox, stock.id_product)
    if before["id_product"] != stock.id_product:  # a PUT may move a row to another product
        refresh_product_quantity(sandbox, before["id_product"])


CATALOG_LINKS = {
    "specific_prices": _specific_price_links, "combinations": _combination_links,
    "product_option_values": _value_links("id_attribute_group", ProductOption, "ProductAttribute"),
    "product_feature_values": _value_links("id_feature", ProductFeature, "FeatureValue"),
}
BEFORE_CREATE = {"orders": _order_before_create, "order_histories": _history_before_create,
                 "order_carriers": _order_carrier_links,
                 "customers": lambda sandbox, customer, body: _customer_secrets(customer), **CATALOG_LINKS}
BEFORE_UPDATE = {"order_carriers": _order_carrier_links, "stock_availables": _stock_before_update, **CATALOG_LINKS}
AFTER_CREATE = {"orders": _order_after_create, "order_histories": _history_after_create,
                "order_carriers": _order_carrier_after_create,
                "products": _product_after_create, "combinations": _combination_after_create}
AFTER_UPDATE = {"orders": _order_after_update, "stock_availables": _stock_after_update,
                "order_carriers": _order_carrier_after_update, "combinations": _combination_after_update}


def _customer_secrets(customer):
    customer.passwd = fake_password_hash()  # PrestaShop stores a hash of what was posted; we store a fake one
    customer.secure_key = customer.secure_key or secrets.token_hex(16)
