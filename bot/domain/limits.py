"""Who may make what: a member's effective limits from the bot's defaults, server, role and user rules."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from bot.settings import Settings
from bot.store.governance import LIMIT_FIELDS, LimitRule
from bot.store.usage import Limits


@dataclass(frozen=True, slots=True)
class Policy:
    """A member's effective limits and model permissions."""

    limits: Limits
    pro: bool
    hd: bool


def bot_defaults(settings: Settings) -> LimitRule:
    return LimitRule(
        scope="guild",
        target_id=0,
        jobs_per_hour=settings.default_jobs_per_hour,
        video_seconds_per_day=settings.default_video_seconds_per_day,
        concurrent=settings.default_concurrent_jobs,
        pro=settings.default_allow_pro,
        hd=settings.default_allow_hd,
    )


def resolve(
    defaults: LimitRule, rules: Iterable[LimitRule], role_ids: Collection[int], user_id: int
) -> Policy:
    """The bot's defaults, then the server's own, then the most generous of the member's roles that set a
    field, then an explicit rule for the member, which wins."""
    rules = list(rules)
    values = {name: getattr(defaults, name) for name in LIMIT_FIELDS}
    for rule in rules:
        if rule.scope == "guild":
            values.update({n: getattr(rule, n) for n in LIMIT_FIELDS if getattr(rule, n) is not None})
    role_rules = [r for r in rules if r.scope == "role" and r.target_id in role_ids]
    for name in LIMIT_FIELDS:
        set_by_roles = [getattr(r, name) for r in role_rules if getattr(r, name) is not None]
        if set_by_roles:
            values[name] = max(set_by_roles)  # True > False, larger limits are more generous
    for rule in rules:
        if rule.scope == "user" and rule.target_id == user_id:
            values.update({n: getattr(rule, n) for n in LIMIT_FIELDS if getattr(rule, n) is not None})
    return Policy(
        limits=Limits(
            jobs_per_hour=int(values["jobs_per_hour"]),
            video_seconds_per_day=int(values["video_seconds_per_day"]),
            concurrent=int(values["concurrent"]),
        ),
        pro=bool(values["pro"]),
        hd=bool(values["hd"]),
    )
