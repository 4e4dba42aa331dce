"""Effective limits: bot defaults < server defaults < most generous role < explicit user rule."""

from __future__ import annotations

from bot.domain.limits import LimitRule, Limits, resolve

DEFAULTS = LimitRule("guild", 0, jobs_per_hour=10, video_seconds_per_day=120, concurrent=2, pro=True, hd=True)
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
