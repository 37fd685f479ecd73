"""Idempotency-Key on writes: the same key within 24 hours replays the first answer instead of writing again.

The record is inserted in the same transaction as the write it guards. A second request with the same key that
arrives while the first is still running blocks on the unique index until the first commits, then fails to
insert and replays the committed answer; if the first rolled back, the second simply goes ahead. So two
simultaneous requests can never both write.

Only successful answers (2xx) are remembered: a request refused by validation leaves no trace, so the caller may
correct the body and retry with the same key. Without a key nothing is de-duplicated.
"""

import hashlib
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from sandbox.tims.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAY_WINDOW = timedelta(hours=24)
MAX_KEY_LENGTH = 255
KEPT_HEADERS = ("ETag", "Location")


class KeyProblem(Exception):
    """The key is unusable (status 400) or reused for a different request (409)."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def fingerprint(request):
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    digest.update(request.body)
    return digest.hexdigest()


def run(request, sandbox, handler):
    """Answer a write through `handler()` (which returns an HttpResponse), honouring the Idempotency-Key."""
    key = request.headers.get(HEADER)
    if key is None:
        with transaction.atomic():
            return _rollback_unless_ok(handler())
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise KeyProblem(400, "invalid_header", f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.")
    request_fingerprint = fingerprint(request)
    with transaction.atomic():
        IdempotencyRecord.objects.filter(sandbox=sandbox, key=key,
                                         created_at__lt=timezone.now() - REPLAY_WINDOW).delete()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(sandbox=sandbox, key=key, fingerprint=request_fingerprint,
                                                          method=request.method, path=request.path[:300])
        except IntegrityError:
            return _replay(IdempotencyRecord.objects.get(sandbox=sandbox, key=key), request_fingerprint)
        response = _rollback_unless_ok(handler())
        if response.status_code < 300:
            record.status_code = response.status_code
            record.response_body = response.content.decode()
            record.response_headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
            record.save(update_fields=["status_code", "response_body", "response_headers"])
        return response


def _rollback_unless_ok(response):
    # A refused write must leave nothing behind: no half-made rows, no idempotency record.
    if response.status_code >= 300:
        transaction.set_rollback(True)
    return response


def _replay(record, request_fingerprint):
    if record.fingerprint != request_fingerprint:
        raise KeyProblem(409, "idempotency_key_reused",
                         f"This {HEADER} was already used for a different request ({record.method} {record.path} "
                         "with another body); use a new key for a new request.")
    response = HttpResponse(record.response_body, status=record.status_code,
                            content_type="application/json; charset=utf-8")
    for name, value in record.response_headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response
