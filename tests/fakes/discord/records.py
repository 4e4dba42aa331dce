"""What the fake Discord records and answers: requests, refusal declarations, faults, interactions."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.server import BaseFault, BaseRecordedRequest

# Default texts of Discord's JSON errors, by code (and by status for code 0).
_ERROR_TEXTS = {
    10003: "Unknown Channel",
    10004: "Unknown Guild",
    10007: "Unknown Member",
    10008: "Unknown Message",
    10013: "Unknown User",
    10015: "Unknown Webhook",
    10062: "Unknown interaction",
    40005: "Request entity too large",
    40060: "Interaction has already been acknowledged.",
    50001: "Missing Access",
    50005: "Cannot edit a message authored by another user",
    50006: "Cannot send an empty message",
    50007: "Cannot send messages to this user",
    50013: "Missing Permissions",
    50027: "Invalid Webhook Token",
    50035: "Invalid Form Body",
}
_STATUS_TEXTS = {
    400: "400: Bad Request",
    401: "401: Unauthorized",
    403: "403: Forbidden",
    404: "404: Not Found",
    405: "405: Method Not Allowed",
    413: "Request entity too large",
    429: "You are being rate limited.",
    500: "500: Internal Server Error",
    502: "502: Bad Gateway",
    503: "503: Service Unavailable",
    504: "504: Gateway Timeout",
}


@dataclass(kw_only=True)
class RecordedRequest(BaseRecordedRequest):
    """One request as the fake saw it; ``status``/``response`` are filled in once it was answered.

    ``path`` is under /api/v10 (that prefix removed) or /cdn/..., percent-decoded; ``route`` a template from
    `ROUTES`, or None for an unknown route.
    """

    params: dict[str, str]  # the template's path parameters
    json: Any = None  # the JSON body, or the decoded ``payload_json`` of a multipart body
    files: list[tuple[str, str, bytes]] = field(default_factory=list)  # (field name, filename, bytes)
    status: int = 0  # 0 while the request is being handled
    response: Any = None  # the JSON answered (None for 204 and CDN bytes)
    fault: Fault | None = None  # the injected fault that answered, if any
    expected: ExpectedRefusal | None = None  # the declaration a refusal matched, if any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> int | None:
        """Discord's JSON error code of the answer (None for answers without one)."""
        code = self.response.get("code") if isinstance(self.response, dict) else None
        return code if isinstance(code, int) else None

    @property
    def refused(self) -> bool:
        """The fake turned the request down by its own rules: a 4xx that is neither a 429 (discord.py
        waits those out) nor an answer injected with `FakeDiscord.fail_next` (the test asked for it)."""
        return 400 <= self.status < 500 and self.status != 429 and self.fault is None

    def describe(self) -> str:
        """One line for a report: the request, its route, the answer and Discord's ``errors`` tree."""
        answer = self.response if isinstance(self.response, dict) else {}
        text = f"{self.method} {self.path} [{self.route}] -> {self.status} code={self.code}"
        text += f" {answer.get('message', '')!r}"
        if answer.get("errors"):
            text += f" errors={json.dumps(answer['errors'])}"
        return text


@dataclass
class ExpectedRefusal:
    """A refusal a test provokes on purpose (missing permissions, an expired token, a 413...).

    Fields left None match anything; ``when`` narrows further. See `FakeDiscord.expect_refusal`.
    """

    status: int | None = None
    code: int | None = None
    route: str | None = None
    when: Callable[[RecordedRequest], bool] | None = None
    reason: str = ""
    hits: int = 0

    def matches(self, rec: RecordedRequest) -> bool:
        return (
            (self.status is None or rec.status == self.status)
            and (self.code is None or rec.code == self.code)
            and (self.route is None or rec.route == self.route)
            and (self.when is None or self.when(rec))
        )


