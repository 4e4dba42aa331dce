"""`setup_logging`: text lines as before, or one JSON object a line (LOG_FORMAT=json); secrets masked."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.logs import MASK, setup_logging
from bot.settings import load_settings
from tests.harness import logging_restored

SECRET = "prodia-secret-token-123"
ITOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpBYkNkRWZHaElq.x_y-z"


@pytest.fixture
def capture() -> Iterator[Any]:
    """`capture(fmt)` installs `setup_logging("DEBUG", [SECRET], fmt)` writing to a buffer it returns."""
    with logging_restored():

        def install(fmt: Literal["text", "json"]) -> io.StringIO:
            setup_logging("DEBUG", [SECRET], fmt)
            [handler] = logging.getLogger().handlers
            assert isinstance(handler, logging.StreamHandler)
            buffer = io.StringIO()
            handler.setStream(buffer)
            return buffer

        yield install


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Every line of `buffer` as a JSON object (fails on any line that is not one)."""
    text = buffer.getvalue()
    assert text.endswith("\n")
    objects = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(obj, dict) for obj in objects)
    return objects


def test_json_lines_carry_timestamp_level_logger_message_and_extras(capture: Any) -> None:
    buffer = capture("json")
    log = logging.getLogger("bot.store.jobs")
    log.info("job %d %s -> %s", 7, "queued", "running", extra={"job_id": 7, "state": "running"})
    log.warning("two\nlines of message")
    first, second = _lines(buffer)
    assert first["message"] == "job 7 queued -> running"
    assert (first["level"], first["logger"], first["job_id"], first["state"]) == (
        "INFO",
        "bot.store.jobs",
        7,
        "running",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", first["timestamp"])
    # A multi-line message stays one line of output.
    assert second["message"] == "two\nlines of message" and second["level"] == "WARNING"


def test_json_masks_secrets_in_message_exception_and_extras(capture: Any) -> None:
    buffer = capture("json")
    log = logging.getLogger("bot.test")
    log.info("token %s", SECRET, extra={"target": f"/webhooks/1/{ITOKEN}/messages", "raw": {"key": SECRET}})
    try:
        raise RuntimeError(f"rejected {SECRET}")
    except RuntimeError:
        log.exception("call failed", extra={"note": f"Bearer {SECRET}"})
    text = buffer.getvalue()
    assert SECRET not in text and ITOKEN not in text
    first, second = _lines(buffer)
    assert first["message"] == f"token {MASK}"
    assert first["target"] == f"/webhooks/1/{MASK}/messages"
    assert first["raw"] == {"key": MASK}  # a non-string extra, masked in the formatted line
    assert "RuntimeError: rejected " + MASK in second["exc_info"]
    assert second["note"] == f"Bearer {MASK}"


@given(st.text(min_size=1, max_size=200))
def test_json_output_is_one_parseable_line_for_any_message(message: str) -> None:
    with logging_restored():
        setup_logging("DEBUG", [SECRET], "json")
        [handler] = logging.getLogger().handlers
        assert isinstance(handler, logging.StreamHandler)
        buffer = io.StringIO()
        handler.setStream(buffer)
        logging.getLogger("bot.test").info("%s|%s", message, SECRET, extra={"field": message + SECRET})
        [line] = buffer.getvalue().splitlines()
        record = json.loads(line)
        assert record["message"] == (message + "|" + SECRET).replace(SECRET, MASK)
        assert SECRET not in record["field"]


def test_text_format_is_unchanged_and_masked(capture: Any) -> None:
    buffer = capture("text")
    logging.getLogger("bot.store.jobs").info("job %d token %s", 3, SECRET, extra={"job_id": 3})
    [line] = buffer.getvalue().splitlines()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO    bot\.store\.jobs: job 3 token \[secret\]", line
    )


def test_log_format_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().log_format == "text"
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert load_settings().log_format == "json"
