"""Production refuses to start with development secrets, and passes Django's deploy checks when configured."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from django.test import override_settings

from portal.checks import production_secrets

ROOT = Path(__file__).resolve().parents[2]


def ids(errors):
    return {error.id for error in errors}


@override_settings(DEBUG=False, SECRET_KEY_IS_DEFAULT=True, FIELD_ENCRYPTION_KEYS_ARE_DEFAULT=True)
def test_production_without_secrets_is_refused():
    assert ids(production_secrets(None)) == {"portal.E001", "portal.E002"}


@override_settings(DEBUG=True, SECRET_KEY_IS_DEFAULT=True, FIELD_ENCRYPTION_KEYS_ARE_DEFAULT=True)
def test_development_runs_on_its_defaults():
    assert production_secrets(None) == []


def run_check(extra_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIELD_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "portal.settings", "DATABASE_URL": "sqlite:////tmp/portal-check.sqlite3"},
               **extra_env)
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_variables():
    result = run_check({
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "k" * 20 + Fernet.generate_key().decode() + "-production-secret-value",
        "DJANGO_ALLOWED_HOSTS": "portal.example.com",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    })
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_fails_in_production_without_the_secrets():
    result = run_check({"DJANGO_DEBUG": "false", "DJANGO_ALLOWED_HOSTS": "portal.example.com"})
    assert result.returncode != 0
    assert "portal.E001" in result.stderr and "portal.E002" in result.stderr


def test_a_misspelt_boolean_stops_the_start():
    result = run_check({"DJANGO_DEBUG": "flase"})
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be one of" in result.stderr
