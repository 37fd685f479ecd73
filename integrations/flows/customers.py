"""Channel buyers ↔ TIMS customers: each buyer is one TIMS customer, found before one is ever made twice, and kept
in step with what the channel says under a policy staff set.

Finding (for every new order): the buyer's link (by the channel's customer id, else the normalized e-mail) → a
person's decision on a likely duplicate → TIMS by e-mail → TIMS customers with the same phone or postal code,
scored: close enough is linked, near is a review for a person (the order waits on a hold), else a new customer.

Keeping in step: PrestaShop customers and addresses changed (by date_upd, their own flow) and the buyer details on
each new order compare with the TIMS customer; fields the policy gives the channel are PATCHed with If-Match, the
others are kept, and every difference is logged (Customers › Customer changes).
"""

import hashlib
import json
from dataclasses import replace
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from customers import matching
from customers.models import BuyerLink, CustomerChange, CustomerMatch, LinkedBy, MatchStatus
from integrations.connectors import errors
from integrations.connectors.cache import BoundedTTLCache
from integrations.connectors.checks import client_for
from integrations.connectors.tims import parsers as tims_parsers
from integrations.flows import registry
from integrations.pipeline import records
from integrations.pipeline.outcomes import Hold, Rejected, Skipped

NEW_CUSTOMER = "<new customer>"  # the customer a shadow run would create (it creates none)
FIELDS = ("Name", "Email", "Phone", "BillingAddress")
# Who wins per field when the channel and TIMS differ: TIMS keeps the name staff gave the account; the buyer's own
# contact details and address come from the channel. An integration's option `customer_updates` overrides it.
DEFAULT_POLICY = {"Name": "tims", "Email": "channel", "Phone": "channel", "BillingAddress": "channel"}
SIDES = ("tims", "channel")
REVIEW_RECHECK = timedelta(minutes=30)
REVIEW_DAYS = 7

_codes = BoundedTTLCache(max_items=20_000, ttl_seconds=600)  # (integration, *buyer keys) → TIMS customer code


# ---- finding the TIMS customer -----------------------------------------------------------------------------------

def resolve_customer(tims, integration, order, record, create=True):
    """The TIMS customer code for this order's buyer; guest checkouts go to the connection's default customer."""
    buyer = buyer_of(order)
    default_code = integration.tims_connection.settings.get("default_customer_code")
    is_guest = buyer is None or not buyer.email or str(buyer.extra.get("is_guest", "0")) == "1"
    if is_guest and default_code:
        return default_code
    if buyer is None or not buyer.email:
        raise Rejected(f"Order {order.number or order.source_id} has no customer email and the TIMS connection has "
                       "no default customer code.", fix="Set a default customer code on the TIMS connection.")
    keys = matching.buyer_keys(buyer)
    cached = _codes.get((integration.pk, *keys))  # a buyer with a new e-mail is looked up (and linked) again
    if cached:
        return cached
    code = linked_code(integration, keys, record)
    if code is None:
        code = find_or_create(tims, integration, buyer, keys, record, create)
    if code != NEW_CUSTOMER:
        _codes.set((integration.pk, *keys), code)
    return code


def buyer_of(order):
    """The buyer with the address this order is billed to: the details a TIMS customer is made from and compared
    with."""
    if order.customer is None or order.billing_address is None:
        return order.customer
    return replace(order.customer, billing_address=order.billing_address,
                   phone=order.customer.phone or order.billing_address.phone)


def linked_code(integration, keys, record=None):
    """The code a key of this buyer is linked to (the strongest key first); the other keys are linked to it too,
    so a buyer who changes e-mail stays one customer, and one found by e-mail is then found by id."""
    links = {link.buyer_key: link for link in BuyerLink.objects.filter(integration=integration, buyer_key__in=keys)}
    found = next((links[key] for key in keys if key in links), None)
    if found is None:
        return None
    if record is not None and not record.shadow:
        for key in keys:
            if key not in links:
                link_buyer(integration, [key], found.customer_code, found.linked_by, record, score=found.score)
    return found.customer_code


