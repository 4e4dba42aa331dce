"""Per-server governance data: settings, limit rules, allowed channels and roles, blocklist, strikes, audit.

Every function takes the server's id, and every query is filtered by it: no server reads another's data.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeVar, cast

from bot.domain.limits import LIMIT_FIELDS, LimitRule, Scope
from bot.domain.models import JobType
from bot.files import input_name, unused_inputs
from bot.store.db import Conn, Database

T = TypeVar("T")
SETTING_COLUMNS = frozenset(
    {
        "budget_dollars_per_day",
        "approvals_channel_id",
        "approvals_trusted_role_id",
        "audit_channel_id",
        "default_duration",
        "default_aspect_ratio",
        "default_model",
        "age_restricted_images",
        "strikes_to_block",
    }
)
REMOVED = "[removed]"  # what forgetting leaves in place of a member's prompt and image
IMAGE_JOB_TYPES = tuple(t.value for t in JobType if t.image_to_video)


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """A server's own settings; None means "not set here" (the bot's default applies)."""

    guild_id: int
    budget_dollars_per_day: float | None = None
    approvals_channel_id: int | None = None
    approvals_trusted_role_id: int | None = None
    audit_channel_id: int | None = None
    default_duration: int | None = None
    default_aspect_ratio: str | None = None
    default_model: str | None = None
    age_restricted_images: bool = False
    strikes_to_block: int = 3


@dataclass(frozen=True, slots=True)
class MemberStatus:
    strikes: int = 0
    blocked: bool = False


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    guild_id: int
    actor_id: int | None
    action: str
    job_id: int | None
    details: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What forgetting a member frees: their jobs (whose files go) and the input images no one else uses."""

    job_ids: list[int]
    inputs: list[str]


# Reads on every /video are cached this long; this process's own changes clear the cache at once, another
# process's (several workers, later) show within this time.
CACHE_SECONDS = 5.0


