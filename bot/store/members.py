"""Members' standing in a server: strikes, blocked, when their usage was last reset."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.store.guild_cache import GuildRepository


@dataclass(frozen=True, slots=True)
class MemberStatus:
    strikes: int = 0
    blocked: bool = False


class MemberRepository(GuildRepository):
    """Member status, per server."""

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
