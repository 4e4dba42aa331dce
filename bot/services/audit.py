"""The audit trail: every job outcome and admin change, in the database and, when set, the audit channel."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.domain.models import TERMINAL, Job, JobState
from bot.store.audit_log import AuditEntry
from bot.store.governance import Governance
from bot.ui.embeds import FIELD_NAME_MAX, cut, escape, fit_embed, quote, settings_line

log = logging.getLogger(__name__)


def job_details(job: Job) -> dict[str, Any]:
    return {
        "requester": job.user_id,
        "channel": job.channel_id,
        "prompt": job.request.prompt,
        "settings": settings_line(job),
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
        **details: Any,
    ) -> AuditEntry:
        entry = await self.governance.audit(guild_id, action, actor_id=actor_id, job_id=job_id, **details)
        settings = await self.governance.settings(guild_id)
        if settings.audit_channel_id is not None:
            try:
                channel = self.client.get_partial_messageable(settings.audit_channel_id, guild_id=guild_id)
                await channel.send(embed=audit_embed(entry), allowed_mentions=discord.AllowedMentions.none())
            except discord.HTTPException as exc:
                log.warning("guild %d: audit post failed (%s)", guild_id, exc.status)
        return entry

    async def on_transition(self, job: Job, previous: JobState) -> None:
        """Every job that ends is recorded with its outcome and cost."""
        if job.guild_id is None or job.target.get("kind") != "discord" or job.state not in TERMINAL:
            return
        await self.record(job.guild_id, f"job.{job.state.value}", job_id=job.id, **job_details(job))


# A detail (a reason, an error, a pattern) is shown up to this long, so many of them still fit in one post.
DETAIL_SHOWN = 500


def audit_embed(entry: AuditEntry) -> discord.Embed:
    """One audit post; every detail (prompts, reasons, errors, patterns) shown as typed, never as markdown."""
    details = dict(entry.details)
    embed = discord.Embed(title=escape(entry.action), colour=discord.Colour.dark_teal())
    if entry.actor_id:
        embed.add_field(name="By", value=f"<@{entry.actor_id}>")
    if entry.job_id:
        embed.add_field(name="Job", value=str(entry.job_id))
    if isinstance(details.get("requester"), int):
        embed.add_field(name="Requester", value=f"<@{details.pop('requester')}>")
    if details.get("prompt"):
        embed.description = quote(str(details.pop("prompt")), 500)
    for key, value in details.items():
        if value is not None and value != "" and len(embed.fields) < 20:
            name = cut(escape(key.replace("_", " ").capitalize()), FIELD_NAME_MAX)
            embed.add_field(name=name, value=cut(escape(str(value)), DETAIL_SHOWN))
    embed.timestamp = discord.utils.utcnow()
    return fit_embed(embed)
