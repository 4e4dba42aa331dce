"""The admin reports: limit rules in words, and usage per member with the biggest spender first."""

from __future__ import annotations

from bot.domain.limits import LimitRule
from bot.ui.reports import rule_text, usage_report

DAY = 86_400.0


def test_a_rule_names_only_the_fields_it_sets() -> None:
    assert rule_text(LimitRule("role", 1, jobs_per_hour=3, pro=False)) == "jobs per hour 3, pro no"
    assert rule_text(LimitRule("user", 2)) == "nothing set"
    every = LimitRule("guild", 3, jobs_per_hour=1, video_seconds_per_day=2, concurrent=3, pro=True, hd=False,
                      story_shots=0)  # fmt: skip
    assert rule_text(every) == (
        "jobs per hour 1, video seconds per day 2, concurrent 3, story shots 0, pro yes, hd no"
    )


async def test_usage_counts_jobs_and_dollars_per_member_biggest_spender_first() -> None:
    rows = [(1, 0.0, 0.5, "delivered"), (2, DAY, 2.0, "delivered"), (1, DAY, 0.25, "failed")]
    lines, png = await usage_report(rows, days=7)
    assert lines == ["Last 7 day(s): 3 job(s), $2.75", "<@2>: 1 job(s), $2.00", "<@1>: 2 job(s), $0.75"]
    assert png.startswith(b"\x89PNG")


async def test_usage_with_no_jobs_is_one_line_and_still_a_chart() -> None:
    lines, png = await usage_report([], days=1)
    assert lines == ["Last 1 day(s): 0 job(s), $0.00"]
    assert png.startswith(b"\x89PNG")