@dataclass
class Fault(BaseFault[RecordedRequest]):
    """An injected error answer, used ``times`` times for requests whose route matches (FIFO).

    ``route`` is a template from `ROUTES` or ``"*"``. ``when`` narrows it further (e.g. only @original).
    ``after_work`` answers the error only after the request took effect (a lost response: the client
    retries, and e.g. a nonce must stop a duplicate). ``delay`` holds the answer for that many seconds.
    """

    route: str
    status: int
    code: int = 0
    message: str = ""
    times: int = 1
    retry_after: float | None = None
    is_global: bool = False
    after_work: bool = False
    delay: float = 0.0
    when: Callable[[RecordedRequest], bool] | None = None
    hits: int = 0

    def matches(self, rec: RecordedRequest) -> bool:
        if self.route not in ("*", rec.route):
            return False
        return self.when is None or self.when(rec)


@dataclass
class Upload:
    """One file part of a multipart request."""

    field: str
    filename: str
    data: bytes
    content_type: str | None


@dataclass
class CdnFile:
    """Bytes the fake CDN serves: uploads by the bot and attachments handed to `FakeDiscord.slash`."""

    id: int
    filename: str
    content_type: str | None
    data: bytes
    path: Path | None = None


@dataclass
class Interaction:
    """An interaction the fake dispatched, and what the bot did with it so far."""

    id: int
    token: str
    type: int  # 2 command, 3 component, 5 modal submit
    payload: dict[str, Any]
    guild_id: int | None
    channel_id: int
    user_id: int
    attachment_size_limit: int
    message_id: int | None = None  # the message a component (or a modal opened from one) belongs to
    response_type: int | None = None  # the callback type once acknowledged
    original_message_id: int | None = None
    modal: dict[str, Any] | None = None  # the modal shown with a type-9 callback
    expired: bool = False
    created_at: float = field(default_factory=time.monotonic)


class _Refusal(Exception):
    """Raised by handlers to answer an error; carries the answer."""

    def __init__(self, answer: _Answer) -> None:
        super().__init__(f"{answer.status}: {answer.data}")
        self.answer = answer


@dataclass
class _Answer:
    status: int = 200
    data: Any = None
    raw: bytes | None = None  # non-JSON body (CDN)
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Call:
    request: web.Request
    rec: RecordedRequest
    params: dict[str, str]
    body: Any
    uploads: list[Upload]


def _error(status: int, code: int = 0, message: str = "", errors: dict[str, Any] | None = None) -> _Answer:
    text = message or _ERROR_TEXTS.get(code) or _STATUS_TEXTS.get(status, f"{status}")
    data: dict[str, Any] = {"message": text, "code": code}
    if errors:
        data["errors"] = errors
    return _Answer(status, data)


def _refuse(status: int, code: int = 0, message: str = "") -> _Refusal:
    return _Refusal(_error(status, code, message))


def _form_error(problems: Mapping[str, str]) -> _Refusal:
    """400 / 50035 with Discord's nested ``errors`` shape (discord.py flattens it into the text)."""
    errors: dict[str, Any] = {}
    for path, message in problems.items():
        node = errors
        for part in path.split("."):
            node = node.setdefault(part, {})
        node["_errors"] = [{"code": "BASE_TYPE_INVALID", "message": message}]
    return _Refusal(_error(400, 50035, errors=errors))


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _form_error({"snowflake": f"Value {text!r} is not snowflake."}) from None


@dataclass(eq=False)  # identity-hashed: kept in a set
class _Conn:
    """One gateway websocket."""

    ws: web.WebSocketResponse
    query: dict[str, str]


@dataclass
class _Session:
    """One shard's gateway session: its events are numbered and kept for RESUME replays."""

    id: str
    intents: int
    shard: list[int] = field(default_factory=lambda: [0, 1])  # [shard id, shard count] from IDENTIFY
    seq: int = 0
    history: list[tuple[int, str]] = field(default_factory=list)  # (s, frame) for RESUME replays
    conn: _Conn | None = None  # the socket it is live on; None while dropped
