"""The settings page's forms, one per /sora-admin subcommand it stands for: each checks what was sent against
the same ranges and choices as the command and against the server as Discord has it now, and says what would
change, field by field, before anything is saved."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from bot.dashboard.discord_rest import TEXT_CHANNEL_TYPES, Guild
from bot.dashboard.site import MAX_ID, Site, field, number
from bot.domain.limits import LimitRule, Scope
from bot.i18n.messages import money
from bot.store.guild_settings import GuildSettings
from bot.ui.admin_options import (
    ASPECT_RATIO_CHOICES,
    BUDGET_MAX,
    DURATION_CHOICES,
    LIMIT_RANGES,
    MODEL_CHOICES,
    STRIKES_MAX,
    STRIKES_MIN,
    defaults_given,
)
from bot.ui.languages import CHOICES as LANGUAGES
from bot.ui.languages import SERVER_OWN
from bot.ui.reports import rule_text

T = TypeVar("T")
YES_NO = {"yes": True, "no": False}
DOLLARS = re.compile(r"\$?(\d{1,9})(?:\.(\d{1,2}))?")

LIMIT_LABELS = {
    "jobs_per_hour": "Jobs per hour",
    "video_seconds_per_day": "Video seconds per day",
    "concurrent": "Jobs at once",
    "story_shots": "Shots per story",
    "pro": "Sora 2 Pro",
    "hd": "1080p",
}
DEFAULT_LABELS = {
    "default_duration": "Duration",
    "default_aspect_ratio": "Aspect ratio",
    "default_model": "Model",
    "age_restricted_images": "Input images only in age-restricted channels",
    "strikes_to_block": "Strikes to block",
    "language": "Language of posts",
}
# Each choice named as /sora-admin names it; the posts' language by its stored value (None: the server's own).
LANGUAGE_NAMES: dict[str | None, str] = {
    (None if c.value == SERVER_OWN else c.value): c.name for c in LANGUAGES
}


@dataclass(frozen=True, slots=True)
class Server:
    """What a form is checked against, read anew for every request: the server's settings and limit rules,
    and its roles and text channels as Discord has them now."""

    guild: Guild
    settings: GuildSettings
    rules: list[LimitRule]
    roles: dict[int, str]  # role id -> name, in Discord's order; @everyone left out
    channels: dict[int, str]  # text channel id -> name, in Discord's order

    @classmethod
    async def read(cls, site: Site, guild: Guild) -> Server:
        listed = await site.discord.channels(guild.id)
        return cls(
            guild,
            await site.governance.settings(guild.id),
            await site.governance.limit_rules(guild.id),
            {role_id: name for role_id, name in guild.role_names.items() if role_id != guild.id},
            {c.id: c.name for c in listed if c.type in TEXT_CHANNEL_TYPES},
        )

    def role(self, role_id: int | None, none: str = "none") -> str:
        if role_id is None:
            return none
        name = self.roles.get(role_id)
        return f"@{name}" if name is not None else f"a role no longer in the server ({role_id})"

    def channel(self, channel_id: int | None, none: str = "none") -> str:
        if channel_id is None:
            return none
        name = self.channels.get(channel_id)
        return f"#{name}" if name is not None else f"a channel no longer in the server ({channel_id})"

    def whom(self, scope: Scope, target: int) -> str:
        """Whom a limit rule is for, in words."""
        if scope == "guild":
            return "the whole server"
        return f"role {self.role(target)}" if scope == "role" else f"member {target}"

    def rule(self, scope: Scope, target: int) -> LimitRule | None:
        return next((r for r in self.rules if (r.scope, r.target_id) == (scope, target)), None)


@dataclass(frozen=True, slots=True)
class Row:
    """One field that would change."""

    label: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class Change:
    """A form, checked: what it would change (no rows: nothing), the values to send again with the
    confirmation, and what saving it writes and records (the audit action and details /sora-admin records)."""

    title: str
    rows: list[Row]
    fields: dict[str, str]
    action: str
    details: dict[str, Any]
    save: Callable[[], Awaitable[object]]


Form = Callable[[Site, Server, FormData], Awaitable[Change]]


# -- fields ------------------------------------------------------------------------------------------------


def choice(form: FormData, name: str, allowed: Mapping[str, T]) -> T | None:
    """One of `allowed` (by its key as the form sends it), None when left empty."""
    text = field(form, name, limit=100)
    if not text:
        return None
    if text not in allowed:
        raise HTTPException(400, f"{name}: not one of the choices.")
    return allowed[text]


def dollars(form: FormData, name: str) -> float | None:
    """Dollars and cents within the budget's range, None when left empty."""
    text = field(form, name, limit=30).replace(",", "")
    if not text:
        return None
    found = DOLLARS.fullmatch(text)
    value = float(text.lstrip("$")) if found is not None else None
    if text.startswith("-") or (value is not None and value > BUDGET_MAX):
        raise HTTPException(400, f"{name}: between 0 and {BUDGET_MAX}.")
    if value is None:
        raise HTTPException(400, f"{name}: dollars and cents, like 5 or 2.50.")
    return value


