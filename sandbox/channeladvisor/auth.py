"""OAuth 2.0 as ChannelAdvisor does it: applications with a shared secret, refresh tokens, short-lived bearer
access tokens, and the authorization-code flow of the self-service page. Only hashes of secrets are stored."""

import base64
import binascii
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from sandbox import core
from sandbox.channeladvisor.models import AccessToken, Application, AuthorizationCode, Config
from sandbox.models import digest

SYSTEM = "channeladvisor"
# "Authorization codes are valid for 5 minutes and may only be exchanged once" (developer.channeladvisor.com).
CODE_LIFETIME = timedelta(minutes=5)
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def config_for(sandbox):
    return Config.objects.get_or_create(sandbox=sandbox)[0]


def new_application(sandbox, name=""):
    """A fresh application with its shared secret and a refresh token; returns (application, secret, refresh)."""
    application = Application.objects.create(sandbox=sandbox, application_id=secrets.token_hex(16), name=name)
    shared_secret = core.new_secret()
    core.store_secret(sandbox, SYSTEM, "shared_secret", shared_secret, identifier=application.application_id)
    return application, shared_secret, new_refresh_token(application)


def redirect_uri_problem(uri):
    """Why a redirect URI cannot be registered, or None. ChannelAdvisor wants HTTPS; the sandbox also takes plain
    http on a loopback host, where the demo and the tests run."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(uri) > 1000:
        return f"“{uri[:100]}” is not an absolute https URL."
    if parts.fragment:
        return f"“{uri[:100]}” must not carry a #fragment."
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return f"“{uri[:100]}” must use https (plain http only on localhost or 127.0.0.1)."
    return None


def register_redirect_uri(application, uri):
    """Add a redirect URI to the application (what a developer does in the developer console)."""
    problem = redirect_uri_problem(uri)
    if problem:
        raise ValueError(problem)
    if uri not in application.registered_redirect_uris():
        application.redirect_uris = "\n".join([*application.registered_redirect_uris(), uri])
        application.save(update_fields=["redirect_uris"])
    return application


def new_refresh_token(application):
    token = core.new_secret(32)
    core.store_secret(application.sandbox, SYSTEM, "refresh_token", token, identifier=application.application_id)
    return token


def basic_credentials(request):
    """(application_id, shared_secret) from `Authorization: Basic ...`, or None."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    application_id, separator, secret = decoded.partition(":")
    return (application_id, secret) if separator else None


def client_application(sandbox, request):
    """The application whose ID and shared secret the Basic header carries, or None."""
    credentials = basic_credentials(request)
    if credentials is None:
        return None
    application_id, secret = credentials
    if not core.secret_matches(sandbox, SYSTEM, "shared_secret", secret, identifier=application_id):
        return None
    return Application.objects.filter(sandbox=sandbox, application_id=application_id).first()


def refresh_token_matches(application, token):
    return core.secret_matches(application.sandbox, SYSTEM, "refresh_token", token,
                               identifier=application.application_id)


def issue_access_token(application, config):
    token = core.new_secret(32)
    AccessToken.objects.create(sandbox=application.sandbox, application=application, token_hash=digest(token),
                               expires_at=timezone.now() + timedelta(seconds=config.access_token_seconds))
    return token


def bearer_application(sandbox, request):
    """The application of a live access token (`Authorization: Bearer` or `?access_token=`), or None."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else request.GET.get("access_token", "")
    if not token:
        return None
    row = (AccessToken.objects.select_related("application")
           .filter(sandbox=sandbox, token_hash=digest(token), expires_at__gt=timezone.now()).first())
    return row.application if row else None


def new_authorization_code(application, redirect_uri):
    code = core.new_secret(24)
    AuthorizationCode.objects.create(sandbox=application.sandbox, application=application, code_hash=digest(code),
                                     redirect_uri=redirect_uri, expires_at=timezone.now() + CODE_LIFETIME)
    return code


def redeem_code(application, code, redirect_uri):
    """True once per valid code: the conditional UPDATE makes a second redemption (even a concurrent one) fail."""
    with transaction.atomic():
        used = (AuthorizationCode.objects
                .filter(application=application, code_hash=digest(code or ""), redirect_uri=redirect_uri,
                        used=False, expires_at__gt=timezone.now())
                .update(used=True))
    return used == 1
