"""Effective limits: bot defaults < server defaults < most generous role < explicit user rule."""

from __future__ import annotations

import pytest

from bot.domain.limits import LimitRule, Limits, Usage, check_budget, check_limits, check_story_shots, resolve
from bot.errors import ConfigError, NotAllowed, QuotaExceeded
from bot.settings import load_settings

DEFAULTS = LimitRule(
    "guild", 0, jobs_per_hour=10, video_seconds_per_day=120, concurrent=2, pro=True, hd=True, story_shots=3
)
NEWBIE, REGULAR, VIP = 1, 2, 3
RULES = [
    LimitRule("guild", 99, pro=False, hd=False, jobs_per_hour=5),
    LimitRule("role", NEWBIE, jobs_per_hour=2),
    LimitRule("role", REGULAR, jobs_per_hour=20, pro=True),
    LimitRule("role", VIP, jobs_per_hour=8, video_seconds_per_day=600, hd=True),
    LimitRule("user", 42, jobs_per_hour=1, pro=False),
]


def test_server_defaults_replace_the_bots() -> None:
    policy = resolve(DEFAULTS, RULES, role_ids=[], user_id=7)
    assert policy.limits == Limits(5, 120, 2) and not policy.pro and not policy.hd


def test_a_role_rule_applies_even_when_stricter() -> None:
    assert resolve(DEFAULTS, RULES, role_ids=[NEWBIE], user_id=7).limits.jobs_per_hour == 2


def test_the_most_generous_role_wins_field_by_field() -> None:
    policy = resolve(DEFAULTS, RULES, role_ids=[NEWBIE, REGULAR, VIP], user_id=7)
    assert policy.limits == Limits(20, 600, 2)
    assert policy.pro and policy.hd


def test_an_explicit_user_rule_wins_over_roles() -> None:
    policy = resolve(DEFAULTS, RULES, role_ids=[REGULAR, VIP], user_id=42)
    assert policy.limits.jobs_per_hour == 1 and not policy.pro and policy.hd


def test_roles_the_member_does_not_have_do_not_count() -> None:
    assert resolve(DEFAULTS, RULES, role_ids=[12345], user_id=7).limits.jobs_per_hour == 5


# -- story shots ----------------------------------------------------------------------------------------

STORY_RULES = [
    LimitRule("guild", 99, story_shots=2),
    LimitRule("role", NEWBIE, story_shots=0),
    LimitRule("role", REGULAR, story_shots=4),
    LimitRule("role", VIP, story_shots=5),
    LimitRule("user", 42, story_shots=1),
]


def test_story_shots_resolve_like_the_other_limits() -> None:
    assert resolve(DEFAULTS, [], role_ids=[], user_id=7).story_shots == 3  # the bot's default
    assert resolve(DEFAULTS, STORY_RULES, role_ids=[], user_id=7).story_shots == 2  # the server's
    assert resolve(DEFAULTS, STORY_RULES, role_ids=[NEWBIE], user_id=7).story_shots == 0  # even stricter
    assert resolve(DEFAULTS, STORY_RULES, role_ids=[NEWBIE, VIP, REGULAR], user_id=7).story_shots == 5
    assert resolve(DEFAULTS, STORY_RULES, role_ids=[VIP], user_id=42).story_shots == 1  # the member's own


def test_a_story_up_to_the_members_shots_passes_and_one_more_is_refused() -> None:
    policy = resolve(DEFAULTS, STORY_RULES, role_ids=[REGULAR], user_id=7)
    check_story_shots(policy, 2)
    check_story_shots(policy, 4)
    with pytest.raises(NotAllowed) as caught:
        check_story_shots(policy, 5)
    assert caught.value.user_message == "A story here can have at most 4 shots for you; you asked for 5."


@pytest.mark.parametrize("allowed", [0, 1])
def test_below_two_shots_a_member_may_make_no_story(allowed: int) -> None:
    policy = resolve(DEFAULTS, [LimitRule("user", 7, story_shots=allowed)], role_ids=[], user_id=7)
    with pytest.raises(NotAllowed, match="Stories aren't enabled for you in this server"):
        check_story_shots(policy, 2)


def test_the_bots_default_story_shots_come_from_default_story_shots_0_to_5() -> None:
    assert resolve(load_settings().limit_defaults(), [], [], 7).story_shots == 3
    assert resolve(load_settings(default_story_shots=5).limit_defaults(), [], [], 7).story_shots == 5
    for wrong in (-1, 6):
        with pytest.raises(ConfigError, match="DEFAULT_STORY_SHOTS is invalid"):
            load_settings(default_story_shots=wrong)


def usage(active: int = 0, last_hour: int = 0, seconds: int = 0) -> Usage:
    return Usage(last_hour, seconds, active, (0.0,) * last_hour, ((0.0, seconds),) if seconds else ())


@pytest.mark.parametrize(
    ("active", "limit", "told"),
    [
        (1, 1, "You already have 1 job queued or running (limit 1); "),
        (2, 2, "You already have 2 jobs queued or running (limit 2); "),
    ],
)
def test_the_concurrent_refusal_counts_jobs_in_words(active: int, limit: int, told: str) -> None:
    with pytest.raises(QuotaExceeded) as caught:
        check_limits(usage(active=active), Limits(10, 120, limit), 4)
    assert caught.value.limit == "concurrent"
    assert caught.value.user_message.startswith(told)


@pytest.mark.parametrize(
    ("per_hour", "told"),
    [(1, "You have used your 1 job for this hour."), (10, "You have used your 10 jobs for this hour.")],
)
def test_the_hourly_refusal_counts_jobs_in_words(per_hour: int, told: str) -> None:
    with pytest.raises(QuotaExceeded) as caught:
        check_limits(usage(last_hour=per_hour), Limits(per_hour, 120, 2), 4)
    assert caught.value.user_message == told


def test_the_daily_seconds_and_the_budget_refusals_name_their_numbers() -> None:
    with pytest.raises(QuotaExceeded) as caught:
        check_limits(usage(seconds=1000), Limits(10, 1200, 2), 400)
    assert caught.value.user_message == (
        "This clip needs 400 s of video but you have 200 s left of your 1,200 s for the day."
    )
    with pytest.raises(QuotaExceeded) as caught:
        check_budget(1499.6, 1500.0, 1.2, 0.0)
    assert caught.value.user_message == (
        "This server's daily budget of $1,500.00 would be exceeded ($1,499.60 used today, "
        "this clip costs about $1.20)."
    )
