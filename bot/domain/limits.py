"""Who may make what: a member's effective limits from the bot's defaults, server, role and user rules, and
the checks one more job must pass against a member's usage and a server's budget."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from bot.domain.stories import SHOTS_MIN
from bot.errors import NotAllowed, QuotaExceeded
from bot.i18n.messages import _, money, n_, number

HOUR = 3600.0
DAY = 86400.0
Scope = Literal["guild", "role", "user"]
LIMIT_FIELDS = ("jobs_per_hour", "video_seconds_per_day", "concurrent", "pro", "hd", "story_shots")


@dataclass(frozen=True, slots=True)
class LimitRule:
    """Limits set for the server, a role or a user; None fields are not set by this rule."""

    scope: Scope
    target_id: int
    jobs_per_hour: int | None = None
    video_seconds_per_day: int | None = None
    concurrent: int | None = None
    pro: bool | None = None
    hd: bool | None = None
    story_shots: int | None = None


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


@dataclass(frozen=True, slots=True)
class MemberPolicy:
    """A member's effective limits and model permissions."""

    limits: Limits
    pro: bool
    hd: bool
    story_shots: int  # the most shots in one /story; below SHOTS_MIN: no story at all


def resolve(
    defaults: LimitRule, rules: Iterable[LimitRule], role_ids: Collection[int], user_id: int
) -> MemberPolicy:
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
    return MemberPolicy(
        limits=Limits(
            jobs_per_hour=int(values["jobs_per_hour"]),
            video_seconds_per_day=int(values["video_seconds_per_day"]),
            concurrent=int(values["concurrent"]),
        ),
        pro=bool(values["pro"]),
        hd=bool(values["hd"]),
        story_shots=int(values["story_shots"]),
    )


def check_story_shots(policy: MemberPolicy, shots: int) -> None:
    """Raise NotAllowed when a story of `shots` shots is more than the member may make."""
    if policy.story_shots < SHOTS_MIN:
        raise NotAllowed(_("Stories aren't enabled for you in this server; use /video for single clips."))
    if shots > policy.story_shots:
        raise NotAllowed(
            n_(
                "A story here can have at most {count} shot for you; you asked for {shots}.",
                "A story here can have at most {count} shots for you; you asked for {shots}.",
                policy.story_shots,
                shots=number(shots),
            )
        )


def check_limits(usage: Usage, limits: Limits, video_seconds: int) -> None:
    """Raise QuotaExceeded naming the first limit that one more job of `video_seconds` would cross."""
    if usage.active_jobs + 1 > limits.concurrent:
        raise QuotaExceeded(
            "concurrent",
            n_(
                "You already have {count} job queued or running (limit {limit}); "
                "wait for one to finish or cancel one.",
                "You already have {count} jobs queued or running (limit {limit}); "
                "wait for one to finish or cancel one.",
                usage.active_jobs,
                limit=number(limits.concurrent),
            ),
        )
    if usage.jobs_last_hour + 1 > limits.jobs_per_hour:
        raise QuotaExceeded(
            "jobs_per_hour",
            n_(
                "You have used your {count} job for this hour.",
                "You have used your {count} jobs for this hour.",
                limits.jobs_per_hour,
            ),
            usage.hour_frees_at(limits.jobs_per_hour),
        )
    if usage.video_seconds_last_day + video_seconds > limits.video_seconds_per_day:
        left = max(0, limits.video_seconds_per_day - usage.video_seconds_last_day)
        raise QuotaExceeded(
            "video_seconds_per_day",
            _(
                "This clip needs {seconds} s of video but you have {left} s left of your {limit} s "
                "for the day.",
                seconds=number(video_seconds),
                left=number(left),
                limit=number(limits.video_seconds_per_day),
            ),
            usage.day_frees_at(limits.video_seconds_per_day, video_seconds),
        )


def day_start(now: float) -> float:
    """Midnight UTC of the day `now` falls in: server budgets are per calendar day, UTC."""
    return now - (now % DAY)


def check_budget(spent: float, budget: float, cost: float, now: float) -> None:
    """Raise QuotaExceeded when a job of `cost` would take the server past its daily budget."""
    if spent + cost > budget + 1e-9:
        raise QuotaExceeded(
            "budget",
            _(
                "This server's daily budget of {budget} would be exceeded ({spent} used today, "
                "this clip costs about {cost}).",
                budget=money(budget),
                spent=money(spent),
                cost=money(cost),
            ),
            day_start(now) + DAY,
        )
