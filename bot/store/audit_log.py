"""The audit log: who changed what, and what happened to which job."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from bot.store.guild_cache import GuildRepository


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    guild_id: int
    actor_id: int | None
    action: str
    job_id: int | None
    details: dict[str, Any]
    created_at: float
    source: str | None = None  # "discord", "dashboard"; None: the bot itself (or an entry from before)


class AuditRepository(GuildRepository):
    """Audit entries, per server."""

    async def audit(
        self,
        guild_id: int,
        action: str,
        *,
        actor_id: int | None = None,
        job_id: int | None = None,
        source: str | None = None,
        **details: Any,
    ) -> AuditEntry:
        async with self.db.transaction() as conn:
            row = await conn.fetch_one(
                "INSERT INTO audit_log (guild_id, actor_id, action, job_id, details, created_at, source)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id, created_at",
                (guild_id, actor_id, action, job_id, json.dumps(details, default=str), time.time(), source),
            )
        assert row is not None
        return AuditEntry(int(row[0]), guild_id, actor_id, action, job_id, details, float(row[1]), source)

    async def audit_entries(
        self,
        guild_id: int,
        *,
        limit: int = 100,
        before_id: int | None = None,
        action_prefix: str | None = None,
    ) -> list[AuditEntry]:
        """The server's entries, newest first: `limit` of them older than `before_id` (paging), whose action
        starts with `action_prefix` ("job.", "limits.") when given."""
        sql = "SELECT * FROM audit_log WHERE guild_id = ?"
        params: list[Any] = [guild_id]
        if before_id is not None:
            sql += " AND id < ?"
            params.append(before_id)
        if action_prefix:
            # Compared as a prefix without LIKE, so "_" and "%" in what a browser sends mean themselves.
            sql += " AND substr(action, 1, ?) = ?"
            params += [len(action_prefix), action_prefix]
        rows = await self.db.reader.fetch_all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [
            AuditEntry(
                row["id"],
                row["guild_id"],
                row["actor_id"],
                row["action"],
                row["job_id"],
                json.loads(row["details"]),
                row["created_at"],
                row["source"],
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
