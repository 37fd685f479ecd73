"""Test settings: the suite runs on PostgreSQL unless DATABASE_URL says otherwise."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal")

from portal.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user creation in tests only

# Live-server threads keep no connection open past their request, so the test database can always be dropped.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# Tests drive the workers themselves: records are due as soon as they are received.
PIPELINE_BATCH_GATHER_SECONDS = 0