class Governance:
    """Repository functions for per-server governance."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}

    async def _cached(self, key: tuple[Any, ...], load: Callable[[], Awaitable[T]]) -> T:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return cast(T, hit[1])
        value = await load()
        self._cache[key] = (now + CACHE_SECONDS, value)
        return value

    @asynccontextmanager
    async def _write(self, guild_id: int) -> AsyncIterator[Conn]:
        """A write transaction for one server; its cached reads are dropped once it ends."""
        try:
            async with self.db.transaction() as conn:
                yield conn
        finally:
            self._changed(guild_id)

    def _changed(self, guild_id: int) -> None:
        for key in [k for k in self._cache if k[1] == guild_id]:
            del self._cache[key]

    # -- settings ----------------------------------------------------------------------------------------

    async def settings(self, guild_id: int) -> GuildSettings:
        return await self._cached(("settings", guild_id), lambda: self._settings(guild_id))

    async def _settings(self, guild_id: int) -> GuildSettings:
        row = await self.db.reader.fetch_one("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
        if row is None:
            return GuildSettings(guild_id)
        values = {f.name: row[f.name] for f in fields(GuildSettings)}
        values["age_restricted_images"] = bool(values["age_restricted_images"])
        return GuildSettings(**values)

    async def update_settings(self, guild_id: int, **values: Any) -> GuildSettings:
        unknown = set(values) - SETTING_COLUMNS
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        columns = ["guild_id", "updated_at", *values]
        placeholders = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{name} = excluded.{name}" for name in ["updated_at", *values])
        async with self._write(guild_id) as conn:
            await conn.execute(
                f"INSERT INTO guild_settings ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
                f" ON CONFLICT (guild_id) DO UPDATE SET {updates}",
                (guild_id, time.time(), *values.values()),
            )
        return await self.settings(guild_id)

    # -- limit rules -------------------------------------------------------------------------------------

    async def limit_rules(self, guild_id: int) -> list[LimitRule]:
        return list(await self._cached(("limits", guild_id), lambda: self._limit_rules(guild_id)))

    async def _limit_rules(self, guild_id: int) -> list[LimitRule]:
        rows = await self.db.reader.fetch_all(
            "SELECT * FROM limit_rules WHERE guild_id = ? ORDER BY scope, target_id",
            (guild_id,),
        )
        return [
            LimitRule(
                scope=row["scope"],
                target_id=row["target_id"],
                jobs_per_hour=row["jobs_per_hour"],
                video_seconds_per_day=row["video_seconds_per_day"],
                concurrent=row["concurrent"],
                pro=None if row["pro"] is None else bool(row["pro"]),
                hd=None if row["hd"] is None else bool(row["hd"]),
            )
            for row in rows
        ]

    async def set_limit_rule(self, guild_id: int, rule: LimitRule) -> LimitRule:
        """Set the given fields of a rule, keeping the fields it already had that are not given."""
        given = {name: getattr(rule, name) for name in LIMIT_FIELDS if getattr(rule, name) is not None}
        updates = ", ".join(f"{name} = excluded.{name}" for name in given) or "scope = excluded.scope"
        columns = ["guild_id", "scope", "target_id", *given]
        async with self._write(guild_id) as conn:
            await conn.execute(
                f"INSERT INTO limit_rules ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"  # noqa: S608
                f" ON CONFLICT (guild_id, scope, target_id) DO UPDATE SET {updates}",
                (guild_id, rule.scope, rule.target_id, *given.values()),
            )
        return next(
            r
            for r in await self.limit_rules(guild_id)
            if (r.scope, r.target_id) == (rule.scope, rule.target_id)
        )

    async def clear_limit_rule(self, guild_id: int, scope: Scope, target_id: int) -> bool:
        async with self._write(guild_id) as conn:
            deleted = await conn.execute(
                "DELETE FROM limit_rules WHERE guild_id = ? AND scope = ? AND target_id = ?",
                (guild_id, scope, target_id),
            )
            return deleted > 0

    # -- channels and roles ------------------------------------------------------------------------------

    async def allowed(self, guild_id: int, kind: Literal["channels", "roles"]) -> set[int]:
        return set(await self._cached((kind, guild_id), lambda: self._allowed(guild_id, kind)))

    async def _allowed(self, guild_id: int, kind: Literal["channels", "roles"]) -> set[int]:
        table, column = (
            ("allowed_channels", "channel_id") if kind == "channels" else ("allowed_roles", "role_id")
        )
        return {
            int(row[0])
            for row in await self.db.reader.fetch_all(
                f"SELECT {column} FROM {table} WHERE guild_id = ?",  # noqa: S608
                (guild_id,),
            )
        }

    async def set_allowed(
        self, guild_id: int, kind: Literal["channels", "roles"], item_id: int, allow: bool
    ) -> bool:
        """Add or remove one allowed channel or role; returns whether anything changed."""
        table, column = (
            ("allowed_channels", "channel_id") if kind == "channels" else ("allowed_roles", "role_id")
        )
        async with self._write(guild_id) as conn:
            if allow:
                sql = f"INSERT INTO {table} (guild_id, {column}) VALUES (?, ?) ON CONFLICT DO NOTHING"  # noqa: S608
            else:
                sql = f"DELETE FROM {table} WHERE guild_id = ? AND {column} = ?"  # noqa: S608
            return await conn.execute(sql, (guild_id, item_id)) > 0

    # -- blocklist ---------------------------------------------------------------------------------------

    async def blocklist(self, guild_id: int) -> list[tuple[str, bool]]:
        return list(await self._cached(("blocklist", guild_id), lambda: self._blocklist(guild_id)))

    async def _blocklist(self, guild_id: int) -> list[tuple[str, bool]]:
        return [
            (row[0], bool(row[1]))
            for row in await self.db.reader.fetch_all(
                "SELECT pattern, is_regex FROM blocklist WHERE guild_id = ? ORDER BY created_at",
                (guild_id,),
            )
        ]

    async def add_block_rule(self, guild_id: int, pattern: str, is_regex: bool, by: int) -> bool:
        async with self._write(guild_id) as conn:
            added = await conn.execute(
                "INSERT INTO blocklist (guild_id, pattern, is_regex, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (guild_id, pattern, int(is_regex), by, time.time()),
            )
            return added > 0

    async def remove_block_rule(self, guild_id: int, pattern: str) -> bool:
        async with self._write(guild_id) as conn:
            removed = await conn.execute(
                "DELETE FROM blocklist WHERE guild_id = ? AND pattern = ?", (guild_id, pattern)
            )
            return removed > 0

    # -- members -----------------------------------------------------------------------------------------

    async def member(self, guild_id: int, user_id: int) -> MemberStatus:
        return await self._cached(("member", guild_id, user_id), lambda: self._member(guild_id, user_id))

    async def _member(self, guild_id: int, user_id: int) -> MemberStatus:
        row = await self.db.reader.fetch_one(
            "SELECT strikes, blocked FROM member_status WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return MemberStatus(int(row[0]), bool(row[1])) if row else MemberStatus()

    async def add_strike(self, guild_id: int, user_id: int, strikes_to_block: int) -> MemberStatus:
        """One more strike, atomically; reaching `strikes_to_block` blocks the member."""
        async with self._write(guild_id) as conn:
            row = await conn.fetch_one(
                """INSERT INTO member_status (guild_id, user_id, strikes, blocked) VALUES (?, ?, 1, ?)
                   ON CONFLICT (guild_id, user_id) DO UPDATE
                   SET strikes = member_status.strikes + 1,
                       blocked = CASE WHEN member_status.blocked = 1
                                        OR member_status.strikes + 1 >= ? THEN 1 ELSE 0 END
                   RETURNING strikes, blocked""",
                (guild_id, user_id, int(strikes_to_block <= 1), strikes_to_block),
            )
        assert row is not None
        return MemberStatus(int(row[0]), bool(row[1]))

    async def set_member(
        self, guild_id: int, user_id: int, *, blocked: bool | None = None, reset: bool = False
    ) -> MemberStatus:
        """Block or unblock; `reset` clears strikes and starts the usage windows afresh."""
        async with self._write(guild_id) as conn:
            await conn.execute(
                "INSERT INTO member_status (guild_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (guild_id, user_id),
            )
            if blocked is not None:
                await conn.execute(
                    "UPDATE member_status SET blocked = ?, strikes = CASE WHEN ? = 1 THEN strikes ELSE 0 END"
                    " WHERE guild_id = ? AND user_id = ?",
                    (int(blocked), int(blocked), guild_id, user_id),
                )
            if reset:
                await conn.execute(
                    "UPDATE member_status SET strikes = 0, blocked = 0, usage_reset_at = ?"
                    " WHERE guild_id = ? AND user_id = ?",
                    (time.time(), guild_id, user_id),
                )
        return await self.member(guild_id, user_id)

    # -- audit -------------------------------------------------------------------------------------------

    async def audit(
        self,
        guild_id: int,
        action: str,
        *,
        actor_id: int | None = None,
        job_id: int | None = None,
        **details: Any,
    ) -> AuditEntry:
        async with self.db.transaction() as conn:
            row = await conn.fetch_one(
                "INSERT INTO audit_log (guild_id, actor_id, action, job_id, details, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id, created_at",
                (guild_id, actor_id, action, job_id, json.dumps(details, default=str), time.time()),
            )
        assert row is not None
        return AuditEntry(int(row[0]), guild_id, actor_id, action, job_id, details, float(row[1]))

    async def audit_entries(self, guild_id: int, *, limit: int = 100) -> list[AuditEntry]:
        rows = await self.db.reader.fetch_all(
            "SELECT * FROM audit_log WHERE guild_id = ? ORDER BY id DESC LIMIT ?",
            (guild_id, limit),
        )
        return [
            AuditEntry(
                row["id"],
                row["guild_id"],
                row["actor_id"],
                row["action"],
                row["job_id"],
                json.loads(row["details"]),
                row["created_at"],
            )
            for row in rows
        ]

    async def audit_times(self, guild_id: int, actor_id: int, action: str, since: float) -> list[float]:
        """When `actor_id` did `action` in the server after `since` (oldest first), from the audit log."""
        rows = await self.db.reader.fetch_all(
            "SELECT created_at FROM audit_log WHERE guild_id = ? AND actor_id = ? AND action = ?"
            " AND created_at > ? ORDER BY created_at",
            (guild_id, actor_id, action, since),
        )
        return [float(row[0]) for row in rows]

    # -- reports and forgetting --------------------------------------------------------------------------

    async def spend_rows(self, guild_id: int, since: float) -> list[tuple[int, float, float, str]]:
        """(user id, created_at, dollars, state) per job since `since`: as the budget counts it (the ledger's
        commit once settled, nothing once refunded, Prodia's price or the estimate while open)."""
        return [
            (int(r[0]), float(r[1]), float(r[2]), str(r[3]))
            for r in await self.db.reader.fetch_all(
                """SELECT user_id, created_at,
                      COALESCE((SELECT s.dollars FROM usage_ledger AS s
                                 WHERE s.job_id = jobs.id AND s.kind = 'commit'),
                               CASE WHEN state IN ('delivered', 'failed', 'cancelled', 'rejected') THEN 0.0
                                    ELSE COALESCE(actual_cost, estimated_cost) END),
                      state
                 FROM jobs WHERE guild_id = ? AND created_at >= ? ORDER BY created_at""",
                (guild_id, since),
            )
        ]

    async def export_rows(self, guild_id: int) -> list[dict[str, Any]]:
        rows = await self.db.reader.fetch_all(
            """SELECT id, state, user_id, channel_id, job_type, request, estimated_cost, actual_cost,
                      approved_by, user_error AS outcome, created_at, finished_at, prodia_job_id
                 FROM jobs WHERE guild_id = ? ORDER BY id""",
            (guild_id,),
        )
        exported = []
        for row in rows:
            record = dict(row)
            request = json.loads(record.pop("request"))
            exported.append(
                {
                    **{k: record[k] for k in ("id", "state", "user_id", "channel_id", "job_type")},
                    **{k: request.get(k) for k in ("prompt", "duration", "aspect_ratio", "seed")},
                    **{k: record[k] for k in list(record)[5:]},
                }
            )
        return exported

    async def forget_member(self, guild_id: int, user_id: int) -> Forgotten:
        """Remove a member's prompts (from their jobs in this server and the audit log) and their jobs'
        hold on files; returns the jobs whose files go and the input images no other job uses."""
        async with self._write(guild_id) as conn:
            jobs = await conn.fetch_all(
                "SELECT id, request, target FROM jobs WHERE guild_id = ? AND user_id = ? ORDER BY id"  # noqa: S608
                + conn.for_update,
                (guild_id, user_id),
            )
            job_ids = [int(row[0]) for row in jobs]
            images: set[str] = set()
            for job_id, request_text, target_text in jobs:
                request, target = json.loads(request_text), json.loads(target_text)
                name = input_name(request.get("image_path"))
                if name is not None:
                    images.add(name)
                if request.get("image_path") is not None:
                    # The job no longer holds its image: retention counts only the jobs that still use it.
                    request["image_path"] = REMOVED
                request["prompt"] = REMOVED
                target.pop("interaction_token", None)
                await conn.execute(
                    "UPDATE jobs SET request = ?, target = ?, output_path = NULL WHERE id = ?",
                    (json.dumps(request), json.dumps(target), job_id),
                )
            still_used = await _images_used_by_others(conn, images, guild_id, user_id)
            for entry_id, details_text in await conn.fetch_all(
                f"SELECT id, details FROM audit_log WHERE guild_id = ?{conn.for_update}",  # noqa: S608
                (guild_id,),
            ):
                details = json.loads(details_text)
                if details.get("requester") == user_id and details.get("prompt") is not None:
                    details["prompt"] = REMOVED
                    await conn.execute(
                        "UPDATE audit_log SET details = ? WHERE id = ?", (json.dumps(details), entry_id)
                    )
        return Forgotten(job_ids=job_ids, inputs=sorted(unused_inputs(images, still_used)))


async def _images_used_by_others(conn: Conn, names: set[str], guild_id: int, user_id: int) -> set[str]:
    """Which of these input images a job of someone else (or of this member in another server) names."""
    used: set[str] = set()
    for name in sorted(names):
        # The name is 32 hex digits, so LIKE finds the candidates; the JSON says which really name it.
        rows = await conn.fetch_all(
            f"""SELECT request FROM jobs WHERE job_type IN ({", ".join("?" for _ in IMAGE_JOB_TYPES)})
                   AND NOT (guild_id IS NOT DISTINCT FROM ? AND user_id = ?) AND request LIKE ?""",  # noqa: S608
            (*IMAGE_JOB_TYPES, guild_id, user_id, f"%{name}%"),
        )
        if any(input_name(json.loads(row[0]).get("image_path")) == name for row in rows):
            used.add(name)
    return used
