"""A wizard's answers between steps, kept in the (database-backed) session.

Secrets typed in a step are encrypted with the portal's field key before they reach the session, so they are
encrypted at rest there as in the connection row, and they never travel to the browser. A draft is bound to the
user's session and to one organization; it lasts an hour and a session holds a few at most.
"""

import json
import secrets
import time

from portal import crypto

SESSION_KEY = "connection_wizards"
LIFETIME_SECONDS = 3600
MAX_DRAFTS = 5


class Draft(dict):
    """kind, organization (id), connection (id being changed, or None), name, base_url, sandbox (id or None),
    settings, found (what the probes saw), state (ChannelAdvisor's OAuth state), secrets (encrypted)."""

    @property
    def key(self):
        return self["key"]

    def organization_row(self):
        from portal.models import Organization

        return Organization.objects.filter(pk=self.get("organization")).first()

    def secrets(self) -> dict:
        return json.loads(crypto.decrypt(self["secrets"])) if self.get("secrets") else {}

    def set_secrets(self, values: dict):
        self["secrets"] = crypto.encrypt(json.dumps(values)) if values else ""


def _all(request):
    drafts = request.session.get(SESSION_KEY) or {}
    now = time.time()
    return {key: value for key, value in drafts.items() if value.get("created", 0) > now - LIFETIME_SECONDS}


def start(request, organization, kind, connection=None) -> Draft:
    drafts = _all(request)
    while len(drafts) >= MAX_DRAFTS:  # the oldest goes
        drafts.pop(min(drafts, key=lambda key: drafts[key]["created"]))
    draft = Draft(key=secrets.token_urlsafe(12), kind=kind, organization=organization.pk,
                  connection=connection.pk if connection else None, created=time.time(), name="", base_url="",
                  sandbox=None, settings={}, found={}, state="", secrets="")
    drafts[draft.key] = dict(draft)
    request.session[SESSION_KEY] = drafts
    return draft


def get(request, organization, key) -> Draft | None:
    value = _all(request).get(key)
    if value is None or value.get("organization") != organization.pk:
        return None
    return Draft(value)


def save(request, draft: Draft):
    drafts = _all(request)
    drafts[draft.key] = dict(draft)
    request.session[SESSION_KEY] = drafts


def drop(request, draft: Draft):
    drafts = _all(request)
    drafts.pop(draft.key, None)
    request.session[SESSION_KEY] = drafts


def new_state():
    return secrets.token_urlsafe(24)


def by_state(request, state) -> Draft | None:
    """The ChannelAdvisor draft whose OAuth state this is (compared in constant time), or None."""
    if not state:
        return None
    for value in _all(request).values():
        if value.get("state") and secrets.compare_digest(str(value["state"]), str(state)):
            return Draft(value)
    return None


def any_of_kind(request, kind) -> Draft | None:
    return next((Draft(value) for value in _all(request).values() if value.get("kind") == kind), None)
