"""Posting finished clips on Discord, each upload sized by the limit of the route that carries it (the
routes, their limits and the upload itself are in bot.services.routes, shared with a story's clip)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import discord

from bot.domain.models import Job, JobState, Target
from bot.errors import DeliveredByDm, DeliveryError, UserFacingError
from bot.i18n.messages import N_, _, mention, speaking
from bot.media.pool import MediaPool
from bot.services.earlier_posts import EarlierPosts
from bot.services.routes import (
    DM_LIMIT,
    Route,
    ServerSettings,
    Upload,
    Uploader,
    delivery_language,
    guild_limit,
    interaction_webhook,
    nonce_of,
    tell,
)
from bot.storage import Storage
from bot.storage.links import ClipLinks
from bot.store.jobs import JobStore
from bot.ui.buttons import private_result_view, result_view
from bot.ui.embeds import result_embed

log = logging.getLogger(__name__)


class DiscordDeliverer:
    """Uploads the clip (re-encoded to fit when needed) by the route that gives the member the best file."""

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
        # A server's settings (its posts' language); without them, posts are in the server's own locale.
        self._server_settings = server_settings
        self.storage = storage  # re-encodes, posters and previews are kept beside the clip
        self._links = links  # "Full quality" links on a re-encode or a preview
        self.uploader = Uploader(client, storage, media, on_reencode=on_reencode)  # on_reencode: metrics
        self._earlier = EarlierPosts(client, store)

    async def deliver(self, job: Job, clip: Path) -> int | None:
        """Deliver the clip; safe to call again for a job being delivered: a clip an earlier run posted is
        found (by its stored message, else in the channel's recent history) instead of posted twice."""
        # Only the scheduler delivers a job in this state; "Post to channel" posts a delivered one again.
        record = job.state is JobState.DELIVERING
        public = not job.target.get("private")
        if record:
            earlier = await self._earlier.find(job)
            if earlier is not None:
                message_id, channel_id = earlier
                if public and channel_id not in (None, job.target.get("channel_id")):
                    # An earlier run handed a refused clip over by DM: it stays delivered that way.
                    # The requester's word, kept in user_error: translated (into their language) when read.
                    told = N_(
                        "The channel refused the clip, so it was sent to you by direct message. "
                        "`/show {job}` posts it where I can post."
                    )
                    raise DeliveredByDm(
                        message_id,
                        "sent to the requester by direct message before the restart",
                        told,
                        job=job.id,
                    )
                return message_id
            await self.store.start_delivery(job.id)
        language = await delivery_language(job, self._server_settings, public=public)
        try:
            return await self.uploader.deliver(self._upload(job, record=record, language=language), clip)
        except (discord.Forbidden, discord.NotFound) as exc:
            if not record:
                # "Post to channel" of a delivered clip: the presser hears it; nothing goes by DM again.
                raise UserFacingError(
                    _(
                        "I can't post in the clip's channel any more (I need to send messages and attach "
                        "files there)."
                    )
                ) from None
            if job.target.get("private"):
                raise DeliveryError(f"could not DM the clip to user {job.user_id}: {exc.text}") from None
            gone = isinstance(exc, discord.NotFound)
            detail = (
                f"channel {job.channel_id} no longer exists: {exc.text}"
                if gone
                else f"missing permissions in channel {job.channel_id}: {exc.text}"
            )
            handed_over = await self._hand_over_by_dm(job, clip, channel_gone=gone, record=record)
            if handed_over is not None and record:
                # The member has the clip: the job is delivered (README "Refunds": their quota stays used).
                # The requester's word, kept in user_error: translated (into their language) when read.
                told = (
                    N_(
                        "The channel refused the clip (it no longer exists), so it was sent to you by "
                        "direct message. `/show {job}` posts it where I can post."
                    )
                    if gone
                    else N_(
                        "The channel refused the clip (missing permissions), so it was sent to you by "
                        "direct message. `/show {job}` posts it where I can post."
                    )
                )
                raise DeliveredByDm(
                    handed_over, f"{detail}; sent to the requester by direct message", told, job=job.id
                ) from None
            raise DeliveryError(detail) from None

    async def repost(self, job: Job, target: Target, clip: Path) -> int | None:
        """Post a delivered clip again (for /show) in `target`'s channel with the bot token, pinging nobody.
        A refusal is the caller's to hear (UserFacingError); nobody else is told."""
        again = dataclasses.replace(job, target=target, channel_id=int(str(target["channel_id"])))
        language = await delivery_language(again, self._server_settings, public=True)
        try:
            route = Route("channel", guild_limit(self.client, job))
            return await self.uploader.post(self._upload(again, record=False, language=language), clip, route)
        except discord.Forbidden:
            raise UserFacingError(
                _("I'm not allowed to post in this channel (I need to send messages and attach files here).")
            ) from None
        except discord.NotFound:
            raise UserFacingError(_("I can't post in this channel.")) from None

    async def tell_requester(self, job: Job, text: str, *, by_dm: bool = False) -> None:
        """A private word to the requester: through the interaction while it lasts, else (or when Discord
        refuses the token: it ended before the bot thought, or is unknown) a DM. `text` is in the
        requester's language (`job.target["locale"]`)."""
        await tell(self.client, job, text, label=f"job {job.id}", by_dm=by_dm)

    def _upload(self, job: Job, *, record: bool, language: str) -> Upload:
        """The job's clip as the uploader posts it, its texts in `language`; `record` stores the message it
        is posted in."""

        async def send(route: Route, files: list[discord.File], note: str | None, link: str | None) -> int:
            return await self._send(job, route, files, note, record=record, link=link)

        async def full_quality(route: Route) -> str | None:
            # The link to the original clip for a re-encode or a preview (public routes only), if any.
            return await self._links.full_quality(job, route.kind) if self._links is not None else None

        def kept() -> str:
            return _("The full clip is too large for this channel; it is kept: `/show {job}`.", job=job.id)

        return Upload(job, f"job {job.id}", f"sora-{job.id}", kept, send, full_quality, language)

    async def _send(
        self,
        job: Job,
        route: Route,
        files: list[discord.File],
        note: str | None,
        *,
        record: bool,
        link: str | None = None,
    ) -> int:
        embed = result_embed(job, note=note)
        message: discord.Message | discord.WebhookMessage
        channel_id: int | None
        if route.kind in ("channel", "followup"):
            content, mentions = self._public_text(job)
            if route.kind == "channel":
                channel = self.client.get_partial_messageable(
                    int(job.target["channel_id"]), guild_id=job.guild_id
                )
                message = await channel.send(
                    content=route.content or content,
                    embed=embed,
                    files=files,
                    view=result_view(job, link=link),
                    allowed_mentions=mentions,
                    # With enforce_nonce (discord.py sends it), a retry within minutes gets the same message.
                    nonce=nonce_of(job),
                )
            else:
                assert route.webhook is not None
                message = await route.webhook.send(
                    content=route.content or content,
                    embed=embed,
                    files=files,
                    view=result_view(job, link=link),
                    allowed_mentions=mentions,
                    wait=True,
                )
            channel_id = message.channel.id
        elif route.kind == "ephemeral":
            assert route.webhook is not None
            message = await route.webhook.send(
                embed=embed, files=files, view=private_result_view(job), ephemeral=True, wait=True
            )
            channel_id = None  # an ephemeral message can't be read back through any channel
        else:
            user = await self.client.fetch_user(job.user_id)
            if route.view:
                message = await user.send(
                    content=route.content, embed=embed, files=files, view=private_result_view(job)
                )
            else:
                message = await user.send(content=route.content, embed=embed, files=files)
            channel_id = message.channel.id
        if record:
            # First thing after Discord answers: a re-run after a crash from here on finds this message.
            await self.store.set_result_message(job.id, message.id, channel_id)
        return message.id

    def _public_text(self, job: Job) -> tuple[str, discord.AllowedMentions]:
        if job.target.get("repost"):
            # /show: whoever asks, nobody is pinged (the requester was told when the clip was made).
            return _("Job {job}, shown again.", job=job.id), discord.AllowedMentions.none()
        return (
            _("{member} your clip is ready.", member=mention(job.user_id)),
            discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(job.user_id)]),
        )

    # -- a channel that refuses --------------------------------------------------------------------------

    async def _hand_over_by_dm(self, job: Job, clip: Path, *, channel_gone: bool, record: bool) -> int | None:
        """The channel refused the clip (it is paid for): send it to the requester by DM, within the DM
        limit, and say that /show posts it where the bot can post. Returns the DM's id when it was sent;
        with `record` it is stored like any post, so a re-run after a crash finds it, not sending it again.
        Both words to the requester are in their language."""
        language = await delivery_language(job, None, public=False)
        with speaking(language):
            why = (
                _("Your clip (job {job}) is ready, but that channel no longer exists.", job=job.id)
                if channel_gone
                else _(
                    "Your clip (job {job}) is ready, but I'm not allowed to post in that channel (missing "
                    "permissions).",
                    job=job.id,
                )
            )
            text = " ".join(
                [why, _("Here it is; `/show {job}` posts it in a channel where I can post.", job=job.id)]
            )
        sent: int | None
        try:
            route = Route("dm", DM_LIMIT, content=text, view=False)
            sent = await self.uploader.post(self._upload(job, record=record, language=language), clip, route)
        except discord.HTTPException as exc:
            log.info("job %d: could not DM the clip to its requester (%s)", job.id, exc.status)
            sent = None
        if sent is not None and interaction_webhook(self.client, job) is None:
            return sent  # the DM said it all
        with speaking(language):
            told = [
                _("Your clip is ready, but that channel no longer exists.")
                if channel_gone
                else _(
                    "Your clip is ready, but I'm not allowed to post in that channel (missing permissions)."
                )
            ]
            if sent is not None:
                told.append(
                    _(
                        "I sent it to you by direct message; `/show {job}` posts it in a channel where I can "
                        "post.",
                        job=job.id,
                    )
                )
            else:
                told.append(_("`/show {job}` posts it in a channel where I can post.", job=job.id))
            if not channel_gone:
                told.append(_("Ask a server admin to let me send messages and attach files there."))
        await self.tell_requester(job, " ".join(told))
        return sent
