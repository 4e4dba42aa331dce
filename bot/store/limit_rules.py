"""A server's limit rules: per-role, per-member and server-wide limits."""

from __future__ import annotations

from bot.domain.limits import LIMIT_FIELDS, LimitRule, Scope
from bot.store.guild_cache import GuildRepository


class LimitRuleRepository(GuildRepository):
    """Limit rules, per server."""

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
                story_shots=row["story_shots"],
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
