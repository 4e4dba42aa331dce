"""/video, and the buttons on status messages and posted clips (cancel, re-roll, remix, flip, upgrade,
continue, delete, post)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.domain.models import PROMPT_MAX, PROMPT_MIN, SEED_MAX, TERMINAL, JobRequest, JobState
from bot.errors import InvalidImage, NotAllowed, UserFacingError
from bot.files import last_frame_path
from bot.media.fit import last_frame
from bot.media.images import MAX_IMAGE_BYTES
from bot.services.guard import FOREIGN_INSTALL, Admission, Asker
from bot.tree import handle_error, only_its_opener, reply
from bot.ui.buttons import status_view
from bot.ui.embeds import status_embed

if TYPE_CHECKING:
    from bot.client import SoraBot
    from bot.domain.models import Job

log = logging.getLogger(__name__)

# The interaction token lasts 15 minutes; stop using it a little before.
TOKEN_LIFETIME = 14 * 60
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
# The buttons the bot puts on messages in direct messages: a private clip's, and a status message's.
DM_ACTIONS = frozenset({"post", "reroll", "remix", "cancel"})
Interaction = discord.Interaction["SoraBot"]


class RemixModal(discord.ui.Modal, title="Remix this clip"):
    """The job's prompt, ready to edit; submitting makes a new job with the same settings."""

    def __init__(self, cog: Video, job: Job, opener_id: int) -> None:
        # discord.py keeps open modals by custom_id alone: its random default keeps each member's form
        # apart (a fixed id per job let a second member's form replace the first's).
        super().__init__(timeout=TOKEN_LIFETIME)
        self.cog = cog
        self.job = job
        self.opener_id = opener_id
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Prompt",
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=job.request.prompt[:4000],
            min_length=3,
            max_length=4000,
        )
        self.add_item(self.prompt)

    async def interaction_check(self, interaction: Interaction) -> bool:  # type: ignore[override]
        return await only_its_opener(interaction, self.opener_id)

    async def on_submit(self, interaction: Interaction) -> None:  # type: ignore[override]
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.cog.remix(interaction, self.job, self.prompt.value)

    async def on_error(self, interaction: Interaction, error: Exception) -> None:  # type: ignore[override]
        await handle_error(interaction, error)


def _around_image(image: Path, values: dict[str, Any]) -> JobRequest:
    """The image-to-video request of `values` around a just-written input image, deleted if that fails."""
    try:
        return JobRequest.parse(**{**values, "kind": "img2vid", "image_path": str(image)})
    except BaseException:
        image.unlink(missing_ok=True)
        raise


def _values(request: JobRequest, **changes: Any) -> dict[str, Any]:
    values = request.model_dump()
    values.update(changes)
    return values


