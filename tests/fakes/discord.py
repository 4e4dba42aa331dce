"""A fake Discord (REST API v10 + gateway + CDN), served over real HTTP/websockets on 127.0.0.1.

It runs in the test's event loop, next to the real discord.py client under test, and follows
``shared/reference/discord-test-server.md``. It is the referee for what the bot sends: it keeps a small
world (guilds, channels, roles, members, messages, interactions) and answers like Discord does, including
the rules bots trip over (upload limits, acknowledged-twice interactions, nonce de-duplication, the first
followup after a defer resolving the "thinking" message, component and embed limits).

Start a real bot against it with `running_bot` (or patch by hand with `redirect_discord`)::

    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        channel_id = guild.add_channel("general")
        user_id = guild.add_member(name="alice")
        async with running_bot(fake, MyBot()):
            inter = await fake.slash("imagine", [{"name": "prompt", "value": "a cat"}],
                                     guild_id=guild.id, channel_id=channel_id, user_id=user_id)
            await fake.wait_for(lambda r: r.route == CHANNEL_MESSAGES_POST)

Route templates (``RecordedRequest.route`` and `FakeDiscord.fail_next` use them; paths are under
``/api/v10`` except the CDN):

    GET /users/@me                      GET /users/{user_id}            POST /users/@me/channels
    GET /oauth2/applications/@me        GET /gateway/bot                GET /gateway
    PUT|GET /applications/{application_id}/commands
    PUT|GET /applications/{application_id}/guilds/{guild_id}/commands
    POST /interactions/{interaction_id}/{interaction_token}/callback
    POST /webhooks/{application_id}/{interaction_token}
    GET|PATCH|DELETE /webhooks/{application_id}/{interaction_token}/messages/{message_id}   (also @original)
    GET /channels/{channel_id}          POST /channels/{channel_id}/typing
    GET|POST /channels/{channel_id}/messages
    GET|PATCH|DELETE /channels/{channel_id}/messages/{message_id}
    GET /guilds/{guild_id}              GET /guilds/{guild_id}/channels       GET /guilds/{guild_id}/roles
    GET /guilds/{guild_id}/members/{user_id}
    GET /cdn/{attachment_id}/{filename}

Anything else answers 404 ``{"message": "Unknown route", "code": 0}`` and is recorded with ``route=None``.

Choices where Discord's behaviour is not pinned down by the notes:
  - ``mentions``/``mention_roles``/``mention_everyone`` of a stored message are the *pings* after
    ``allowed_mentions`` (default: every mention in a bot-token message, user mentions only in an
    interaction response or followup, as Discord documents) and the bot's MENTION_EVERYONE permission.
  - Attachment file names are sanitised like Discord does (whitespace -> ``_``, odd characters dropped),
    and ``content_type`` is guessed from the extension (discord.py always uploads octet-stream).
  - Channel permissions are enforced for bot-token routes (``permissions_enforced``), never for
    interaction callbacks/webhooks (Discord lets an app answer where it cannot post).
  - Messages the bot creates/edits/deletes are echoed as MESSAGE_CREATE/UPDATE/DELETE when the bot asked for
    the guild (or DM) messages intent; ephemeral ones never are.

Limits: every message body (posts, edits, callbacks, followups), modal and command sync is checked against
Discord's documented limits (the "validation" section near the end: one small function per rule) and
refused with 400 / 50035 and Discord's nested ``errors``; uploads get 413 / 40005 over the route's
per-file limit (`request_limit` for the whole request). ``validate_payloads`` / ``upload_limit_enforced``
turn that off.

Refusals: every 4xx the fake decides itself (not a 429, not a `fail_next` fault) is in `refusals`; those no
`expect_refusal` / `expecting` declaration covers are `unexpected_refusals`, which the end-to-end suite's
guard (tests/e2e/conftest.py) turns into a failed test: the bot sent something Discord would refuse.

Shards: every IDENTIFY's ``shard`` [id, count] (none means [0, 1]; an invalid one is closed with 4010) opens
that shard's session, replacing an earlier session of the same shard; an IDENTIFY with a different count
drops the sessions of the old count (a resharded restart). A guild's READY entry, GUILD_CREATE and events
(interactions, message echoes) go only to shard ``(guild_id >> 22) % count`` (`shard_of`); DMs go to
shard 0. ``GET /gateway/bot`` answers ``recommended_shards``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import itertools
import json
import logging
import mimetypes
import re
import secrets
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import discord
import yarl
from aiohttp import BodyPartReader, WSMsgType, web

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000
MIB = 1024 * 1024

# Per-file upload limits by guild boost tier (discord.py guild.py `_PREMIUM_GUILD_LIMITS`).
UPLOAD_LIMITS = {0: 10 * MIB, 1: 10 * MIB, 2: 50 * MIB, 3: 100 * MIB}
DM_UPLOAD_LIMIT = 10 * MIB
MAX_FILES = 10
MAX_REQUEST_BYTES = 25 * MIB  # "The maximum request size when sending a message is 25 MiB"; see request_limit
NONCE_WINDOW = 300.0  # seconds an enforced nonce is remembered ("the past few minutes")

# Permission bits the fake reasons about.
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 53) - 1
DEFAULT_EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
)
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS | SEND_MESSAGES_IN_THREADS

# Message flags.
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15
_SENDABLE_FLAGS = SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2

# Gateway intents that decide which events the fake echoes, and the privileged ones.
GUILD_MESSAGES_INTENT = 1 << 9
DM_MESSAGES_INTENT = 1 << 12
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content

DEFAULT_APP_ID = ((1_700_000_000_000 - DISCORD_EPOCH_MS) << 22) | 1
_RESUMABLE_CLOSE = 4000  # "unknown error": discord.py reconnects and RESUMEs

CHANNEL_MESSAGES_POST = "POST /channels/{channel_id}/messages"
INTERACTION_CALLBACK = "POST /interactions/{interaction_id}/{interaction_token}/callback"
FOLLOWUP_POST = "POST /webhooks/{application_id}/{interaction_token}"
WEBHOOK_MESSAGE = "/webhooks/{application_id}/{interaction_token}/messages/{message_id}"

ROUTES: tuple[str, ...] = (
    "GET /users/@me",
    "POST /users/@me/channels",
    "GET /users/{user_id}",
    "GET /oauth2/applications/@me",
    "GET /gateway/bot",
    "GET /gateway",
    "PUT /applications/{application_id}/commands",
    "GET /applications/{application_id}/commands",
    "PUT /applications/{application_id}/guilds/{guild_id}/commands",
    "GET /applications/{application_id}/guilds/{guild_id}/commands",
    INTERACTION_CALLBACK,
    FOLLOWUP_POST,
    "GET " + WEBHOOK_MESSAGE,
    "PATCH " + WEBHOOK_MESSAGE,
    "DELETE " + WEBHOOK_MESSAGE,
    "GET /channels/{channel_id}",
    "POST /channels/{channel_id}/typing",
    "GET /channels/{channel_id}/messages",
    CHANNEL_MESSAGES_POST,
    "GET /channels/{channel_id}/messages/{message_id}",
    "PATCH /channels/{channel_id}/messages/{message_id}",
    "DELETE /channels/{channel_id}/messages/{message_id}",
    "GET /guilds/{guild_id}",
    "GET /guilds/{guild_id}/channels",
    "GET /guilds/{guild_id}/roles",
    "GET /guilds/{guild_id}/members/{user_id}",
    "GET /cdn/{attachment_id}/{filename}",
)
# Routes that need `Authorization: Bot <token>`; interaction callbacks/webhooks and the CDN carry none.
_TOKENLESS_PREFIXES: tuple[str, ...] = (
    "POST /interactions/",
    "POST /webhooks/",
    "GET /webhooks/",
    "PATCH /webhooks/",
    "DELETE /webhooks/",
    "GET /cdn/",
)

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

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_EVERYONE_MENTION = re.compile(r"@(everyone|here)")
_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _str_ids(ids: Sequence[int]) -> list[str]:
    return [str(i) for i in ids]


def sanitize_filename(name: str) -> str:
    """Discord's take on an uploaded file name: no folders, ``_`` for whitespace, odd characters dropped."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = re.sub(r"\s+", "_", name)
    name = re.sub(r"[^\w.\-]", "", name)
    return name or "unknown"


def guess_content_type(filename: str) -> str | None:
    """What Discord reports as an attachment's ``content_type`` (it sniffs; the extension is close enough)."""
    guessed, _ = mimetypes.guess_type(filename)
    if guessed is None:
        return None
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


# -- records and faults ----------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the fake saw it; ``status``/``response`` are filled in once it was answered."""

    method: str
    path: str  # under /api/v10 (that prefix removed), or /cdn/..., percent-decoded
    route: str | None  # a template from `ROUTES`, or None for an unknown route
    params: dict[str, str]  # the template's path parameters
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    json: Any = None  # the JSON body, or the decoded ``payload_json`` of a multipart body
    files: list[tuple[str, str, bytes]] = field(default_factory=list)  # (field name, filename, bytes)
    status: int = 0  # 0 while the request is being handled
    response: Any = None  # the JSON answered (None for 204 and CDN bytes)
    fault: Fault | None = None  # the injected fault that answered, if any
    expected: ExpectedRefusal | None = None  # the declaration a refusal matched, if any
    at: float = field(default_factory=time.monotonic)

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
class Fault:
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


# -- the world --------------------------------------------------------------------------------------------


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int
    managed: bool = False
    bot_id: int | None = None
    mentionable: bool = False

    def to_payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class FakeChannel:
    id: int
    name: str
    guild_id: int | None  # None for a DM
    type: int = 0
    position: int = 0
    nsfw: bool = False
    topic: str | None = None
    overwrites: dict[int, tuple[int, int]] = field(default_factory=dict)  # target id -> (allow, deny)
    recipient_id: int | None = None  # DMs


@dataclass
class FakeMember:
    user_id: int
    roles: list[int]
    permissions: int | None = None  # overrides the computed `member.permissions` of interactions
    joined_at: str = field(default_factory=_now_iso)


