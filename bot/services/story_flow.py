"""/story on Discord: accepting a story whole (the server's rules for every shot, then its limits and budget
for all shots at once, or approval of the whole story), and its buttons: Cancel, Re-roll a shot (that shot and
every later one made again), Extend (one more shot at the end), Delete."""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Sequence
from typing import Any, Literal

import discord

from bot import files
from bot.domain.limits import check_story_shots
from bot.domain.models import SEED_MAX, TERMINAL, Job, JobRequest, JobState
from bot.domain.stories import (
    CANCELLED,
    SHOTS_MAX,
    SHOTS_MIN,
    Story,
    StoryOptions,
    StoryState,
    Transition,
    shot_made,
)
from bot.errors import FOREIGN_INSTALL, NotAllowed, QuotaExceeded, StorageUnavailable, UserFacingError
from bot.i18n.messages import _, money, n_, number
from bot.media.images import start_picture
from bot.pipeline import Pipeline
from bot.services.approvals import Approvals
from bot.services.clips import Clips
from bot.services.guard import Admission, Asker, Guard, moderates_here
from bot.services.intake import TOKEN_LIFETIME, around_image, discord_target, read_attachment
from bot.services.stories import STOP_SECONDS, StoryDeliverer
from bot.services.story_status import StoryStatus
from bot.store.stories import NewStory
from bot.tree import acknowledge, reply
from bot.ui.stories import ExtendModal, already_ended, story_status_embed, story_status_view

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
CLIPS_GONE = _(  # translated at use
    "The clips of this story's shots are no longer kept, so it can't go on from them. Start a new /story."
)


