"""Dashboard sessions ended by Log out, kept until they would have expired anyway: a copy of the signed cookie
(another browser, a saved request) is refused from the moment its owner logs out."""

from __future__ import annotations

from bot.store.db import Database


class Logouts:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def end(self, session_id: str, expires_at: float, now: float) -> None:
        """Refuse this session from now on (and forget sessions that have expired by themselves)."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM dashboard_logouts WHERE expires_at < ?", (now,))
            await conn.execute(
                "INSERT INTO dashboard_logouts (session_id, expires_at) VALUES (?, ?)"
                " ON CONFLICT (session_id) DO NOTHING",
                (session_id, expires_at),
            )

    async def ended(self, session_id: str) -> bool:
        row = await self.db.reader.fetch_one(
            "SELECT 1 FROM dashboard_logouts WHERE session_id = ?", (session_id,)
        )
        return row is not None
