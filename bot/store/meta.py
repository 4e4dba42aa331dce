"""Small key-value facts about the running bot (heartbeats, the synced command tree's hash)."""

from __future__ import annotations

from bot.store.database import Database


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
