"""Approval mode: a job waits in `awaiting_approval` until a moderator approves or rejects it, or it expires.
No money is spent before approval; the reservation is given back on rejection or expiry."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import discord

from bot.domain.models import Job, JobState
from bot.domain.staff import Role, StaffRoles, standing
from bot.errors import FOREIGN_INSTALL, NotAllowed, StorageUnavailable, UserFacingError
from bot.i18n.messages import _, post_language, speaking, title_
from bot.services.audit import Audit
from bot.services.decisions import (
    EXPIRED,
    EXPIRED_ERROR,
    REASON_MAX,
    Decisions,
    approval_embed,
    guild_locale_of,
)
from bot.services.guard import Guard
from bot.settings import Settings
from bot.storage import Storage
from bot.store.governance import Governance
from bot.store.jobs import JobStore
from bot.tasks import Loop
from bot.tree import acknowledge, handle_error, only_its_opener
from bot.ui.buttons import approval_view
from bot.ui.embeds import state_name

log = logging.getLogger(__name__)

# How long Discord's answers about a server missing from the cache are used: the server (its roles, owner), a
# member's roles, and a refusal (the bot not in it, or a refused request that may pass a moment later).
ASKED_SECONDS = 30.0
MEMBER_SECONDS = 10.0
REFUSED_SECONDS = 5.0


def standing_of(member: discord.Member, staff: StaffRoles | None = None) -> Role | None:
    """The member's standing by the dashboard's rule (bot.domain.staff.standing): the server's roles and
    owner as `member.guild` has them (this process's cache, kept current by the guilds intent), the member's
    roles as the interaction carries them. Never the channel's overwrites: the dashboard has no channel."""
    guild = member.guild
    return standing(
        guild_id=guild.id,
        owner_id=guild.owner_id,
        user_id=member.id,
        role_permissions={role.id: role.permissions.value for role in guild.roles},
        role_ids=[role.id for role in member.roles],
        staff=staff,
        timed_out=member.is_timed_out(),
    )


def is_moderator(member: discord.Member, staff: StaffRoles | None = None) -> bool:
    """Approver or more by `standing_of` (`staff`: the server's configured roles, as the dashboard reads
    them): whoever may decide on the dashboard may in Discord, and no one else."""
    role = standing_of(member, staff)
    return role is not None and role >= Role.APPROVER


class Asked:
    """Discord's answers about a server missing from this process's cache (its roles and owner) and its
    members, used for ASKED_SECONDS: a moderator pressing again, or the next one, costs no new call. A refusal
    (NotFound, Forbidden: the bot left the server, or the member is not in it) is kept too, as None."""

    def __init__(self, client: discord.Client, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.clock = clock
        self._guilds: dict[int, tuple[float, discord.Guild | None]] = {}
        self._members: dict[tuple[int, int], tuple[float, discord.Member | None]] = {}

    def known(self, guild_id: int, user_id: int) -> bool:
        """Whether `member(guild_id, user_id)` would answer without asking Discord."""
        now = self.clock()
        found = self._guilds.get(guild_id)
        if found is None or not _fresh(found, now, ASKED_SECONDS):
            return False
        member = self._members.get((guild_id, user_id))
        return found[1] is None or (member is not None and _fresh(member, now, MEMBER_SECONDS))

    async def member(self, guild_id: int, user_id: int) -> discord.Member | None:
        """The member with their server's roles and owner, as Discord has them (a moment ago); None for a
        server the bot is not in or a member not in it."""
        now = self.clock()
        self._guilds = {k: v for k, v in self._guilds.items() if _fresh(v, now, ASKED_SECONDS)}
        self._members = {k: v for k, v in self._members.items() if _fresh(v, now, MEMBER_SECONDS)}
        if guild_id not in self._guilds:
            try:
                guild: discord.Guild | None = await self.client.fetch_guild(guild_id, with_counts=False)
            except (discord.NotFound, discord.Forbidden):
                guild = None
            self._guilds[guild_id] = (now, guild)
        guild = self._guilds[guild_id][1]
        if guild is None:
            return None
        if (guild_id, user_id) not in self._members:
            try:
                member: discord.Member | None = await guild.fetch_member(user_id)
            except (discord.NotFound, discord.Forbidden):
                member = None
            self._members[guild_id, user_id] = (now, member)
        return self._members[guild_id, user_id][1]


def _fresh(entry: tuple[float, object], now: float, seconds: float) -> bool:
    """Whether an answer kept at `entry[0]` is still used: `seconds`, or REFUSED_SECONDS for a refusal."""
    return now - entry[0] < (seconds if entry[1] is not None else REFUSED_SECONDS)


class RejectModal(discord.ui.Modal):
    """The reason is shown to the requester."""

    def __init__(self, approvals: Approvals, job: Job, opener_id: int) -> None:
        # discord.py's random custom_id: open forms are kept by custom_id alone, so a fixed one per job would
        # let a second moderator's form replace the first's and drop one submission without a word.
        super().__init__(title=title_("Reject this request"), timeout=600)
        self.reason: discord.ui.TextInput[RejectModal] = discord.ui.TextInput(
            label=title_("Reason (the requester sees it)"), custom_id="reason", max_length=REASON_MAX
        )
        self.add_item(self.reason)
        self.approvals = approvals
        self.job = job
        self.opener_id = opener_id

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        return await only_its_opener(interaction, self.opener_id)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await self.approvals.reject(interaction, self.job, self.reason.value)

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception, /) -> None:  # type: ignore[override]
        await handle_error(interaction, error)


class Approvals:
    """Posts requests to the moderators' channel and carries out Approve, Reject (through `decisions`) and
    expiry."""

    def __init__(
        self,
        settings: Settings,
        client: discord.Client,
        store: JobStore,
        governance: Governance,
        guard: Guard,
        audit: Audit,
        wake_scheduler: Callable[[], None],
        storage: Storage,
    ) -> None:
        self.settings = settings
        self.storage = storage  # the request's image, shown to the moderators
        self.client = client  # posts and edits in the moderators' channel
        self.store = store
        self.governance = governance
        self.guard = guard
        self.decisions = Decisions(client, store, governance, audit, wake_scheduler)
        self.asked = Asked(client)
        self.loop = Loop("approval expiry", self.expire, settings.approval_sweep_seconds)

    async def request(self, job: Job, channel_id: int, *, story: Sequence[Job] = ()) -> None:
        """Show the job (or the `story` whose first shot it is) to the moderators with Approve / Reject
        buttons (and its image, if any)."""
        channel = self.client.get_partial_messageable(channel_id, guild_id=job.guild_id)
        settings = await self.governance.settings(job.guild_id or 0)
        # Posted in the server's language (made during the requester's interaction: its guild_locale).
        with speaking(post_language(settings.language, guild_locale_of(None, job))):
            embed, view = approval_embed(job, story=story), approval_view(job)
        async with contextlib.AsyncExitStack() as stack:
            try:
                image = await stack.enter_async_context(self.storage.local_input(job.request.image_path))
            except StorageUnavailable as exc:
                log.warning("job %d: the image can't be shown to the moderators: %s", job.id, exc.detail)
                image = None
            files = [discord.File(image, filename=f"input-{job.id}.jpg")] if image is not None else []
            message = await channel.send(
                embed=embed,
                files=files,
                view=view,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        await self.store.set_approval_message(job.id, message.id)

    async def may_decide(self, interaction: discord.Interaction[Any]) -> bool:
        """`is_moderator` in the interaction's server, counting the roles it made "approver" for its
        dashboard."""
        guild_id, member = interaction.guild_id, interaction.user
        if guild_id is None or not isinstance(member, discord.Member):
            return False
        staff = await self.governance.staff_roles(guild_id)
        if not self._cached(guild_id):
            # Not in this process's cache (not received yet, or in an outage): the stand-in discord.py
            # builds then has no roles and no owner, so the server and the member are asked of Discord.
            asked = await self.asked.member(guild_id, member.id)
            if asked is None:
                return False
            member = asked
        return is_moderator(member, staff)

    def _cached(self, guild_id: int) -> bool:
        guild = self.client.get_guild(guild_id)
        return guild is not None and not guild.unavailable

    def _decided_at_once(self, interaction: discord.Interaction[Any]) -> bool:
        """Whether `may_decide` answers without asking Discord (from the cache, or from `asked`)."""
        guild_id = interaction.guild_id
        return guild_id is None or self._cached(guild_id) or self.asked.known(guild_id, interaction.user.id)

    async def on_button(self, interaction: discord.Interaction[Any], action: str, job_id: int) -> None:
        """Approve or Reject pressed (bot/ui/buttons.py ApprovalButton)."""
        if action != "reject":  # (Reject's form must be the first answer)
            await acknowledge(interaction)
        job = await self.guard.job_for_button(interaction, job_id, works_in_dms=False)
        # Reject's form must be the first answer, within Discord's 3 s: when deciding would ask Discord (two
        # calls, each of which may wait out a rate limit), the form comes first and its submit decides.
        later = action == "reject" and not self._decided_at_once(interaction)
        if not later and not await self.may_decide(interaction):
            raise UserFacingError(_("Only moderators can approve or reject requests."))
        if job.state is not JobState.AWAITING_APPROVAL:
            raise UserFacingError(
                _(
                    "Job {job} is no longer waiting for approval ({state}).",
                    job=job.id,
                    state=state_name(job.state),
                )
            )
        if action == "reject":
            await interaction.response.send_modal(RejectModal(self, job, interaction.user.id))
            return
        decision = await self.decisions.approve(
            job.id,
            by_id=interaction.user.id,
            by_name=str(interaction.user),
            guild_locale=guild_locale_of(interaction, job),
            source="discord",
        )
        if not decision.won:
            raise UserFacingError(_("Job {job} is no longer waiting for approval.", job=job.id))
        await interaction.followup.send(_("Approved job {job}.", job=job.id), ephemeral=True)

    async def reject(self, interaction: discord.Interaction[Any], job: Job, reason: str) -> None:
        # Acknowledged first: deciding may ask Discord (a server missing from the cache) within its 3 s.
        await acknowledge(interaction)
        # Checked again on submit, as on the button: the form may outlive the moderator's role, and in a
        # server missing from the cache the button showed it unchecked.
        if not await self.guard.installation_allowed(interaction):
            raise NotAllowed(FOREIGN_INSTALL)
        if not await self.may_decide(interaction):
            raise UserFacingError(_("Only moderators can approve or reject requests."))
        decision = await self.decisions.reject(
            job.id,
            reason,
            by_id=interaction.user.id,
            by_name=str(interaction.user),
            guild_locale=guild_locale_of(interaction, job),
            source="discord",
        )
        if not decision.won:
            await interaction.followup.send(
                _("Job {job} is no longer waiting for approval.", job=job.id), ephemeral=True
            )
            return
        await interaction.followup.send(_("Rejected job {job}.", job=job.id), ephemeral=True)

    async def expire(self) -> int:
        """Reject every request that waited longer than APPROVAL_EXPIRY_SECONDS; returns how many."""
        cutoff = time.time() - self.settings.approval_expiry_seconds
        count = 0
        for job in await self.store.expired_approvals(cutoff):
            with speaking(job.target.get("locale")):  # shown to the requester
                told = _(
                    "No moderator approved this request in time, so it was dropped. You were not charged."
                )
            expired = await self.store.transition(
                job.id,
                JobState.REJECTED,
                expect={JobState.AWAITING_APPROVAL},
                error=EXPIRED_ERROR,
                user_error=told,
            )
            if expired is not None:
                count += 1
                await self.decisions.close(expired, EXPIRED, guild_locale_of(None, job))
        return count
