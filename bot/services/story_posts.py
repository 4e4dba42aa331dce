"""Posting a story's joined clip on Discord (the StoryOutput of target kind "discord"), by the routes, limits
and re-encodes a job's clip takes (bot.services.routes): public in the story's channel pinging only its
requester, private as an ephemeral followup while the interaction lasts, else by DM; a channel that refuses
it has it handed to the requester by DM."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import discord

from bot.domain.models import Job
from bot.domain.stories import Story, shots_made
from bot.errors import DeliveryError
from bot.i18n.messages import _, mention, speaking
from bot.media.pool import MediaPool
from bot.services.routes import (
    DM_LIMIT,
    Route,
    ServerSettings,
    Upload,
    Uploader,
    delivery_language,
    interaction_webhook,
    tell,
)
from bot.services.stories import Note
from bot.storage import Storage
from bot.storage.links import ClipLinks
from bot.store.jobs import JobStore
from bot.ui.stories import story_result_embed, story_result_view

log = logging.getLogger(__name__)

# The embed's note when only a poster frame and a preview fit (translated where the upload is made).
KEPT = _("The whole story is too large to post here: this is its opening.")


def story_nonce(story: Story) -> str:
    """The nonce of the story's clip message (Discord takes at most 25 characters)."""
    return f"story-{story.id}"[:25]


