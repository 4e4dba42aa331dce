"""The approval decision itself (Approve, Reject), wherever it is asked for: a button in Discord or the
dashboard; and the moderators' request message it closes."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import discord

from bot.domain.models import Job, JobState
from bot.i18n.messages import _, heading_, money, n_, post_language, speaking
from bot.services.audit import Audit
from bot.store.governance import Governance
from bot.store.jobs import JobStore
from bot.ui.embeds import FIELD_VALUE_MAX, cut, escape, fit_embed, quote, settings_line

log = logging.getLogger(__name__)


# A decided request's outcome, as `approval_embed` takes it (English; its title is written for each).
APPROVED = "Approved"
REJECTED = "Rejected"
EXPIRED = "Expired without a decision"


# A rejected job's stored error names its moderator (read back by `decided_by`).
_REJECTED_BY = "rejected by moderator {moderator}: {reason}"
_REJECTED_BY_PATTERN = re.compile(r"rejected by moderator (?P<moderator>[0-9]{1,20}): ")
EXPIRED_ERROR = "approval expired"


def decided_by(job: Job) -> int | None:
    """Who approved or rejected the job (None: nobody did, or it expired)."""
    if job.approved_by is not None:
        return job.approved_by
    found = _REJECTED_BY_PATTERN.match(job.error or "") if job.state is JobState.REJECTED else None
    return int(found["moderator"]) if found is not None else None


def guild_locale_of(interaction: discord.Interaction[Any] | None, job: Job) -> object:
    """The server's own language: the interaction's, made in the job's server, else its requester's one's."""
    if interaction is not None and interaction.guild_id == job.guild_id and interaction.guild_locale:
        return interaction.guild_locale
    return job.target.get("guild_locale")


def _title(outcome: str | None, moderator: str | None, shots: int) -> str:
    """The request's title, whole in each language: waiting, or decided (by whom), a story's shots counted."""
    if outcome is None:
        if shots:
            return n_(
                "Approval needed: a story of {count} shot", "Approval needed: a story of {count} shots", shots
            )
        return heading_("Approval needed")
    if outcome == EXPIRED:
        if shots:
            return n_(
                "Expired without a decision: a story of {count} shot",
                "Expired without a decision: a story of {count} shots",
                shots,
            )
        return heading_("Expired without a decision")
    if outcome == APPROVED:
        if moderator is None:
            return heading_("Approved")
        if shots:
            return n_(
                "Approved: a story of {count} shot by {moderator}",
                "Approved: a story of {count} shots by {moderator}",
                shots,
                moderator=moderator,
            )
        return heading_("Approved by {moderator}", moderator=moderator)
    if moderator is None:
        return heading_("Rejected")
    if shots:
        return n_(
            "Rejected: a story of {count} shot by {moderator}",
            "Rejected: a story of {count} shots by {moderator}",
            shots,
            moderator=moderator,
        )
    return heading_("Rejected by {moderator}", moderator=moderator)


