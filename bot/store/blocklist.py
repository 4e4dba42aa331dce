"""A server's blocklist of prompt patterns."""

from __future__ import annotations

import time

from bot.store.guild_cache import GuildRepository


class BlocklistRepository(GuildRepository):
    """Blocklist patterns, per server."""

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
