"""What /sora-admin shows as reports: the limits in force, and jobs and spend per member and per day."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from bot.domain.limits import LimitRule

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.store.guild_settings import GuildSettings


def _yes(value: bool | None) -> str:
    return "yes" if value else "no"


def _dollars(value: float | None) -> str:
    return f"${value:.2f}" if value is not None else "none"


def rule_text(rule: LimitRule) -> str:
    """The fields a limit rule sets, in words; the others are left out."""
    parts = [
        f"{name.replace('_', ' ')} {getattr(rule, name)}"
        for name in ("jobs_per_hour", "video_seconds_per_day", "concurrent", "story_shots")
        if getattr(rule, name) is not None
    ]
    parts += [
        f"{name} {'yes' if getattr(rule, name) else 'no'}"
        for name in ("pro", "hd")
        if getattr(rule, name) is not None
    ]
    return ", ".join(parts) or "nothing set"


def limits_lines(settings: Settings, server: GuildSettings, rules: list[LimitRule]) -> list[str]:
    """The bot's defaults, the server's budget, then one line per rule (server, role or member)."""
    lines = [
        f"Bot defaults: jobs per hour {settings.default_jobs_per_hour}, video seconds per day "
        f"{settings.default_video_seconds_per_day}, concurrent {settings.default_concurrent_jobs}, "
        f"story shots {settings.default_story_shots}, pro {_yes(settings.default_allow_pro)}, "
        f"hd {_yes(settings.default_allow_hd)}",
        f"Daily budget: {_dollars(server.budget_dollars_per_day)}",
    ]
    for rule in rules:
        who = {
            "guild": "Server defaults",
            "role": f"<@&{rule.target_id}>",
            "user": f"<@{rule.target_id}>",
        }[rule.scope]
        lines.append(f"{who}: {rule_text(rule)}")
    return lines


async def usage_report(rows: list[tuple[int, float, float, str]], days: int) -> tuple[list[str], bytes]:
    """From (user id, created_at, dollars, state) rows: the total, then one line per member (the biggest
    spenders first), and a PNG chart of spend per day."""
    from bot.ui.charts import DaySpend, spend_chart  # noqa: PLC0415 - matplotlib loads only when asked

    per_user: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])
    per_day: dict[date, list[float]] = defaultdict(lambda: [0, 0.0])
    for user_id, created_at, dollars, _ in rows:
        day = datetime.fromtimestamp(created_at, tz=UTC).date()
        for bucket in (per_user[user_id], per_day[day]):
            bucket[0] += 1
            bucket[1] += dollars
    lines = [f"Last {days} day(s): {len(rows)} job(s), ${sum(r[2] for r in rows):.2f}"]
    lines += [
        f"<@{u}>: {int(n)} job(s), ${d:.2f}" for u, (n, d) in sorted(per_user.items(), key=lambda i: -i[1][1])
    ]
    series = [DaySpend(day, dollars, int(n)) for day, (n, dollars) in sorted(per_day.items())]
    png = await asyncio.to_thread(spend_chart, series, title=f"Spend per day, last {days} days")
    return lines, png
