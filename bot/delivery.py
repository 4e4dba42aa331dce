"""Posting finished clips on Discord with the bot token, within the channel's upload limit."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import discord

from bot.errors import DeliveryError
from bot.jobs.models import Job
from bot.media.fit import fit_clip, poster_frame, preview_clip
from bot.ui.buttons import private_result_view, result_view
from bot.ui.embeds import result_embed
from bot.ui.status import interaction_webhook

if TYPE_CHECKING:
    from bot.client import SoraBot

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 10 * 1024 * 1024
# Room for the JSON part and multipart framing inside the request-size cap.
HEADROOM = 64 * 1024
TOO_LARGE = 40005


def too_large(exc: discord.HTTPException) -> bool:
    return exc.status == 413 or exc.code == TOO_LARGE


class DiscordDeliverer:
    """Uploads the clip (re-encoded to fit when needed), mentioning only the requester."""

    kind = "discord"

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot

    async def deliver(self, job: Job, clip: Path) -> int | None:
        limit = int(job.target.get("filesize_limit") or self._guild_limit(job) or DEFAULT_LIMIT)
        try:
            return await self._post(job, clip, limit)
        except discord.Forbidden as exc:
            await self.tell_requester(
                job,
                "Your clip is ready, but I'm not allowed to post in that channel (missing permissions). "
                "Ask a server admin to let me send messages and attach files there.",
            )
            raise DeliveryError(f"missing permissions in channel {job.channel_id}: {exc.text}") from None
        except discord.NotFound as exc:
            raise DeliveryError(f"channel {job.channel_id} no longer exists: {exc.text}") from None

    async def _post(self, job: Job, clip: Path, limit: int) -> int | None:
        budget = limit - min(HEADROOM, limit // 50)
        note = None
        upload: Path | None = clip
        for attempt in range(3):
            assert upload is not None
            if upload.stat().st_size > budget:
                upload, note = await self._shrink(job, clip, budget)
            if upload is None:
                return await self._post_preview(job, clip, budget)
            try:
                return await self._send(job, [discord.File(upload, filename=f"sora-{job.id}.mp4")], note)
            except discord.HTTPException as exc:
                if not too_large(exc) or attempt == 2:
                    raise
                # Discord disagreed with our idea of the limit: aim lower and try again.
                log.info("job %d: upload of %d bytes refused as too large", job.id, upload.stat().st_size)
                budget = int(min(budget, upload.stat().st_size) * 0.8)
                upload = clip
        return None

    async def _shrink(self, job: Job, clip: Path, budget: int) -> tuple[Path | None, str | None]:
        fitted = clip.with_name(f"{clip.stem}.fit-{budget}.mp4")
        result = await asyncio.to_thread(fit_clip, clip, fitted, max_bytes=budget)
        if result is None:
            return None, None
        log.info("job %d: re-encoded %d -> %d bytes to fit", job.id, clip.stat().st_size, result.size_bytes)
        return (
            result.path,
            f"Re-encoded to {result.width}x{result.height} to fit this channel's upload limit.",
        )

    async def _post_preview(self, job: Job, clip: Path, budget: int) -> int | None:
        """The clip can't be made small enough: post a poster frame and a short preview that fit, if any."""
        files: list[discord.File] = []
        left = budget
        for width in (1280, 640, 320):
            poster = await asyncio.to_thread(
                poster_frame, clip, clip.with_name(f"{clip.stem}.poster-{width}.jpg"), max_width=width
            )
            if poster.stat().st_size <= left:
                files.append(discord.File(poster, filename=f"sora-{job.id}.jpg"))
                left -= poster.stat().st_size
                break
        preview = await asyncio.to_thread(
            preview_clip, clip, clip.with_name(f"{clip.stem}.preview.mp4"), max_bytes=left
        )
        if preview is not None:
            files.append(discord.File(preview, filename=f"sora-{job.id}-preview.mp4"))
        note = f"The full clip is too large for this channel; it is kept: `/show {job.id}`."
        return await self._send(job, files, note)

    async def _send(self, job: Job, files: list[discord.File], note: str | None) -> int | None:
        embed = result_embed(job, note=note)
        if job.target.get("private"):
            return await self._send_private(job, files, embed)
        channel = self.bot.get_partial_messageable(int(job.target["channel_id"]), guild_id=job.guild_id)
        message = await channel.send(
            content=f"<@{job.user_id}> your clip is ready.",
            embed=embed,
            files=files,
            view=result_view(job),
            allowed_mentions=discord.AllowedMentions(users=[discord.Object(job.user_id)]),
            # With enforce_nonce (discord.py sends it), a re-delivery after a crash returns the same message.
            nonce=f"sora-{job.id}{job.target.get('repost', '')}"[:25],
        )
        return message.id

    async def _send_private(self, job: Job, files: list[discord.File], embed: discord.Embed) -> int | None:
        webhook = interaction_webhook(self.bot, job)
        if webhook is not None:
            message = await webhook.send(
                embed=embed, files=files, view=private_result_view(job), ephemeral=True, wait=True
            )
            return message.id
        user = await self.bot.fetch_user(job.user_id)
        sent = await user.send(embed=embed, files=files, view=private_result_view(job))
        return sent.id

    async def repost(self, job: Job, target: dict[str, object], clip: Path) -> int | None:
        """Post a delivered clip again (for /show), to `target`'s channel."""
        again = dataclasses.replace(job, target=target, channel_id=int(str(target["channel_id"])))
        return await self.deliver(again, clip)

    async def tell_requester(self, job: Job, text: str) -> None:
        """A private word to the requester: through the interaction while it lasts, else a DM."""
        try:
            webhook = interaction_webhook(self.bot, job)
            if webhook is not None:
                await webhook.send(text, ephemeral=True)
                return
            user = await self.bot.fetch_user(job.user_id)
            await user.send(text)
        except discord.HTTPException as exc:
            log.info("job %d: could not tell the requester (%s)", job.id, exc.status)

    def _guild_limit(self, job: Job) -> int | None:
        guild = self.bot.get_guild(job.guild_id) if job.guild_id else None
        return guild.filesize_limit if guild else None
