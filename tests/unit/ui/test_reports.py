"""The admin reports: limit rules in words, the limits and settings in force, and usage per member with the
biggest spender first."""

from __future__ import annotations

import pytest

from bot.domain.limits import LimitRule
from bot.i18n.messages import speaking
from bot.settings import Settings
from bot.store.guild_settings import GuildSettings
from bot.ui.reports import limits_lines, rule_text, usage_report
from tests.unit.fake_translations import translate

DAY = 86_400.0


def test_a_rule_names_only_the_fields_it_sets() -> None:
    assert rule_text(LimitRule("role", 1, jobs_per_hour=3, pro=False)) == "jobs per hour 3, pro no"
    assert rule_text(LimitRule("user", 2)) == "nothing set"
    every = LimitRule("guild", 3, jobs_per_hour=1, video_seconds_per_day=2, concurrent=3, pro=True, hd=False,
                      story_shots=0)  # fmt: skip
    assert rule_text(every) == (
        "jobs per hour 1, video seconds per day 2, concurrent 3, story shots 0, pro yes, hd no"
    )


def test_the_limits_shown_name_the_budget_and_the_posts_language(settings: Settings) -> None:
    rules = [
        LimitRule("guild", 1, concurrent=2),
        LimitRule("role", 5, hd=True),
        LimitRule("user", 6, pro=False),
    ]
    lines = limits_lines(
        settings, GuildSettings(1, budget_dollars_per_day=1234.5, language="ja"), rules, "de"
    )
    assert lines[0].startswith("Bot defaults: jobs per hour ") and lines[0].endswith(", hd yes")
    assert lines[1:] == [
        "Daily budget: $1,234.50",
        "Language of posts: 日本語",
        "Server defaults: concurrent 2",
        "<@&5>: hd yes",
        "<@6>: pro no",
    ]
    unset = limits_lines(settings, GuildSettings(1), [], "de")
    assert unset[1:] == ["Daily budget: none", "Language of posts: the server's own language (Deutsch)"]
    assert limits_lines(settings, GuildSettings(1), [], None)[2].endswith("(English)")


async def test_usage_counts_jobs_and_dollars_per_member_biggest_spender_first() -> None:
    rows = [(1, 0.0, 0.5, "delivered"), (2, DAY, 2.0, "delivered"), (1, DAY, 0.25, "failed")]
    lines, png = await usage_report(rows, days=7)
    assert lines == ["Last 7 days: 3 jobs, $2.75", "<@2>: 1 job, $2.00", "<@1>: 2 jobs, $0.75"]
    assert png.startswith(b"\x89PNG")


async def test_usage_with_no_jobs_is_one_line_and_still_a_chart() -> None:
    lines, png = await usage_report([], days=1)
    assert lines == ["Last 1 day: 0 jobs, $0.00"]
    assert png.startswith(b"\x89PNG")


async def test_usage_is_in_the_readers_language(monkeypatch: pytest.MonkeyPatch) -> None:
    german = {
        "Last {count} days: {total}": "Letzte {count} Tage: {total}",
        "{count} jobs, {dollars}": "{count} Aufträge, {dollars}",
        "{member}: {count} jobs, {dollars}": "{member}: {count} Aufträge, {dollars}",
    }
    translate(monkeypatch, {"de": german})
    with speaking("de"):
        lines, _png = await usage_report([(1, 0.0, 1234.5, "delivered"), (1, 0.0, 1.0, "failed")], days=7)
    assert lines == ["Letzte 7 Tage: 2 Aufträge, 1.235,50\xa0$", "<@1>: 2 Aufträge, 1.235,50\xa0$"]
