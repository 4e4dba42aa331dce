"""Keeps each story's status message current: shot i of n, each shot's state, a thumbnail of every finished
shot, Cancel while it runs. Edited on its shots' transitions and when it ends, at most once every few seconds
per story (the latest state always shown)."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from dataclasses import replace
from typing import Any

import discord

from bot import files
from bot.domain.models import Job, JobState
from bot.domain.stories import CANCELLED, Story, StoryState, shot_made
from bot.errors import MediaCrashed, StorageUnavailable
from bot.i18n.messages import _, speaking
from bot.media.fit import poster_frame
from bot.media.pool import MediaPool
from bot.services.routes import interaction_webhook, token_gone
from bot.storage import Storage
from bot.store.jobs import JobStore
from bot.tasks import Loop
from bot.ui.embeds import FIELD_VALUE_MAX, cut, escape
from bot.ui.stories import (
    THUMBNAIL_WIDTH,
    story_status_embed,
    story_status_view,
    thumbnail_embeds,
    thumbnail_name,
    told_error,
)

log = logging.getLogger(__name__)

MIN_INTERVAL = 5.0
TICK = 1.0
# What one process remembers of stories it may never see end (they end in another process): bounded.
THUMBNAILS_KEPT = 64
TOLD_KEPT = 1024


class StoryStatus:
    """Edits stories' status messages (a store listener for their shots, and `ended` for the story)."""

    def __init__(self, client: discord.Client, store: JobStore, storage: Storage, media: MediaPool) -> None:
        self.client = client  # the interaction webhooks' state
        self.store = store
        self.storage = storage  # the shots' clips, for their thumbnails
        self.media = media  # makes the thumbnails
        self._told: dict[int, None] = {}  # stories whose failure was told by DM (the latest, in order)
        self._last_edit: dict[int, float] = {}
        self._dirty: set[int] = set()
        self._thumbnails: dict[int, bytes | None] = {}  # by shot job id, for the stories under way
        self.loop = Loop("story status updates", self._tick, TICK)

    def edited(self, story_id: int) -> None:
        """The status message was just written elsewhere (when the story was accepted)."""
        self._last_edit[story_id] = time.monotonic()

    async def on_transition(self, job: Job, previous: JobState) -> None:
        if job.story_id is not None:
            self._dirty.add(job.story_id)

    def ended(self, story: Story) -> None:
        """The story ended: its last state is shown at the next tick, whatever the interval."""
        self._dirty.add(story.id)
        self._last_edit.pop(story.id, None)

    async def _tick(self) -> None:
        now = time.monotonic()
        # An edit's time matters for MIN_INTERVAL only; a story that ends in another process is never popped.
        for story_id, at in list(self._last_edit.items()):
            if now - at >= MIN_INTERVAL and story_id not in self._dirty:
                del self._last_edit[story_id]
        for story_id in list(self._dirty):
            if now - self._last_edit.get(story_id, 0) < MIN_INTERVAL:
                continue
            self._dirty.discard(story_id)
            self._last_edit[story_id] = now
            try:
                await self.show(story_id)
            except discord.HTTPException as exc:
                log.info("story %d: status message not updated (%s)", story_id, exc.status)
            except Exception:
                # One bad update (a database hiccup) must not end the updates of every story.
                log.exception("story %d: status update failed", story_id)

    async def show(self, story_id: int) -> None:
        """Edit the story's status message now."""
        found = await self.store.get_story(story_id)
        if found is None:
            return
        story, shots = found
        ended = story.state not in (StoryState.RUNNING, StoryState.STOPPING)
        if ended:
            self._last_edit.pop(story_id, None)
            for shot in shots:
                self._thumbnails.pop(shot.id, None)
        webhook = interaction_webhook(self.client, story)
        if webhook is None or story.status_message_id is None:
            await self._tell_failure(story)
            return
        running = next((s for s in shots if s.state is JobState.QUEUED), None)
        position = await self.store.queue_position(running) if running is not None else None
        made = [(index, shot) for index, shot in enumerate(shots, 1) if shot_made(shot)]
        attachments: list[discord.File] = []
        shown: list[int] = []
        for index, shot in made:
            picture = await self._thumbnail(shot)
            if picture is not None:
                attachments.append(discord.File(io.BytesIO(picture), filename=thumbnail_name(index)))
                shown.append(index)
        settled = await self.store.story_charges(story.id)
        # The status message is the ephemeral answer to the requester's /story (or Re-roll, Extend): always
        # private, so edited in their language.
        with speaking(story.target.get("locale")):
            told = replace(story, user_error=told_error(story.user_error))
            embeds = [
                story_status_embed(told, shots, position=position, settled=settled),
                *thumbnail_embeds(shown),
            ]
            view = story_status_view(story) if not ended else None
        try:
            await webhook.edit_message(
                story.status_message_id, embeds=embeds, attachments=attachments, view=view
            )
        except discord.HTTPException as exc:
            if token_gone(exc) or exc.code == 10008:
                await self._tell_failure(story)
            raise
        finally:
            if story.state is not StoryState.RUNNING:
                for shot in shots:
                    self._thumbnails.pop(shot.id, None)

    async def _tell_failure(self, story: Story) -> None:
        """A story that failed or was stopped (a moderator's rejection, an expired approval) must still be
        explained, by DM, when its message can't say it; a Cancel needs no word."""
        stopped = story.state in (StoryState.FAILED, StoryState.CANCELLED) and story.user_error != CANCELLED
        if not stopped or not story.user_error or story.id in self._told:
            return
        self._told[story.id] = None
        _trim(self._told, TOLD_KEPT)
        try:
            user = await self.client.fetch_user(story.user_id)
            with speaking(story.target.get("locale")):
                reason = cut(escape(story.user_error), FIELD_VALUE_MAX)
                if story.state is StoryState.FAILED:
                    text = _("Your story (story {story}) failed: {reason}", story=story.id, reason=reason)
                else:
                    text = _("Your story (story {story}) cancelled: {reason}", story=story.id, reason=reason)
            await user.send(text)
        except discord.HTTPException as exc:
            log.info("story %d: could not tell the requester (%s)", story.id, exc.status)

    async def _thumbnail(self, shot: Job) -> bytes | None:
        """A small poster of the shot's clip (kept in the store with the clip's other posters)."""
        if shot.id in self._thumbnails:
            return self._thumbnails[shot.id]
        try:
            async with self.storage.local(files.clip_name(shot.id)) as clip:
                if clip is None:
                    return None
                poster = files.poster_path(clip, THUMBNAIL_WIDTH)
                if not await self.storage.fetch(poster):
                    await self.media.run(poster_frame, clip, poster, max_width=THUMBNAIL_WIDTH)
                    await self.storage.save(poster)
                picture = await asyncio.to_thread(poster.read_bytes)
        except (StorageUnavailable, MediaCrashed, OSError) as exc:
            log.info("shot job %d: no thumbnail (%s)", shot.id, exc)
            if isinstance(exc, MediaCrashed):
                self._thumbnails[shot.id] = None  # it kills the media process: not tried at every edit
            return None
        self._thumbnails[shot.id] = picture
        _trim(self._thumbnails, THUMBNAILS_KEPT)
        return picture


def _trim(kept: dict[int, Any], most: int) -> None:
    """Forget the oldest entries beyond `most` (dicts keep insertion order)."""
    for key in list(kept)[: max(0, len(kept) - most)]:
        del kept[key]
