"""Per-user usage counted from the ledger: what a user has reserved and not been given back; a server's
spend: what Prodia charged, or holds as an estimate."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.models import TERMINAL
from bot.errors import QuotaExceeded
from bot.store.database import Conn

HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Limits:
    """A user's limits; 0 means none allowed."""

    jobs_per_hour: int
    video_seconds_per_day: int
    concurrent: int


@dataclass(frozen=True, slots=True)
class Usage:
    """What a user has used in the rolling windows, and when the oldest use in each leaves it."""

    jobs_last_hour: int
    video_seconds_last_day: int
    active_jobs: int
    hour_times: tuple[float, ...]
    day_uses: tuple[tuple[float, int], ...]

    def hour_frees_at(self, limit: int) -> float | None:
        """When the hourly count drops below `limit` again."""
        over = self.jobs_last_hour - limit
        return self.hour_times[over] + HOUR if 0 <= over < len(self.hour_times) else None

    def day_frees_at(self, limit: int, wanted: int) -> float | None:
        """When `wanted` more seconds fit under the daily `limit`."""
        needed = self.video_seconds_last_day + wanted - limit
        freed = 0
        for created_at, seconds in self.day_uses:
            freed += seconds
            if freed >= needed:
                return created_at + DAY
        return None


_STATES_ACTIVE = ", ".join(f"'{s.value}'" for s in TERMINAL)


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
        f" AND state NOT IN ({_STATES_ACTIVE})",
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


def check_limits(usage: Usage, limits: Limits, video_seconds: int) -> None:
    """Raise QuotaExceeded naming the first limit that one more job of `video_seconds` would cross."""
    if usage.active_jobs + 1 > limits.concurrent:
        raise QuotaExceeded(
            "concurrent",
            f"You already have {usage.active_jobs} job(s) queued or running (limit {limits.concurrent}); "
            "wait for one to finish or cancel one.",
        )
    if usage.jobs_last_hour + 1 > limits.jobs_per_hour:
        raise QuotaExceeded(
            "jobs_per_hour",
            f"You have used your {limits.jobs_per_hour} jobs for this hour.",
            usage.hour_frees_at(limits.jobs_per_hour),
        )
    if usage.video_seconds_last_day + video_seconds > limits.video_seconds_per_day:
        left = max(0, limits.video_seconds_per_day - usage.video_seconds_last_day)
        raise QuotaExceeded(
            "video_seconds_per_day",
            f"This clip needs {video_seconds} s of video but you have {left} s left of your "
            f"{limits.video_seconds_per_day} s for the day.",
            usage.day_frees_at(limits.video_seconds_per_day, video_seconds),
        )


def day_start(now: float) -> float:
    """Midnight UTC of the day `now` falls in: server budgets are per calendar day, UTC."""
    return now - (now % DAY)


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


def check_budget(spent: float, budget: float, cost: float, now: float) -> None:
    """Raise QuotaExceeded when a job of `cost` would take the server past its daily budget."""
    if spent + cost > budget + 1e-9:
        raise QuotaExceeded(
            "budget",
            f"This server's daily budget of ${budget:.2f} would be exceeded (${spent:.2f} used today, "
            f"this clip costs about ${cost:.2f}).",
            day_start(now) + DAY,
        )
