"""Is this new buyer a TIMS customer already? Keys to link by, and a likeness score for the near misses.

A buyer is linked by the channel's own customer id, else by their e-mail normalized (case, a "+tag", Gmail's dots).
A new buyer is compared with the TIMS customers who share their phone or postal code: the same normalized e-mail
scores 100; otherwise half the score is how alike the names are (rapidfuzz, word order ignored), 30 points the same
phone number and 20 the same postal code (a phone says more of a person than a street does: two buyers of one
company at one address are not one buyer by that alone).
"""

import hashlib
import re
import unicodedata

from rapidfuzz import fuzz

LINK_AT = 90  # at or above: the same customer, linked without asking
REVIEW_AT = 75  # at or above (and under LINK_AT): a person decides; under it: a new customer
GMAIL = {"gmail.com", "googlemail.com"}
KEY_LENGTH = 120


def normalized_email(email):
    email = (email or "").strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return email
    local = local.split("+", 1)[0] or local
    if domain in GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def _key(kind, value):
    key = f"{kind}:{value}"
    return key if len(key) <= KEY_LENGTH else f"{kind}#" + hashlib.sha256(value.encode()).hexdigest()


def buyer_keys(buyer):
    """The keys a buyer is linked by, the strongest first: the channel's customer id, then the normalized e-mail.
    (ChannelAdvisor names a buyer by e-mail when the marketplace gives no user id: that is the e-mail key.)"""
    email = normalized_email(buyer.email)
    keys = []
    own_id = str(buyer.source_id or "").strip()
    if own_id and own_id.lower() != (buyer.email or "").strip().lower():
        keys.append(_key("id", own_id))
    if email:
        keys.append(_key("email", email))
    return keys


def digits(phone):
    return re.sub(r"\D", "", phone or "")


def same_phone(a, b):
    """The same number written differently ("+1 (555) 010-2000" and "555 010 2000"): the last 10 digits agree."""
    a, b = digits(a)[-10:], digits(b)[-10:]
    return len(a) >= 7 and a == b


def postal(value):
    return re.sub(r"[\s-]", "", value or "").upper()


def plain_name(value):
    decomposed = unicodedata.normalize("NFKD", value or "")
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().split())


def profile(buyer):
    """What is compared of a canonical customer (a channel buyer or a TIMS customer); the name is the one a TIMS
    customer made from them would carry (the company's, else the person's)."""
    address = buyer.billing_address or (buyer.shipping_addresses or [None])[0]
    name = buyer.company or " ".join(p for p in (buyer.first_name, buyer.last_name) if p)  # as TIMS names them
    return {"name": name or "", "email": buyer.email or "", "phone": buyer.phone or (address.phone if address else ""),
            "postal_code": address.postal_code if address else "", "city": address.city if address else "",
            "line1": address.line1 if address else "", "country": address.country if address else ""}


def likeness(buyer, candidate):
    """(score 0–100, the reasons in words) for two profiles."""
    if buyer["email"] and normalized_email(buyer["email"]) == normalized_email(candidate["email"]):
        return 100, ["the same e-mail once normalized"]
    name_score = fuzz.token_sort_ratio(plain_name(buyer["name"]), plain_name(candidate["name"]))
    reasons = [f"names {round(name_score)} % alike"]
    score = name_score / 2
    if postal(buyer["postal_code"]) and postal(buyer["postal_code"]) == postal(candidate["postal_code"]):
        score += 20
        reasons.append("the same postal code")
    if same_phone(buyer["phone"], candidate["phone"]):
        score += 30
        reasons.append("the same phone")
    return round(score), reasons


def ranked(buyer, candidates):
    """Candidates (profiles with a "code") scored against the buyer, best first, each with its score and reasons."""
    scored = []
    for candidate in candidates:
        score, reasons = likeness(buyer, candidate)
        scored.append({**candidate, "score": score, "reasons": reasons})
    return sorted(scored, key=lambda c: (-c["score"], c["code"]))
