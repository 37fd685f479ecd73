"""Settings, read from the environment (see docs/configuration.md for every variable)."""

import os
import re
import zoneinfo
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from portal.env import DEV_SECRET_KEY, development_encryption_key, parse_bool, parse_int, parse_list

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = parse_bool("DJANGO_DEBUG", os.environ.get("DJANGO_DEBUG"), default=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or DEV_SECRET_KEY
SECRET_KEY_IS_DEFAULT = SECRET_KEY == DEV_SECRET_KEY

ALLOWED_HOSTS = parse_list(os.environ.get("DJANGO_ALLOWED_HOSTS")) or (
    ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)

# Comma-separated Fernet keys: the first encrypts, all decrypt (rotation keeps old keys readable).
FIELD_ENCRYPTION_KEYS = parse_list(os.environ.get("FIELD_ENCRYPTION_KEYS"))
FIELD_ENCRYPTION_KEYS_ARE_DEFAULT = not FIELD_ENCRYPTION_KEYS
if not FIELD_ENCRYPTION_KEYS:
    FIELD_ENCRYPTION_KEYS = [development_encryption_key(SECRET_KEY)]

TIME_ZONE = os.environ.get("TIME_ZONE") or "UTC"
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"TIME_ZONE must be an IANA zone such as Europe/Paris, not {TIME_ZONE!r}.") from None
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = "en-us"

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_q",
    "portal",
    "integrations",
    "integrations.connectors",
    "mappings",
    "alerts",
    "jobs",
    "payouts",
    "accounts",
    "console",
    "setup",
    "api",
    "sandbox",
    "sandbox.prestashop",
    "sandbox.channeladvisor",
    "sandbox.tims",
    "finance",
    "reconciliation",
    "customers",
    "pricing",
    "catalog",
]

