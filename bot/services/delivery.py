"""Posting finished clips on Discord, each upload sized by the limit of the route that carries it.

Routes and their limits (reference/discord-platform.md):
- a bot-token post in the channel (`channel.send`): the server's boost tier, `guild.filesize_limit`;
- a followup with the interaction token (15 minutes): the interaction's `attachment_size_limit`, which counts
  the member's own Nitro;
- a direct message: 10 MiB.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import discord

from bot.domain.models import Job, JobState, Target
from bot.errors import DeliveredByDm, DeliveryError, StorageUnavailable, UserFacingError
from bot.files import fit_path, poster_path, preview_path
from bot.media.fit import fit_clip, poster_frame, preview_clip
from bot.media.probe import probe_clip
from bot.services.earlier_posts import EarlierPosts
from bot.services.routes import (
    DEFAULT_LIMIT,
    DM_LIMIT,
    Route,
    budget_for,
    interaction_webhook,
    nonce_of,
    token_gone,
    too_large,
)
from bot.storage import Storage
from bot.storage.links import ClipLinks
from bot.store.jobs import JobStore
from bot.ui.buttons import private_result_view, result_view
from bot.ui.embeds import result_embed

log = logging.getLogger(__name__)

# A 413 means Discord accepts less than we thought: aim lower this many times on one route.
ATTEMPTS = 3


class DiscordDeliverer:
    """Uploads the clip (re-encoded to fit when needed) by the route that gives the member the best file."""

    kind = "discord"

    def __init__(
        self,
        client: discord.Client,
        store: JobStore,
        storage: Storage,
        *,
        on_reencode: Callable[[], None] | None = None,
        links: ClipLinks | None = None,
    ) -> None:
        self.client = client  # REST: channels, users, messages; the gateway's guild cache when there is one
        self.store = store
        self.storage = storage  # re-encodes, posters and previews are kept beside the clip
        self._on_reencode = on_reencode  # metrics: told of each re-encode made
        self._links = links  # "Full quality" links on a re-encode or a preview
        self._earlier = EarlierPosts(client, store)

    async def deliver(self, job: Job, clip: Path) -> int | None:
        """Deliver the clip; safe to call again for a job being delivered: a clip an earlier run posted is
        found (by its stored message, else in the channel's recent history) instead of posted twice."""
        # Only the scheduler delivers a job in this state; "Post to channel" posts a delivered one again.
        record = job.state is JobState.DELIVERING
        if record:
            earlier = await self._earlier.find(job)
            if earlier is not None:
                message_id, channel_id = earlier
                if not job.target.get("private") and channel_id not in (None, job.target.get("channel_id")):
                    # An earlier run handed a refused clip over by DM: it stays delivered that way.
                    raise DeliveredByDm(
                        message_id,
                        "sent to the requester by direct message before the restart",
                        f"The channel refused the clip, so it was sent to you by direct message. "
                        f"`/show {job.id}` posts it where I can post.",
                    )
                return message_id
            await self.store.start_delivery(job.id)
        try:
            return await self._deliver(job, clip, record=record)
        except (discord.Forbidden, discord.NotFound) as exc:
            if not record:
                # "Post to channel" of a delivered clip: the presser hears it; nothing goes by DM again.
                raise UserFacingError(
                    "I can't post in the clip's channel any more (I need to send messages and attach files "
                    "there)."
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
                raise DeliveredByDm(
                    handed_over,
                    f"{detail}; sent to the requester by direct message",
                    "The channel refused the clip"
                    + (" (it no longer exists)" if gone else " (missing permissions)")
                    + f", so it was sent to you by direct message. `/show {job.id}` posts it where I can"
                    " post.",
                ) from None
            raise DeliveryError(detail) from None

    async def repost(self, job: Job, target: Target, clip: Path) -> int | None:
        """Post a delivered clip again (for /show) in `target`'s channel with the bot token, pinging nobody.
        A refusal is the caller's to hear (UserFacingError); nobody else is told."""
        again = dataclasses.replace(job, target=target, channel_id=int(str(target["channel_id"])))
        try:
            return await self._post(again, clip, Route("channel", self._guild_limit(job)), record=False)
        except discord.Forbidden:
            raise UserFacingError(
                "I'm not allowed to post in this channel (I need to send messages and attach files here)."
            ) from None
        except discord.NotFound:
            raise UserFacingError("I can't post in this channel.") from None

    async def tell_requester(self, job: Job, text: str, *, by_dm: bool = False) -> None:
        """A private word to the requester: through the interaction while it lasts, else (or when Discord
        refuses the token: it ended before the bot thought, or is unknown) a DM."""
        try:
            webhook = None if by_dm else interaction_webhook(self.client, job)
            if webhook is not None:
                try:
                    await webhook.send(text, ephemeral=True)
                except discord.HTTPException as exc:
                    if not token_gone(exc):
                        raise
                    log.info(
                        "job %d: the interaction token was refused (%s); telling by DM", job.id, exc.status
                    )
                else:
                    return
            user = await self.client.fetch_user(job.user_id)
            await user.send(text)
        except discord.HTTPException as exc:
            log.info("job %d: could not tell the requester (%s)", job.id, exc.status)

    # -- choosing the route --------------------------------------------------------------------------------

    def _routes(self, job: Job, size: int) -> list[Route]:
        """The routes to try, best first."""
        webhook = interaction_webhook(self.client, job)
        interaction_limit = int(job.target.get("filesize_limit") or 0)
        if job.target.get("private"):
            routes = [Route("ephemeral", interaction_limit or DM_LIMIT, webhook)] if webhook else []
            return [*routes, Route("dm", DM_LIMIT)]
        channel = Route("channel", self._guild_limit(job))
        # A public clip is posted by the bot. Only when that would cost quality (the clip is over the
        # server's limit) and the member's own limit is higher (Nitro) does it go as a public followup with
        # the interaction token, while the token lives; the bot-token post stays the fallback.
        if webhook and interaction_limit > channel.limit and size > budget_for(channel.limit):
            return [Route("followup", interaction_limit, webhook), channel]
        return [channel]

    async def _deliver(self, job: Job, clip: Path, *, record: bool) -> int:
        routes = self._routes(job, clip.stat().st_size)
        for route in routes[:-1]:
            try:
                return await self._post(job, clip, route, record=record)
            except discord.HTTPException as exc:
                if not (too_large(exc) or token_gone(exc)):
                    raise
                log.info("job %d: %s route refused (%s); trying the next", job.id, route.kind, exc.status)
        return await self._post(job, clip, routes[-1], record=record)

    def _guild_limit(self, job: Job) -> int:
        """The server's per-file limit: from the guild cache, else (a worker process has no gateway, so no
        cache) as it was when the job was accepted, else the unboosted limit."""
        guild = self.client.get_guild(job.guild_id) if job.guild_id else None
        if guild is not None:
            return guild.filesize_limit
        return int(job.target.get("guild_filesize_limit") or DEFAULT_LIMIT)

    # -- uploading within a route's limit -------------------------------------------------------------------

    async def _post(self, job: Job, clip: Path, route: Route, *, record: bool) -> int:
        budget = budget_for(route.limit)
        for attempt in range(ATTEMPTS):
            upload, note, link = clip, None, None
            if clip.stat().st_size > budget:
                fitted, note = await self._shrink(job, clip, budget, route)
                if fitted is None:
                    return await self._post_preview(job, clip, budget, route, record=record)
                upload, link = fitted, await self._full_quality(job, route)
            try:
                files = [discord.File(upload, filename=f"sora-{job.id}.mp4")]
                return await self._send(job, route, files, note, record=record, link=link)
            except discord.HTTPException as exc:
                if not too_large(exc) or attempt == ATTEMPTS - 1:
                    raise
                # Discord disagreed with our idea of the limit: aim lower and try again.
                log.info("job %d: upload of %d bytes refused as too large", job.id, upload.stat().st_size)
                budget = int(min(budget, upload.stat().st_size) * 0.8)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _shrink(
        self, job: Job, clip: Path, budget: int, route: Route
    ) -> tuple[Path | None, str | None]:
        """The clip re-encoded within `budget`, made once per budget and kept next to the clip."""
        fitted = fit_path(clip, budget)
        if await self._cached(fitted):
            info = await asyncio.to_thread(probe_clip, fitted)
            width, height = info.width, info.height
        else:
            result = await asyncio.to_thread(fit_clip, clip, fitted, max_bytes=budget)
            if result is None:
                return None, None
            await self._keep(fitted)
            if self._on_reencode is not None:
                self._on_reencode()
            log.info(
                "job %d: re-encoded %d -> %d bytes to fit", job.id, clip.stat().st_size, result.size_bytes
            )
            width, height = result.width, result.height
        where = "direct messages'" if route.kind == "dm" else "this channel's"
        return fitted, f"Re-encoded to {width}x{height} to fit {where} upload limit."

    async def _post_preview(self, job: Job, clip: Path, budget: int, route: Route, *, record: bool) -> int:
        """The clip can't be made small enough: post a poster frame and a short preview that fit, if any."""
        files: list[discord.File] = []
        left = budget
        for width in (1280, 640, 320):
            poster = poster_path(clip, width)
            if not await self._cached(poster):
                await asyncio.to_thread(poster_frame, clip, poster, max_width=width)
                await self._keep(poster)
            if poster.stat().st_size <= left:
                files.append(discord.File(poster, filename=f"sora-{job.id}.jpg"))
                left -= poster.stat().st_size
                break
        preview: Path | None = preview_path(clip, left)
        if preview is not None and not await self._cached(preview):
            preview = await asyncio.to_thread(preview_clip, clip, preview, max_bytes=left)
            if preview is not None:
                await self._keep(preview)
        if preview is not None:
            files.append(discord.File(preview, filename=f"sora-{job.id}-preview.mp4"))
        note = f"The full clip is too large for this channel; it is kept: `/show {job.id}`."
        link = await self._full_quality(job, route)
        return await self._send(job, route, files, note, record=record, link=link)

    async def _full_quality(self, job: Job, route: Route) -> str | None:
        """The link to the original clip for a re-encode or a preview (public routes only), if any."""
        return await self._links.full_quality(job, route.kind) if self._links is not None else None

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
            return f"Job {job.id}, shown again.", discord.AllowedMentions.none()
        return (
            f"<@{job.user_id}> your clip is ready.",
            discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(job.user_id)]),
        )

    async def _cached(self, derived: Path) -> bool:
        """Whether an earlier run kept this re-encode, poster or preview (now here); a store that fails is
        only a cache miss: the file is made again."""
        try:
            return await self.storage.fetch(derived)
        except StorageUnavailable as exc:
            log.warning("%s: not read from the store (%s); making it here", derived.name, exc.detail)
            return False

    async def _keep(self, derived: Path) -> None:
        """Keep a made re-encode, poster or preview for the next post; a store that fails costs only that."""
        try:
            await self.storage.save(derived)
        except StorageUnavailable as exc:
            log.warning("%s: not kept in the store (%s)", derived.name, exc.detail)

    # -- a channel that refuses --------------------------------------------------------------------------

    async def _hand_over_by_dm(self, job: Job, clip: Path, *, channel_gone: bool, record: bool) -> int | None:
        """The channel refused the clip (it is paid for): send it to the requester by DM, within the DM
        limit, and say that /show posts it where the bot can post. Returns the DM's id when it was sent;
        with `record` it is stored like any post, so a re-run after a crash finds it, not sending it again."""
        why = (
            "that channel no longer exists"
            if channel_gone
            else "I'm not allowed to post in that channel (missing permissions)"
        )
        where = f"`/show {job.id}` posts it in a channel where I can post"
        text = f"Your clip (job {job.id}) is ready, but {why}. Here it is; {where}."
        sent: int | None
        try:
            sent = await self._post(job, clip, Route("dm", DM_LIMIT, content=text, view=False), record=record)
        except discord.HTTPException as exc:
            log.info("job %d: could not DM the clip to its requester (%s)", job.id, exc.status)
            sent = None
        if sent is not None and interaction_webhook(self.client, job) is None:
            return sent  # the DM said it all
        told = (
            f"Your clip is ready, but {why}. "
            + ("I sent it to you by direct message; " if sent is not None else "")
            + f"{where}. "
            + ("" if channel_gone else "Ask a server admin to let me send messages and attach files there.")
        )
        await self.tell_requester(job, told.strip())
        return sent