class StoryFlow:
    """Accepts stories and carries out their buttons."""

    def __init__(
        self,
        pipeline: Pipeline,
        guard: Guard,
        approvals: Approvals,
        clips: Clips,
        status: StoryStatus,
        deliverer: StoryDeliverer,
    ) -> None:
        self.pipeline = pipeline
        self.store = pipeline.store
        self.guard = guard
        self.approvals = approvals
        self.clips = clips  # who asks from a direct message (the story's server and member)
        self.status = status
        self.deliverer = deliverer  # settles a cancelled story

    async def shots_allowed(self, interaction: Interaction) -> int:
        """Before the form opens: who and where, and how many shots this member may have (2 or more)."""
        await self.guard.may_generate(interaction)
        policy = await self.guard.policy(interaction.guild_id or 0, interaction.user)
        check_story_shots(policy, 2)
        return min(policy.story_shots, SHOTS_MAX)

    async def accept(
        self,
        interaction: Interaction,
        prompts: Sequence[str],
        options: StoryOptions,
        image: discord.Attachment | None,
    ) -> Story:
        """A submitted /story form (deferred): every shot's request through the server's rules, the image,
        then the whole story stored with every shot reserved, and its status message."""
        if len(prompts) < SHOTS_MIN:
            raise UserFacingError(
                n_(
                    "A story needs at least {count} shot with a prompt; blank ones are left out.",
                    "A story needs at least {count} shots with a prompt; blank ones are left out.",
                    SHOTS_MIN,
                )
            )
        self.guard.require_post_permissions(interaction, private=options.private)
        server = await self.guard.may_generate(interaction)
        values: dict[str, Any] = {
            "duration": options.duration or server.default_duration or 4,
            "aspect_ratio": options.aspect_ratio or server.default_aspect_ratio or "16:9",
            "model": options.model or server.default_model or "sora-2",
            "resolution": options.resolution,
            # One seed for every shot, so they look like one story.
            "seed": options.seed or random.randint(1, SEED_MAX),
        }
        requests = []
        for index, prompt in enumerate(prompts, 1):
            try:
                requests.append(JobRequest.parse(prompt=prompt, **values))
            except UserFacingError as exc:
                raise type(exc)(_("Shot {shot}: {refusal}", shot=index, refusal=exc.user_message)) from None
        admission = await self._admit(Asker.of(interaction), requests, has_image=image is not None)
        if image is not None:
            data = await read_attachment(image)
            path = await self.pipeline.store_image(data, requests[0].size)
            requests[0] = await around_image(self.pipeline, path, {"prompt": prompts[0], **values})
        return await self._create(
            interaction, Asker.of(interaction), requests, admission, private=options.private,
            transition=options.transition,
        )  # fmt: skip

    async def _admit(self, asker: Asker, requests: Sequence[JobRequest], *, has_image: bool) -> Admission:
        """The server's rules for every shot's request (models, prompts), and the member's story length."""
        settings = await self.guard.may_generate_as(asker)
        admission = None
        for index, request in enumerate(requests):
            admission = await self.guard.admit_as(
                asker, request, has_image=has_image and index == 0, settings=settings
            )
        assert admission is not None
        return admission

    async def _create(
        self,
        interaction: Interaction,
        asker: Asker,
        requests: list[JobRequest],
        admission: Admission,
        *,
        private: bool,
        transition: Transition,
        based_on: Story | None = None,
        first_shot: int = 0,
    ) -> Story:
        """Store the story, every shot reserved within the limits and budget (or nothing), ask the moderators
        when approval is due, and show its status message (the plan: shots, length, cost)."""
        check_story_shots(admission.policy, first_shot + len(requests))
        new = NewStory(
            requests=requests,
            estimated_costs=[self.pipeline.prices.estimate(request) for request in requests],
            user_id=asker.user.id,
            target=discord_target(interaction, asker, private=private),
            transition=transition,
            guild_id=asker.guild_id,
            channel_id=asker.channel_id,
            based_on=based_on.id if based_on is not None else None,
            first_shot=first_shot,
            needs_approval=admission.needs_approval,
        )
        try:
            story, own = await self.store.create_story(
                new, admission.policy.limits, admission.settings.budget_dollars_per_day
            )
        except QuotaExceeded as exc:
            await self.pipeline.drop_image(
                requests[0].image_path if first_shot == 0 and not based_on else None
            )
            total = sum(new.estimated_costs)
            length = sum(request.duration for request in requests)
            raise QuotaExceeded(
                exc.limit,
                n_(
                    "The whole story ({count} shot, {seconds} s, about {cost}) must fit before it starts, "
                    "and it doesn't: {refusal}",
                    "The whole story ({count} shots, {seconds} s, about {cost}) must fit before it starts, "
                    "and it doesn't: {refusal}",
                    len(requests),
                    seconds=number(length),
                    cost=money(total),
                    refusal=exc.user_message,
                ),
                exc.resets_at,
            ) from None
        except BaseException:
            await self.pipeline.drop_image(
                requests[0].image_path if first_shot == 0 and not based_on else None
            )
            raise
        self.pipeline.scheduler.wake()
        channel_id = admission.settings.approvals_channel_id
        if admission.needs_approval and channel_id is not None:
            await self.approvals.request(own[0], channel_id, story=own)
        found = await self.store.get_story(story.id)
        shots = found[1] if found is not None else own
        try:
            message = await interaction.edit_original_response(
                embeds=[story_status_embed(story, shots, settled={})], view=story_status_view(story)
            )
        except discord.HTTPException as exc:
            log.info("story %d: status message could not be shown (%s)", story.id, exc.status)
            return story
        self.status.edited(story.id)
        await self.store.set_story_messages(story.id, status_message_id=message.id)
        await self.status.on_transition(own[0], own[0].state)  # moved on before the message existed?
        return story

    # -- buttons -------------------------------------------------------------------------------------------

    async def on_story_button(
        self, interaction: Interaction, action: str, story_id: int, shot: int | None
    ) -> None:
        """A story button pressed (bot/ui/stories.py StoryButton)."""
        if action != "extend":  # (Extend's form must be the first answer)
            await acknowledge(interaction, thinking=action == "reroll")
        story = await self._story_for_button(interaction, story_id)
        if action == "cancel":
            await self._cancel(interaction, story)
        elif action == "delete":
            await self._delete(interaction, story)
        elif action == "extend":
            await self._made_by_presser(interaction, story, "extend")
            if interaction.guild_id is not None:
                await self.guard.may_generate(interaction)  # told now, not after filling in the form
            await interaction.response.send_modal(
                ExtendModal(self, story, interaction.user.id, timeout=TOKEN_LIFETIME)
            )
        elif action == "reroll" and shot is not None:
            await self._made_by_presser(interaction, story, "re-roll")
            await self._reroll(interaction, story, shot)

    async def _story_for_button(self, interaction: Interaction, story_id: int) -> Story:
        """As `Guard.job_for_button`: this server's installation and a story of this server; from a direct
        message only its requester's, acting in the story's server."""
        if not await self.guard.installation_allowed(interaction):
            raise NotAllowed(FOREIGN_INSTALL)
        found = await self.store.get_story(story_id)
        story = found[0] if found is not None else None
        if interaction.guild_id is None:
            if story is None or story.guild_id is None or interaction.user.id != story.user_id:
                raise UserFacingError(_("Only the person who asked for this story can use its buttons."))
        elif story is None or story.guild_id != interaction.guild_id:
            raise UserFacingError(_("That story no longer exists."))
        return story

    async def _made_by_presser(
        self, interaction: Interaction, story: Story, what: Literal["extend", "re-roll"]
    ) -> None:
        extend = what == "extend"
        if interaction.user.id != story.user_id:
            raise UserFacingError(
                _("Only the person who asked for this story can extend it.")
                if extend
                else _("Only the person who asked for this story can re-roll it.")
            )
        if story.state is not StoryState.DELIVERED or story.output_path is None:
            raise UserFacingError(
                _("Story {story} has no clip to extend any more.", story=story.id)
                if extend
                else _("Story {story} has no clip to re-roll any more.", story=story.id)
            )

    async def _cancel(self, interaction: Interaction, story: Story) -> None:
        if interaction.user.id != story.user_id and not moderates_here(interaction):
            raise UserFacingError(
                _("Only the person who asked for this story, or a moderator, can cancel it.")
            )
        if story.state is not StoryState.RUNNING:
            raise UserFacingError(already_ended(story))
        # Claimed first: no shot is queued or tried again from here on, and nobody else ends it.
        claimed = await self.store.claim_story_end(story.id, STOP_SECONDS, why=CANCELLED)
        if claimed is None:
            raise UserFacingError(_("Story {story} is already ending.", story=story.id))
        found = await self.store.get_story(story.id)
        shots = [s for s in (found[1] if found is not None else []) if s.story_id == story.id]
        waiting = sum(1 for s in shots if s.state is JobState.WAITING)
        for shot in shots:
            if shot.state not in TERMINAL and shot.state is not JobState.WAITING:
                await self.pipeline.scheduler.cancel(shot.id)
        await self.deliverer.end(claimed, why=CANCELLED)
        if waiting:
            said = n_(
                "Cancelled story {story}; any shots already made are posted. {count} shot not started was "
                "refunded.",
                "Cancelled story {story}; any shots already made are posted. {count} shots not started were "
                "refunded.",
                waiting,
                story=story.id,
            )
        else:
            said = _("Cancelled story {story}; any shots already made are posted.", story=story.id)
        await reply(interaction, said)

    async def _delete(self, interaction: Interaction, story: Story) -> None:
        if interaction.user.id != story.user_id and not moderates_here(interaction):
            raise UserFacingError(
                _("Only the person who asked for this story, or a moderator, can delete it.")
            )
        # Its shots' clips are not posted again by /show either: the requester's Delete for anyone else, a
        # moderator's for everyone (as a clip's Delete), the shots it reuses from an earlier story included
        # (they carry the prompts the moderator removed). Recorded before the message goes.
        moderator = interaction.user.id != story.user_id
        found = await self.store.get_story(story.id)
        for shot in found[1] if found is not None else []:
            if shot.story_id == story.id or moderator:
                await self.store.mark_clip_removed(shot.id, interaction.user.id)
        message = interaction.message
        if message is not None:
            with contextlib.suppress(discord.NotFound):  # deleted by the other press already
                if message.flags.ephemeral:
                    # A private story's followup: only the interaction's webhook can delete it.
                    await interaction.delete_original_response()
                else:
                    await message.delete()
        # The story's joined clip (and its re-encodes) go with it; its shots' clips are their jobs'.
        try:
            listing = await self.pipeline.storage.listing()
            await self.pipeline.storage.delete(files.names_of_stories(listing, [story.id]))
        except StorageUnavailable as exc:
            log.warning("story %d: its clip was not deleted (%s); retention will", story.id, exc.detail)
        await self.store.clear_story_output(story.id)
        await reply(interaction, _("Deleted story {story}.", story=story.id))

    async def _reroll(self, interaction: Interaction, story: Story, shot: int) -> None:
        """Shot `shot` (1-based) and every later shot of the plan made again, same prompts, a new seed; the
        shots before it are reused. A partial story's first shot not made can be re-rolled: it goes on."""
        found = await self.store.get_story(story.id)
        assert found is not None
        shots = found[1]
        if not 1 <= shot <= len(shots) or (shot > 1 and not shot_made(shots[shot - 2])):
            raise UserFacingError(
                _("Story {story} has no shot {shot} to re-roll.", story=story.id, shot=shot)
            )
        # A re-roll is a new take: a new seed, shared by the shots made again (as a story's shots share one).
        seed = random.randint(1, SEED_MAX)
        fresh = {"kind": "txt2vid", "image_path": None, "seed": seed}
        requests = [s.request.model_copy(update=fresh) for s in shots[shot - 1 :]]
        if shot == 1:  # the story's own start: its prompt, and its image if any
            requests[0] = shots[0].request.model_copy(update={"seed": seed})
        after = shots[shot - 2] if shot > 1 else None
        await self._again(interaction, story, shots[: shot - 1], requests, after=after)

    async def extend(self, interaction: Interaction, story_id: int, prompt: str) -> None:
        """A submitted Extend form (deferred): one more shot at the end, from the last shot's last frame."""
        story = await self._story_for_button(interaction, story_id)
        await self._made_by_presser(interaction, story, "extend")
        found = await self.store.get_story(story.id)
        assert found is not None
        shots = found[1]
        if not all(shot_made(s) for s in shots):
            raise UserFacingError(
                _("This story stopped early: re-roll its shot to finish it before extending it.")
            )
        if len(shots) >= SHOTS_MAX:
            raise UserFacingError(
                n_("A story has at most {count} shot.", "A story has at most {count} shots.", SHOTS_MAX)
            )
        last = shots[-1]
        request = JobRequest.parse(
            **{**last.request.model_dump(), "prompt": prompt, "kind": None, "image_path": None}
        )
        await self._again(interaction, story, shots, [request], after=last)

    async def _again(
        self,
        interaction: Interaction,
        story: Story,
        reused: Sequence[Job],
        requests: list[JobRequest],
        *,
        after: Job | None,
    ) -> None:
        """A new story based on `story` that reuses its shots `reused` and makes `requests` after them; its
        first starts from the last frame of the shot `after` it, taken once the rules let it through."""
        private = bool(story.target.get("private"))
        self.guard.require_post_permissions(interaction, private=private)
        if any(shot.output_path is None for shot in reused):
            # Retention (or a member's forgetting) took a reused shot's clip: the new shots could not join it.
            raise UserFacingError(_(CLIPS_GONE))
        asker = await self.clips.asker_for(interaction, story)
        # The member's own image (a re-rolled first shot) is theirs; a last frame is the bot's, as in /story.
        has_image = after is None and requests[0].image_path is not None
        admission = await self._admit(asker, requests, has_image=has_image)
        if after is not None:
            requests[0] = await self._from_last_frame(after, requests[0])
        try:
            await self._create(
                interaction, asker, requests, admission, private=private, transition=story.transition,
                based_on=story, first_shot=len(reused),
            )  # fmt: skip
        except BaseException:
            if after is not None:  # the start picture taken from the shot before: nobody else's
                await self.pipeline.drop_image(requests[0].image_path)
            raise

    async def _from_last_frame(self, shot: Job, request: JobRequest) -> JobRequest:
        """`request` as image-to-video from the last frame of `shot`'s clip (stored as a new input)."""
        async with self.pipeline.storage.local(files.clip_name(shot.id)) as clip:
            if clip is None:
                raise UserFacingError(_(CLIPS_GONE))
            picture = await self.pipeline.media.run(start_picture, clip, request.size)
        path = await self.pipeline.storage.put_bytes(files.new_input_name(), picture)
        return await around_image(self.pipeline, path, {**request.model_dump(), "kind": "img2vid"})
