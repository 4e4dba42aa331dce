"""The fake Discord's state and what tests use to build and observe it: ids, users, guilds, waits, faults."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.fakes.discord.constants import (
    ATTACH_FILES,
    DEFAULT_APP_ID,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    DISCORD_EPOCH_MS,
    EMBED_LINKS,
    PRIVILEGED_INTENTS,
    READ_MESSAGE_HISTORY,
    ROUTES,
    SEND_MESSAGES,
    VIEW_CHANNEL,
)
from tests.fakes.discord.records import (
    _STATUS_TEXTS,
    CdnFile,
    ExpectedRefusal,
    Fault,
    Interaction,
    RecordedRequest,
    _Answer,
    _Conn,
    _error,
    _Session,
)
from tests.fakes.discord.world import FakeChannel, FakeGuild, FakeMember
from tests.fakes.server import FakeServer


class DiscordCore(FakeServer[RecordedRequest, Fault]):
    """The fake Discord's state and the helpers every part uses (see `FakeDiscord`)."""

    def __init__(
        self,
        *,
        app_id: int = DEFAULT_APP_ID,
        bot_token: str = "discord-test-token",
        bot_name: str = "testbot",
        cdn_dir: Path | None = None,
    ) -> None:
        super().__init__()
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

        self.messages: dict[int, dict[str, Any]] = {}
        self.guilds: dict[int, FakeGuild] = {}
        # Servers that exist without the bot: Discord answers 403 Missing Access (50001) for them (counted
        # toward its ban of an address), 404 Unknown Guild (10004) for an id that is no server at all.
        self.foreign_guild_ids: set[int] = set()
        self.channels: dict[int, FakeChannel] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None = global) -> commands
        self.interactions: dict[str, Interaction] = {}  # by token
        self.cdn: dict[int, CdnFile] = {}
        self.expected_refusals: list[ExpectedRefusal] = []  # see `expect_refusal`
        self.command_syncs = 0
        self.identify_count = 0
        self.identified_shards: list[tuple[int, int]] = []  # (shard id, shard count) of every IDENTIFY
        self.resume_count = 0
        self.gateway_connections = 0
        self.api_base = ""
        self.gateway_url = ""

        self._ids = itertools.count(1)
        self._nonces: dict[str, tuple[int, float]] = {}
        self._dm_by_user: dict[int, int] = {}
        self._message_tokens: dict[int, str] = {}  # message id -> interaction token that made it
        self._cond = asyncio.Condition()
        self._gw_lock = asyncio.Lock()
        self._conns: set[_Conn] = set()
        self._sessions: dict[int, _Session] = {}  # by shard id; all share one shard count
        self.pending_events: list[tuple[str, dict[str, Any]]] = []  # world changes to tell the bot
        self._session_ids = itertools.count(1)
        self._watched: list[asyncio.Task[Any]] = []

        self.add_user(app_id, name=bot_name, bot=True)
        self.owner_user_id = self.add_user(self.snowflake(), name="owner")

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
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(max(1, round(retry_after))),
                "X-RateLimit-Scope": "global" if fault.is_global else "user",
            }
            if fault.is_global:
                headers["X-RateLimit-Global"] = "true"
            return _Answer(429, data, headers=headers)
        return _error(fault.status, fault.code, fault.message)
