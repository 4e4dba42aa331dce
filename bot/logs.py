"""Logging set-up: plain text or one JSON object a line; a filter masks every secret in every record."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

MASK = "[secret]"

# What every LogRecord carries; anything else on a record came from `extra=` (and is a JSON field).
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

# Interaction tokens open a webhook for 15 minutes and are never known in advance, so they are masked by
# where they appear: discord.py logs the URLs at DEBUG (`POST .../webhooks/<app id>/<token>/messages/...`)
# the gateway's INTERACTION_CREATE payload (`'token': '...'`, a dict's repr) and, through aiosqlite's DEBUG
# lines, SQL parameters holding a job's target (`"interaction_token": "..."`, JSON, maybe backslash-escaped).
_TOKEN_PATTERNS = (
    re.compile(r"(/webhooks/[^/\s]+/)[^/?#\s'\"<>\\]+"),
    re.compile(r"(/interactions/[^/\s]+/)[^/?#\s'\"<>\\]+(?=/callback)"),
    re.compile(r"""(\\?['"]\w*token\\?['"]\s*:\s*\\?['"])[^'"\\]+"""),
)


class RedactSecrets(logging.Filter):
    """Replaces secret values, and interaction tokens in webhook URLs and payloads, in a log record's
    message, traceback and string `extra` fields."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redact(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and isinstance(value, str):
                record.__dict__[key] = self.redact(value)
        return True

    def redact(self, text: str) -> str:
        """`text` with every known secret and every interaction token replaced by MASK."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        for pattern in _TOKEN_PATTERNS:
            text = pattern.sub(rf"\g<1>{MASK}", text)
        return text


class _RedactedJson(JsonFormatter):
    """JSON lines, redacted once more as a whole: an `extra` field that is not a string (a dict, a list)
    is only turned into text here, after the filter ran."""

    def __init__(self, redactor: RedactSecrets) -> None:
        super().__init__(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,  # ISO 8601 in UTC, under "timestamp"
        )
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.redact(super().format(record))


def setup_logging(level: str, secrets: Iterable[str], fmt: Literal["text", "json"] = "text") -> None:
    """Log to stderr with timestamps, as text or one JSON object a line; secrets masked on every handler."""
    redactor = RedactSecrets(secrets)
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(_RedactedJson(redactor))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO; one line per poll is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