def link_buyer(integration, keys, code, how, record, *, score=None, digest=""):
    for key in keys:
        try:
            with transaction.atomic():
                BuyerLink.objects.get_or_create(integration=integration, buyer_key=key, defaults={
                    "customer_code": code, "linked_by": how, "score": score, "details_digest": digest,
                    "record": record})
        except IntegrityError:
            pass  # another worker linked this key meanwhile: its link stands


def find_or_create(tims, integration, buyer, keys, record, create):
    decided = (CustomerMatch.objects.filter(integration=integration, buyer_key__in=keys)
               .exclude(status=MatchStatus.OPEN).order_by("-decided_at").first())
    if decided is not None and decided.status == MatchStatus.CREATED:
        return created(tims, integration, buyer, keys, record, create)
    if not record.shadow:
        waiting_on_review(integration, keys, record)
    found = tims.find_customer(buyer.email.strip())
    if found is not None:
        note_name_difference(record, buyer, found)
        if not record.shadow:
            link_buyer(integration, keys, found.source_id, LinkedBy.EMAIL, record)
        return found.source_id
    me = matching.profile(buyer)
    alike = tims.customers_alike(phone=me["phone"], postal_code=me["postal_code"])
    candidates = matching.ranked(me, [{**matching.profile(c), "name": c.company, "code": c.source_id}
                                      for c in alike if c.source_id != default_code(integration)])
    best = candidates[0] if candidates else None
    threshold = integration.option("customer_match_link_at") or matching.LINK_AT
    review_at = integration.option("customer_match_review_at") or matching.REVIEW_AT
    if best and best["score"] >= threshold:
        if not record.shadow:
            link_buyer(integration, keys, best["code"], LinkedBy.MATCHED, record, score=best["score"])
            records.save_fields(record, notes=f"The buyer {me['name']} <{buyer.email}> is TIMS customer "
                                              f"{best['code']} ({best['score']} %: {', '.join(best['reasons'])}).")
        return best["code"]
    if best and best["score"] >= review_at and create:
        raise review(integration, buyer, keys, me, candidates, record)
    return created(tims, integration, buyer, keys, record, create)


def default_code(integration):
    return integration.tims_connection.settings.get("default_customer_code") or ""


def created(tims, integration, buyer, keys, record, create):
    if not create:
        return NEW_CUSTOMER
    email = buyer.email.strip().lower()
    found = create_customer(tims, integration, buyer, email)
    link_buyer(integration, keys, found.source_id, LinkedBy.CREATED, record, digest=details_digest(buyer))
    return found.source_id


def create_customer(tims, integration, buyer, email):
    """One TIMS customer per email, even when a new buyer's first orders run at once: both send the same
    Idempotency-Key, and the one TIMS answers 409 (the other request is in flight) looks the customer up again."""
    try:
        return tims.create_customer(buyer, key=f"customer:{integration.tims_connection_id}:{email}")
    except errors.Conflict as exc:
        found = tims.find_customer(email)
        if found is None:
            raise errors.TransientError(f"TIMS is still creating the customer for {email}; tried again shortly.",
                                        system="TIMS", retry_after=2) from exc
        return found


def waiting_on_review(integration, keys, record):
    """An open review of this buyer holds the order (and adds it to the orders the decision releases)."""
    with transaction.atomic():
        match = (CustomerMatch.objects.select_for_update()
                 .filter(integration=integration, buyer_key__in=keys, status=MatchStatus.OPEN).first())
        if match is None:
            return
        if record.pk not in match.waiting:
            match.waiting = [*match.waiting, record.pk]
            match.save(update_fields=["waiting"])
    raise held(match)


