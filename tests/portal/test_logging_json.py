"""JSON log lines: valid JSON, the ids of the work in hand, secrets masked; LOG_FORMAT switches them on."""

import io
import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime

import pytest
from django.conf import settings
from django.utils import timezone

from portal.logging import JsonFormatter, LogContextFilter, log_context
from tests.factories import SECRET_WS_KEY


@pytest.fixture
def json_lines():
    """A logger writing through the JSON formatter and the context filter, as LOG_FORMAT=json configures them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(LogContextFilter())
    logger = logging.getLogger("tests.json_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_each_line_is_json_with_the_context_ids(json_lines):
    logger, lines = json_lines
    with log_context(record_id=42, correlation_id="c0ffee"):
        logger.warning("TIMS answered %s", 503)
    logger.info("outside")

    inside, outside = lines()
    assert inside["message"] == "TIMS answered 503"
    assert inside["level"] == "WARNING"
    assert inside["logger"] == "tests.json_logs"
    assert inside["record_id"] == 42
    assert inside["correlation_id"] == "c0ffee"
    moment = datetime.fromisoformat(inside["time"])
    assert moment.utcoffset().total_seconds() == 0
    assert abs((timezone.now() - moment).total_seconds()) < 60
    assert "record_id" not in outside and "correlation_id" not in outside  # the block's ids ended with it


def test_inner_context_adds_to_the_outer_and_explicit_ids_win(json_lines):
    logger, lines = json_lines
    with log_context(correlation_id="outer"):
        with log_context(record_id=7):
            logger.info("both")
        logger.info("explicit", extra={"correlation_id": "given"})
    both, explicit = lines()
    assert (both["record_id"], both["correlation_id"]) == (7, "outer")
    assert explicit["correlation_id"] == "given" and "record_id" not in explicit


def test_secrets_are_masked_in_message_and_traceback(json_lines):
    logger, lines = json_lines
    logger.info("GET https://shop.example.com/api/orders?ws_key=%s&display=full", SECRET_WS_KEY)
    try:
        raise RuntimeError(f"refused Authorization: Bearer {SECRET_WS_KEY}")
    except RuntimeError:
        logger.exception("call failed")
    call, failure = lines()
    assert SECRET_WS_KEY not in json.dumps([call, failure])
    assert "display=full" in call["message"]
    assert "RuntimeError" in failure["exception"]


def test_the_formatter_masks_a_record_made_without_the_masking_factory():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "password=%s", ("hunter2-long",), None)
    line = json.loads(JsonFormatter().format(record))
    assert "hunter2-long" not in line["message"]
    assert line["message"] == "password=***"


def test_a_malformed_log_call_still_makes_a_line():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("many",), None)
    assert "items" in json.loads(JsonFormatter().format(record))["message"]


@pytest.mark.django_db
def test_a_worker_run_carries_the_record_ids(cast, monkeypatch):
    from integrations.models import SyncRecord
    from integrations.pipeline import runner
    from portal import logging as portal_logging
    from tests.factories import make_integration

    integration = make_integration(cast.org_a)
    record = SyncRecord.objects.create(
        organization=cast.org_a, integration=integration, flow="orders", entity_type="order",
        source_system="prestashop", source_id="1", business_key=f"{integration.pk}:order:1",
        next_attempt_at=timezone.now(), correlation_id="corr-worker-1")
    seen = {}
    declared = runner.registry.get

    def note_the_context(record):
        seen.update(portal_logging._context.get() or {})

    monkeypatch.setattr(runner.registry, "get", lambda name: replace(declared(name), step=note_the_context))

    assert runner.process(record.pk, worker="test-worker") == "succeeded"
    assert seen == {"record_id": record.pk, "correlation_id": "corr-worker-1"}
    assert portal_logging._context.get() is None  # nothing leaks into the worker's next task


def run_django(code, **env):
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings_test", **env},
        capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=60)


def test_log_format_json_turns_the_console_to_json_lines():
    done = run_django("import logging\nfrom portal.logging import log_context\n"
                      "with log_context(record_id=5, correlation_id='abc'):\n"
                      "    logging.getLogger('integrations.x').warning('token=%s sent', 'sekrit-value')",
                      LOG_FORMAT="json")
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert line["record_id"] == 5 and line["correlation_id"] == "abc"
    assert line["message"] == "token=*** sent"


def test_an_unknown_log_format_stops_the_start():
    done = run_django("", LOG_FORMAT="xml")
    assert done.returncode != 0
    assert "LOG_FORMAT must be text or json" in done.stderr
