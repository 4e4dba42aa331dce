"""The clip buttons' actions (cancel, re-roll, remix, flip, upgrade, continue, delete, post) and accepting a
request: the server's rules, the reservation, the queue, the status message."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord

from bot.domain.models import SEED_MAX, TERMINAL, Job, JobRequest, JobState, Target
from bot.domain.stories import Story
from bot.errors import FOREIGN_INSTALL, JobNotFound, NotAllowed, UserFacingError
from bot.files import clip_name, last_frame_path
from bot.i18n.messages import _, title_
from bot.media.fit import last_frame
from bot.pipeline import Pipeline
from bot.services.approvals import Approvals
from bot.services.delivery import DiscordDeliverer
from bot.services.guard import Admission, Asker, Guard
from bot.services.intake import TOKEN_LIFETIME, around_image, discord_target
from bot.services.status import StatusUpdater
from bot.tree import acknowledge, handle_error, only_its_opener, reply
from bot.ui.buttons import status_view
from bot.ui.embeds import state_name, status_embed

log = logging.getLogger(__name__)

# The buttons the bot puts on messages in direct messages: a private clip's, and a status message's.
DM_ACTIONS = frozenset({"post", "reroll", "remix", "cancel"})
# The actions acknowledged without a "thinking" message (their answer comes quickly, as a private followup).
QUIET_ACTIONS = frozenset({"cancel", "delete", "post"})
Interaction = discord.Interaction[Any]
NO_LONGER_AVAILABLE = _("This clip is no longer available.")
NOT_CONTINUABLE = _("This clip is no longer available to continue from.")


class RemixModal(discord.ui.Modal):
    """The job's prompt, ready to edit; submitting makes a new job with the same settings."""

    def __init__(self, clips: Clips, job: Job, opener_id: int) -> None:
        # discord.py keeps open modals by custom_id alone: its random default keeps each member's form
        # apart (a fixed id per job let a second member's form replace the first's).
        super().__init__(title=title_("Remix this clip"), timeout=TOKEN_LIFETIME)
        self.clips = clips
        self.job = job
        self.opener_id = opener_id
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label=title_("Prompt"),
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=job.request.prompt[:4000],
            min_length=3,
            max_length=4000,
        )
        self.add_item(self.prompt)

    async def interaction_check(self, interaction: Interaction) -> bool:
        return await only_its_opener(interaction, self.opener_id)

    async def on_submit(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.clips.remix(interaction, self.job, self.prompt.value)

    async def on_error(self, interaction: Interaction, error: Exception) -> None:  # type: ignore[override]
        await handle_error(interaction, error)


def _values(request: JobRequest, **changes: Any) -> dict[str, Any]:
    values = request.model_dump()
    values.update(changes)
    return values


class Clips:
    """Accepts requests and carries out the clip buttons' actions."""

    def __init__(
        self,
        client: discord.Client,
        pipeline: Pipeline,
        guard: Guard,
        approvals: Approvals,
        status: StatusUpdater,
        deliverer: DiscordDeliverer,
    ) -> None:
        self.client = client  # the job's server, member and channel, for a button pressed in a DM
        self.pipeline = pipeline
        self.guard = guard
        self.approvals = approvals
        self.status = status
        self.deliverer = deliverer

    async def accept(
        self,
        interaction: Interaction,
        request: JobRequest,
        *,
        private: bool,
        admission: Admission | None = None,
        asker: Asker | None = None,
    ) -> Job:
        """Apply the server's rules (unless already done), reserve quota and queue the job, then show its
        status message. The interaction must be deferred. `asker` is who the job is for and where (by default
        the interaction's member, server and channel). An input image in `request` belongs to this request:
        it is deleted when the request is refused or fails before it is queued."""
        asker = asker or Asker.of(interaction)
        target = discord_target(interaction, asker, private=private)
        try:
            if admission is None:
                admission = await self.guard.admit_as(
                    asker, request, has_image=request.image_path is not None
                )
            job = await self.pipeline.submit(
                request,
                user_id=asker.user.id,
                target=target,
                guild_id=asker.guild_id,
                channel_id=asker.channel_id,
                limits=admission.policy.limits,
                budget_per_day=admission.settings.budget_dollars_per_day,
                state=JobState.AWAITING_APPROVAL if admission.needs_approval else JobState.QUEUED,
            )
        except BaseException:
            # Refused (quota, rules) or failed: no job owns the image, so nothing else would delete it.
            await self.pipeline.drop_image(request.image_path)
            raise
        if admission.needs_approval and admission.settings.approvals_channel_id is not None:
            await self.approvals.request(job, admission.settings.approvals_channel_id)
        position = await self.pipeline.store.queue_position(job)
        try:
            message = await interaction.edit_original_response(
                embed=status_embed(job, position=position), view=status_view(job)
            )
        except discord.HTTPException as exc:
            # The job is accepted and will run; without a status message it is still delivered.
            log.info("job %d: status message could not be shown (%s)", job.id, exc.status)
            return job
        self.status.edited(job.id)
        await self.pipeline.store.set_status_message(job.id, message.id)
        current = await self.pipeline.store.get(job.id)
        if current is not None and current.state is not job.state:
            # It moved on before the message existed: let the updater catch up, within its rate.
            await self.status.on_transition(current, JobState.QUEUED)
        return job

    # -- buttons -------------------------------------------------------------------------------------------

    async def on_button(self, interaction: Interaction, action: str, job_id: int) -> None:
        """A clip button pressed (bot/ui/buttons.py ClipButton)."""
        if action != "remix":  # (a form must be the first answer)
            await acknowledge(interaction, thinking=action not in QUIET_ACTIONS)
        job = await self.guard.job_for_button(interaction, job_id, works_in_dms=action in DM_ACTIONS)
        if action == "cancel":
            await self._cancel(interaction, job)
        elif action == "delete":
            await self._delete(interaction, job)
        elif action == "post":
            await self._post(interaction, job)
        elif action == "remix":
            if interaction.guild_id is not None:
                # A member who may not make clips here gets told now rather than after filling in the form.
                await self.guard.may_generate(interaction)
            await interaction.response.send_modal(RemixModal(self, job, interaction.user.id))
        else:
            await self._make_variant(interaction, job, action)

    async def remix(self, interaction: Interaction, job: Job, prompt: str) -> None:
        """A submitted Remix form: the job's request with the new prompt. The interaction is deferred."""
        if not await self.guard.installation_allowed(interaction):
            raise NotAllowed(FOREIGN_INSTALL)
        await self._make_variant(interaction, job, "remix", prompt=prompt)

    async def _make_variant(
        self, interaction: Interaction, job: Job, action: str, *, prompt: str | None = None
    ) -> None:
        """The server's rules first, then any frame or image work, then the queue: a refused request writes
        no file, and a file written for a request that then fails is deleted (by `accept`)."""
        private = bool(job.target.get("private"))
        # In a server the new job posts in the interaction's channel: the bot must be able to post there.
        self.guard.require_post_permissions(interaction, private=private)
        asker = await self.asker_for(interaction, job)
        request, image = self._variant(job, action, prompt)
        settings = await self.guard.may_generate_as(asker)
        admission = await self.guard.admit_as(asker, request, has_image=image is not None, settings=settings)
        # Quota and budget, read-only, before a frame is extracted or an image stored (spamming Continue on
        # a 1080p clip costs CPU); `accept` checks again, atomically, when it reserves.
        await self.pipeline.store.check_quota(
            asker.guild_id,
            asker.user.id,
            admission.policy.limits,
            request.duration,
            budget_per_day=admission.settings.budget_dollars_per_day,
            cost=self.pipeline.prices.estimate(request),
        )
        if image is not None:
            request = await self._with_image(request, job, image)
        await self.accept(interaction, request, private=private, admission=admission, asker=asker)

    async def asker_for(self, interaction: Interaction, job: Job | Story) -> Asker:
        """Who asks and where: the interaction's own member and channel in a server; from a direct message
        the requester as a member of the job's (or story's) server (fetched, roles included) and its
        channel."""
        if interaction.guild_id is not None:
            return Asker.of(interaction)
        assert job.guild_id is not None and job.channel_id is not None
        try:
            guild = self.client.get_guild(job.guild_id) or await self.client.fetch_guild(job.guild_id)
            member = guild.get_member(job.user_id) or await guild.fetch_member(job.user_id)
        except discord.NotFound:
            raise NotAllowed(_("You are no longer a member of the server this clip was made in.")) from None
        except discord.Forbidden:
            raise NotAllowed(_("I am no longer in the server this clip was made in.")) from None
        try:
            channel = guild.get_channel(job.channel_id) or await guild.fetch_channel(job.channel_id)
        except (discord.NotFound, discord.Forbidden):
            raise UserFacingError(_("The channel this clip was made in no longer exists.")) from None
        allowed = channel.permissions_for(member)
        if not (allowed.view_channel and allowed.send_messages):
            raise NotAllowed(
                _("You can no longer post in {channel}, where this clip was made.", channel=channel.mention)
            )
        return Asker(guild.id, channel.id, member, channel)

    def _may_manage(self, interaction: Interaction, job: Job) -> bool:
        return interaction.user.id == job.user_id or interaction.permissions.manage_messages

    async def _cancel(self, interaction: Interaction, job: Job) -> None:
        if not self._may_manage(interaction, job):
            raise UserFacingError(
                _("Only the person who asked for this clip, or a moderator, can cancel it.")
            )
        if job.state in TERMINAL:
            raise UserFacingError(_("Job {job} is already {state}.", job=job.id, state=state_name(job.state)))
        cancelled = await self.pipeline.scheduler.cancel(job.id)
        if cancelled is None:
            raise UserFacingError(
                _("Job {job} could not be cancelled: it has already finished generating.", job=job.id)
            )
        refunded = (await self.pipeline.store.ledger(job.id))[-1][0] == "refund"
        await reply(
            interaction,
            _("Cancelled job {job}. Your quota was given back.", job=job.id)
            if refunded
            else _("Cancelled job {job}.", job=job.id),
        )

    def _moderates_job(self, interaction: Interaction, job: Job) -> bool:
        """Manage Server, or Manage Messages in the job's own channel: a moderator whose Delete keeps the clip
        from being posted again anywhere in the server. Manage Messages only where a repost was shown (a
        channel's own moderator) deletes that message and nothing more."""
        if interaction.permissions.manage_guild:
            return True
        if interaction.channel_id == job.channel_id:
            return interaction.permissions.manage_messages
        guild, member = interaction.guild, interaction.user
        channel = guild.get_channel_or_thread(job.channel_id) if guild and job.channel_id else None
        if channel is None or not isinstance(member, discord.Member):
            return False
        return channel.permissions_for(member).manage_messages

    async def _delete(self, interaction: Interaction, job: Job) -> None:
        if not self._may_manage(interaction, job):
            raise UserFacingError(
                _("Only the person who asked for this clip, or a moderator, can delete it.")
            )
        # A Delete keeps /show and Post from posting the clip again: the requester's for everyone but the
        # requester; a moderator's (of the job's channel or the server) for everyone, over the requester's.
        # Recorded before the message goes: two Deletes at once both count, whichever deletes it.
        if interaction.user.id == job.user_id or self._moderates_job(interaction, job):
            await self.pipeline.store.mark_clip_removed(job.id, interaction.user.id)
        if interaction.message is not None:
            with contextlib.suppress(discord.NotFound):  # deleted by the other press already
                await interaction.message.delete()
        await reply(interaction, _("Deleted the clip of job {job}.", job=job.id))

    async def _post(self, interaction: Interaction, job: Job) -> None:
        if interaction.user.id != job.user_id:
            raise UserFacingError(_("Only the person who asked for this clip can post it."))
        if job.state is not JobState.DELIVERED or not job.output_path:
            raise UserFacingError(_(NO_LONGER_AVAILABLE))
        # From a direct message it goes to the job's channel: only while the requester may post there.
        asker = await self.asker_for(interaction, job)
        # The same admission as /show: the server's rules, a removal, the bot's permissions, the hourly limit.
        async with self.guard.reposting(interaction, asker, job), self._clip(job, "") as clip:
            private = bool(job.target.get("private"))
            # A public post, in the server's language: its own locale as this interaction has it (none from
            # a direct message: the one the job's interaction had).
            here = interaction.guild_locale if interaction.guild_id == job.guild_id else None
            guild_locale = here.value if here is not None else job.target.get("guild_locale")
            target: Target = {
                **job.target,
                "private": False,
                "was_private": private,
                "guild_locale": guild_locale,
            }
            await self.deliverer.deliver(dataclasses.replace(job, target=target), clip)
        await reply(interaction, _("Posted to the channel."))

    async def show(self, interaction: Interaction, job_id: int) -> None:
        """/show: post a past clip of this server again in the interaction's channel, with the bot token,
        pinging nobody, under the same admission as "Post to channel". The interaction must be deferred."""
        job = await self.pipeline.store.get(job_id)
        if job is None or job.guild_id != interaction.guild_id:
            raise JobNotFound(_("There is no job {job} in this server.", job=job_id))
        if job.target.get("private") and job.user_id != interaction.user.id:
            raise JobNotFound(_("There is no job {job} in this server.", job=job_id))
        # A paid clip the channel refused (the job failed at delivery) is kept: /show is how to get it.
        shown = job.state in (JobState.DELIVERED, JobState.FAILED)
        missing = _("Job {job} has no clip to show ({state}).", job=job_id, state=state_name(job.state))
        if not shown or not job.output_path:
            raise UserFacingError(missing)
        assert interaction.channel_id is not None
        # The rules before any download or re-encode.
        async with (
            self.guard.reposting(interaction, Asker.of(interaction), job),
            self._clip(job, missing) as clip,
        ):
            target: Target = {
                **job.target,
                "channel_id": interaction.channel_id,
                "private": False,
                "was_private": bool(job.target.get("private")),  # shown by its owner: still no link
                "token_expires_at": 0,  # posted with the bot token: never through the job's old interaction
                # In the server's language: its own locale as this interaction has it (/show runs in it).
                "guild_locale": (
                    interaction.guild_locale.value
                    if interaction.guild_locale is not None
                    else job.target.get("guild_locale")
                ),
                # A new nonce, or Discord hands back the earlier message.
                "repost": f"-{int(time.time() * 1000) % 10**8}",
            }
            await self.deliverer.repost(job, target, clip)

    @contextlib.asynccontextmanager
    async def _clip(self, job: Job, missing: str) -> AsyncIterator[Path]:
        """A local copy of the job's stored clip for the block; UserFacingError(`missing`, a text in the
        member's language) without one."""
        async with self.pipeline.storage.local(clip_name(job.id)) as clip:
            if clip is None:
                raise UserFacingError(missing or _(NO_LONGER_AVAILABLE))
            yield clip

    def _variant(self, job: Job, action: str, prompt: str | None = None) -> tuple[JobRequest, Source | None]:
        """The request a button asks for, based on the job's own request, and where its start image comes
        from (to be fitted into a file of the new job's own, after the rules have admitted it)."""
        request = job.request
        kept: Source | None = Source(image_path=request.image_path) if request.image_path else None
        if action == "reroll":
            changes: dict[str, Any] = {"seed": random.randint(1, SEED_MAX)}
        elif action == "remix" and prompt is not None:
            changes = {"prompt": prompt}
        elif action == "flip":
            changes = {"aspect_ratio": "9:16" if request.aspect_ratio == "16:9" else "16:9"}
        elif action == "upgrade":
            changes = {"model": "sora-2-pro", "resolution": "1080p"}
        elif action == "continue":
            if not job.output_path:
                raise UserFacingError(_(NOT_CONTINUABLE))
            changes, kept = {"seed": None}, Source(last_frame_of=job.id)
        else:
            raise UserFacingError(_("That button does nothing any more."))
        # Without its image here: the new job gets its own copy (each file has one owner).
        return JobRequest.parse(**_values(request, **changes, image_path=None, kind=None)), kept

    async def _with_image(self, request: JobRequest, job: Job, source: Source) -> JobRequest:
        """`request` with its start image fitted and stored as a new input file."""
        storage = self.pipeline.storage
        if source.last_frame_of is not None:
            async with self._clip(job, _(NOT_CONTINUABLE)) as clip:
                frame = last_frame_path(clip)
                if not await storage.fetch(frame):
                    await self.pipeline.media.run(last_frame, clip, frame)
                    await storage.save(frame)
                data = await asyncio.to_thread(frame.read_bytes)
        else:
            async with storage.local_input(source.image_path) as image:
                if image is None:
                    raise UserFacingError(_("The image of job {job} is no longer available.", job=job.id))
                data = await asyncio.to_thread(image.read_bytes)
        stored = await self.pipeline.store_image(data, request.size)
        return await around_image(self.pipeline, stored, _values(request))


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    """Where a variant's start image comes from: a stored input image, or the last frame of a job's clip."""

    image_path: str | None = None
    last_frame_of: int | None = None
