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


class AuditRepository(GuildRepository):
    """Audit entries, per server."""

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