MIDDLEWARE = [
    "portal.errors.LocalTechnicalPagesMiddleware",  # with DEBUG on, error details only for this machine
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.site.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.db_url_config(os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs web and workers on one SQLite file: wait for locks, write-ahead log, take write locks up front.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL") or ""

Q_CLUSTER = {
    "name": "portal",
    "workers": parse_int("Q_WORKERS", os.environ.get("Q_WORKERS"), default=2, minimum=1),
    # A task running longer than `timeout` is killed; `retry` must be longer or a slow task runs twice.
    "timeout": parse_int("Q_TIMEOUT", os.environ.get("Q_TIMEOUT"), 120, 5),
    "retry": parse_int("Q_TIMEOUT", os.environ.get("Q_TIMEOUT"), 120, 5) + 60,
    "max_attempts": 1,  # our own sync records retry; the broker must not re-run a failed task blindly
    "catch_up": False,
    "save_limit": 1000,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["broker_class"] = "portal.broker.OrderedORM"  # oldest task first (see portal/broker.py)
    Q_CLUSTER["poll"] = 0.2

# A claimed record is taken back by the sweeper after this long; keep it above Q_CLUSTER["timeout"].
PIPELINE_LEASE_SECONDS = parse_int("PIPELINE_LEASE_SECONDS", os.environ.get("PIPELINE_LEASE_SECONDS"), 150, 5)
# A record whose worker stopped (killed, out of memory) this many times becomes a dead letter.
PIPELINE_MAX_WORKER_STOPS = parse_int(
    "PIPELINE_MAX_WORKER_STOPS", os.environ.get("PIPELINE_MAX_WORKER_STOPS"), 3, 1)
# First retry delay; each further attempt doubles it (with jitter), up to an hour.
PIPELINE_BACKOFF_BASE_SECONDS = parse_int(
    "PIPELINE_BACKOFF_BASE_SECONDS", os.environ.get("PIPELINE_BACKOFF_BASE_SECONDS"), 30, 1)

# Each worker process polls TIMS's event feeds this often (seconds) when webhooks did not ring them; 0 turns it off.
# A batch flow's new records (stock) wait up to this long for others to join their batch: fewer, fuller calls.
PIPELINE_BATCH_GATHER_SECONDS = parse_int(
    "PIPELINE_BATCH_GATHER_SECONDS", os.environ.get("PIPELINE_BATCH_GATHER_SECONDS"), 10, 0)
PIPELINE_FEED_POLL_SECONDS = parse_int(
    "PIPELINE_FEED_POLL_SECONDS", os.environ.get("PIPELINE_FEED_POLL_SECONDS"), 10, 0)

# Succeeded sync records older than this many days are pruned (0 keeps them forever). Failed ones never expire.
SUCCEEDED_RECORD_RETENTION_DAYS = parse_int(
    "SUCCEEDED_RECORD_RETENTION_DAYS", os.environ.get("SUCCEEDED_RECORD_RETENTION_DAYS"), 0, 0)

# A worker heartbeat older than this makes /healthz answer 503.
HEARTBEAT_MAX_AGE_SECONDS = parse_int("HEARTBEAT_MAX_AGE_SECONDS", os.environ.get("HEARTBEAT_MAX_AGE_SECONDS"), 180, 30)

# /metrics lets in a request bearing this token (Prometheus) besides company staff; empty: staff only.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or ""

# text: one plain line per log record; json: one JSON object per line, with the record's ids (portal/logging.py).
LOG_FORMAT = (os.environ.get("LOG_FORMAT") or "text").strip().lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}.")

# The address people open the portal at: links in alert messages start with it (empty: links are paths only).
PORTAL_BASE_URL = (os.environ.get("PORTAL_BASE_URL") or "").rstrip("/")

EMAIL_CONFIG = env.email_url_config(os.environ.get("EMAIL_URL") or "consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL") or "portal@localhost"

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# A username or an email address (case-insensitive) signs in, on the site and in the admin.
AUTHENTICATION_BACKENDS = ["accounts.backends.UsernameOrEmailBackend"]

# Customers sign in on the site's own pages; the admin keeps its own login.
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "accounts:login"

# The REST API (docs/api.md): `Authorization: Api-Key <key>`, or the session for the browsable API.
REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication",
                                       "rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_THROTTLE_CLASSES": ["api.plumbing.KeyRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["api.plumbing.StrictJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["api.plumbing.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.plumbing.handle_exception",
}
# Requests per key (or signed-in user) and period: "1200/min", "50/s"; empty: no limit.
API_THROTTLE_RATE = os.environ.get("API_THROTTLE_RATE", "1200/min").strip()
if API_THROTTLE_RATE and not re.fullmatch(r"[1-9][0-9]*/(s|sec|m|min|minute|h|hour|d|day)", API_THROTTLE_RATE):
    raise ImproperlyConfigured(f"API_THROTTLE_RATE must look like 1200/min or 20/s, not {API_THROTTLE_RATE!r}.")
# Event deliveries may go to loopback and private addresses (a receiver on this machine); off in production.
API_EVENTS_ALLOW_PRIVATE = parse_bool("API_EVENTS_ALLOW_PRIVATE", os.environ.get("API_EVENTS_ALLOW_PRIVATE"),
                                      default=DEBUG)
SPECTACULAR_SETTINGS = {
    "TITLE": "Integration portal API",
    "DESCRIPTION": "Connections, integrations, records and their failures, value maps, mapping preview, the audit "
                   "log and event deliveries of your organizations. Authenticate with `Authorization: Api-Key <key>` "
                   "(keys are made on your organization's Developers page). See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,  # write-only secrets appear in requests only
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our own static files: the browser may have no internet
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/",
    "ENUM_NAME_OVERRIDES": {"RecordStatusEnum": "integrations.models.RecordStatus",
                            "IntegrationStateEnum": "integrations.models.IntegrationState",
                            "ConnectionStatusEnum": "integrations.models.ConnectionStatus"},
}

# Request bodies above this are refused (webhooks and sandbox writes included).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_secrets": {"()": "portal.logging.MaskSecretsFilter"},
                "log_context": {"()": "portal.logging.LogContextFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
                   "json": {"()": "portal.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json" if LOG_FORMAT == "json" else "plain",
                             "filters": ["mask_secrets", "log_context"]}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = parse_bool("SECURE_SSL_REDIRECT", os.environ.get("SECURE_SSL_REDIRECT"), default=True)
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    SILENCED_SYSTEM_CHECKS = []