def role(server: Server, form: FormData, name: str) -> int | None:
    """One of the server's roles (by id), None when left empty."""
    role_id = number(form, name, low=1, high=MAX_ID)
    if role_id is not None and role_id not in server.roles:
        raise HTTPException(400, f"{name}: not a role of this server.")
    return role_id


def channel(server: Server, form: FormData, name: str) -> int | None:
    """One of the server's text channels (by id), None when left empty."""
    channel_id = number(form, name, low=1, high=MAX_ID)
    if channel_id is not None and channel_id not in server.channels:
        raise HTTPException(400, f"{name}: not a text channel of this server.")
    return channel_id


def sent(value: object) -> str:
    """A checked value as the form sends it again."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


# -- limits ------------------------------------------------------------------------------------------------


async def _whom(site: Site, server: Server, form: FormData, *, clearing: bool) -> tuple[Scope, int]:
    """The role (one of the server's), the member (in the server now) or, setting, the server itself. A
    rule already here may be cleared after its role was deleted or its member left."""
    role_id = number(form, "role", low=1, high=MAX_ID)
    member_id = number(form, "member", low=1, high=MAX_ID)
    if clearing and (role_id is None) == (member_id is None):
        raise HTTPException(400, "Choose one role or one member.")
    if role_id is not None and member_id is not None:
        raise HTTPException(400, "Choose a role or a member, not both.")
    if role_id is not None:
        if role_id not in server.roles and not (clearing and server.rule("role", role_id) is not None):
            raise HTTPException(400, "role: not a role of this server.")
        return "role", role_id
    if member_id is not None:
        stale = clearing and server.rule("user", member_id) is not None
        if not stale and await site.discord.member(server.guild.id, member_id) is None:
            raise HTTPException(400, "member: not a member of this server.")
        return "user", member_id
    return "guild", server.guild.id


def limit_shown(value: int | bool | None) -> str:
    if value is None:
        return "not set"
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def _before(site: Site, scope: str, current: LimitRule, name: str) -> str:
    """A limit as it is: the rule's own value; for the server's rule left unset, the bot's default."""
    if (value := getattr(current, name)) is None and scope == "guild":
        return f"not set (the bot's default: {limit_shown(getattr(site.settings.limit_defaults(), name))})"
    return limit_shown(value)


async def limits_set(site: Site, server: Server, form: FormData) -> Change:
    """/sora-admin limits set: the limits given (empty fields are left as they are) for the server, a role
    or a member."""
    scope, target = await _whom(site, server, form, clearing=False)
    values: dict[str, int | bool | None] = {
        name: number(form, name, low=low, high=high) for name, (low, high) in LIMIT_RANGES.items()
    }
    values |= {name: choice(form, name, YES_NO) for name in ("pro", "hd")}
    given = {name: value for name, value in values.items() if value is not None}
    if not given:
        raise HTTPException(400, "Give at least one limit to set.")
    current = server.rule(scope, target) or LimitRule(scope, target)
    changed = {name: value for name, value in given.items() if getattr(current, name) != value}
    rule = LimitRule(scope, target, **changed)  # type: ignore[arg-type]
    return Change(
        title=f"Limits for {server.whom(scope, target)}",
        rows=[
            Row(LIMIT_LABELS[n], _before(site, scope, current, n), limit_shown(v)) for n, v in changed.items()
        ],
        fields={
            "role": sent(target if scope == "role" else None),
            "member": sent(target if scope == "user" else None),
            **{name: sent(value) for name, value in values.items()},
        },
        action="limits.set",
        details={"scope": scope, "target": target, **changed},
        save=lambda: site.governance.set_limit_rule(server.guild.id, rule),
    )


async def limits_clear(site: Site, server: Server, form: FormData) -> Change:
    """/sora-admin limits clear: a role's or a member's limits removed (the roles', the server's or the
    bot's apply again)."""
    scope, target = await _whom(site, server, form, clearing=True)
    current = server.rule(scope, target)
    return Change(
        title=f"Limits for {server.whom(scope, target)}",
        rows=[Row("Limits", rule_text(current), "none of its own")] if current is not None else [],
        fields={
            "role": sent(target if scope == "role" else None),
            "member": sent(target if scope == "user" else None),
        },
        action="limits.clear",
        details={"scope": scope, "target": target},
        save=lambda: site.governance.clear_limit_rule(server.guild.id, scope, target),
    )


# -- budget, approval, audit channel -------------------------------------------------------------------------


def budget_shown(value: float | None) -> str:
    return f"{money(value)} a day" if value is not None else "no budget"


async def budget(site: Site, server: Server, form: FormData) -> Change:
    """/sora-admin budget set: dollars per day (UTC), or none."""
    value = dollars(form, "dollars_per_day")
    before = server.settings.budget_dollars_per_day
    return Change(
        title="Daily budget",
        rows=[Row("Budget", budget_shown(before), budget_shown(value))] if before != value else [],
        fields={"dollars_per_day": sent(value)},
        action="budget.set",
        details={"dollars_per_day": value},
        save=lambda: site.governance.update_settings(server.guild.id, budget_dollars_per_day=value),
    )


def _approval_rows(server: Server, channel_id: int | None, trusted: int | None) -> list[Row]:
    now = server.settings
    rows = []
    if now.approvals_channel_id != channel_id:
        off = "nowhere: approval is off"
        before, after = server.channel(now.approvals_channel_id, off), server.channel(channel_id, off)
        rows.append(Row("Approval requests go to", before, after))
    if now.approvals_trusted_role_id != trusted:
        rows.append(Row("Trusted role", server.role(now.approvals_trusted_role_id), server.role(trusted)))
    return rows


async def approvals_on(site: Site, server: Server, form: FormData) -> Change:
    """/sora-admin approvals on: jobs wait for a moderator in a text channel; a trusted role skips that."""
    channel_id = channel(server, form, "channel")
    if channel_id is None:
        raise HTTPException(400, "channel: choose where moderators approve requests.")
    trusted = role(server, form, "trusted_role")
    return Change(
        title="Approval",
        rows=_approval_rows(server, channel_id, trusted),
        fields={"channel": sent(channel_id), "trusted_role": sent(trusted)},
        action="approvals.on",
        details={"channel": channel_id, "trusted_role": trusted},
        save=lambda: site.governance.update_settings(
            server.guild.id, approvals_channel_id=channel_id, approvals_trusted_role_id=trusted
        ),
    )


async def approvals_off(site: Site, server: Server, form: FormData) -> Change:
    """/sora-admin approvals off."""
    return Change(
        title="Approval",
        rows=_approval_rows(server, None, None),
        fields={},
        action="approvals.off",
        details={},
        save=lambda: site.governance.update_settings(
            server.guild.id, approvals_channel_id=None, approvals_trusted_role_id=None
        ),
    )


async def audit_channel(site: Site, server: Server, form: FormData) -> Change:
    """/sora-admin audit channel: where the audit trail is posted (none: not posted)."""
    channel_id = channel(server, form, "channel")
    before = server.settings.audit_channel_id
    off = "nowhere (not posted)"
    return Change(
        title="Audit channel",
        rows=[Row("Audit posts go to", server.channel(before, off), server.channel(channel_id, off))]
        if before != channel_id
        else [],
        fields={"channel": sent(channel_id)},
        action="audit.channel",
        details={"channel": channel_id},
        save=lambda: site.governance.update_settings(server.guild.id, audit_channel_id=channel_id),
    )


# -- defaults ----------------------------------------------------------------------------------------------


def default_shown(column: str, value: Any) -> str:
    """A default as the settings column stores it, in words."""
    if column == "language":
        return LANGUAGE_NAMES.get(value, str(value))
    if value is None:
        return "not set (the bot's default)"
    if column == "default_duration":
        return f"{value} seconds"
    return limit_shown(value) if isinstance(value, bool) else str(value)


async def defaults(site: Site, server: Server, form: FormData) -> Change:
    """/sora-admin defaults: the options /video uses when it doesn't say, and the posts' language; empty
    fields are left as they are."""
    chosen: dict[str, Any] = {
        "duration": choice(form, "duration", {str(c.value): c.value for c in DURATION_CHOICES}),
        "aspect_ratio": choice(form, "aspect_ratio", {c.value: c.value for c in ASPECT_RATIO_CHOICES}),
        "model": choice(form, "model", {c.value: c.value for c in MODEL_CHOICES}),
        "age_restricted_images": choice(form, "age_restricted_images", YES_NO),
        "strikes_to_block": number(form, "strikes_to_block", low=STRIKES_MIN, high=STRIKES_MAX),
        "language": choice(form, "language", {c.value: c.value for c in LANGUAGES}),
    }
    given, details = defaults_given(**chosen)
    if not given:
        raise HTTPException(400, "Give at least one default to set.")
    now = server.settings
    changed = {column: value for column, value in given.items() if getattr(now, column) != value}
    rows = [
        Row(DEFAULT_LABELS[c], default_shown(c, getattr(now, c)), default_shown(c, v))
        for c, v in changed.items()
    ]
    return Change(
        title="Defaults",
        rows=rows,
        fields={name: sent(value) for name, value in chosen.items()},
        action="defaults.set",
        details={key: value for key, value in details.items() if key in changed},
        save=lambda: site.governance.update_settings(server.guild.id, **changed),
    )


FORMS: dict[str, Form] = {
    "limits-set": limits_set,
    "limits-clear": limits_clear,
    "budget": budget,
    "approvals-on": approvals_on,
    "approvals-off": approvals_off,
    "audit-channel": audit_channel,
    "defaults": defaults,
}