def approval_embed(
    job: Job,
    *,
    outcome: str | None = None,
    by: str | None = None,
    reason: str | None = None,
    story: Sequence[Job] = (),
) -> discord.Embed:
    """The request the moderators see; once decided, `outcome` (APPROVED, REJECTED, EXPIRED), `by` whom and
    their `reason`. A story's first shot stands for the whole `story`: every shot's prompt and the cost of
    all. In the language of the moment (the server's, where it is posted)."""
    description = (
        "\n".join(
            _("**Shot {number}**\n{prompt}", number=i, prompt=quote(s.request.prompt, 1500 // len(story)))
            for i, s in enumerate(story, 1)
        )
        if story
        else quote(job.request.prompt, 1500)
    )
    embed = discord.Embed(
        title=_title(outcome, escape(by) if by is not None else None, len(story)),
        description=description,
        colour=discord.Colour.orange() if outcome is None else discord.Colour.dark_grey(),
    )
    if reason is not None:
        # In a field, not the title: a reason may be 300 characters (600 escaped), a title only 256.
        embed.add_field(name=heading_("Reason"), value=cut(escape(reason), FIELD_VALUE_MAX), inline=False)
    embed.add_field(name=heading_("Requester"), value=f"<@{job.user_id}>")
    embed.add_field(name=heading_("Channel"), value=f"<#{job.channel_id}>")
    embed.add_field(name=heading_("Settings"), value=settings_line(job), inline=False)
    cost = sum(s.estimated_cost for s in story) if story else job.estimated_cost
    embed.add_field(name=heading_("Estimated cost"), value=money(cost))
    footer = (
        _("Job {job} · story {story}", job=job.id, story=job.story_id)
        if job.story_id is not None
        else _("Job {job}", job=job.id)
    )
    embed.set_footer(text=footer)
    return fit_embed(embed)


# The longest reason a moderator may give (the form refuses more).
REASON_MAX = 300


@dataclass(frozen=True, slots=True)
class Decision:
    """What a decision came to: `won` when it moved the job; else the job as it is now (decided first by
    someone else, expired or cancelled; None when there is no such job), and nothing was changed."""

    job: Job | None
    won: bool


class Decisions:
    """Approve and Reject themselves, wherever they are asked for (a button in Discord, the dashboard): the
    job leaves `awaiting_approval` once (the store's compare-and-set: of two moderators at once one wins),
    the moderators' message says so, the audit log records who and from where, and the scheduler is
    woken. Needs only Discord's REST API (the dashboard has no gateway, and no scheduler: workers poll)."""

    def __init__(
        self,
        client: discord.Client,
        store: JobStore,
        governance: Governance,
        audit: Audit,
        wake_scheduler: Callable[[], None] = lambda: None,
    ) -> None:
        self.client = client  # edits the moderators' message
        self.store = store
        self.governance = governance
        self.audit = audit
        self.wake_scheduler = wake_scheduler

    async def approve(
        self, job_id: int, *, by_id: int, by_name: str, guild_locale: object = None, source: str
    ) -> Decision:
        """Queue the job, approved by member `by_id` (`by_name` as the moderators' message shows them), from
        `source` ("discord", "dashboard": the audit log's "from where"). `guild_locale`: the server's own
        language where known (else the one the job recorded)."""
        job = await self.store.get(job_id)
        if job is None or job.state is not JobState.AWAITING_APPROVAL:
            return Decision(job, won=False)
        approved = await self.store.transition(
            job.id, JobState.QUEUED, expect={JobState.AWAITING_APPROVAL}, approved_by=by_id
        )
        if approved is None:
            return Decision(await self.store.get(job_id), won=False)
        self.wake_scheduler()
        where = guild_locale if guild_locale is not None else guild_locale_of(None, job)
        await self.close(approved, APPROVED, where, by=by_name)
        await self.audit.record(
            approved.guild_id or 0,
            "job.approved",
            actor_id=by_id,
            job_id=job.id,
            guild_locale=where,
            source=source,
            requester=job.user_id,
        )
        return Decision(approved, won=True)

    async def reject(
        self,
        job_id: int,
        reason: str,
        *,
        by_id: int,
        by_name: str,
        guild_locale: object = None,
        source: str,
    ) -> Decision:
        """Reject the job with `reason`, which its requester is told (in their language); as `approve`."""
        job = await self.store.get(job_id)
        if job is None or job.state is not JobState.AWAITING_APPROVAL:
            return Decision(job, won=False)
        with speaking(job.target.get("locale")):  # shown to the requester, later
            told = _("A moderator rejected this request: {reason}", reason=reason)
        rejected = await self.store.transition(
            job.id,
            JobState.REJECTED,
            expect={JobState.AWAITING_APPROVAL},
            error=_REJECTED_BY.format(moderator=by_id, reason=reason),
            user_error=told,
        )
        if rejected is None:
            return Decision(await self.store.get(job_id), won=False)
        where = guild_locale if guild_locale is not None else guild_locale_of(None, job)
        await self.close(rejected, REJECTED, where, by=by_name, reason=reason)
        await self.audit.record(
            job.guild_id or 0,
            "job.rejection",
            actor_id=by_id,
            job_id=job.id,
            guild_locale=where,
            source=source,
            reason=reason,
        )
        return Decision(rejected, won=True)

    async def name_of(self, user_id: int) -> str:
        """A member's name as a decision shows it (a button's `str(interaction.user)`), asked of Discord."""
        try:
            return str(await self.client.fetch_user(user_id))
        except discord.HTTPException as exc:
            log.info("user %d: name not found (%s)", user_id, exc.status)
            return str(user_id)

    async def close(
        self,
        job: Job,
        outcome: str,
        guild_locale: object,
        *,
        by: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Take the buttons off the moderators' message and say what happened, in the server's language
        (`guild_locale`: the server's own)."""
        settings = await self.governance.settings(job.guild_id or 0)
        if job.approval_message_id is None or settings.approvals_channel_id is None:
            return
        channel = self.client.get_partial_messageable(settings.approvals_channel_id, guild_id=job.guild_id)
        message = channel.get_partial_message(job.approval_message_id)
        found = await self.store.get_story(job.story_id) if job.story_id is not None else None
        story = [s for s in found[1] if s.story_id == job.story_id] if found is not None else []
        with speaking(post_language(settings.language, guild_locale)):
            embed = approval_embed(job, outcome=outcome, by=by, reason=reason, story=story)
        try:
            await message.edit(
                embed=embed,
                view=None,
                attachments=[],
            )
        except discord.HTTPException as exc:
            log.warning("job %d: approval message not updated (%s %s)", job.id, exc.status, exc.text)
            # Live buttons on a decided request invite a second decision: take them off at least.
            try:
                await message.edit(view=None)
            except discord.HTTPException as again:
                log.warning("job %d: approval buttons not removed (%s)", job.id, again.status)