class DiscordStoryPoster:
    """Posts a story's joined clip where its /story asked, once: a re-run after a crash finds the message
    stored the moment Discord returned it."""

    kind = "discord"

    def __init__(
        self,
        client: discord.Client,
        store: JobStore,
        storage: Storage,
        media: MediaPool,
        *,
        on_reencode: Callable[[], None] | None = None,
        links: ClipLinks | None = None,
        server_settings: ServerSettings | None = None,
    ) -> None:
        self.client = client  # REST: channels, users, messages; the gateway's guild cache when there is one
        self.store = store
        self._links = links  # "Full quality" links on a re-encode or a preview
        self._server_settings = server_settings  # the language the server's admins chose for its posts
        # Re-encodes, posters and previews are kept beside the story's clip (they are the story's files).
        self.uploader = Uploader(client, storage, media, on_reencode=on_reencode)

    async def deliver_story(
        self, story: Story, video: Path, *, shots: Sequence[Job] | None = None, note: Note | None = None
    ) -> None:
        """Post the story's clip of `shots` (by default its shots made) with `note` (why a partial story
        stopped); raises DeliveryError when neither its route nor the requester's DMs take it. Safe to call
        again: a story whose clip message is stored is not posted again (within Discord's few minutes, the
        nonce also covers a crash between the post and storing its id)."""
        found = await self.store.get_story(story.id)
        if found is None:
            raise DeliveryError(f"story {story.id} is not stored")
        story = found[0]
        if story.result_message_id is not None:
            log.info(
                "story %d: already posted as message %d; not posting again", story.id, story.result_message_id
            )
            return
        made = shots_made(found[1]) if shots is None else shots
        # A public story is posted in the server's language (its post in the channel, or a public followup);
        # a private one (an ephemeral followup, else a DM) in its requester's.
        private = bool(story.target.get("private"))
        language = await delivery_language(story, self._server_settings, public=not private)
        with speaking(language):
            upload = self._upload(story, made, note() if callable(note) else note)
        try:
            with speaking(language):
                await self.uploader.deliver(upload, video)
        except (discord.Forbidden, discord.NotFound) as exc:
            if story.target.get("private"):
                raise DeliveryError(
                    f"could not DM story {story.id} to user {story.user_id}: {exc.text}"
                ) from None
            gone = isinstance(exc, discord.NotFound)
            detail = (
                f"channel {story.channel_id} no longer exists: {exc.text}"
                if gone
                else f"missing permissions in channel {story.channel_id}: {exc.text}"
            )
            if not await self._hand_over_by_dm(story, upload, video, channel_gone=gone):
                raise DeliveryError(detail) from None
            log.info("story %d: %s; sent to the requester by direct message", story.id, detail)

    def _upload(self, story: Story, made: Sequence[Job], story_note: str | None) -> Upload:
        async def send(route: Route, files: list[discord.File], note: str | None, link: str | None) -> int:
            said = "\n".join(part for part in (story_note, note) if part) or None
            return await self._send(story, made, route, files, said, link)

        async def full_quality(route: Route) -> str | None:
            if self._links is None:
                return None
            return await self._links.full_quality_story(story, route.kind)

        return Upload(story, f"story {story.id}", f"story-{story.id}", _(KEPT), send, full_quality)

    async def _send(
        self,
        story: Story,
        made: Sequence[Job],
        route: Route,
        files: list[discord.File],
        note: str | None,
        link: str | None,
    ) -> int:
        if not await self.store.holds_claim(story):
            # Ended meanwhile (its member forgotten), or taken over: nothing of it is posted from here.
            raise DeliveryError(f"story {story.id} ended, or its ending was taken over, before its post")
        settled = await self.store.story_charges(story.id)
        embed = story_result_embed(story, made, note=note, settled=settled)
        view = story_result_view(story, link=link, made=len(made))
        message: discord.Message | discord.WebhookMessage
        channel_id: int | None
        if route.kind in ("channel", "followup"):
            content = _("{member} your story is ready.", member=mention(story.user_id))
            mentions = discord.AllowedMentions(
                everyone=False, roles=False, users=[discord.Object(story.user_id)]
            )
            if route.kind == "channel":
                channel = self.client.get_partial_messageable(
                    int(story.target["channel_id"]), guild_id=story.guild_id
                )
                message = await channel.send(
                    content=content,
                    embed=embed,
                    files=files,
                    view=view,
                    allowed_mentions=mentions,
                    # With enforce_nonce (discord.py sends it), a retry within minutes gets the same message.
                    nonce=story_nonce(story),
                )
            else:
                assert route.webhook is not None
                message = await route.webhook.send(
                    content=content, embed=embed, files=files, view=view, allowed_mentions=mentions, wait=True
                )
            channel_id = message.channel.id
        elif route.kind == "ephemeral":
            assert route.webhook is not None
            message = await route.webhook.send(embed=embed, files=files, view=view, ephemeral=True, wait=True)
            channel_id = None  # an ephemeral message can't be read back through any channel
        else:
            user = await self.client.fetch_user(story.user_id)
            if route.view:
                message = await user.send(content=route.content, embed=embed, files=files, view=view)
            else:
                message = await user.send(content=route.content, embed=embed, files=files)
            channel_id = message.channel.id
        # First thing after Discord answers: a re-run after a crash from here on finds this message.
        await self.store.set_story_messages(story.id, result=(message.id, channel_id))
        return message.id

    async def _hand_over_by_dm(
        self, story: Story, upload: Upload, video: Path, *, channel_gone: bool
    ) -> bool:
        """The channel refused the story (its shots are paid for): send it to the requester by DM, within the
        DM limit, and tell them why (in their language). Whether the DM was sent."""
        with speaking(story.target.get("locale")):
            return await self._hand_over(story, upload, video, channel_gone=channel_gone)

    async def _hand_over(self, story: Story, upload: Upload, video: Path, *, channel_gone: bool) -> bool:
        if channel_gone:
            text = _(
                "Your story (story {story}) is ready, but that channel no longer exists. Here it is.",
                story=story.id,
            )
        else:
            text = _(
                "Your story (story {story}) is ready, but I'm not allowed to post in that channel (missing "
                "permissions). Here it is.",
                story=story.id,
            )
        try:
            # Without buttons: a Re-roll or Extend pressed there would post into the channel that refused it.
            # Its words in the requester's language: the upload's own were the server's.
            dm = replace(upload, kept=_(KEPT))
            await self.uploader.post(dm, video, Route("dm", DM_LIMIT, content=text, view=False))
            sent = True
        except discord.HTTPException as exc:
            log.info("story %d: could not DM the story to its requester (%s)", story.id, exc.status)
            sent = False
        if sent and interaction_webhook(self.client, story) is None:
            return True  # the DM said it all
        if channel_gone and sent:
            told = _(
                "Your story is ready, but that channel no longer exists. I sent it to you by direct message."
            )
        elif channel_gone:
            told = _(
                "Your story is ready, but that channel no longer exists. "
                "Nor could I send it to you by direct message."
            )
        elif sent:
            told = _(
                "Your story is ready, but I'm not allowed to post in that channel (missing permissions). "
                "I sent it to you by direct message. "
                "Ask a server admin to let me send messages and attach files there."
            )
        else:
            told = _(
                "Your story is ready, but I'm not allowed to post in that channel (missing permissions). Nor "
                "could I send it to you by direct message. Ask a server admin to let me send messages and "
                "attach files there."
            )
        await tell(self.client, story, told, label=f"story {story.id}")
        return sent
