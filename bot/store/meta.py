"""Small key-value facts: heartbeats of the bot's processes, the synced command tree's hash."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from bot.store.db import Database

Role = Literal["gateway", "worker"]
_BEAT = "heartbeat:"
STALE_SECONDS = 86400.0  # a process silent this long is gone; its heartbeat row is dropped


@dataclass(frozen=True, slots=True)
class Heartbeat:
    role: str
    owner: str  # host:pid:nonce
    at: float

    @property
    def host(self) -> str:
        return self.owner.partition(":")[0]


async def set_value(db: Database, key: str, value: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


async def get_value(db: Database, key: str) -> str | None:
    row = await db.reader.fetch_one("SELECT value FROM meta WHERE key = ?", (key,))
    return str(row[0]) if row else None


async def beat(db: Database, role: Role, owner: str) -> None:
    """Record that `owner` (a process) is alive in `role` now; drop heartbeats of long-gone processes."""
    now = time.time()
    await set_value(db, f"{_BEAT}{role}:{owner}", f"{now:.3f}")
    stale = [b for b in await heartbeats(db) if b.at < now - STALE_SECONDS]
    if stale:
        async with db.transaction() as conn:
            for gone in stale:
                await conn.execute("DELETE FROM meta WHERE key = ?", (f"{_BEAT}{gone.role}:{gone.owner}",))


async def forget_beat(db: Database, role: Role, owner: str) -> None:
    """A process stopping cleanly says so: health checks then see it stopped at once."""
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM meta WHERE key = ?", (f"{_BEAT}{role}:{owner}",))


async def heartbeats(db: Database) -> list[Heartbeat]:
    rows = await db.reader.fetch_all("SELECT key, value FROM meta WHERE key LIKE 'heartbeat:%' ORDER BY key")
    found = []
    for key, value in rows:
        role, _, owner = str(key).removeprefix(_BEAT).partition(":")
        found.append(Heartbeat(role, owner, float(value)))
    return found
