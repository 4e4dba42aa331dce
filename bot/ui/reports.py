"""What /sora-admin shows as reports: the limits in force, and jobs and spend per member and per day."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from bot.domain.limits import LimitRule
from bot.i18n.messages import _, mention, money, n_, speaking
from bot.ui.languages import posts_language

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.store.guild_settings import GuildSettings


def rule_text(rule: LimitRule) -> str:
    """The fields a limit rule sets, in words; the others are left out."""
    # Numbers as typed (ids and limits read better without grouping: "jobs per hour 10000").
    parts = []
    if rule.jobs_per_hour is not None:
        parts.append(_("jobs per hour {value}", value=rule.jobs_per_hour))
    if rule.video_seconds_per_day is not None:
        parts.append(_("video seconds per day {value}", value=rule.video_seconds_per_day))
    if rule.concurrent is not None:
        parts.append(_("concurrent {value}", value=rule.concurrent))
    if rule.story_shots is not None:
        parts.append(_("story shots {value}", value=rule.story_shots))
    if rule.pro is not None:
        parts.append(_("pro yes") if rule.pro else _("pro no"))
    if rule.hd is not None:
        parts.append(_("hd yes") if rule.hd else _("hd no"))
    return ", ".join(parts) or _("nothing set")


def limits_lines(
    settings: Settings, server: GuildSettings, rules: list[LimitRule], guild_locale: object = None
) -> list[str]:
    """The bot's defaults, the server's budget and its posts' language (`guild_locale`: the server's own),
    then one line per rule (server, role or member)."""
    budget = server.budget_dollars_per_day
    lines = [
        _("Bot defaults: {limits}", limits=rule_text(settings.limit_defaults())),
        _("Daily budget: {dollars}", dollars=money(budget))
        if budget is not None
        else _("Daily budget: none"),
        _("Language of posts: {language}", language=posts_language(server.language, guild_locale)),
    ]
    for rule in rules:
        if rule.scope == "guild":
            lines.append(_("Server defaults: {limits}", limits=rule_text(rule)))
        else:
            who = f"<@&{rule.target_id}>" if rule.scope == "role" else f"<@{rule.target_id}>"
            lines.append(f"{who}: {rule_text(rule)}")
    return lines


async def usage_report(rows: list[tuple[int, float, float, str]], days: int) -> tuple[list[str], bytes]:
    """From (user id, created_at, dollars, state) rows: the total, then one line per member (the biggest
    spenders first), and a PNG chart of spend per day."""
    from bot.ui.charts import DaySpend, chart_language, spend_chart  # noqa: PLC0415 - matplotlib loads only when asked

    per_user: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])
    per_day: dict[date, list[float]] = defaultdict(lambda: [0, 0.0])
    for user_id, created_at, dollars, _state in rows:
        day = datetime.fromtimestamp(created_at, tz=UTC).date()
        for bucket in (per_user[user_id], per_day[day]):
            bucket[0] += 1
            bucket[1] += dollars
    total = n_(
        "{count} job, {dollars}", "{count} jobs, {dollars}", len(rows), dollars=money(sum(r[2] for r in rows))
    )
    lines = [n_("Last {count} day: {total}", "Last {count} days: {total}", days, total=total)]
    lines += [
        n_("{member}: {count} job, {dollars}", "{member}: {count} jobs, {dollars}", int(n), member=mention(u),
           dollars=money(d))
        for u, (n, d) in sorted(per_user.items(), key=lambda i: -i[1][1])
    ]  # fmt: skip
    series = [DaySpend(day, dollars, int(n)) for day, (n, dollars) in sorted(per_day.items())]
    # The chart's texts in the reader's language when its font has the letters (asyncio.to_thread keeps it).
    with speaking(chart_language()):
        title = n_("Spend per day, last {count} day", "Spend per day, last {count} days", days)
        png = await asyncio.to_thread(spend_chart, series, title=title)
    return lines, png
