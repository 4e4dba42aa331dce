"""The audit trail: every job outcome and admin change, in the database and, when set, the audit channel."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.domain.models import TERMINAL, Job, JobState
from bot.i18n.messages import SOURCE, _, heading_, post_language, speaking
from bot.store.audit_log import AuditEntry
from bot.store.governance import Governance
from bot.ui.embeds import FIELD_NAME_MAX, cut, escape, fit_embed, quote, settings_line

log = logging.getLogger(__name__)


def job_details(job: Job) -> dict[str, Any]:
    with speaking(SOURCE):  # stored: in English, whoever's action ended the job
        settings = settings_line(job)
    return {
        "requester": job.user_id,
        "channel": job.channel_id,
        "prompt": job.request.prompt,
        "settings": settings,
        "estimated_cost": job.estimated_cost,
        "actual_cost": job.actual_cost,
        "outcome": job.state.value,
        "approved_by": job.approved_by,
        "error": job.user_error,
    }


class Audit:
    """Writes audit rows and posts them to the server's audit channel (never pinging anyone)."""

    def __init__(self, governance: Governance, client: discord.Client) -> None:
        self.governance = governance
        self.client = client  # posts in the audit channel

    async def record(
        self,
        guild_id: int,
        action: str,
        *,
        actor_id: int | None = None,
        job_id: int | None = None,
        guild_locale: object = None,
        **details: Any,
    ) -> AuditEntry:
        """Write an audit row and post it, in the server's language (`guild_locale`: the server's own, as an
        interaction in it or a job's target says; else as the gateway's guild cache knows it)."""
        entry = await self.governance.audit(guild_id, action, actor_id=actor_id, job_id=job_id, **details)
        settings = await self.governance.settings(guild_id)
        if settings.audit_channel_id is not None:
            if guild_locale is None and (guild := self.client.get_guild(guild_id)) is not None:
                guild_locale = guild.preferred_locale
            with speaking(post_language(settings.language, guild_locale)):
                embed = audit_embed(entry)
            try:
                channel = self.client.get_partial_messageable(settings.audit_channel_id, guild_id=guild_id)
                await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
            except discord.HTTPException as exc:
                log.warning("guild %d: audit post failed (%s)", guild_id, exc.status)
        return entry

    async def on_transition(self, job: Job, previous: JobState) -> None:
        """Every job that ends is recorded with its outcome and cost."""
        if job.guild_id is None or job.target.get("kind") != "discord" or job.state not in TERMINAL:
            return
        where = job.target.get("guild_locale")
        await self.record(
            job.guild_id, f"job.{job.state.value}", job_id=job.id, guild_locale=where, **job_details(job)
        )


# A detail (a reason, an error, a pattern) is shown up to this long, so many of them still fit in one post.
DETAIL_SHOWN = 500

# The details' names as the post shows them (marked here, translated when shown); a detail not listed is
# shown by its key.
DETAIL_NAMES = {
    "actual_cost": _("Actual cost"),
    "age_restricted_images": _("Age restricted images"),
    "approved_by": _("Approved by"),
    "blocked": _("Blocked"),
    "channel": _("Channel"),
    "concurrent": _("Concurrent"),
    "default_aspect_ratio": _("Default aspect ratio"),
    "default_duration": _("Default duration"),
    "default_model": _("Default model"),
    "dollars_per_day": _("Dollars per day"),
    "error": _("Error"),
    "estimated_cost": _("Estimated cost"),
    "hd": _("Hd"),
    "jobs_per_hour": _("Jobs per hour"),
    "language": _("Language"),
    "outcome": _("Outcome"),
    "pattern": _("Pattern"),
    "pro": _("Pro"),
    "reason": _("Reason"),
    "regex": _("Regex"),
    "requester": _("Requester"),
    "rows": _("Rows"),
    "scope": _("Scope"),
    "settings": _("Settings"),
    "story_shots": _("Story shots"),
    "strikes": _("Strikes"),
    "strikes_to_block": _("Strikes to block"),
    "target": _("Target"),
    "trusted_role": _("Trusted role"),
    "video_seconds_per_day": _("Video seconds per day"),
}


def detail_name(key: str) -> str:
    """A detail's name in the current language (its key in words when it has none)."""
    english = DETAIL_NAMES.get(key)
    return heading_(english) if english is not None else key.replace("_", " ").capitalize()


def audit_embed(entry: AuditEntry) -> discord.Embed:
    """One audit post, in the language of the moment; the action key and every detail (prompts, reasons,
    errors, patterns) shown as stored and typed, never as markdown."""
    details = dict(entry.details)
    embed = discord.Embed(title=escape(entry.action), colour=discord.Colour.dark_teal())
    if entry.actor_id:
        embed.add_field(name=heading_("By"), value=f"<@{entry.actor_id}>")
    if entry.job_id:
        embed.add_field(name=heading_("Job"), value=str(entry.job_id))
    if isinstance(details.get("requester"), int):
        embed.add_field(name=heading_("Requester"), value=f"<@{details.pop('requester')}>")
    if details.get("prompt"):
        embed.description = quote(str(details.pop("prompt")), 500)
    for key, value in details.items():
        if value is not None and value != "" and len(embed.fields) < 20:
            name = cut(escape(detail_name(key)), FIELD_NAME_MAX)
            embed.add_field(name=name, value=cut(escape(str(value)), DETAIL_SHOWN))
    embed.timestamp = discord.utils.utcnow()
    return fit_embed(embed)
