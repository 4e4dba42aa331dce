"""Per-user usage counted from the ledger: what a user has reserved and not been given back; a server's
spend: what Prodia charged, or holds as an estimate."""

from __future__ import annotations

from bot.domain.limits import DAY, HOUR, Usage, day_start
from bot.domain.models import TERMINAL, JobState
from bot.store.db import Conn

# Not active: ended jobs, and a story's waiting shots (the story holds one slot, its current shot's).
_NOT_ACTIVE = ", ".join(f"'{s.value}'" for s in (*TERMINAL, JobState.WAITING))


async def usage_of(conn: Conn, guild_id: int | None, user_id: int, now: float) -> Usage:
    """Count a user's reservations in the last hour and day whose quota was not given back, and their
    unfinished jobs."""
    rows = [
        (float(row[0]), int(row[1]))
        for row in await conn.fetch_all(
            """SELECT r.created_at, r.video_seconds FROM usage_ledger AS r
            WHERE r.kind = 'reserve' AND r.user_id = ? AND r.guild_id IS NOT DISTINCT FROM ?
              AND r.created_at > ?
              AND r.created_at > COALESCE((SELECT m.usage_reset_at FROM member_status AS m
                                            WHERE m.guild_id IS NOT DISTINCT FROM r.guild_id
                                              AND m.user_id = r.user_id), 0)
              AND NOT EXISTS (SELECT 1 FROM usage_ledger AS f
                               WHERE f.job_id = r.job_id AND f.kind <> 'reserve' AND f.quota_returned = 1)
            ORDER BY r.created_at""",
            (user_id, guild_id, now - DAY),
        )
    ]
    row = await conn.fetch_one(
        "SELECT COUNT(*) FROM jobs WHERE user_id = ? AND guild_id IS NOT DISTINCT FROM ?"  # noqa: S608
        f" AND state NOT IN ({_NOT_ACTIVE})",
        (user_id, guild_id),
    )
    hour = tuple(created for created, _ in rows if created > now - HOUR)
    return Usage(
        jobs_last_hour=len(hour),
        video_seconds_last_day=sum(seconds for _, seconds in rows),
        active_jobs=int(row[0]) if row else 0,
        hour_times=hour,
        day_uses=tuple(rows),
    )


async def spend_today(conn: Conn, guild_id: int, now: float) -> float:
    """Dollars the server spent or holds today: Prodia's price once it is reported (a job being delivered
    has it before it is settled), else the estimate; nothing for a job refunded before Prodia charged it."""
    row = await conn.fetch_one(
        """SELECT COALESCE(SUM(COALESCE(
                      (SELECT s.dollars FROM usage_ledger AS s
                        WHERE s.job_id = r.job_id AND s.kind = 'commit'),
                      CASE WHEN EXISTS (SELECT 1 FROM usage_ledger AS f
                                         WHERE f.job_id = r.job_id AND f.kind = 'refund') THEN 0.0
                           ELSE COALESCE((SELECT j.actual_cost FROM jobs AS j WHERE j.id = r.job_id),
                                         r.dollars) END)), 0)
             FROM usage_ledger AS r
            WHERE r.kind = 'reserve' AND r.guild_id = ? AND r.created_at >= ?""",
        (guild_id, day_start(now)),
    )
    return float(row[0]) if row else 0.0