def review(integration, buyer, keys, me, candidates, record):
    """A person decides whether this buyer is a TIMS customer already: one open review per buyer."""
    near = [c for c in candidates if c["score"] >= matching.REVIEW_AT // 2][:5]
    try:
        with transaction.atomic():
            match, _ = CustomerMatch.objects.get_or_create(
                integration=integration, buyer_key=keys[0], status=MatchStatus.OPEN,
                defaults={"buyer": {**me, "keys": keys, "source_id": buyer.source_id}, "candidates": near,
                          "best_code": near[0]["code"], "best_score": near[0]["score"], "record": record,
                          "waiting": [record.pk]})
    except IntegrityError:
        match = CustomerMatch.objects.get(integration=integration, buyer_key=keys[0], status=MatchStatus.OPEN)
    return held(match)


def held(match):
    best = match.candidates[0] if match.candidates else {}
    return Hold(f"The buyer {match.buyer.get('name')} <{match.buyer.get('email')}> may be TIMS customer "
                f"{match.best_code} “{best.get('name', '')}” ({match.best_score} %: "
                f"{', '.join(best.get('reasons', []))}), but not surely. The order waits for a person to decide.",
                recheck_after=REVIEW_RECHECK, give_up_at=match.created_at + timedelta(days=REVIEW_DAYS),
                fix=f"Open Customers › Likely duplicate customers › #{match.pk}: link the buyer to the existing "
                    "customer, or create a new one. The order goes on by itself.")


def note_name_difference(record, buyer, found):
    """Same e-mail, another name: noted for staff (the policy decides whether TIMS's name changes)."""
    theirs = " ".join(filter(None, [buyer.first_name, buyer.last_name])).strip()
    if theirs and found.company and theirs.lower() != found.company.lower():
        records.save_fields(record, notes=f"TIMS customer {found.source_id} has this e-mail under the name "
                                          f"“{found.company}”; the order says “{theirs}”.")


def forget_customer(integration, code):
    """TIMS no longer knows this code (someone deleted the customer): its buyers are found again next time."""
    _codes.discard_where(lambda key: key[0] == integration.pk)
    BuyerLink.objects.filter(integration=integration, customer_code=code).delete()


# ---- keeping the TIMS customer in step ---------------------------------------------------------------------------

def policy(integration):
    value = integration.option("customer_updates") or {}
    if value in SIDES:
        return dict.fromkeys(FIELDS, value)
    return {**DEFAULT_POLICY, **(value if isinstance(value, dict) else {})}


def policy_problems(value):
    """What is wrong with an integration's `customer_updates` option, in words (empty when it is right)."""
    if value in SIDES:
        return []
    if not isinstance(value, dict):
        return ["customer_updates is “tims”, “channel”, or per field, e.g. {\"Phone\": \"channel\"}."]
    return [f"customer_updates: {field} must be one of {', '.join(FIELDS)}, set to “tims” or “channel”."
            for field, side in value.items() if field not in FIELDS or side not in SIDES]


def channel_values(buyer):
    body = tims_parsers.customer_body(buyer)
    address = body.get("BillingAddress") or {}
    phone = buyer.phone or next((a.phone for a in [buyer.billing_address, *buyer.shipping_addresses] if a and a.phone),
                                "")
    values = {"Name": body.get("Name") or "", "Email": (buyer.email or "").strip(), "Phone": phone,
              "BillingAddress": comparable_address(address)}
    return {field: value for field, value in values.items() if value}


def comparable_address(body):
    return {k: (body or {}).get(k) or "" for k in ("Line1", "Line2", "City", "State", "PostalCode", "Country")} if (
        body and (body.get("Line1") or body.get("City"))) else {}


def tims_values(customer):
    return {"Name": customer.company, "Email": customer.email, "Phone": customer.phone,
            "BillingAddress": comparable_address(tims_parsers.address_body(customer.billing_address))}


def details_digest(buyer):
    return hashlib.sha256(json.dumps(channel_values(buyer), sort_keys=True).encode()).hexdigest()


def shown(value):
    if isinstance(value, dict):
        return ", ".join(v for v in value.values() if v)
    return str(value or "")


def keep_in_step(tims, integration, record, buyer, code, source):
    """Compare the channel's details of a buyer with their TIMS customer, once per change of those details."""
    if not buyer or not buyer.email or code in (NEW_CUSTOMER, default_code(integration)):
        return
    keys = matching.buyer_keys(buyer)
    digest = details_digest(buyer)
    link = BuyerLink.objects.filter(integration=integration, buyer_key=keys[0]).first()
    if link is None or link.details_digest == digest:
        return
    current = tims.get_customer(code)
    wanted, theirs, sides = channel_values(buyer), tims_values(current), policy(integration)
    differ = [field for field in FIELDS if field in wanted and wanted[field] != theirs.get(field)]
    changes = {field: wanted[field] for field in differ if sides[field] == "channel"}
    if changes and not record.shadow:
        body = {**changes}
        if "BillingAddress" in body:  # the address's own name line stays as TIMS has it
            body["BillingAddress"] = {**(tims_parsers.address_body(current.billing_address) or {}),
                                      **body["BillingAddress"]}
        try:
            tims.update_customer(code, body, version=current.version)  # a stale version: re-read, decided again
        except errors.ValidationFailed as exc:  # the order goes on; the details wait for a person
            records.save_fields(record, notes=f"TIMS refused to update customer {code} ({exc}); the order went on. "
                                              "Correct the customer in TIMS or in the channel.")
            return
    if record.shadow:
        if changes:
            records.save_fields(record, notes=f"Shadow mode: would update TIMS customer {code}: "
                                              + ", ".join(changes) + ".")
        return
    with transaction.atomic():
        CustomerChange.objects.bulk_create([CustomerChange(
            integration=integration, customer_code=code, field=field, before=shown(theirs.get(field)),
            after=shown(wanted[field]), applied=field in changes, source=source[:200], record=record)
            for field in differ])
        BuyerLink.objects.filter(pk=link.pk).update(details_digest=digest, updated_at=timezone.now())
    if differ:
        said = "; ".join(f"{field} “{shown(theirs.get(field))}” → “{shown(wanted[field])}”" for field in changes)
        kept = ", ".join(field for field in differ if field not in changes)
        records.save_fields(record, notes=(f"Updated TIMS customer {code}: {said}." if said else "")
                            + (f" Kept TIMS's {kept} (the integration's policy: TIMS wins)." if kept else ""))


# ---- the flow: PrestaShop customer changes → TIMS ---------------------------------------------------------------

def update_customer(record):
    """A shop customer (or one of their addresses) changed: their TIMS customer follows, under the policy."""
    integration = record.integration
    shop = client_for(integration.channel_connection, lane=CUSTOMERS.lane)
    buyer = shop.read_customer(record.source_id)
    if buyer is None:
        raise Skipped(f"PrestaShop customer {record.source_id} no longer exists: TIMS keeps its customer.")
    records.save_fields(record, source_payload=buyer.to_dict(),
                        reference=f"{buyer.first_name} {buyer.last_name} <{buyer.email}>"[:100])
    keys = matching.buyer_keys(buyer)
    code = linked_code(integration, keys, record)
    if code is None:
        raise Skipped(f"PrestaShop customer {record.source_id} has no TIMS customer yet: one is found or made with "
                      "their first order.")
    records.save_fields(record, target_id=code)
    tims = client_for(integration.tims_connection, lane=CUSTOMERS.lane)
    keep_in_step(tims, integration, record, buyer, code, source=f"PrestaShop customer {record.source_id}")


CUSTOMERS = registry.declare(registry.Flow(
    name="customers", label="Customer changes into TIMS", source=registry.CHANNEL, target=registry.TIMS,
    entity_type="customer",
    triggers=(registry.Poll("customers", position="watermark", kinds=("prestashop",)),),
    step=update_customer, lane="normal", supersedes=True,
    templates={"prestashop_tims": True},
))
