"""What /sora-admin answers an admin (privately, in their language): each change confirmed in words."""

from __future__ import annotations

from typing import Any

from bot.domain.limits import LimitRule
from bot.i18n.messages import _, money, n_
from bot.ui.embeds import escape
from bot.ui.reports import rule_text


def limits_set(who: str | None, rule: LimitRule) -> str:
    """`who`: the role's or member's mention, None for the server."""
    if who is None:
        return _("Limits for the server: {limits}.", limits=rule_text(rule))
    return _("Limits for {who}: {limits}.", who=who, limits=rule_text(rule))


def limits_cleared(who: str, removed: bool) -> str:
    return _("Cleared the limits for {who}.", who=who) if removed else _("{who} had no limits set.", who=who)


def budget_set(dollars_per_day: float | None) -> str:
    if dollars_per_day is None:
        return _("Daily budget removed.")
    return _("Daily budget set to {dollars}.", dollars=money(dollars_per_day))


def allowed(mention: str, allow: bool, changed: bool) -> str:
    """A channel or role allowed, or no longer."""
    if not changed:
        return _("Nothing to change for {mention}.", mention=mention)
    return (
        _("Allowed: {mention}.", mention=mention)
        if allow
        else _("No longer allowed: {mention}.", mention=mention)
    )


def blocked(pattern: str, is_regex: bool, added: bool) -> str:
    if not added:
        return _("Already blocked.")
    shown = escape(pattern)
    return (
        _("Blocked regex: {pattern}", pattern=shown)
        if is_regex
        else _("Blocked word: {pattern}", pattern=shown)
    )


def blocklist(rules: list[tuple[str, bool]]) -> tuple[str, list[str]]:
    """The blocklist's header and one line per (pattern, is_regex) rule."""
    lines = [
        _("regex: {pattern}", pattern=escape(p)) if r else _("word: {pattern}", pattern=escape(p))
        for p, r in rules
    ]
    return n_("{count} rule:", "{count} rules:", len(lines)), lines


def approvals_on(channel: str, trusted_role: str | None) -> str:
    """`channel` and `trusted_role`: mentions."""
    if trusted_role is None:
        return _("Approval is on: requests go to {channel}.", channel=channel)
    return _("Approval is on: requests go to {channel}; {role} skips it.", channel=channel, role=trusted_role)


def audit_channel(channel: str | None) -> str:
    if channel is None:
        return _("Audit posts are off.")
    return _("The audit trail is posted in {channel}.", channel=channel)


def defaults_set(given: dict[str, Any], language: str | None) -> str:
    """The server defaults just set (`given`: settings column -> value), and the posts' `language` in words
    when it was set."""
    parts = []
    for key, value in given.items():
        if key == "default_duration":
            parts.append(_("duration {value}", value=value))
        elif key == "default_aspect_ratio":
            parts.append(_("aspect ratio {value}", value=value))
        elif key == "default_model":
            parts.append(_("model {value}", value=value))
        elif key == "age_restricted_images":
            parts.append(_("age restricted images True") if value else _("age restricted images False"))
        elif key == "strikes_to_block":
            parts.append(_("strikes to block {value}", value=value))
    if language is not None:
        parts.append(_("language {language}", language=language))
    return _("Defaults set: {defaults}.", defaults=", ".join(parts))


def standing(member: str, strikes: int, limit: int, is_blocked: bool) -> str:
    """A member's strikes of the server's `limit` (the plural follows the limit: "1 of 3 strikes")."""
    if is_blocked:
        return n_(
            "{member}: {strikes} of {count} strike, blocked.",
            "{member}: {strikes} of {count} strikes, blocked.",
            limit,
            member=member,
            strikes=strikes,
        )
    return n_(
        "{member}: {strikes} of {count} strike, not blocked.",
        "{member}: {strikes} of {count} strikes, not blocked.",
        limit,
        member=member,
        strikes=strikes,
    )


def forgotten(member: str, files: int) -> str:
    return n_(
        "Forgot {member}: prompts removed, {count} file deleted.",
        "Forgot {member}: prompts removed, {count} files deleted.",
        files,
        member=member,
    )


def exported(jobs: int) -> str:
    return n_("{count} job.", "{count} jobs.", jobs)