class FakeGuild:
    """A guild the bot is in. Build it before the bot IDENTIFYs: GUILD_CREATE sends what exists then."""

    def __init__(
        self,
        fake: FakeDiscord,
        guild_id: int,
        *,
        name: str,
        owner_id: int,
        premium_tier: int,
        bot_permissions: int,
        everyone_permissions: int,
    ) -> None:
        self._fake = fake
        self.id = guild_id
        self.name = name
        self.owner_id = owner_id
        self.premium_tier = premium_tier
        self.roles: dict[int, FakeRole] = {guild_id: FakeRole(guild_id, "@everyone", everyone_permissions, 0)}
        self.channels: dict[int, FakeChannel] = {}
        self.members: dict[int, FakeMember] = {}
        self.joined_at = _now_iso()
        # The bot's own managed role, as Discord creates it on install.
        self.bot_role_id = self.add_role(fake.bot_name, bot_permissions)
        self.roles[self.bot_role_id].managed = True
        self.roles[self.bot_role_id].bot_id = fake.app_id
        self.members[fake.app_id] = FakeMember(fake.app_id, [self.bot_role_id])

    @property
    def upload_limit(self) -> int:
        return UPLOAD_LIMITS.get(self.premium_tier, UPLOAD_LIMITS[0])

    @property
    def everyone_role_id(self) -> int:
        return self.id

    def add_channel(
        self,
        name: str,
        *,
        channel_id: int | None = None,
        nsfw: bool = False,
        overwrites: Mapping[int, tuple[int, int]] | None = None,
        topic: str | None = None,
    ) -> int:
        """Add a text channel; ``overwrites`` maps a role or user id to ``(allow, deny)`` bits."""
        cid = channel_id or self._fake.snowflake()
        channel = FakeChannel(
            cid,
            name,
            self.id,
            position=len(self.channels),
            nsfw=nsfw,
            topic=topic,
            overwrites=dict(overwrites or {}),
        )
        self.channels[cid] = channel
        self._fake.channels[cid] = channel
        return cid

    def add_role(self, name: str, permissions: int = 0, *, mentionable: bool = False) -> int:
        role_id = self._fake.snowflake()
        self.roles[role_id] = FakeRole(role_id, name, permissions, len(self.roles), mentionable=mentionable)
        return role_id

    def add_member(
        self,
        user_id: int | None = None,
        *,
        name: str = "alice",
        roles: Sequence[int] = (),
        permissions: int | None = None,
        bot: bool = False,
    ) -> int:
        """Add a member (and its user); ``permissions`` pins what interactions report for them."""
        uid = user_id or self._fake.snowflake()
        for role_id in roles:
            if role_id not in self.roles:
                raise ValueError(f"role {role_id} is not in guild {self.id}")
        self._fake.add_user(uid, name=name, bot=bot)
        self.members[uid] = FakeMember(uid, [r for r in roles if r != self.id], permissions)
        return uid

    def set_overwrite(self, channel_id: int, target_id: int, *, allow: int = 0, deny: int = 0) -> None:
        self.channels[channel_id].overwrites[target_id] = (allow, deny)

    # -- permissions ---------------------------------------------------------------------------------

    def base_permissions(self, user_id: int) -> int:
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members.get(user_id)
        perms = self.roles[self.id].permissions
        for role_id in member.roles if member else ():
            perms |= self.roles[role_id].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def permissions_for(self, user_id: int, channel_id: int | None = None) -> int:
        """Discord's algorithm: base role permissions, then @everyone, role and member overwrites."""
        perms = self.base_permissions(user_id)
        if perms == ALL_PERMISSIONS or channel_id is None:
            return perms
        channel = self.channels.get(channel_id)
        if channel is None:
            return perms
        allow, deny = channel.overwrites.get(self.id, (0, 0))
        perms = (perms & ~deny) | allow
        member = self.members.get(user_id)
        role_allow = role_deny = 0
        for role_id in member.roles if member else ():
            a, d = channel.overwrites.get(role_id, (0, 0))
            role_allow |= a
            role_deny |= d
        perms = (perms & ~role_deny) | role_allow
        allow, deny = channel.overwrites.get(user_id, (0, 0))
        perms = (perms & ~deny) | allow
        if not perms & VIEW_CHANNEL:
            return 0
        return perms

    # -- payloads ------------------------------------------------------------------------------------

    def member_payload(self, user_id: int, *, with_user: bool = True) -> dict[str, Any]:
        member = self.members[user_id]
        data: dict[str, Any] = {
            "roles": _str_ids(member.roles),
            "flags": 0,  # required by discord.py (member.py)
            "joined_at": member.joined_at,
            "nick": None,
            "avatar": None,
            "banner": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "premium_since": None,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self._fake.user_payload(user_id)
        return data

    def channel_payload(self, channel_id: int) -> dict[str, Any]:
        channel = self.channels[channel_id]
        overwrites = [
            {
                "id": str(target),
                "type": 0 if target in self.roles else 1,
                "allow": str(allow),
                "deny": str(deny),
            }
            for target, (allow, deny) in channel.overwrites.items()
        ]
        return {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(self.id),
            "name": channel.name,
            "position": channel.position,
            "nsfw": channel.nsfw,
            "topic": channel.topic,
            "permission_overwrites": overwrites,
            "parent_id": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }

    def payload(self) -> dict[str, Any]:
        """The guild object of REST ``GET /guilds/{id}`` (no channels or members)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "system_channel_id": None,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": [0, 2, 7, 14][min(self.premium_tier, 3)],
            "preferred_locale": "en-US",
            "features": [],
            "roles": [role.to_payload() for role in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "max_members": 500000,
            "vanity_url_code": None,
            "application_id": None,
            "approximate_member_count": len(self.members),
        }

    def gateway_payload(self) -> dict[str, Any]:
        """The GUILD_CREATE ``d``: a full guild with channels and every member (no chunking needed)."""
        data = self.payload()
        data.pop("approximate_member_count")
        data.update(
            {
                "joined_at": self.joined_at,
                "large": False,
                "unavailable": False,
                "member_count": len(self.members),  # == len(members): discord.py skips chunking
                "members": [self.member_payload(uid) for uid in self.members],
                "channels": [self.channel_payload(cid) for cid in self.channels],
                "threads": [],
                "voice_states": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        return data


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that gets a guild's events: Discord's ``(guild_id >> 22) % shard_count``."""
    return (guild_id >> 22) % shard_count


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


# -- the server -------------------------------------------------------------------------------------------


class FakeDiscord:
    """The fake Discord. Knobs are plain attributes and may be changed while it runs."""

    def __init__(
        self,
        *,
        app_id: int = DEFAULT_APP_ID,
        bot_token: str = "discord-test-token",
        bot_name: str = "testbot",
        cdn_dir: Path | None = None,
    ) -> None:
        self.app_id = app_id
        self.bot_token = bot_token
        self.bot_name = bot_name
        self.owner_user_id: int = 0
        self.cdn_dir = cdn_dir
        self.upload_limit_enforced = True
        self.permissions_enforced = True  # bot-token routes check the bot's channel permissions
        self.validate_payloads = True  # content/embed/component/modal limits -> 400 50035
        self.callback_deadline: float | None = None  # seconds; a later callback gets 404 10062 (Discord: 3)
        self.privileged_intents = PRIVILEGED_INTENTS  # intents "enabled in the developer portal"
        self.heartbeat_interval_ms = 41250
        self.recommended_shards = 1  # `GET /gateway/bot`: what a client without a shard count runs
        self.dm_closed: set[int] = set()  # users whose DMs refuse the bot (403 50007)

        self.requests: list[RecordedRequest] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None = global) -> commands
        self.interactions: dict[str, Interaction] = {}  # by token
        self.cdn: dict[int, CdnFile] = {}
        self.faults: list[Fault] = []
        self.expected_refusals: list[ExpectedRefusal] = []  # see `expect_refusal`
        self.command_syncs = 0
        self.identify_count = 0
        self.identified_shards: list[tuple[int, int]] = []  # (shard id, shard count) of every IDENTIFY
        self.resume_count = 0
        self.gateway_connections = 0
        self.api_base = ""
        self.gateway_url = ""
        self.base_url = ""

        self._ids = itertools.count(1)
        self._nonces: dict[str, tuple[int, float]] = {}
        self._dm_by_user: dict[int, int] = {}
        self._message_tokens: dict[int, str] = {}  # message id -> interaction token that made it
        self._runner: web.AppRunner | None = None
        self._cond = asyncio.Condition()
        self._gw_lock = asyncio.Lock()
        self._conns: set[_Conn] = set()
        self._sessions: dict[int, _Session] = {}  # by shard id; all share one shard count
        self._session_ids = itertools.count(1)
        self._watched: list[asyncio.Task[Any]] = []
        self._routes = self._route_table()

        self.add_user(app_id, name=bot_name, bot=True)
        self.owner_user_id = self.add_user(self.snowflake(), name="owner")

    # -- lifecycle -----------------------------------------------------------------------------------

    # discord.py opens one connection per concurrent request, so a burst of commands means hundreds of
    # connects at once; aiohttp's default backlog (128) would drop SYNs that the kernel retries after 1 s.
    backlog = 1024

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (``port`` 0 = any free port) and set ``api_base``/``gateway_url``."""
        # Large uploads must reach the handler: 413s are the fake's decision, not aiohttp's 1 MiB default.
        app = web.Application(client_max_size=200 * MIB)
        app.router.add_get("/gateway/", self._gateway)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=self.backlog)
        await site.start()
        self._runner = runner
        bound = runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{bound}"
        self.api_base = f"{self.base_url}{API_PREFIX}"
        self.gateway_url = f"ws://127.0.0.1:{bound}/gateway/"

    async def stop(self) -> None:
        """Close gateway sockets and stop serving."""
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"fake discord stopping")
        for session in self._sessions.values():
            session.conn = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- ids and users -------------------------------------------------------------------------------

    def snowflake(self) -> int:
        """A real, increasing snowflake (``snowflake_time`` gives now)."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._ids) & 0x3FFFFF)

    def add_user(self, user_id: int | None = None, *, name: str = "user", bot: bool = False) -> int:
        uid = user_id or self.snowflake()
        self.users[uid] = {
            "id": str(uid),
            "username": name,
            "discriminator": "0",
            "global_name": None if bot else name,
            "avatar": None,
            "bot": bot,
            "system": False,
            "public_flags": 0,
        }
        return uid

    def user_payload(self, user_id: int) -> dict[str, Any]:
        user = self.users.get(user_id)
        if user is None:
            return {"id": str(user_id), "username": f"user{user_id}", "discriminator": "0", "avatar": None}
        return dict(user)

    @property
    def bot_user(self) -> dict[str, Any]:
        return self.user_payload(self.app_id)

    # -- world ---------------------------------------------------------------------------------------

    def add_guild(
        self,
        guild_id: int | None = None,
        *,
        name: str = "test",
        owner_id: int | None = None,
        premium_tier: int = 0,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
    ) -> FakeGuild:
        """Add a guild the bot is in. The owner (default: a separate "owner" user) gets every permission."""
        gid = guild_id or self.snowflake()
        owner = owner_id or self.owner_user_id
        if owner not in self.users:
            self.add_user(owner, name="owner")
        guild = FakeGuild(
            self,
            gid,
            name=name,
            owner_id=owner,
            premium_tier=premium_tier,
            bot_permissions=bot_permissions,
            everyone_permissions=everyone_permissions,
        )
        guild.members[owner] = FakeMember(owner, [])
        self.guilds[gid] = guild
        return guild

    def guild_of_channel(self, channel_id: int) -> FakeGuild | None:
        channel = self.channels.get(channel_id)
        if channel is None or channel.guild_id is None:
            return None
        return self.guilds.get(channel.guild_id)

    def bot_permissions_in(self, channel_id: int) -> int:
        channel = self.channels.get(channel_id)
        if channel is None:
            return 0
        if channel.guild_id is None:  # DMs
            return VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
        return self.guilds[channel.guild_id].permissions_for(self.app_id, channel_id)

    # -- observing -----------------------------------------------------------------------------------

    def watch(self, task: asyncio.Task[Any]) -> None:
        """Make `wait_for` fail fast (with its exception) if this task, e.g. ``bot.start()``, crashes."""
        self._watched.append(task)
        task.add_done_callback(lambda _t: asyncio.ensure_future(self._notify()))

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    def _check_watched(self) -> None:
        for task in self._watched:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise AssertionError(f"the watched task {task.get_name()!r} crashed") from task.exception()

    def mark(self) -> int:
        """The current length of `requests`; pass it as ``start`` to `wait_for` to ignore older ones."""
        return len(self.requests)

    async def wait_for(
        self, predicate: Callable[[RecordedRequest], bool], timeout: float = 10.0, *, start: int = 0
    ) -> RecordedRequest:
        """The first answered request from ``requests[start:]`` matching ``predicate`` (waits for it)."""

        def find() -> RecordedRequest | None:
            for rec in self.requests[start:]:
                if rec.status and predicate(rec):
                    return rec
            return None

        async with self._cond:
            try:
                async with asyncio.timeout(timeout):
                    while (found := find()) is None:
                        self._check_watched()
                        await self._cond.wait()
            except TimeoutError:
                raise AssertionError(
                    f"no matching request within {timeout}s; recent requests:\n{self.summary()}"
                ) from None
        return found

    def summary(self, last: int = 15) -> str:
        lines = [
            f"  {r.method} {r.path} -> {r.status or 'pending'} [{r.route}]"
            + (f" {json.dumps(r.response)[:160]}" if r.status >= 400 else "")
            for r in self.requests[-last:]
        ]
        return "\n".join(lines) or "  (none)"

    # -- refusals: what the bot sent that Discord would turn down --------------------------------------

    def expect_refusal(
        self,
        *,
        status: int | None = None,
        code: int | None = None,
        route: str | None = None,
        when: Callable[[RecordedRequest], bool] | None = None,
        reason: str = "",
    ) -> ExpectedRefusal:
        """Declare refusals the test provokes on purpose, from now on (fields left None match anything).

        A refusal answered while a declaration matches it is not in `unexpected_refusals`, so the
        end-to-end guard (tests/e2e/conftest.py) lets it pass. Declare as narrowly as the test allows.
        """
        if route is not None and route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; use one of ROUTES")
        expected = ExpectedRefusal(status, code, route, when, reason)
        self.expected_refusals.append(expected)
        return expected

    @contextlib.contextmanager
    def expecting(
        self,
        *,
        status: int | None = None,
        code: int | None = None,
        route: str | None = None,
        when: Callable[[RecordedRequest], bool] | None = None,
        reason: str = "",
    ) -> Iterator[ExpectedRefusal]:
        """`expect_refusal` for the requests answered inside the ``with`` block only."""
        expected = self.expect_refusal(status=status, code=code, route=route, when=when, reason=reason)
        try:
            yield expected
        finally:
            self.expected_refusals.remove(expected)

    @property
    def refusals(self) -> list[RecordedRequest]:
        """Every request the fake turned down by its own rules (`RecordedRequest.refused`)."""
        return [r for r in self.requests if r.refused]

    @property
    def unexpected_refusals(self) -> list[RecordedRequest]:
        """Refusals no `expect_refusal` declaration covered: what a test did not ask for."""
        return [r for r in self.refusals if r.expected is None]

    def refusal_report(self, refusals: Sequence[RecordedRequest] | None = None) -> str:
        """The refused requests (default: the unexpected ones), one per line, with Discord's errors."""
        chosen = self.unexpected_refusals if refusals is None else refusals
        return "\n".join(f"  {r.describe()}" for r in chosen) or "  (none)"

    def requests_for(self, route: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route == route]

    def interaction_responses(self, token: str) -> list[RecordedRequest]:
        """The callback, followups and message edits/reads/deletes made with this interaction token."""
        return [r for r in self.requests if r.params.get("interaction_token") == token]

    def original(self, token: str) -> dict[str, Any] | None:
        """The interaction's "@original" message (the response, or the clicked message after type 6/7)."""
        inter = self.interactions[token]
        if inter.original_message_id is None:
            return None
        return self.messages.get(inter.original_message_id)

    def followups(self, token: str) -> list[dict[str, Any]]:
        """Messages created by followups of this interaction (not the one that resolved a defer)."""
        inter = self.interactions[token]
        return [
            m
            for mid, m in self.messages.items()
            if self._message_tokens.get(mid) == token and mid != inter.original_message_id
        ]

    def channel_messages(self, channel_id: int, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Messages in a channel, oldest first (ephemeral ones included: tests may want to see them)."""
        return [
            m
            for m in self.messages.values()
            if m["channel_id"] == str(channel_id) and (include_deleted or not m["deleted"])
        ]

    def attachment_bytes(self, attachment: Mapping[str, Any] | int | str) -> bytes:
        """The bytes behind an attachment (object or id) as the fake CDN serves them."""
        return self._cdn_file(attachment).data

    def attachment_path(self, attachment: Mapping[str, Any] | int | str) -> Path:
        """The file behind an attachment; needs ``cdn_dir`` (e.g. to probe a video with PyAV)."""
        stored = self._cdn_file(attachment)
        if stored.path is None:
            raise ValueError("FakeDiscord(cdn_dir=...) is needed for attachment files on disk")
        return stored.path

    def _cdn_file(self, attachment: Mapping[str, Any] | int | str) -> CdnFile:
        att_id = int(attachment["id"] if isinstance(attachment, Mapping) else attachment)
        return self.cdn[att_id]

    # -- faults --------------------------------------------------------------------------------------

    def fail_next(
        self,
        route: str,
        *,
        status: int,
        code: int = 0,
        message: str = "",
        times: int = 1,
        retry_after: float | None = None,
        is_global: bool = False,
        after_work: bool = False,
        delay: float = 0.0,
        when: Callable[[RecordedRequest], bool] | None = None,
    ) -> Fault:
        """Queue an error answer for the next ``times`` requests of ``route`` (a `ROUTES` template or "*").

        429s carry JSON ``retry_after`` (default 0.05 s) and a ``Via`` header so discord.py waits and
        retries; 500/502/504 are retried by discord.py after 1, 3, 5, 7 s sleeps (slow: keep ``times`` low).
        """
        if route != "*" and route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; use one of ROUTES or '*'")
        if times < 1:
            raise ValueError("times must be at least 1")
        if status == 429 and retry_after is None:
            retry_after = 0.05
        fault = Fault(route, status, code, message, times, retry_after, is_global, after_work, delay, when)
        self.faults.append(fault)
        return fault

    def _take_fault(self, rec: RecordedRequest) -> Fault | None:
        for fault in self.faults:
            if fault.matches(rec):
                fault.hits += 1
                if fault.hits >= fault.times:
                    self.faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _fault_answer(fault: Fault) -> _Answer:
        if fault.status == 429:
            retry_after = fault.retry_after if fault.retry_after is not None else 0.05
            data = {
                "message": fault.message or _STATUS_TEXTS[429],
                "retry_after": retry_after,
                "global": fault.is_global,
            }
            if fault.code:
                data["code"] = fault.code
            # Without `Via` discord.py takes a 429 for a Cloudflare ban and raises instead of retrying.
            headers = {"Via": "1.1 google", "Retry-After": str(max(1, round(retry_after)))}
            return _Answer(429, data, headers=headers)
        return _error(fault.status, fault.code, fault.message)

    # -- interactions: dispatching -------------------------------------------------------------------

    def find_command(self, name: str, guild_id: int | None) -> tuple[dict[str, Any], int | None] | None:
        """A synced chat-input command by name: the guild's own first, then the global one."""
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for cmd in self.commands.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == 1:
                    return cmd, scope
        return None

    async def slash(
        self,
        name: str,
        options: Sequence[Mapping[str, Any]] | None = None,
        *,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        attachments: Mapping[str, tuple[str, bytes, str]] | None = None,
        subcommand: Sequence[str] | None = None,
        attachment_size_limit: int | None = None,
        registered_guild_id: int | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> Interaction:
        """Dispatch a chat-input command (type 2) as Discord's client would send it.

        ``options`` are ``{"name", "value"[, "type"]}``; a missing ``type`` comes from the synced command
        (else from the Python type). An option whose value is a key of ``attachments`` becomes an
        attachment option: the file is put on the fake CDN and in ``data.resolved.attachments``.
        User/role/channel options get their ``resolved`` entries from the world. When the command was
        synced, options are checked like Discord's client does (names, required, choices, bounds).
        ``data.guild_id`` is the command's registration guild: ``registered_guild_id``, else found from
        the synced commands (a guild command wins over a global one). ``attachment_size_limit`` defaults
        to the guild's upload limit.
        """
        guild = self._guild_for(guild_id, channel_id, user_id)
        found = self.find_command(name, guild_id)
        definition: dict[str, Any] | None = found[0] if found else None
        scope = registered_guild_id if registered_guild_id is not None else (found[1] if found else None)

        path = list(subcommand or [])
        level: dict[str, Any] | None = definition
        for part in path:
            level = _find_option(level, part) if level is not None else None
            if definition is not None and level is None:
                raise ValueError(f"/{name} has no subcommand {' '.join(path)!r}")
        resolved: dict[str, dict[str, Any]] = {}
        built = self._build_options(options or [], level, attachments or {}, resolved, guild, channel_id)
        for depth in reversed(range(len(path))):
            # The innermost name is the subcommand (type 1); any outer one is its group (type 2).
            kind = 1 if depth == len(path) - 1 else 2
            built = [{"type": kind, "name": path[depth], "options": built}]

        data: dict[str, Any] = {
            "id": str(definition["id"]) if definition else str(self.snowflake()),
            "name": name,
            "type": 1,
            "options": built,
        }
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = str(scope)
        limit = attachment_size_limit or (guild.upload_limit if guild else DM_UPLOAD_LIMIT)
        return await self._dispatch_interaction(
            2, data, guild, channel_id, user_id, limit=limit, permissions=permissions, locale=locale
        )

    async def click(
        self,
        custom_id: str,
        *,
        message_id: int,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
        attachment_size_limit: int | None = None,
    ) -> Interaction:
        """Dispatch a component interaction (type 3) on a message.

        The ``message`` is the stored one when the bot posted it (guild and channel default to its);
        the component must be on it and enabled, as Discord only sends clicks it rendered. An unknown
        ``message_id`` gets a minimal bot message holding just that component, which is then stored.
        ``values`` are a select menu's choices (use ``component_type`` 3, 5, 6, 7 or 8). In a DM only
        its recipient can click. ``attachment_size_limit`` defaults to the guild's upload limit (a Nitro
        member's click reports more, like `slash`).
        """
        stored = self.messages.get(message_id)
        if stored is not None:
            if stored["deleted"]:
                raise ValueError(f"message {message_id} was deleted")
            channel_id = channel_id or int(stored["channel_id"])
            component = _find_component(stored["components"], custom_id)
            if component is None:
                raise ValueError(f"message {message_id} has no component {custom_id!r}")
            if component.get("type") != component_type:
                raise ValueError(
                    f"component {custom_id!r} has type {component.get('type')}, not {component_type}"
                )
            if component.get("disabled"):
                raise ValueError(f"component {custom_id!r} is disabled: Discord would not send the click")
        elif channel_id is None:
            raise ValueError("channel_id is needed for a message the fake does not know")
        if guild_id is None:
            channel = self.channels.get(channel_id)
            guild_id = channel.guild_id if channel else None
            if channel is not None and channel.recipient_id not in (None, user_id):
                raise ValueError(f"user {user_id} is not in DM channel {channel_id}: Discord sends no click")
        guild = self._guild_for(guild_id, channel_id, user_id)
        if stored is None:
            stored = self._minimal_message(message_id, channel_id, guild_id, custom_id, component_type)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if component_type != 2:
            data["values"] = list(values or [])
        return await self._dispatch_interaction(
            3,
            data,
            guild,
            channel_id,
            user_id,
            limit=attachment_size_limit or (guild.upload_limit if guild else DM_UPLOAD_LIMIT),
            permissions=permissions,
            locale=locale,
            message=stored,
        )

    async def submit_modal(
        self,
        custom_id: str | None,
        values: Mapping[str, str],
        *,
        interaction: Interaction | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        message_id: int | None = None,
        permissions: int | None = None,
    ) -> Interaction:
        """Dispatch a modal submit (type 5) with text-input ``values`` by custom_id.

        The shown modal it answers is ``interaction``'s (the command or click the bot answered with a
        type-9 callback; ``custom_id`` may then be None), else the latest one the bot showed with this
        ``custom_id``: to ``user_id``'s interaction if there is one, else to anyone's. Two members can hold
        modals with the same custom_id; pass ``interaction`` to submit a particular one. The submit
        mirrors that modal's layout (action rows or labels), is checked against it (unknown or missing
        required inputs, lengths), and the guild, channel, user and message default to that interaction's.
        A ``user_id`` other than the opener's is delivered as is: Discord sends whoever submits, so the
        bot has to check it. Without a shown modal each value is sent in its own action row with a
        type-4 text input.
        """
        shown = interaction if interaction is not None else self._shown_modal(custom_id, user_id)
        if shown is not None:
            if shown.modal is None:
                raise ValueError(f"interaction {shown.id} was not answered with a modal")
            custom_id = custom_id or shown.modal.get("custom_id")
            if custom_id != shown.modal.get("custom_id"):
                raise ValueError(f"the modal shown is {shown.modal.get('custom_id')!r}, not {custom_id!r}")
            guild_id = guild_id if guild_id is not None else shown.guild_id
            channel_id = channel_id or shown.channel_id
            user_id = user_id or shown.user_id
            message_id = message_id or shown.message_id
            components = _modal_submit_components(shown.modal, values)
        else:
            components = [
                {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
                for key, value in values.items()
            ]
        if custom_id is None:
            raise ValueError("custom_id is needed without a shown modal")
        if channel_id is None or user_id is None:
            raise ValueError("channel_id and user_id are needed for a modal the bot did not show")
        guild = self._guild_for(guild_id, channel_id, user_id)
        stored = self.messages.get(message_id) if message_id is not None else None
        return await self._dispatch_interaction(
            5,
            {"custom_id": custom_id, "components": components},
            guild,
            channel_id,
            user_id,
            limit=guild.upload_limit if guild else DM_UPLOAD_LIMIT,
            permissions=permissions,
            locale="en-US",
            message=stored,
        )

    def _shown_modal(self, custom_id: str | None, user_id: int | None) -> Interaction | None:
        """The latest interaction answered with a modal of this custom_id, the user's own first."""
        shown = [i for i in self.interactions.values() if i.modal and i.modal.get("custom_id") == custom_id]
        own = [i for i in shown if i.user_id == user_id]
        candidates = own or shown
        return candidates[-1] if candidates else None

    def expire_interaction(self, token: str) -> None:
        """Model the 15-minute token lifetime: callbacks get 404 10062, webhooks 401 50027."""
        self.interactions[token].expired = True

    def _guild_for(self, guild_id: int | None, channel_id: int, user_id: int) -> FakeGuild | None:
        if guild_id is None:
            if channel_id not in self.channels:
                # An interaction in a DM with the bot: the channel exists on Discord's side.
                self.channels[channel_id] = FakeChannel(channel_id, "", None, type=1, recipient_id=user_id)
            if user_id not in self.users:
                raise ValueError(f"unknown user {user_id}: add_user() or add_member() first")
            return None
        guild = self.guilds.get(guild_id)
        if guild is None:
            raise ValueError(f"unknown guild {guild_id}: add_guild() first")
        if channel_id not in guild.channels:
            raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
        if user_id not in guild.members:
            raise ValueError(f"user {user_id} is not a member of guild {guild_id}: add_member() first")
        return guild

    def _minimal_message(
        self, message_id: int, channel_id: int, guild_id: int | None, custom_id: str, component_type: int
    ) -> dict[str, Any]:
        if component_type == 2:
            component: dict[str, Any] = {"type": 2, "style": 1, "label": "button", "custom_id": custom_id}
        else:
            component = {"type": component_type, "custom_id": custom_id, "options": [], "min_values": 1}
        msg = self._base_message(message_id, channel_id, guild_id, author=self.bot_user)
        msg["components"] = [{"type": 1, "components": [component]}]
        self.messages[message_id] = msg
        return msg

    def _build_options(
        self,
        options: Sequence[Mapping[str, Any]],
        level: Mapping[str, Any] | None,
        attachments: Mapping[str, tuple[str, bytes, str]],
        resolved: dict[str, dict[str, Any]],
        guild: FakeGuild | None,
        channel_id: int,
    ) -> list[dict[str, Any]]:
        defined = {o["name"]: o for o in (level or {}).get("options", []) if o.get("type") not in (1, 2)}
        built: list[dict[str, Any]] = []
        for raw in options:
            opt = dict(raw)
            name = opt["name"]
            spec = defined.get(name)
            if level is not None and spec is None:
                raise ValueError(f"the command has no option {name!r} (has {sorted(defined)})")
            value = opt.get("value")
            if "type" not in opt:
                opt["type"] = spec["type"] if spec else _python_option_type(value, attachments)
            if spec is not None:
                _check_option_value(spec, value)
            kind = opt["type"]
            if kind == 11:
                opt["value"] = str(self._resolve_attachment(value, attachments, resolved))
            elif kind in (6, 7, 8, 9):
                self._resolve_snowflake(kind, int(str(value)), resolved, guild, channel_id)
                opt["value"] = str(value)
            built.append(opt)
        given = {o["name"] for o in built}
        missing = [n for n, o in defined.items() if o.get("required") and n not in given]
        if missing:
            raise ValueError(f"required options missing: {missing}")
        return built

    def _resolve_attachment(
        self,
        value: Any,
        attachments: Mapping[str, tuple[str, bytes, str]],
        resolved: dict[str, dict[str, Any]],
    ) -> int:
        key = str(value)
        if key not in attachments:
            raise ValueError(f"attachment option value {key!r} is not a key of attachments=")
        filename, data, content_type = attachments[key]
        att = self._store_attachment(filename, data, content_type=content_type, ephemeral=True)
        resolved.setdefault("attachments", {})[att["id"]] = att
        return int(att["id"])

    def _resolve_snowflake(
        self,
        kind: int,
        value: int,
        resolved: dict[str, dict[str, Any]],
        guild: FakeGuild | None,
        channel_id: int,
    ) -> None:
        if kind in (6, 9) and value in self.users:
            resolved.setdefault("users", {})[str(value)] = self.user_payload(value)
            if guild is not None and value in guild.members:
                member = guild.member_payload(value, with_user=False)
                member["permissions"] = str(guild.permissions_for(value, channel_id))
                resolved.setdefault("members", {})[str(value)] = member
        elif kind in (8, 9) and guild is not None and value in guild.roles:
            resolved.setdefault("roles", {})[str(value)] = guild.roles[value].to_payload()
        elif kind == 7 and guild is not None and value in guild.channels:
            channel = guild.channel_payload(value)
            channel["permissions"] = str(guild.permissions_for(self.app_id, value))
            resolved.setdefault("channels", {})[str(value)] = channel
        else:
            raise ValueError(f"option value {value} is not a known user/role/channel")

    async def _dispatch_interaction(
        self,
        kind: int,
        data: dict[str, Any],
        guild: FakeGuild | None,
        channel_id: int,
        user_id: int,
        *,
        limit: int,
        permissions: int | None,
        locale: str,
        message: dict[str, Any] | None = None,
    ) -> Interaction:
        iid = self.snowflake()
        token = f"fake-itoken-{iid}-{secrets.token_urlsafe(16)}"
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.app_id),
            "type": kind,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": limit,  # required since discord.py 2.6
            "data": data,
            "channel_id": str(channel_id),
        }
        if guild is not None:
            member = guild.member_payload(user_id)
            stored = guild.members[user_id].permissions
            perms = permissions if permissions is not None else stored
            if perms is None:
                perms = guild.permissions_for(user_id, channel_id)
            member["permissions"] = str(perms)
            channel = guild.channel_payload(channel_id)
            channel["permissions"] = str(perms)
            payload.update(
                {
                    "guild_id": str(guild.id),
                    "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    # discord.py ignores the top-level channel_id: `channel` must be an object.
                    "channel": channel,
                    "member": member,
                    "app_permissions": str(guild.permissions_for(self.app_id, channel_id)),
                    "authorizing_integration_owners": {"0": str(guild.id)},
                    "context": 0,
                }
            )
        else:
            payload.update(
                {
                    "channel": {
                        "id": str(channel_id),
                        "type": 1,
                        "recipients": [self.user_payload(user_id)],
                        "last_message_id": None,
                        "flags": 0,
                    },
                    "user": self.user_payload(user_id),
                    "app_permissions": str(self.bot_permissions_in(channel_id)),
                    "authorizing_integration_owners": {"0": "0"},
                    "context": 1,
                }
            )
        if message is not None:
            payload["message"] = self._public(message)
        inter = Interaction(
            id=iid,
            token=token,
            type=kind,
            payload=payload,
            guild_id=guild.id if guild else None,
            channel_id=channel_id,
            user_id=user_id,
            attachment_size_limit=limit,
            message_id=int(message["id"]) if message is not None else None,
        )
        self.interactions[token] = inter  # before dispatching: the bot may answer before dispatch returns
        try:
            await self.dispatch("INTERACTION_CREATE", payload)
        except RuntimeError:
            del self.interactions[token]  # no session of the guild's shard: Discord never sent it
            raise
        return inter

    # -- gateway -------------------------------------------------------------------------------------

    async def dispatch(self, event: str, data: dict[str, Any], *, shard_id: int | None = None) -> int:
        """Send a DISPATCH (op 0) to the bot and return its ``s``.

        It goes to the shard owning ``data``'s guild (`shard_of`; shard 0 for DMs), or to ``shard_id``.
        While the socket is down (after `drop_gateway`) the event is kept and replayed on RESUME, like
        Discord does; without a session for that shard (it never IDENTIFYed) this raises.
        """
        shard = shard_id if shard_id is not None else self._shard_for(event, data)
        session = self._sessions.get(shard)
        if session is None:
            which = f" for shard {shard}" if self._sessions else ""
            raise RuntimeError(f"cannot dispatch {event}: no gateway session{which} (is the bot connected?)")
        return await self._emit(session, event, data)

    @property
    def shard_count(self) -> int | None:
        """The shard count the bot's sessions IDENTIFYed with (None before any IDENTIFY)."""
        return next((s.shard[1] for s in self._sessions.values()), None)

    @property
    def live_shards(self) -> list[int]:
        """Ids of the shards with a session whose socket is up, in order."""
        return sorted(sid for sid, s in self._sessions.items() if s.conn is not None)

    def _shard_for(self, event: str, data: Mapping[str, Any]) -> int:
        guild_id = data.get("id") if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE") else None
        guild_id = data.get("guild_id") or guild_id
        count = self.shard_count
        return 0 if guild_id is None or count is None else shard_of(int(guild_id), count)

    def _session_for(self, event: str, data: Mapping[str, Any]) -> _Session | None:
        return self._sessions.get(self._shard_for(event, data))

    async def _emit(self, session: _Session, event: str, data: dict[str, Any]) -> int:
        async with self._gw_lock:
            session.seq += 1
            frame = json.dumps({"op": 0, "t": event, "s": session.seq, "d": data})
            session.history.append((session.seq, frame))
            if session.conn is not None:
                try:
                    await session.conn.ws.send_str(frame)
                except (ConnectionError, RuntimeError):
                    log.debug("gateway send of %s failed; kept for RESUME", event)
            return session.seq

    async def _emit_if(self, intent: int, event: str, data: dict[str, Any]) -> None:
        session = self._session_for(event, data)
        if session is not None and session.intents & intent:
            await self._emit(session, event, data)

    async def drop_gateway(
        self,
        *,
        resume: bool = True,
        reconnect_op: bool = False,
        wait: bool = True,
        timeout: float = 10.0,
        shard_id: int = 0,
    ) -> None:
        """Cut shard ``shard_id``'s gateway connection the way Discord does; the bot must come back.

        ``resume=True``: close with code 4000 (or send op 7 RECONNECT if ``reconnect_op``); the client
        RESUMEs, gets missed events replayed and RESUMED. ``resume=False``: op 9 INVALID_SESSION (d=false);
        the client IDENTIFYs again and gets READY + GUILD_CREATEs. ``wait`` returns once it is back.
        Until then `dispatch` raises (there is no session), and discord.py's default
        ``Client.before_identify_hook`` sleeps 5 s before that second IDENTIFY: override it in test bots.
        """
        session = self._sessions.get(shard_id)
        conn = session.conn if session is not None else None
        if session is None or conn is None:
            raise RuntimeError(f"no gateway connection of shard {shard_id} to drop")
        before = (self.resume_count, self.identify_count)
        async with self._gw_lock:
            session.conn = None
            if not resume:
                del self._sessions[shard_id]
                await conn.ws.send_str(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
            elif reconnect_op:
                await conn.ws.send_str(json.dumps({"op": 7, "d": None, "s": None, "t": None}))
            else:
                await conn.ws.close(code=_RESUMABLE_CLOSE, message=b"fake drop")
        if not wait:
            return

        def back() -> bool:
            return self.resume_count > before[0] if resume else self.identify_count > before[1]

        async with self._cond:
            try:
                async with asyncio.timeout(timeout):
                    while not back():
                        self._check_watched()
                        await self._cond.wait()
            except TimeoutError:
                raise AssertionError("the bot did not come back to the gateway") from None

    async def wait_for_gateway(self, *, identify_count: int = 1, timeout: float = 10.0) -> None:
        """Wait until the bot IDENTIFYed ``identify_count`` times (READY and GUILD_CREATEs sent)."""
        async with self._cond:
            async with asyncio.timeout(timeout):
                while self.identify_count < identify_count:
                    self._check_watched()
                    await self._cond.wait()

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _Conn(ws, dict(request.query))
        self._conns.add(conn)
        self.gateway_connections += 1
        try:
            await ws.send_str(
                json.dumps(
                    {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None}
                )
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_gateway_frame(conn, json.loads(msg.data))
                elif msg.type is WSMsgType.BINARY:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self._conns.discard(conn)
            for session in self._sessions.values():
                if session.conn is conn:
                    session.conn = None
        return ws

    async def _on_gateway_frame(self, conn: _Conn, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        data = frame.get("d")
        if op == 1:
            await conn.ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif op == 8:
            await self._members_chunk(conn, data or {})
        elif op in (3, 4):
            pass  # presence and voice state updates: nothing to model
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, conn: _Conn, data: dict[str, Any]) -> None:
        if data.get("token") != self.bot_token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = data.get("shard", [0, 1])
        if not (
            isinstance(shard, list)
            and len(shard) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
            and 0 <= shard[0] < shard[1]
        ):
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        shard_id, count = shard
        session = _Session(f"fake-session-{next(self._session_ids)}", intents, [shard_id, count], conn=conn)
        async with self._gw_lock:
            if self.shard_count != count:
                self._sessions.clear()  # another shard count: the sessions of the old one are gone
            self._sessions[shard_id] = session  # replaces an earlier session of this shard
        self.identify_count += 1
        self.identified_shards.append((shard_id, count))
        guilds = [g for g in self.guilds.values() if shard_of(g.id, count) == shard_id]
        ready = {
            "v": 10,
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "application": {"id": str(self.app_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "shard": session.shard,
        }
        await self._emit(session, "READY", ready)
        for guild in guilds:
            await self._emit(session, "GUILD_CREATE", guild.gateway_payload())
        await self._notify()

    async def _resume(self, conn: _Conn, data: dict[str, Any]) -> None:
        session = next((s for s in self._sessions.values() if s.id == data.get("session_id")), None)
        if session is None or data.get("token") != self.bot_token:
            await conn.ws.send_str(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
            return
        seen = int(data.get("seq") or 0)
        async with self._gw_lock:
            for s, frame in session.history:
                if s > seen:
                    await conn.ws.send_str(frame)
            session.conn = conn
        # `d` must be a dict: discord.py stores `__shard_id__` in it (null crashes bot.start()).
        await self._emit(session, "RESUMED", {})
        self.resume_count += 1
        await self._notify()

    async def _members_chunk(self, conn: _Conn, data: dict[str, Any]) -> None:
        guild = self.guilds.get(int(data.get("guild_id", 0)))
        session = next((s for s in self._sessions.values() if s.conn is conn), None)
        if guild is None or session is None:
            return
        chunk = {
            "guild_id": str(guild.id),
            "members": [guild.member_payload(uid) for uid in guild.members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self._emit(session, "GUILD_MEMBERS_CHUNK", chunk)

    # -- REST plumbing -------------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Callable[[_Call], Awaitable[_Answer]]]]:
        handlers: dict[str, Callable[[_Call], Awaitable[_Answer]]] = {
            "GET /users/@me": self._get_me,
            "POST /users/@me/channels": self._create_dm,
            "GET /users/{user_id}": self._get_user,
            "GET /oauth2/applications/@me": self._get_application,
            "GET /gateway/bot": self._get_gateway_bot,
            "GET /gateway": self._get_gateway,
            "PUT /applications/{application_id}/commands": self._put_commands,
            "GET /applications/{application_id}/commands": self._get_commands,
            "PUT /applications/{application_id}/guilds/{guild_id}/commands": self._put_commands,
            "GET /applications/{application_id}/guilds/{guild_id}/commands": self._get_commands,
            INTERACTION_CALLBACK: self._callback,
            FOLLOWUP_POST: self._followup,
            "GET " + WEBHOOK_MESSAGE: self._get_webhook_message,
            "PATCH " + WEBHOOK_MESSAGE: self._edit_webhook_message,
            "DELETE " + WEBHOOK_MESSAGE: self._delete_webhook_message,
            "GET /channels/{channel_id}": self._get_channel,
            "POST /channels/{channel_id}/typing": self._typing,
            "GET /channels/{channel_id}/messages": self._history,
            CHANNEL_MESSAGES_POST: self._post_message,
            "GET /channels/{channel_id}/messages/{message_id}": self._get_message,
            "PATCH /channels/{channel_id}/messages/{message_id}": self._edit_message,
            "DELETE /channels/{channel_id}/messages/{message_id}": self._delete_message,
            "GET /guilds/{guild_id}": self._get_guild,
            "GET /guilds/{guild_id}/channels": self._get_guild_channels,
            "GET /guilds/{guild_id}/roles": self._get_guild_roles,
            "GET /guilds/{guild_id}/members/{user_id}": self._get_member,
            "GET /cdn/{attachment_id}/{filename}": self._cdn_get,
        }
        assert set(handlers) == set(ROUTES)
        table = []
        for template in ROUTES:  # order matters: "/users/@me" before "/users/{user_id}"
            method, path = template.split(" ", 1)
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
            table.append((template, re.compile(f"{method} {pattern}"), handlers[template]))
        return table

    def _match(self, method: str, path: str) -> tuple[str | None, dict[str, str], Any]:
        probe = f"{method} {path}"
        for template, pattern, handler in self._routes:
            found = pattern.fullmatch(probe)
            if found is not None:
                return template, found.groupdict(), handler
        return None, {}, None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(API_PREFIX + "/"):
            path = path[len(API_PREFIX) :]
        elif not path.startswith("/cdn/"):
            path = request.path  # outside the API: only the catch-all answers
        route, params, handler = self._match(request.method, path)
        body, uploads = await _read_body(request)
        rec = RecordedRequest(
            method=request.method,
            path=path,
            route=route,
            params=params,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            json=body,
            files=[(u.field, u.filename, u.data) for u in uploads],
        )
        self.requests.append(rec)
        answer = await self._answer(request, rec, handler, body, uploads)
        rec.status = answer.status
        rec.response = copy.deepcopy(answer.data) if answer.raw is None else None
        if rec.refused:
            rec.expected = next((e for e in self.expected_refusals if e.matches(rec)), None)
            if rec.expected is not None:
                rec.expected.hits += 1
        await self._notify()
        return _to_response(answer)

    async def _answer(
        self,
        request: web.Request,
        rec: RecordedRequest,
        handler: Callable[[_Call], Awaitable[_Answer]] | None,
        body: Any,
        uploads: list[Upload],
    ) -> _Answer:
        if handler is None:
            return _error(404, 0, "Unknown route")
        needs_token = not any(f"{rec.method} {rec.path}".startswith(p) for p in _TOKENLESS_PREFIXES)
        if needs_token and rec.headers.get("authorization") != f"Bot {self.bot_token}":
            return _error(401, 0, "401: Unauthorized")
        fault = self._take_fault(rec)
        if fault is not None:
            rec.fault = fault
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if not fault.after_work:
                return self._fault_answer(fault)
        try:
            answer = await handler(_Call(request, rec, rec.params, body, uploads))
        except _Refusal as refusal:
            answer = refusal.answer
        if fault is not None:
            return self._fault_answer(fault)
        return answer

    # -- REST: login, gateway, commands ----------------------------------------------------------------

    async def _get_me(self, call: _Call) -> _Answer:
        return _Answer(
            200, {**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0, "locale": "en-US"}
        )

    async def _get_user(self, call: _Call) -> _Answer:
        uid = _int(call.params["user_id"])
        if uid not in self.users:
            raise _refuse(404, 10013)
        return _Answer(200, self.user_payload(uid))

    async def _get_application(self, call: _Call) -> _Answer:
        # No interactions_endpoint_url: with one, discord.py warns that gateway interactions are off.
        return _Answer(
            200,
            {
                "id": str(self.app_id),
                "name": self.bot_name,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.user_payload(self.owner_user_id),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "bot": self.bot_user,
                "approximate_guild_count": len(self.guilds),
            },
        )

    async def _get_gateway_bot(self, call: _Call) -> _Answer:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _Answer(
            200,
            {
                "url": self.gateway_url.rstrip("/"),
                "shards": self.recommended_shards,
                "session_start_limit": limit,
            },
        )

    async def _get_gateway(self, call: _Call) -> _Answer:
        return _Answer(200, {"url": self.gateway_url.rstrip("/")})

    def _command_scope(self, call: _Call) -> int | None:
        if _int(call.params["application_id"]) != self.app_id:
            raise _refuse(403, 50001)
        if "guild_id" not in call.params:
            return None
        gid = _int(call.params["guild_id"])
        if gid not in self.guilds:
            raise _refuse(403, 50001)  # not in the guild (or no applications.commands scope)
        return gid

    async def _get_commands(self, call: _Call) -> _Answer:
        return _Answer(200, self.commands.get(self._command_scope(call), []))

    async def _put_commands(self, call: _Call) -> _Answer:
        scope = self._command_scope(call)
        body = call.body
        if not isinstance(body, list):
            raise _form_error({"_root": "Expected an array of application commands"})
        if self.validate_payloads:
            problems = _command_problems(body)
            if problems:
                raise _form_error(problems)
        old = {(c["name"], c.get("type", 1)): c for c in self.commands.get(scope, [])}
        stored = []
        for cmd in body:
            kind = cmd.get("type", 1)
            previous = old.get((cmd["name"], kind))
            echoed = {
                **cmd,
                # Discord keeps a command's id across bulk overwrites when its name and type stay.
                "id": previous["id"] if previous else str(self.snowflake()),
                "application_id": str(self.app_id),
                "version": str(self.snowflake()),
                "type": kind,
                "description": cmd.get("description", ""),
                "default_member_permissions": (
                    None
                    if cmd.get("default_member_permissions") is None
                    else str(cmd["default_member_permissions"])
                ),
                "nsfw": cmd.get("nsfw", False),
            }
            if scope is not None:
                echoed["guild_id"] = str(scope)
            stored.append(echoed)
        self.commands[scope] = stored
        self.command_syncs += 1
        return _Answer(200, stored)

    # -- REST: interactions --------------------------------------------------------------------------

    def _interaction_for_callback(self, call: _Call) -> Interaction:
        inter = self.interactions.get(call.params["interaction_token"])
        if inter is None or str(inter.id) != call.params["interaction_id"] or inter.expired:
            raise _refuse(404, 10062)
        if (
            self.callback_deadline is not None
            and time.monotonic() - inter.created_at > self.callback_deadline
        ):
            raise _refuse(404, 10062)
        return inter

    async def _callback(self, call: _Call) -> _Answer:
        inter = self._interaction_for_callback(call)
        if inter.response_type is not None:
            raise _refuse(400, 40060)
        body = call.body if isinstance(call.body, dict) else {}
        kind = body.get("type")
        data = body.get("data") or {}
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 5: {4, 5} | ({6, 7} if inter.message_id else set())}
        if kind not in allowed.get(inter.type, set()):
            raise _form_error({"type": f"Interaction response type {kind} is not valid for this interaction"})
        message: dict[str, Any] | None = None
        if kind == 4:
            self._check_uploads(call, inter.attachment_size_limit)
            message = self._create_message(
                inter.channel_id, data, call.uploads, interaction=inter, flags=int(data.get("flags") or 0)
            )
            inter.original_message_id = int(message["id"])
        elif kind == 5:
            # The "thinking..." placeholder; only its ephemerality is decided now (for good).
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            message = self._create_message(
                inter.channel_id, {}, [], interaction=inter, flags=flags, allow_empty=True
            )
            inter.original_message_id = int(message["id"])
        elif kind in (6, 7):
            inter.original_message_id = inter.message_id
            if kind == 7:
                assert inter.message_id is not None
                self._check_uploads(call, inter.attachment_size_limit)
                message = self.messages[inter.message_id]
                self._apply_edit(message, data, call.uploads)
        elif kind == 9:
            if self.validate_payloads:
                problems = _modal_problems(data)
                if problems:
                    raise _form_error(problems)
            inter.modal = data
        inter.response_type = kind
        if message is not None:
            await self._echo_message(message, "MESSAGE_CREATE" if kind in (4, 5) else "MESSAGE_UPDATE")
        if call.rec.query.get("with_response") not in ("1", "true", "True"):
            return _Answer(204)
        response_id = inter.original_message_id if kind != 9 else None
        result: dict[str, Any] = {
            "interaction": {
                "id": str(inter.id),
                "type": inter.type,
                "response_message_id": str(response_id) if response_id else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(message and message["flags"] & EPHEMERAL),
            },
            "resource": {"type": kind},
        }
        if message is not None:
            result["resource"]["message"] = self._public(message)
        return _Answer(200, result)

    def _interaction_for_webhook(self, call: _Call) -> Interaction:
        if _int(call.params["application_id"]) != self.app_id:
            raise _refuse(404, 10015)
        inter = self.interactions.get(call.params["interaction_token"])
        if inter is None or inter.expired:
            raise _refuse(401, 50027)
        if inter.response_type is None:
            raise _refuse(404, 10015)  # no followups or edits before the interaction is acknowledged
        return inter

    def _webhook_message(self, call: _Call, inter: Interaction) -> dict[str, Any]:
        ref = call.params["message_id"]
        if ref == "@original":
            if inter.original_message_id is None:
                raise _refuse(404, 10008)
            mid = inter.original_message_id
        else:
            mid = _int(ref)
            if self._message_tokens.get(mid) != inter.token and mid != inter.original_message_id:
                raise _refuse(404, 10008)
        msg = self.messages.get(mid)
        if msg is None or msg["deleted"]:
            raise _refuse(404, 10008)
        return msg

    async def _followup(self, call: _Call) -> _Answer:
        inter = self._interaction_for_webhook(call)
        body = call.body if isinstance(call.body, dict) else {}
        self._check_uploads(call, inter.attachment_size_limit)
        original = self.messages.get(inter.original_message_id or 0)
        if inter.response_type == 5 and original is not None and original["flags"] & LOADING:
            # Discord: a followup sent while the deferred response still loads *is* that response;
            # its own ephemeral flag is ignored (the defer decided it).
            self._apply_edit(original, body, call.uploads, validate_empty=True)
            message = original
            event = "MESSAGE_UPDATE"
        else:
            message = self._create_message(
                inter.channel_id, body, call.uploads, interaction=inter, flags=int(body.get("flags") or 0)
            )
            event = "MESSAGE_CREATE"
        await self._echo_message(message, event)
        if call.rec.query.get("wait") in ("0", "false", "False"):
            return _Answer(204)
        return _Answer(200, self._public(message))

    async def _get_webhook_message(self, call: _Call) -> _Answer:
        inter = self._interaction_for_webhook(call)
        return _Answer(200, self._public(self._webhook_message(call, inter)))

    async def _edit_webhook_message(self, call: _Call) -> _Answer:
        inter = self._interaction_for_webhook(call)
        msg = self._webhook_message(call, inter)
        self._check_uploads(call, inter.attachment_size_limit)
        self._apply_edit(
            msg, call.body if isinstance(call.body, dict) else {}, call.uploads, validate_empty=True
        )
        await self._echo_message(msg, "MESSAGE_UPDATE")
        return _Answer(200, self._public(msg))

    async def _delete_webhook_message(self, call: _Call) -> _Answer:
        inter = self._interaction_for_webhook(call)
        msg = self._webhook_message(call, inter)
        await self._delete(msg)
        return _Answer(204)

    # -- REST: channels and messages -----------------------------------------------------------------

    def _channel(self, call: _Call, *, need: int = VIEW_CHANNEL, missing_code: int = 50001) -> FakeChannel:
        channel = self.channels.get(_int(call.params["channel_id"]))
        if channel is None:
            raise _refuse(404, 10003)
        if self.permissions_enforced and channel.guild_id is not None:
            perms = self.bot_permissions_in(channel.id)
            if not perms & VIEW_CHANNEL:
                raise _refuse(403, 50001)
            if perms & need != need:
                raise _refuse(403, missing_code)
        return channel

    def _channel_payload(self, channel: FakeChannel) -> dict[str, Any]:
        if channel.guild_id is None:
            recipient = channel.recipient_id or 0
            return {
                "id": str(channel.id),
                "type": 1,
                "recipients": [self.user_payload(recipient)],
                "last_message_id": None,
                "flags": 0,
            }
        return self.guilds[channel.guild_id].channel_payload(channel.id)

    def _channel_message(self, call: _Call, channel: FakeChannel) -> dict[str, Any]:
        msg = self.messages.get(_int(call.params["message_id"]))
        if msg is None or msg["deleted"] or msg["channel_id"] != str(channel.id) or msg["flags"] & EPHEMERAL:
            raise _refuse(404, 10008)  # ephemeral messages are not reachable through the channel
        return msg

    async def _get_channel(self, call: _Call) -> _Answer:
        return _Answer(200, self._channel_payload(self._channel(call)))

    async def _typing(self, call: _Call) -> _Answer:
        self._channel(call, need=SEND_MESSAGES, missing_code=50013)
        return _Answer(204)

    async def _history(self, call: _Call) -> _Answer:
        channel = self._channel(call, need=VIEW_CHANNEL | READ_MESSAGE_HISTORY)
        try:
            limit = int(call.rec.query.get("limit", "50"))
        except ValueError:
            raise _form_error({"limit": "Value is not int."}) from None
        if not 1 <= limit <= 100:
            raise _form_error({"limit": "Int value should be between 1 and 100."})
        before = _int(call.rec.query.get("before", str(1 << 63)))
        after = _int(call.rec.query.get("after", "0"))
        visible = [
            m
            for mid, m in self.messages.items()
            if m["channel_id"] == str(channel.id)
            and not m["deleted"]
            and not m["flags"] & EPHEMERAL
            and after < mid < before
        ]
        visible.sort(key=lambda m: int(m["id"]), reverse=True)
        if "after" in call.rec.query and "before" not in call.rec.query:
            visible = visible[-limit:]  # the oldest ones after `after`, still newest first
        return _Answer(200, [self._public(m) for m in visible[:limit]])

    async def _post_message(self, call: _Call) -> _Answer:
        need = VIEW_CHANNEL | SEND_MESSAGES | (ATTACH_FILES if call.uploads else 0)
        channel = self._channel(call, need=need, missing_code=50013)
        if channel.guild_id is None and channel.recipient_id in self.dm_closed:
            raise _refuse(403, 50007)
        body = call.body if isinstance(call.body, dict) else {}
        nonce = body.get("nonce")
        if nonce is not None and len(str(nonce)) > 25:
            raise _form_error({"nonce": "Must be 25 or fewer in length."})
        key = str(nonce)
        if nonce is not None and body.get("enforce_nonce"):
            self._forget_old_nonces()
            seen = self._nonces.get(key)
            if seen is not None and not self.messages[seen[0]]["deleted"]:
                # Discord: a repeated enforced nonce returns the earlier message and creates nothing.
                return _Answer(200, self._public(self.messages[seen[0]]))
        guild = self.guilds.get(channel.guild_id) if channel.guild_id is not None else None
        self._check_uploads(call, guild.upload_limit if guild else DM_UPLOAD_LIMIT)
        message = self._create_message(channel.id, body, call.uploads, flags=int(body.get("flags") or 0))
        if nonce is not None:
            message["nonce"] = nonce
            if body.get("enforce_nonce"):
                self._nonces[key] = (int(message["id"]), time.monotonic())
        await self._echo_message(message, "MESSAGE_CREATE")
        return _Answer(200, self._public(message))

    def _forget_old_nonces(self) -> None:
        horizon = time.monotonic() - NONCE_WINDOW
        for key in [k for k, (_, at) in self._nonces.items() if at < horizon]:
            del self._nonces[key]

    async def _get_message(self, call: _Call) -> _Answer:
        channel = self._channel(call, need=VIEW_CHANNEL | READ_MESSAGE_HISTORY)
        return _Answer(200, self._public(self._channel_message(call, channel)))

    async def _edit_message(self, call: _Call) -> _Answer:
        channel = self._channel(call)
        msg = self._channel_message(call, channel)
        if msg["author"]["id"] != str(self.app_id):
            raise _refuse(403, 50005)
        guild = self.guilds.get(channel.guild_id) if channel.guild_id is not None else None
        self._check_uploads(call, guild.upload_limit if guild else DM_UPLOAD_LIMIT)
        self._apply_edit(
            msg, call.body if isinstance(call.body, dict) else {}, call.uploads, validate_empty=True
        )
        await self._echo_message(msg, "MESSAGE_UPDATE")
        return _Answer(200, self._public(msg))

    async def _delete_message(self, call: _Call) -> _Answer:
        channel = self._channel(call)
        msg = self._channel_message(call, channel)
        if (
            msg["author"]["id"] != str(self.app_id)
            and not self.bot_permissions_in(channel.id) & MANAGE_MESSAGES
        ):
            raise _refuse(403, 50013)
        await self._delete(msg)
        return _Answer(204)

    async def _create_dm(self, call: _Call) -> _Answer:
        body = call.body if isinstance(call.body, dict) else {}
        uid = _int(str(body.get("recipient_id", "0")))
        if uid not in self.users:
            raise _form_error({"recipient_id": "Unknown user"})
        cid = self._dm_by_user.get(uid)
        if cid is None:
            cid = self.snowflake()
            self._dm_by_user[uid] = cid
            self.channels[cid] = FakeChannel(cid, "", None, type=1, recipient_id=uid)
        return _Answer(200, self._channel_payload(self.channels[cid]))

    # -- REST: guilds and CDN ------------------------------------------------------------------------

    def _guild(self, call: _Call) -> FakeGuild:
        guild = self.guilds.get(_int(call.params["guild_id"]))
        if guild is None:
            raise _refuse(404, 10004)
        return guild

    async def _get_guild(self, call: _Call) -> _Answer:
        return _Answer(200, self._guild(call).payload())

    async def _get_guild_channels(self, call: _Call) -> _Answer:
        guild = self._guild(call)
        return _Answer(200, [guild.channel_payload(cid) for cid in guild.channels])

    async def _get_guild_roles(self, call: _Call) -> _Answer:
        return _Answer(200, [role.to_payload() for role in self._guild(call).roles.values()])

    async def _get_member(self, call: _Call) -> _Answer:
        guild = self._guild(call)
        uid = _int(call.params["user_id"])
        if uid not in guild.members:
            raise _refuse(404, 10007)
        return _Answer(200, guild.member_payload(uid))

    async def _cdn_get(self, call: _Call) -> _Answer:
        stored = self.cdn.get(_int(call.params["attachment_id"]))
        if stored is None or stored.filename != call.params["filename"]:
            return _Answer(404, raw=b"Not Found", content_type="text/plain")
        return _Answer(200, raw=stored.data, content_type=stored.content_type or "application/octet-stream")

    # -- messages ------------------------------------------------------------------------------------

    def _check_uploads(self, call: _Call, limit: int) -> None:
        """10 files at most; each within the route's per-file ``limit``; the request within
        `request_limit` of it (413 / 40005, like Discord)."""
        uploads = call.uploads
        if len(uploads) > MAX_FILES and self.validate_payloads:
            raise _form_error({"files": f"Must be {MAX_FILES} or fewer in length."})
        if not self.upload_limit_enforced or not uploads:
            return
        if any(len(u.data) > limit for u in uploads):
            raise _refuse(413, 40005)
        if _request_bytes(call) > request_limit(limit):
            raise _refuse(413, 40005)

    def _store_attachment(
        self,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> dict[str, Any]:
        att_id = self.snowflake()
        name = sanitize_filename(filename)
        ctype = content_type or guess_content_type(name)
        stored = CdnFile(att_id, name, ctype, data)
        if self.cdn_dir is not None:
            stored.path = self.cdn_dir / str(att_id) / name
            stored.path.parent.mkdir(parents=True, exist_ok=True)
            stored.path.write_bytes(data)
        self.cdn[att_id] = stored
        url = f"{self.base_url}/cdn/{att_id}/{quote(name)}"
        att: dict[str, Any] = {
            "id": str(att_id),
            "filename": name,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": ctype,  # None when the extension says nothing (discord.py reads it with .get)
            "flags": 0,
        }
        if description is not None:
            att["description"] = description
        if ephemeral:
            att["ephemeral"] = True
        size = _image_size(data) if ctype and ctype.startswith("image/") else None
        if size is not None:
            att["width"], att["height"] = size
        return att

    def _new_attachments(
        self, declared: Any, uploads: list[Upload], existing: Sequence[dict[str, Any]], *, ephemeral: bool
    ) -> list[dict[str, Any]]:
        """Resolve a body's ``attachments``: kept existing ones (by id) plus every uploaded file.

        discord.py declares new files as ``{"id": <index of files[n]>, "filename", "description"?}``.
        """
        by_id = {a["id"]: a for a in existing}
        by_index = {_upload_index(u, i): u for i, u in enumerate(uploads)}
        kept: list[dict[str, Any]] = []
        described: dict[int, dict[str, Any]] = {}
        for item in declared if isinstance(declared, list) else []:
            ref = str(item.get("id"))
            if ref in by_id:
                kept.append(by_id[ref])
            elif ref.isdigit() and int(ref) in by_index:
                described[int(ref)] = item
        created = []
        for index, upload in by_index.items():
            info = described.get(index, {})
            created.append(
                self._store_attachment(
                    info.get("filename") or upload.filename,
                    upload.data,
                    description=info.get("description"),
                    ephemeral=ephemeral,
                )
            )
        return kept + created

    def _base_message(
        self, message_id: int, channel_id: int, guild_id: int | None, *, author: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "id": str(message_id),
            "type": 0,
            "channel_id": str(channel_id),
            "guild_id": str(guild_id) if guild_id is not None else None,
            "author": author,
            "content": "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "flags": 0,
            "allowed_mentions": None,
            "deleted": False,
        }

    def _create_message(
        self,
        channel_id: int,
        body: dict[str, Any],
        uploads: list[Upload],
        *,
        flags: int,
        interaction: Interaction | None = None,
        allow_empty: bool = False,
    ) -> dict[str, Any]:
        flags = (flags & _SENDABLE_FLAGS) | (flags & LOADING)
        if interaction is None:
            flags &= ~EPHEMERAL  # only interaction responses can be ephemeral
        if self.validate_payloads:
            problems = _message_problems(body, flags)
            if problems:
                raise _form_error(problems)
            if not allow_empty and not (_has_visible_content(body) or uploads):
                raise _refuse(400, 50006)
        guild = self.guild_of_channel(channel_id)
        reference = body.get("message_reference")
        referenced = None
        if isinstance(reference, dict) and reference.get("message_id") is not None:
            referenced = self.messages.get(_int(str(reference["message_id"])))
            if (referenced is None or referenced["deleted"]) and reference.get("fail_if_not_exists", True):
                raise _form_error({"message_reference": "Unknown message"})
        mid = self.snowflake()
        msg = self._base_message(mid, channel_id, guild.id if guild else None, author=self.bot_user)
        msg["content"] = body.get("content") or ""
        msg["tts"] = bool(body.get("tts"))
        msg["embeds"] = _normalize_embeds(body.get("embeds"))
        msg["components"] = list(body.get("components") or [])
        msg["flags"] = flags
        msg["allowed_mentions"] = body.get("allowed_mentions")
        msg["attachments"] = self._new_attachments(
            body.get("attachments"), uploads, [], ephemeral=bool(flags & EPHEMERAL)
        )
        if referenced is not None and isinstance(reference, dict):
            msg["type"] = 19
            msg["message_reference"] = {
                "type": 0,
                "message_id": referenced["id"],
                "channel_id": referenced["channel_id"],
                "guild_id": referenced["guild_id"],
            }
            msg["referenced_message"] = self._public(referenced)
        if interaction is not None:
            msg["type"] = 20 if interaction.type == 2 else 0
            msg["webhook_id"] = str(self.app_id)
            msg["application_id"] = str(self.app_id)
            msg["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": self.user_payload(interaction.user_id),
                "authorizing_integration_owners": interaction.payload.get(
                    "authorizing_integration_owners", {}
                ),
            }
            self._message_tokens[mid] = interaction.token
        self._compute_mentions(msg)
        self.messages[mid] = msg
        return msg

    def _apply_edit(
        self,
        msg: dict[str, Any],
        body: dict[str, Any],
        uploads: list[Upload],
        *,
        validate_empty: bool = False,
    ) -> None:
        flags = msg["flags"]
        if "flags" in body and body["flags"] is not None:
            # Only SUPPRESS_EMBEDS can be toggled; IS_COMPONENTS_V2 can be set but never unset.
            flags = (flags & ~SUPPRESS_EMBEDS) | (int(body["flags"]) & (SUPPRESS_EMBEDS | IS_COMPONENTS_V2))
        if self.validate_payloads:
            problems = _message_problems(body, flags)
            if problems:
                raise _form_error(problems)
        updated = dict(msg)
        if "content" in body:
            updated["content"] = body["content"] or ""
        if "embeds" in body:
            updated["embeds"] = _normalize_embeds(body["embeds"])
        if "components" in body:
            updated["components"] = list(body["components"] or [])
        if "allowed_mentions" in body:
            updated["allowed_mentions"] = body["allowed_mentions"]
        if "attachments" in body or uploads:
            declared = (
                body["attachments"]
                if "attachments" in body
                else [{"id": a["id"]} for a in msg["attachments"]]
            )
            updated["attachments"] = self._new_attachments(
                declared, uploads, msg["attachments"], ephemeral=bool(flags & EPHEMERAL)
            )
        updated["flags"] = flags & ~LOADING  # any edit resolves a deferred "thinking" message
        if (
            validate_empty
            and self.validate_payloads
            and not (_has_visible_content(updated) or updated["attachments"])
        ):
            raise _refuse(400, 50006)
        updated["edited_timestamp"] = _now_iso()
        msg.update(updated)
        self._compute_mentions(msg)

    def _compute_mentions(self, msg: dict[str, Any]) -> None:
        """The pings Discord derives from content, ``allowed_mentions`` and MENTION_EVERYONE."""
        allowed = msg.get("allowed_mentions")
        # Discord's defaults: a regular message parses every mention; interaction responses and webhook
        # messages parse user mentions only.
        default = {"users"} if msg.get("webhook_id") else {"users", "roles", "everyone"}
        parse = set(allowed.get("parse") or []) if isinstance(allowed, dict) else default
        users = {str(u) for u in allowed.get("users", [])} if isinstance(allowed, dict) else set()
        roles = {str(r) for r in allowed.get("roles", [])} if isinstance(allowed, dict) else set()
        content = msg["content"]
        guild = self.guilds.get(int(msg["guild_id"])) if msg.get("guild_id") else None
        may_everyone = guild is not None and bool(
            self.bot_permissions_in(int(msg["channel_id"])) & MENTION_EVERYONE
        )
        pinged_users = [
            uid for uid in dict.fromkeys(_USER_MENTION.findall(content)) if "users" in parse or uid in users
        ]
        msg["mentions"] = [self.user_payload(int(uid)) for uid in pinged_users]
        pinged_roles = []
        for rid in dict.fromkeys(_ROLE_MENTION.findall(content)):
            role = guild.roles.get(int(rid)) if guild else None
            if role is not None and ("roles" in parse or rid in roles) and (role.mentionable or may_everyone):
                pinged_roles.append(rid)
        msg["mention_roles"] = pinged_roles
        msg["mention_everyone"] = (
            bool(_EVERYONE_MENTION.search(content)) and "everyone" in parse and may_everyone
        )

    async def _delete(self, msg: dict[str, Any]) -> None:
        msg["deleted"] = True
        if msg["flags"] & EPHEMERAL:
            return
        event = {"id": msg["id"], "channel_id": msg["channel_id"]}
        if msg.get("guild_id"):
            event["guild_id"] = msg["guild_id"]
        await self._emit_if(self._intent_for(msg), "MESSAGE_DELETE", event)

    def _intent_for(self, msg: dict[str, Any]) -> int:
        return GUILD_MESSAGES_INTENT if msg.get("guild_id") else DM_MESSAGES_INTENT

    async def _echo_message(self, msg: dict[str, Any], event: str) -> None:
        if msg["flags"] & EPHEMERAL:
            return  # Discord never sends ephemeral messages over the gateway
        data = self._public(msg)
        if msg.get("guild_id") is None:
            data.pop("guild_id", None)
        await self._emit_if(self._intent_for(msg), event, data)

    @staticmethod
    def _public(msg: Mapping[str, Any]) -> dict[str, Any]:
        """A message as Discord answers it: a deep copy without the fake's bookkeeping keys."""
        data = copy.deepcopy({k: v for k, v in msg.items() if k not in ("deleted", "allowed_mentions")})
        if data.get("guild_id") is None:
            data.pop("guild_id", None)
        return data

    async def user_message(
        self,
        channel_id: int,
        user_id: int,
        content: str,
        *,
        attachments: Sequence[tuple[str, bytes, str]] = (),
    ) -> int:
        """A message posted by a user (e.g. for history reads); echoed as MESSAGE_CREATE. Returns its id."""
        guild = self.guild_of_channel(channel_id)
        mid = self.snowflake()
        msg = self._base_message(
            mid, channel_id, guild.id if guild else None, author=self.user_payload(user_id)
        )
        msg["content"] = content
        msg["attachments"] = [
            self._store_attachment(name, data, content_type=ctype) for name, data, ctype in attachments
        ]
        self._compute_mentions(msg)
        self.messages[mid] = msg
        await self._echo_message(msg, "MESSAGE_CREATE")
        return mid


# -- running a real bot against the fake ------------------------------------------------------------------


@contextlib.contextmanager
def redirect_discord(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base, gateway and asset URLs at ``fake`` (process-wide), then restore them."""
    http_route = discord.http.Route
    gateway = discord.gateway.DiscordWebSocket
    asset = discord.asset.Asset
    saved = (http_route.BASE, gateway.DEFAULT_GATEWAY, asset.BASE)
    http_route.BASE = fake.api_base
    gateway.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    asset.BASE = f"{fake.base_url}/assets"  # only URLs get built; nothing may reach discord.com
    try:
        yield
    finally:
        http_route.BASE, gateway.DEFAULT_GATEWAY, asset.BASE = saved


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord, bot: discord.Client, *, token: str | None = None, ready_timeout: float = 10.0
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``bot.start()`` against ``fake`` until the block ends; yields the start task once ready.

    Waits for ``on_ready`` (use ``guild_ready_timeout=0.05`` on the bot to keep that fast). On exit the bot
    is closed, and if ``bot.start()`` crashed (e.g. a KeyError from a malformed gateway payload) that
    exception is raised here, so a test cannot pass over a dead bot.
    """
    with redirect_discord(fake):
        task: asyncio.Task[None] = asyncio.create_task(bot.start(token or fake.bot_token), name="bot.start")
        fake.watch(task)
        try:
            async with asyncio.timeout(ready_timeout):
                # Poll: `wait_until_ready()` raises until login has created the client's ready event.
                while not bot.is_ready():
                    if task.done():
                        task.result()  # raises the crash
                        raise RuntimeError("bot.start() returned before the bot was ready")
                    await asyncio.sleep(0.01)
            yield task
        finally:
            await bot.close()
            done, _ = await asyncio.wait({task}, timeout=5.0)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            elif not task.cancelled() and task.exception() is not None:
                raise RuntimeError("bot.start() crashed") from task.exception()


# -- helpers ----------------------------------------------------------------------------------------------


async def _read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """JSON body, or multipart ``payload_json`` plus its ``files[n]`` parts."""
    if request.content_type == "multipart/form-data":
        payload: Any = None
        uploads: list[Upload] = []
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            data = bytes(await part.read(decode=False))
            if part.filename is not None:
                uploads.append(Upload(part.name or "", part.filename, data, part.headers.get("Content-Type")))
            elif part.name == "payload_json":
                payload = json.loads(data)
        return payload, uploads
    raw = await request.read()
    if not raw:
        return None, []
    try:
        return json.loads(raw), []
    except ValueError:
        return raw.decode(errors="replace"), []


def _to_response(answer: _Answer) -> web.Response:
    if answer.status == 204:
        return web.Response(status=204, headers=answer.headers)
    if answer.raw is not None:
        # A content type with parameters ("text/plain; charset=utf-8") goes in the header as it is:
        # aiohttp's content_type argument refuses parameters.
        headers = {**answer.headers, "Content-Type": answer.content_type or "application/octet-stream"}
        return web.Response(status=answer.status, body=answer.raw, headers=headers)
    # Exactly `application/json`: discord.py compares the header verbatim (`json_response` adds a charset).
    return web.Response(
        status=answer.status,
        body=json.dumps(answer.data).encode(),
        content_type="application/json",
        headers=answer.headers,
    )


def request_limit(file_limit: int) -> int:
    """The most a whole upload request may carry on a route whose per-file limit is ``file_limit``.

    Discord's docs cap a message request at 25 MiB, a rule from when every upload limit was 25 MiB;
    boosted servers (50/100 MiB) and Nitro members (500 MiB, interaction routes) do get single files
    above it. So the fake caps the sum at 25 MiB where the per-file limit is lower (three 9 MiB files
    in an unboosted server are refused), and at the per-file limit where that is higher.
    """
    return max(MAX_REQUEST_BYTES, file_limit)


def _request_bytes(call: _Call) -> int:
    """The size of an upload request: its files plus its JSON payload."""
    payload = len(json.dumps(call.body).encode()) if call.body is not None else 0
    return payload + sum(len(u.data) for u in call.uploads)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _form_error({"snowflake": f"Value {text!r} is not snowflake."}) from None


def _upload_index(upload: Upload, position: int) -> int:
    found = re.fullmatch(r"files\[(\d+)\]", upload.field)
    return int(found.group(1)) if found else position


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:
        return None


def _find_option(level: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    for opt in level.get("options", []):
        if opt.get("name") == name and opt.get("type") in (1, 2):
            return cast(dict[str, Any], opt)
    return None


def _python_option_type(value: Any, attachments: Mapping[str, Any]) -> int:
    if isinstance(value, str) and value in attachments:
        return 11
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def _check_option_value(spec: Mapping[str, Any], value: Any) -> None:
    """What Discord's client enforces before it sends a command."""
    name, kind = spec["name"], spec["type"]
    expected: dict[int, tuple[type, ...]] = {3: (str,), 4: (int,), 5: (bool,), 10: (int, float)}
    if kind in expected and (
        not isinstance(value, expected[kind]) or (kind in (4, 10) and isinstance(value, bool))
    ):
        raise ValueError(f"option {name!r} (type {kind}) cannot take {value!r}")
    choices = spec.get("choices")
    if choices and not spec.get("autocomplete") and value not in [c["value"] for c in choices]:
        raise ValueError(
            f"option {name!r}: {value!r} is not one of the choices {[c['value'] for c in choices]}"
        )
    if kind in (4, 10):
        if spec.get("min_value") is not None and value < spec["min_value"]:
            raise ValueError(f"option {name!r}: {value} < min_value {spec['min_value']}")
        if spec.get("max_value") is not None and value > spec["max_value"]:
            raise ValueError(f"option {name!r}: {value} > max_value {spec['max_value']}")
    if kind == 3:
        if len(value) < (spec.get("min_length") or (1 if spec.get("required") else 0)):
            raise ValueError(f"option {name!r}: {value!r} is too short")
        if spec.get("max_length") is not None and len(value) > spec["max_length"]:
            raise ValueError(f"option {name!r}: {value!r} is longer than {spec['max_length']}")


def _walk_components(components: Any) -> Iterator[dict[str, Any]]:
    for comp in components if isinstance(components, list) else []:
        if not isinstance(comp, dict):
            continue
        yield comp
        yield from _walk_components(comp.get("components"))
        for key in ("component", "accessory"):
            if isinstance(comp.get(key), dict):
                yield from _walk_components([comp[key]])


def _find_component(components: Any, custom_id: str) -> dict[str, Any] | None:
    return next((c for c in _walk_components(components) if c.get("custom_id") == custom_id), None)


def _has_visible_content(body: Mapping[str, Any]) -> bool:
    return bool(
        body.get("content")
        or body.get("embeds")
        or body.get("components")
        or body.get("sticker_ids")
        or body.get("poll")
    )


def _normalize_embeds(embeds: Any) -> list[dict[str, Any]]:
    return [{"type": "rich", **e} for e in embeds or [] if isinstance(e, dict)]


# -- validation: what Discord answers 400 / 50035 to -------------------------------------------------------
#
# Limits: shared/reference/discord-platform.md, discord-api-docs (resources/message, components/reference,
# interactions/application-commands) and discord-api-spec's openapi.json. Each check is a small function
# returning ``{"path.of.field": "message"}``; an empty dict means Discord takes it.

Problems = dict[str, str]

CONTENT_LIMIT = 2000  # a bot's message content (Nitro users get 4000; bots never do)
MAX_EMBEDS = 10
EMBED_TOTAL_LIMIT = 6000  # title + description + field names/values + footer text + author name, all embeds
MAX_ACTION_ROWS = 5
MAX_ROW_BUTTONS = 5
MAX_SELECT_OPTIONS = 25
MAX_MODAL_COMPONENTS = 5
TEXT_INPUT_LIMIT = 4000
MAX_COMMAND_OPTIONS = 25
MAX_CHOICES = 25
COMMAND_SIZE_LIMIT = 8000  # names, descriptions and choice values of one slash command together
_MENTION_TYPES = ("users", "roles", "everyone")
_WEB_SCHEMES = ("http", "https")
_MEDIA_SCHEMES = ("http", "https", "attachment")
_SELECT_TYPES = (3, 5, 6, 7, 8)


def _text_problems(
    where: str, value: Any, high: int, *, low: int = 0, required: bool = False, strip: bool = False
) -> Problems:
    """``value`` must be a string of ``low``..``high`` characters; None is fine unless ``required``."""
    if value is None:
        return {where: "This field is required"} if required else {}
    if not isinstance(value, str):
        return {where: "Could not interpret value as string."}
    size = len(value.strip() if strip else value)
    if size < low or size > high:
        if low:
            return {where: f"Must be between {low} and {high} in length."}
        return {where: f"Must be {high} or fewer in length."}
    return {}


def _int_problems(where: str, value: Any, low: int, high: int) -> Problems:
    """``value`` (if given) must be an integer in ``low``..``high``."""
    if value is None:
        return {}
    if not isinstance(value, int) or isinstance(value, bool):
        return {where: "Value is not int."}
    if not low <= value <= high:
        return {where: f"int value should be between {low} and {high}."}
    return {}


def _url_problems(where: str, value: Any, high: int, schemes: Sequence[str]) -> Problems:
    """A URL field: a string of at most ``high`` characters with one of ``schemes``."""
    problems = _text_problems(where, value, high)
    if problems or value is None:
        return problems
    scheme = str(value).split(":", 1)[0].lower() if ":" in str(value) else ""
    if scheme not in schemes:
        return {where: f'Scheme "{scheme}" is not supported. Scheme must be one of {tuple(schemes)}.'}
    return {}


def _content_problems(body: Mapping[str, Any]) -> Problems:
    return _text_problems("content", body.get("content"), CONTENT_LIMIT)


def _embed_text(value: Any) -> str:
    """What counts towards an embed's size: Discord trims leading and trailing whitespace first."""
    return value.strip() if isinstance(value, str) else ""


def _embed_size(embed: Mapping[str, Any]) -> int:
    """The characters of one embed that count towards the 6,000 of a message."""
    size = len(_embed_text(embed.get("title"))) + len(_embed_text(embed.get("description")))
    for fld in embed.get("fields") or []:
        if isinstance(fld, dict):
            size += len(_embed_text(fld.get("name"))) + len(_embed_text(fld.get("value")))
    footer, author = embed.get("footer"), embed.get("author")
    size += len(_embed_text(footer.get("text"))) if isinstance(footer, dict) else 0
    size += len(_embed_text(author.get("name"))) if isinstance(author, dict) else 0
    return size


def _embed_field_problems(fields: Any, where: str) -> Problems:
    """At most 25 fields; each needs a name (1-256) and a value (1-1024), counted after trimming."""
    if fields is None:
        return {}
    if not isinstance(fields, list):
        return {where: "Expected an array."}
    problems: Problems = {}
    if len(fields) > 25:
        problems[where] = "Must be 25 or fewer in length."
    for j, fld in enumerate(fields):
        here = f"{where}.{j}"
        if not isinstance(fld, dict):
            problems[here] = "Expected an object."
            continue
        problems.update(
            _text_problems(f"{here}.name", fld.get("name"), 256, low=1, required=True, strip=True)
        )
        problems.update(
            _text_problems(f"{here}.value", fld.get("value"), 1024, low=1, required=True, strip=True)
        )
    return problems


def _embed_footer_problems(footer: Any, where: str) -> Problems:
    if footer is None:
        return {}
    if not isinstance(footer, dict):
        return {where: "Expected an object."}
    return {
        **_text_problems(f"{where}.text", footer.get("text"), 2048, strip=True),
        **_url_problems(f"{where}.icon_url", footer.get("icon_url"), 2048, _MEDIA_SCHEMES),
    }


def _embed_author_problems(author: Any, where: str) -> Problems:
    if author is None:
        return {}
    if not isinstance(author, dict):
        return {where: "Expected an object."}
    return {
        **_text_problems(f"{where}.name", author.get("name"), 256, strip=True),
        **_url_problems(f"{where}.url", author.get("url"), 2048, _WEB_SCHEMES),
        **_url_problems(f"{where}.icon_url", author.get("icon_url"), 2048, _MEDIA_SCHEMES),
    }


def _embed_media_problems(embed: Mapping[str, Any], where: str) -> Problems:
    """``image`` and ``thumbnail`` point at http(s) or an ``attachment://`` of the same request."""
    problems: Problems = {}
    for key in ("image", "thumbnail"):
        media = embed.get(key)
        if media is None:
            continue
        if not isinstance(media, dict):
            problems[f"{where}.{key}"] = "Expected an object."
            continue
        problems.update(_url_problems(f"{where}.{key}.url", media.get("url"), 2048, _MEDIA_SCHEMES))
    return problems


def _embed_problems(embed: Any, where: str) -> Problems:
    """One embed's own limits (the 6,000 total is `_embeds_problems`'s)."""
    if not isinstance(embed, dict):
        return {where: "Expected an object."}
    return {
        **_text_problems(f"{where}.title", embed.get("title"), 256, strip=True),
        **_text_problems(f"{where}.description", embed.get("description"), 4096, strip=True),
        **_url_problems(f"{where}.url", embed.get("url"), 2048, _WEB_SCHEMES),
        **_int_problems(f"{where}.color", embed.get("color"), 0, 0xFFFFFF),
        **_embed_field_problems(embed.get("fields"), f"{where}.fields"),
        **_embed_footer_problems(embed.get("footer"), f"{where}.footer"),
        **_embed_author_problems(embed.get("author"), f"{where}.author"),
        **_embed_media_problems(embed, where),
    }


def _embeds_problems(embeds: Any) -> Problems:
    """At most 10 embeds, each within its limits, and 6,000 characters for all of them together."""
    if embeds is None:
        return {}
    if not isinstance(embeds, list):
        return {"embeds": "Expected an array."}
    problems: Problems = {}
    if len(embeds) > MAX_EMBEDS:
        problems["embeds"] = f"Must be {MAX_EMBEDS} or fewer in length."
    for i, embed in enumerate(embeds):
        problems.update(_embed_problems(embed, f"embeds.{i}"))
    total = sum(_embed_size(e) for e in embeds if isinstance(e, dict))
    if total > EMBED_TOTAL_LIMIT:
        problems["embeds"] = f"Embed size exceeds maximum size of {EMBED_TOTAL_LIMIT}"
    return problems


def _allowed_mentions_problems(allowed: Any) -> Problems:
    """``parse`` holds known types only, ``users``/``roles`` at most 100 ids each, and a type is either
    parsed or listed, never both ("mutually exclusive", Discord's docs)."""
    if allowed is None:
        return {}
    if not isinstance(allowed, dict):
        return {"allowed_mentions": "Expected an object."}
    problems: Problems = {}
    parse = allowed.get("parse") or []
    if not isinstance(parse, list) or any(p not in _MENTION_TYPES for p in parse):
        problems["allowed_mentions.parse"] = f"Value must be one of {_MENTION_TYPES}."
    for key in ("users", "roles"):
        ids = allowed.get(key) or []
        if not isinstance(ids, list) or len(ids) > 100:
            problems[f"allowed_mentions.{key}"] = "Must be 100 or fewer in length."
        elif ids and isinstance(parse, list) and key in parse:
            problems["allowed_mentions"] = f"parse:[{key}] and {key}: [ids...] are mutually exclusive."
    return problems


def _message_problems(body: Mapping[str, Any], flags: int) -> Problems:
    """Everything Discord checks in a message create/edit body (and a callback's ``data``)."""
    problems: Problems = {}
    problems.update(_content_problems(body))
    problems.update(_embeds_problems(body.get("embeds")))
    problems.update(_allowed_mentions_problems(body.get("allowed_mentions")))
    components = body.get("components")
    if components:
        problems.update(_component_problems(components, v2=bool(flags & IS_COMPONENTS_V2)))
    if flags & IS_COMPONENTS_V2 and (body.get("content") or body.get("embeds")):
        problems["content"] = "Cannot use content or embeds with the IS_COMPONENTS_V2 flag."
    return problems


def _walk_paths(components: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every component under ``components`` with its path (``components.0.components.1``)."""
    for i, comp in enumerate(components if isinstance(components, list) else []):
        if not isinstance(comp, dict):
            continue
        here = f"{where}.{i}"
        yield here, comp
        yield from _walk_paths(comp.get("components"), f"{here}.components")
        for key in ("component", "accessory"):
            if isinstance(comp.get(key), dict):
                yield f"{here}.{key}", comp[key]
                yield from _walk_paths(comp[key].get("components"), f"{here}.{key}.components")


def _custom_id_problems(components: Any, where: str) -> Problems:
    """Every ``custom_id`` is 1-100 characters and unique within the message (or modal)."""
    problems: Problems = {}
    seen: set[str] = set()
    for here, comp in _walk_paths(components, where):
        custom_id = comp.get("custom_id")
        if custom_id is None:
            continue
        if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 100:
            problems[f"{here}.custom_id"] = f"Must be between 1 and 100 in length: {custom_id!r}"
        elif custom_id in seen:
            problems[f"{here}.custom_id"] = f"Component custom id cannot be duplicated: {custom_id!r}"
        seen.add(str(custom_id))
    return problems


def _button_problems(button: Mapping[str, Any], where: str) -> Problems:
    """Label 80; a link button has a url (512) and no custom_id; the others a custom_id and no url."""
    problems = _text_problems(f"{where}.label", button.get("label"), 80)
    style, custom_id = button.get("style"), button.get("custom_id")
    if style not in (1, 2, 3, 4, 5, 6):
        problems[f"{where}.style"] = f"Value must be one of (1, 2, 3, 4, 5, 6): {style!r}"
    elif style == 5:
        if custom_id is not None:
            problems[f"{where}.custom_id"] = "A link button cannot have a custom_id."
        problems.update(_url_problems(f"{where}.url", button.get("url"), 512, ("http", "https", "discord")))
        if button.get("url") is None:
            problems[f"{where}.url"] = "A link button needs a url."
    elif style == 6:
        if button.get("sku_id") is None or custom_id is not None:
            problems[f"{where}.sku_id"] = "A premium button needs a sku_id and no custom_id."
    else:
        if custom_id is None:
            problems[f"{where}.custom_id"] = "A non-link button needs a custom_id."
        if button.get("url") is not None:
            problems[f"{where}.url"] = "Only link buttons can have a url."
    return problems


def _select_option_problems(options: Any, where: str) -> Problems:
    """A string select's 1-25 options: label and value 1-100, description 100, values unique."""
    if not isinstance(options, list) or not 1 <= len(options) <= MAX_SELECT_OPTIONS:
        return {where: f"Must be between 1 and {MAX_SELECT_OPTIONS} in length."}
    problems: Problems = {}
    values: set[Any] = set()
    for k, opt in enumerate(options):
        here = f"{where}.{k}"
        if not isinstance(opt, dict):
            problems[here] = "Expected an object."
            continue
        problems.update(_text_problems(f"{here}.label", opt.get("label"), 100, low=1, required=True))
        problems.update(_text_problems(f"{here}.value", opt.get("value"), 100, low=1, required=True))
        problems.update(_text_problems(f"{here}.description", opt.get("description"), 100))
        if opt.get("value") in values:
            problems[f"{here}.value"] = "Select option values must be unique."
        values.add(opt.get("value"))
    return problems


def _select_problems(select: Mapping[str, Any], where: str) -> Problems:
    """custom_id required; placeholder 150; min_values 0-25 <= max_values 1-25 (<= options)."""
    problems: Problems = {}
    if select.get("custom_id") is None:
        problems[f"{where}.custom_id"] = "This field is required"
    problems.update(_text_problems(f"{where}.placeholder", select.get("placeholder"), 150))
    problems.update(_int_problems(f"{where}.min_values", select.get("min_values"), 0, 25))
    problems.update(_int_problems(f"{where}.max_values", select.get("max_values"), 1, 25))
    low, high = select.get("min_values", 1), select.get("max_values", 1)
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems[f"{where}.min_values"] = "min_values cannot be greater than max_values."
    if select.get("type") == 3:
        options = select.get("options")
        problems.update(_select_option_problems(options, f"{where}.options"))
        if isinstance(options, list) and isinstance(high, int) and high > len(options):
            problems[f"{where}.max_values"] = "max_values cannot be more than the number of options."
    return problems


def _action_row_problems(components: list[Any], where: str) -> Problems:
    """Legacy layout: at most 5 action rows, each holding 1-5 buttons or exactly one select menu."""
    problems: Problems = {}
    if len(components) > MAX_ACTION_ROWS:
        problems[where] = f"Must be {MAX_ACTION_ROWS} or fewer in length."
    for i, row in enumerate(components):
        here = f"{where}.{i}"
        if not isinstance(row, dict) or row.get("type") != 1:
            problems[f"{here}.type"] = "Top-level components must be action rows."
            continue
        children = [c for c in row.get("components") or [] if isinstance(c, dict)]
        buttons = [c for c in children if c.get("type") == 2]
        if not children:
            problems[f"{here}.components"] = "Must be between 1 and 5 in length."
        elif len(buttons) > MAX_ROW_BUTTONS:
            problems[f"{here}.components"] = f"Must be {MAX_ROW_BUTTONS} or fewer in length."
        elif buttons and len(buttons) != len(children):
            problems[f"{here}.components"] = "An action row holds buttons or one select menu, not both."
        elif not buttons and len(children) != 1:
            problems[f"{here}.components"] = "An action row holds one select menu."
    return problems


def _component_problems(components: Any, *, v2: bool) -> Problems:
    """A message's components: ids, each button and select menu, and (legacy) the action rows."""
    if not isinstance(components, list):
        return {"components": "Expected an array."}
    problems = _custom_id_problems(components, "components")
    for here, comp in _walk_paths(components, "components"):
        kind = comp.get("type")
        if kind == 2:
            problems.update(_button_problems(comp, here))
        elif kind in _SELECT_TYPES:
            problems.update(_select_problems(comp, here))
        elif kind == 4:
            problems[f"{here}.type"] = "Text inputs are only valid in modals."
    if not v2:
        problems.update(_action_row_problems(components, "components"))
    return problems


def _text_input_problems(text_input: Mapping[str, Any], where: str, *, in_row: bool) -> Problems:
    """A modal's text input: style 1/2, label 1-45 (required in a legacy action row; a Label component
    carries it otherwise), value 4000, placeholder 100, min_length 0-4000 <= max_length 1-4000."""
    problems: Problems = {}
    if text_input.get("custom_id") is None:
        problems[f"{where}.custom_id"] = "This field is required"
    if text_input.get("style") not in (1, 2):
        problems[f"{where}.style"] = f"Value must be one of (1, 2): {text_input.get('style')!r}"
    label = text_input.get("label")
    problems.update(_text_problems(f"{where}.label", label, 45, low=1, required=in_row))
    problems.update(_text_problems(f"{where}.value", text_input.get("value"), TEXT_INPUT_LIMIT))
    problems.update(_text_problems(f"{where}.placeholder", text_input.get("placeholder"), 100))
    low, high = text_input.get("min_length"), text_input.get("max_length")
    problems.update(_int_problems(f"{where}.min_length", low, 0, TEXT_INPUT_LIMIT))
    problems.update(_int_problems(f"{where}.max_length", high, 1, TEXT_INPUT_LIMIT))
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems[f"{where}.min_length"] = "min_length cannot be greater than max_length."
    return problems


def _modal_component_problems(top: Any, where: str) -> Problems:
    """One top-level modal component: an action row with one text input, a Label, or a text display."""
    if not isinstance(top, dict):
        return {where: "Expected an object."}
    kind = top.get("type")
    if kind == 1:
        children = top.get("components") or []
        if len(children) != 1 or not isinstance(children[0], dict) or children[0].get("type") != 4:
            return {f"{where}.components": "An action row in a modal holds exactly one text input."}
        return _text_input_problems(children[0], f"{where}.components.0", in_row=True)
    if kind == 18:
        problems = _text_problems(f"{where}.label", top.get("label"), 45, low=1, required=True)
        problems.update(_text_problems(f"{where}.description", top.get("description"), 100, low=1))
        child = top.get("component")
        if not isinstance(child, dict):
            problems[f"{where}.component"] = "This field is required"
        elif child.get("type") == 4:
            problems.update(_text_input_problems(child, f"{where}.component", in_row=False))
        elif child.get("type") in _SELECT_TYPES:
            problems.update(_select_problems(child, f"{where}.component"))
        return problems
    if kind == 10:
        return _text_problems(f"{where}.content", top.get("content"), 4000, low=1, required=True)
    return {f"{where}.type": f"Component type {kind!r} is not valid in a modal."}


def _modal_problems(modal: Mapping[str, Any]) -> Problems:
    """A type-9 callback's ``data``: custom_id 1-100, title 1-45, 1-5 components, unique custom_ids."""
    problems = _text_problems("data.custom_id", modal.get("custom_id"), 100, low=1, required=True)
    problems.update(_text_problems("data.title", modal.get("title"), 45, low=1, required=True))
    rows = modal.get("components")
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_MODAL_COMPONENTS:
        problems["data.components"] = f"Must be between 1 and {MAX_MODAL_COMPONENTS} in length."
        return problems
    for i, top in enumerate(rows):
        problems.update(_modal_component_problems(top, f"data.components.{i}"))
    problems.update(_custom_id_problems(rows, "data.components"))
    return problems


def _modal_submit_components(modal: Mapping[str, Any], values: Mapping[str, str]) -> list[dict[str, Any]]:
    """A submit mirroring the shown modal's layout, checked like Discord's client checks the form."""
    inputs = {c["custom_id"]: c for c in _walk_components(modal.get("components")) if c.get("type") == 4}
    unknown = set(values) - set(inputs)
    if unknown:
        raise ValueError(f"the modal has no text inputs {sorted(unknown)} (has {sorted(inputs)})")
    for cid, spec in inputs.items():
        value = values.get(cid, "")
        if spec.get("required", True) and not value:
            raise ValueError(f"text input {cid!r} is required")
        if value and not (spec.get("min_length") or 0) <= len(value) <= (spec.get("max_length") or 4000):
            raise ValueError(f"text input {cid!r}: length {len(value)} is outside its min/max length")

    def submitted(spec: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "type": 4,
            "id": spec.get("id", 0),
            "custom_id": spec["custom_id"],
            "value": values.get(spec["custom_id"], ""),
        }

    result: list[dict[str, Any]] = []
    for top in modal.get("components") or []:
        if top.get("type") == 1:
            children = [submitted(c) for c in top.get("components", []) if c.get("type") == 4]
            result.append({"type": 1, "id": top.get("id", 0), "components": children})
        elif (
            top.get("type") == 18
            and isinstance(top.get("component"), dict)
            and top["component"].get("type") == 4
        ):
            result.append({"type": 18, "id": top.get("id", 0), "component": submitted(top["component"])})
    return result


def _command_problems(commands: list[Any]) -> Problems:
    """A bulk overwrite: at most 100 slash commands (and 15 user, 15 message ones), unique names, each
    command within its limits."""
    problems: Problems = {}
    caps = {1: 100, 2: 15, 3: 15}
    counts: dict[Any, int] = {}
    seen: set[tuple[str, int]] = set()
    for i, cmd in enumerate(commands):
        if not isinstance(cmd, dict):
            problems[str(i)] = "Expected an object."
            continue
        kind = cmd.get("type", 1)
        counts[kind] = counts.get(kind, 0) + 1
        name = cmd.get("name", "")
        if (name, kind) in seen:
            problems[f"{i}.name"] = "Application command names must be unique"
        seen.add((name, kind))
        if kind == 1:
            problems.update(_chat_input_problems(cmd, str(i)))
            if _command_size(cmd) > COMMAND_SIZE_LIMIT:
                problems[str(i)] = f"Command exceeds maximum size ({COMMAND_SIZE_LIMIT})"
        else:
            problems.update(_text_problems(f"{i}.name", name, 32, low=1, required=True))
    for kind, count in counts.items():
        if count > caps.get(kind, 100):
            problems["_root"] = f"Must be {caps.get(kind, 100)} or fewer commands of type {kind}."
    return problems


def _command_size(level: Mapping[str, Any]) -> int:
    """Characters of a slash command's names, descriptions and choices (names and values), nested."""
    size = len(str(level.get("name") or "")) + len(str(level.get("description") or ""))
    for choice in level.get("choices") or []:
        if isinstance(choice, dict):
            size += len(str(choice.get("name") or "")) + len(str(choice.get("value") or ""))
    for opt in level.get("options") or []:
        if isinstance(opt, dict):
            size += _command_size(opt)
    return size


def _name_problems(level: Mapping[str, Any], where: str) -> Problems:
    """A command's or option's name (1-32, lower-case, no spaces) and description (1-100)."""
    problems: Problems = {}
    name = level.get("name", "")
    if not isinstance(name, str) or not _COMMAND_NAME.fullmatch(name) or name != name.lower():
        problems[f"{where}.name"] = "Command name is invalid"
    problems.update(
        _text_problems(f"{where}.description", level.get("description"), 100, low=1, required=True)
    )
    return problems


def _choice_problems(opt: Mapping[str, Any], where: str) -> Problems:
    """At most 25 choices (string, integer and number options only, not with autocomplete); each a
    name of 1-100 and a string value of at most 100 (Discord's docs; the OpenAPI spec says 6000)."""
    choices = opt.get("choices")
    if not choices:
        return {}
    problems: Problems = {}
    if opt.get("type") not in (3, 4, 10):
        problems[f"{where}.choices"] = "Choices are only valid for string, integer and number options."
    if opt.get("autocomplete"):
        problems[f"{where}.autocomplete"] = "Autocomplete cannot be set with choices."
    if len(choices) > MAX_CHOICES:
        problems[f"{where}.choices"] = f"Must be {MAX_CHOICES} or fewer in length."
    for k, choice in enumerate(choices):
        here = f"{where}.choices.{k}"
        if not isinstance(choice, dict):
            problems[here] = "Expected an object."
            continue
        problems.update(_text_problems(f"{here}.name", choice.get("name"), 100, low=1, required=True))
        if isinstance(choice.get("value"), str):
            problems.update(_text_problems(f"{here}.value", choice["value"], 100))
    return problems


def _string_length_problems(opt: Mapping[str, Any], where: str) -> Problems:
    """``min_length`` 0-6000 and ``max_length`` 1-6000, on string options only."""
    low, high = opt.get("min_length"), opt.get("max_length")
    if low is None and high is None:
        return {}
    if opt.get("type") != 3:
        return {f"{where}.min_length": "min_length/max_length are only valid for string options."}
    problems = {
        **_int_problems(f"{where}.min_length", low, 0, 6000),
        **_int_problems(f"{where}.max_length", high, 1, 6000),
    }
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems[f"{where}.min_length"] = "min_length cannot be greater than max_length."
    return problems


def _chat_input_problems(cmd: Mapping[str, Any], where: str) -> Problems:
    """A slash command, subcommand group or subcommand and, recursively, its options (25 at most, unique
    names, required before optional, subcommands not mixed with plain options)."""
    problems = _name_problems(cmd, where)
    options = cmd.get("options") or []
    if len(options) > MAX_COMMAND_OPTIONS:
        problems[f"{where}.options"] = f"Must be {MAX_COMMAND_OPTIONS} or fewer in length."
    names = [o.get("name") for o in options if isinstance(o, dict)]
    if len(names) != len(set(names)):
        problems[f"{where}.options"] = "Option names must be unique."
    nested = [o for o in options if isinstance(o, dict) and o.get("type") in (1, 2)]
    if nested and len(nested) != len(options):
        problems[f"{where}.options"] = "Subcommands and groups cannot be mixed with other options."
    if cmd.get("type") == 2 and any(o.get("type") != 1 for o in nested):
        problems[f"{where}.options"] = "A subcommand group holds subcommands only."
    optional_seen = False
    for j, opt in enumerate(options):
        here = f"{where}.options.{j}"
        if not isinstance(opt, dict):
            problems[here] = "Expected an object."
            continue
        if opt.get("type") in (1, 2):
            if cmd.get("type") == 1 and "." in where:
                problems[f"{here}.type"] = "A subcommand cannot hold subcommands."
            problems.update(_chat_input_problems(opt, here))
            continue
        problems.update(_name_problems(opt, here))
        problems.update(_choice_problems(opt, here))
        problems.update(_string_length_problems(opt, here))
        if opt.get("required"):
            if optional_seen:
                problems[f"{here}.required"] = "Required options must be placed before non-required options"
        else:
            optional_seen = True
    return problems