class Video(commands.Cog):
    """Making clips."""

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="video", description="Make a Sora 2 video clip from a prompt, or animate an image"
    )
    @app_commands.describe(
        prompt="What happens in the clip: lead with the action (3 to 4,096 characters)",
        image="A still image to animate (PNG, JPEG or WebP, up to 20 MB and 4096 px a side)",
        duration="Length of the clip",
        aspect_ratio="Landscape or portrait",
        model="sora-2 is faster and cheaper; sora-2-pro adds synchronized audio and 1080p",
        resolution="720p or 1080p (sora-2-pro only)",
        seed=f"A number from 1 to {SEED_MAX:,} for reproducible results",
        private="Only you see the clip until you post it",
    )
    @app_commands.choices(
        duration=[
            Choice(name="4 seconds", value=4),
            Choice(name="8 seconds", value=8),
            Choice(name="12 seconds", value=12),
        ],
    )
    @app_commands.choices(
        aspect_ratio=[
            Choice(name="16:9 landscape", value="16:9"),
            Choice(name="9:16 portrait", value="9:16"),
        ],
        model=[
            Choice(name="Sora 2", value="sora-2"),
            Choice(name="Sora 2 Pro (with audio)", value="sora-2-pro"),
        ],
        resolution=[Choice(name="720p", value="720p"), Choice(name="1080p (Pro only)", value="1080p")],
    )
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def video(
        self,
        interaction: Interaction,
        prompt: app_commands.Range[str, PROMPT_MIN, PROMPT_MAX],
        image: discord.Attachment | None = None,
        duration: int | None = None,
        aspect_ratio: str | None = None,
        model: str | None = None,
        resolution: str | None = None,
        seed: app_commands.Range[int, 1, SEED_MAX] | None = None,
        private: bool = False,
    ) -> None:
        # Defer before anything slow: the answer is due within 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        self.bot.guard.require_post_permissions(interaction, private=private)
        server = await self.bot.guard.may_generate(interaction)
        values: dict[str, Any] = {
            "prompt": prompt,
            "duration": duration or server.default_duration or 4,
            "aspect_ratio": aspect_ratio or server.default_aspect_ratio or "16:9",
            "model": model or server.default_model or "sora-2",
            "resolution": resolution,
            "seed": seed,
        }
        request = JobRequest.parse(**values)
        # The server's rules come before the image is downloaded: a refused request costs nothing.
        admission = await self.bot.guard.admit(
            interaction, request, has_image=image is not None, settings=server
        )
        if image is not None:
            data = await self._download(image)
            path = await self.bot.pipeline.store_image(data, request.size)
            request = _around_image(path, values)
        await self.accept(interaction, request, private=private, admission=admission)

    async def _download(self, image: discord.Attachment) -> bytes:
        if image.size > MAX_IMAGE_BYTES:
            raise InvalidImage(f"The image is {image.size / 2**20:.1f} MB; the limit is 20 MB.")
        if image.content_type and image.content_type.split(";")[0] not in IMAGE_TYPES:
            raise InvalidImage("The image must be a PNG, JPEG or WebP file.")
        try:
            return await image.read()
        except discord.HTTPException:
            raise InvalidImage(
                "The image could not be downloaded from Discord; please attach it again."
            ) from None

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
        guild = interaction.guild
        target = {
            "kind": "discord",
            "channel_id": asker.channel_id,
            "private": private,
            "interaction_token": interaction.token,
            # Discord counts the token's 15 minutes from the interaction's creation, not from its acceptance.
            "token_expires_at": interaction.created_at.timestamp() + TOKEN_LIFETIME,
            "filesize_limit": interaction.filesize_limit,
            # The server's upload limit (boosts), for a worker process: it has no guild cache to read it from.
            "guild_filesize_limit": (
                guild.filesize_limit if guild is not None and guild.id == asker.guild_id else None
            ),
        }
        try:
            if admission is None:
                admission = await self.bot.guard.admit_as(
                    asker, request, has_image=request.image_path is not None
                )
            job = await self.bot.pipeline.submit(
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
            if request.image_path:
                Path(request.image_path).unlink(missing_ok=True)
            raise
        if admission.needs_approval and admission.settings.approvals_channel_id is not None:
            await self.bot.approvals.request(job, admission.settings.approvals_channel_id)
        position = await self.bot.pipeline.store.queue_position(job)
        try:
            message = await interaction.edit_original_response(
                embed=status_embed(job, position=position), view=status_view(job)
            )
        except discord.HTTPException as exc:
            # The job is accepted and will run; without a status message it is still delivered.
            log.info("job %d: status message could not be shown (%s)", job.id, exc.status)
            return job
        self.bot.status_updates.edited(job.id)
        await self.bot.pipeline.store.set_status_message(job.id, message.id)
        current = await self.bot.pipeline.store.get(job.id)
        if current is not None and current.state is not job.state:
            # It moved on before the message existed: let the updater catch up, within its rate.
            await self.bot.status_updates.on_transition(current, JobState.QUEUED)
        return job

    # -- buttons -------------------------------------------------------------------------------------------

    async def on_job_button(self, interaction: Interaction, action: str, job_id: int) -> None:
        try:
            await self._on_job_button(interaction, action, job_id)
        except Exception as exc:  # buttons have no command tree; their errors go through the same handler
            await handle_error(interaction, exc)

    async def _on_job_button(self, interaction: Interaction, action: str, job_id: int) -> None:
        # The one check for components (buttons and the modals they open) that the tree makes for commands.
        if not await self.bot.guard.installation_allowed(interaction):
            raise NotAllowed(FOREIGN_INSTALL)
        job = await self.bot.pipeline.store.get(job_id)
        if interaction.guild_id is None:
            # A clip sent by direct message (its interaction had expired): only its requester sees those
            # buttons, and what they do happens in the job's own server and channel, under its rules.
            if job is None or job.guild_id is None or interaction.user.id != job.user_id:
                raise UserFacingError("Only the person who asked for this clip can use its buttons.")
            if action not in DM_ACTIONS:
                raise UserFacingError("That button only works in the server.")
        elif job is None or job.guild_id != interaction.guild_id:
            raise UserFacingError("That job no longer exists.")
        if action in ("approve", "reject"):
            await self.bot.approvals.on_button(interaction, action, job)
        elif action == "cancel":
            await self._cancel(interaction, job)
        elif action == "delete":
            await self._delete(interaction, job)
        elif action == "post":
            await self._post(interaction, job)
        elif action == "remix":
            if interaction.guild_id is not None:
                # A member who may not make clips here gets told now rather than after filling in the form.
                await self.bot.guard.may_generate(interaction)
            await interaction.response.send_modal(RemixModal(self, job, interaction.user.id))
        else:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await self._make_variant(interaction, job, action)

    async def remix(self, interaction: Interaction, job: Job, prompt: str) -> None:
        """A submitted Remix form: the job's request with the new prompt. The interaction is deferred."""
        if not await self.bot.guard.installation_allowed(interaction):
            raise NotAllowed(FOREIGN_INSTALL)
        await self._make_variant(interaction, job, "remix", prompt=prompt)

    async def _make_variant(
        self, interaction: Interaction, job: Job, action: str, *, prompt: str | None = None
    ) -> None:
        """The server's rules first, then any frame or image work, then the queue: a refused request writes
        no file, and a file written for a request that then fails is deleted (by `accept`)."""
        private = bool(job.target.get("private"))
        # In a server the new job posts in the interaction's channel: the bot must be able to post there.
        self.bot.guard.require_post_permissions(interaction, private=private)
        asker = await self._asker(interaction, job)
        request, image = self._variant(job, action, prompt)
        settings = await self.bot.guard.may_generate_as(asker)
        admission = await self.bot.guard.admit_as(
            asker, request, has_image=image is not None, settings=settings
        )
        # Quota and budget, read-only, before a frame is extracted or an image stored (spamming Continue on
        # a 1080p clip costs CPU); `accept` checks again, atomically, when it reserves.
        await self.bot.pipeline.store.check_quota(
            asker.guild_id,
            asker.user.id,
            admission.policy.limits,
            request.duration,
            budget_per_day=admission.settings.budget_dollars_per_day,
            cost=self.bot.pipeline.prices.estimate(request),
        )
        if image is not None:
            request = await self._with_image(request, job, image)
        await self.accept(interaction, request, private=private, admission=admission, asker=asker)

    async def _asker(self, interaction: Interaction, job: Job) -> Asker:
        """Who asks and where: the interaction's own member and channel in a server; from a direct message
        the requester as a member of the job's server (fetched, roles included) and the job's channel."""
        if interaction.guild_id is not None:
            return Asker.of(interaction)
        assert job.guild_id is not None and job.channel_id is not None
        try:
            guild = self.bot.get_guild(job.guild_id) or await self.bot.fetch_guild(job.guild_id)
            member = guild.get_member(job.user_id) or await guild.fetch_member(job.user_id)
        except discord.NotFound:
            raise NotAllowed("You are no longer a member of the server this clip was made in.") from None
        except discord.Forbidden:
            raise NotAllowed("I am no longer in the server this clip was made in.") from None
        try:
            channel = guild.get_channel(job.channel_id) or await guild.fetch_channel(job.channel_id)
        except (discord.NotFound, discord.Forbidden):
            raise UserFacingError("The channel this clip was made in no longer exists.") from None
        allowed = channel.permissions_for(member)
        if not (allowed.view_channel and allowed.send_messages):
            raise NotAllowed(f"You can no longer post in {channel.mention}, where this clip was made.")
        return Asker(guild.id, channel.id, member, channel)

    def _may_manage(self, interaction: Interaction, job: Job) -> bool:
        return interaction.user.id == job.user_id or interaction.permissions.manage_messages

    async def _cancel(self, interaction: Interaction, job: Job) -> None:
        if not self._may_manage(interaction, job):
            raise UserFacingError("Only the person who asked for this clip, or a moderator, can cancel it.")
        if job.state in TERMINAL:
            raise UserFacingError(f"Job {job.id} is already {job.state.value}.")
        await interaction.response.defer(ephemeral=True)
        cancelled = await self.bot.pipeline.scheduler.cancel(job.id)
        if cancelled is None:
            raise UserFacingError(f"Job {job.id} could not be cancelled: it has already finished generating.")
        refunded = (await self.bot.pipeline.store.ledger(job.id))[-1][0] == "refund"
        await reply(
            interaction, f"Cancelled job {job.id}." + (" Your quota was given back." if refunded else "")
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
        channel = guild.get_channel(job.channel_id) if guild and job.channel_id else None
        if channel is None or not isinstance(member, discord.Member):
            return False
        return channel.permissions_for(member).manage_messages

    async def _delete(self, interaction: Interaction, job: Job) -> None:
        if not self._may_manage(interaction, job):
            raise UserFacingError("Only the person who asked for this clip, or a moderator, can delete it.")
        await interaction.response.defer(ephemeral=True)
        if interaction.message is not None:
            await interaction.message.delete()
        # A Delete keeps /show and Post from posting the clip again: the requester's for everyone but the
        # requester; a moderator's (of the job's channel or the server) for everyone, over the requester's.
        if interaction.user.id == job.user_id or self._moderates_job(interaction, job):
            await self.bot.pipeline.store.mark_clip_removed(job.id, interaction.user.id)
        await reply(interaction, f"Deleted the clip of job {job.id}.")

    async def _post(self, interaction: Interaction, job: Job) -> None:
        if interaction.user.id != job.user_id:
            raise UserFacingError("Only the person who asked for this clip can post it.")
        if job.state is not JobState.DELIVERED or not job.output_path or not Path(job.output_path).exists():
            raise UserFacingError("This clip is no longer available.")
        await interaction.response.defer(ephemeral=True)
        # From a direct message it goes to the job's channel: only while the requester may post there.
        asker = await self._asker(interaction, job)
        # The same admission as /show: the server's rules, a removal, the bot's permissions, the hourly limit.
        async with self.bot.guard.reposting(interaction, asker, job):
            public = dataclasses.replace(job, target={**job.target, "private": False})
            await self.bot.deliverer.deliver(public, Path(job.output_path))
        await reply(interaction, "Posted to the channel.")

    def _variant(self, job: Job, action: str, prompt: str | None = None) -> tuple[JobRequest, Source | None]:
        """The request a button asks for, based on the job's own request, and where its start image comes
        from (to be fitted into a file of the new job's own, after the rules have admitted it)."""
        request = job.request
        kept: Source | None = Source(Path(request.image_path)) if request.image_path else None
        if action == "reroll":
            changes: dict[str, Any] = {"seed": random.randint(1, SEED_MAX)}
        elif action == "remix" and prompt is not None:
            changes = {"prompt": prompt}
        elif action == "flip":
            changes = {"aspect_ratio": "9:16" if request.aspect_ratio == "16:9" else "16:9"}
        elif action == "upgrade":
            changes = {"model": "sora-2-pro", "resolution": "1080p"}
        elif action == "continue":
            if not job.output_path or not Path(job.output_path).exists():
                raise UserFacingError("This clip is no longer available to continue from.")
            changes, kept = {"seed": None}, Source(Path(job.output_path), last_frame=True)
        else:
            raise UserFacingError("That button does nothing any more.")
        # Without its image here: the new job gets its own copy (each file has one owner).
        return JobRequest.parse(**_values(request, **changes, image_path=None, kind=None)), kept

    async def _with_image(self, request: JobRequest, job: Job, source: Source) -> JobRequest:
        """`request` with its start image fitted and stored as a new input file."""
        if source.last_frame:
            frame = last_frame_path(source.path)
            await asyncio.to_thread(last_frame, source.path, frame)
            image = frame
        else:
            image = source.path
        try:
            data = await asyncio.to_thread(image.read_bytes)
        except OSError:
            raise UserFacingError(f"The image of job {job.id} is no longer available.") from None
        stored = await self.bot.pipeline.store_image(data, request.size)
        return _around_image(stored, _values(request))


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    """Where a variant's start image comes from: an image file, or the last frame of a clip."""

    path: Path
    last_frame: bool = False


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(Video(bot))
