"""The routes a clip can take to Discord and their upload limits (reference/discord-platform.md), the
interaction's own webhook while its token lasts, how the bot recognises a clip message it posted, and
uploading a clip within a route's limit: what a job's clip (bot.services.delivery) and a story's
(bot.services.story_posts) share.

Routes and their limits:
- a bot-token post in the channel (`channel.send`): the server's boost tier, `guild.filesize_limit`;
- a followup with the interaction token (15 minutes): the interaction's `attachment_size_limit`, which counts
  the member's own Nitro;
- a direct message: 10 MiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import discord

from bot.domain.models import Job, Target
from bot.errors import StorageUnavailable
from bot.files import fit_path, poster_path, preview_path
from bot.i18n.catalogs import LOCALES
from bot.i18n.messages import SOURCE, _, post_language, speaking, supported
from bot.media.fit import fit_clip, poster_frame, preview_clip
from bot.media.pool import MediaPool
from bot.media.probe import probe_clip
from bot.storage import Storage
from bot.store.guild_settings import GuildSettings
from bot.ui.embeds import result_footer

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# Bot uploads in a DM channel, and in a server the bot can't see (the unboosted limit).
DM_LIMIT = 10 * MIB
DEFAULT_LIMIT = DM_LIMIT
# Room for the JSON part and multipart framing inside the request-size cap.
HEADROOM = 64 * 1024
TOO_LARGE = 40005
# A 413 means Discord accepts less than we thought: aim lower this many times on one route.
ATTEMPTS = 3

RouteKind = Literal["channel", "followup", "ephemeral", "dm"]


def token_gone(exc: discord.HTTPException) -> bool:
    """The interaction token stopped working (expired: 401 50027; unknown: 404 10015)."""
    return exc.status == 401 or exc.code in (50027, 10015)


class Posted(Protocol):
    """What a clip posted on Discord belongs to (a job, a story): its requester and where it goes."""

    @property
    def id(self) -> int: ...
    @property
    def user_id(self) -> int: ...
    @property
    def guild_id(self) -> int | None: ...
    @property
    def target(self) -> Target: ...


# A server's settings by its id (the governance repository's cached read, `Governance.settings`): the
# language its admins chose for its posts is among them.
ServerSettings = Callable[[int], Awaitable[GuildSettings]]


async def delivery_language(posted: Posted, server_settings: ServerSettings | None, *, public: bool) -> str:
    """The language of a message carrying `posted`'s clip (a job's, a story's) and of its texts: a public one,
    in the channel, is in the server's post language (the one its admins chose, else the server's own locale
    as the asking interaction had it); a private one (an ephemeral followup, a DM) in its requester's
    locale. Without `server_settings`, a public post is in the server's own locale."""
    if not public:
        return supported(posted.target.get("locale"))
    chosen = None
    if server_settings is not None and posted.guild_id is not None:
        chosen = (await server_settings(posted.guild_id)).language
    return post_language(chosen, posted.target.get("guild_locale"))


def interaction_webhook(client: discord.Client, job: Posted) -> discord.Webhook | None:
    """The webhook of the interaction that asked for the clip, while its token still works (15 minutes)."""
    token = job.target.get("interaction_token")
    if (
        not token
        or time.time() > float(job.target.get("token_expires_at", 0))
        or client.application_id is None
    ):
        return None
    data = {"id": client.application_id, "type": 3, "token": token}
    return discord.Webhook.from_state(data=data, state=client._connection)  # type: ignore[arg-type]


def too_large(exc: discord.HTTPException) -> bool:
    return exc.status == 413 or exc.code == TOO_LARGE


def budget_for(limit: int) -> int:
    """Bytes a file may have on a route with this per-file limit."""
    return limit - min(HEADROOM, limit // 50)


@dataclass(frozen=True, slots=True)
class Route:
    """One way to put a message with files on Discord, and its per-file upload limit."""

    kind: RouteKind
    limit: int
    webhook: discord.Webhook | None = None
    content: str | None = None  # the message text, when the route's usual one doesn't fit the case
    view: bool = True  # with the clip's buttons


def nonce_of(job: Job) -> str:
    """The nonce of the job's clip message (a /show repost's differs from the delivery's)."""
    return f"sora-{job.id}{job.target.get('repost', '')}"[:25]


async def find_clip_message(
    channel: discord.abc.Messageable, job: Job, after: discord.Object, me: int | None, lookback: int
) -> discord.Message | None:
    """The job's clip message posted by `me` in `channel` after `after` (among `lookback` messages)."""
    # Its embed's footer names the job, in the language it was posted in (the server's or the requester's,
    # which may have changed since): any the bot speaks.
    footers = set()
    for locale in (SOURCE, *LOCALES):
        with speaking(locale):
            footers.add(result_footer(job))
    nonce = nonce_of(job)
    async for message in channel.history(limit=lookback, after=after, oldest_first=True):
        if message.author.id != me or not message.attachments:
            continue
        if message.nonce == nonce or any(embed.footer.text in footers for embed in message.embeds):
            return message
    return None


# -- choosing the route ------------------------------------------------------------------------------------


def guild_limit(client: discord.Client, posted: Posted) -> int:
    """The server's per-file limit: from the guild cache, else (a worker process has no gateway, so no
    cache) as it was when the request was accepted, else the unboosted limit."""
    guild = client.get_guild(posted.guild_id) if posted.guild_id else None
    if guild is not None:
        return guild.filesize_limit
    return int(posted.target.get("guild_filesize_limit") or DEFAULT_LIMIT)


def routes_for(client: discord.Client, posted: Posted, size: int) -> list[Route]:
    """The routes to try for a clip of `size` bytes, best first."""
    webhook = interaction_webhook(client, posted)
    interaction_limit = int(posted.target.get("filesize_limit") or 0)
    if posted.target.get("private"):
        routes = [Route("ephemeral", interaction_limit or DM_LIMIT, webhook)] if webhook else []
        return [*routes, Route("dm", DM_LIMIT)]
    channel = Route("channel", guild_limit(client, posted))
    # A public clip is posted by the bot. Only when that would cost quality (the clip is over the server's
    # limit) and the member's own limit is higher (Nitro) does it go as a public followup with the
    # interaction token, while the token lives; the bot-token post stays the fallback.
    if webhook and interaction_limit > channel.limit and size > budget_for(channel.limit):
        return [Route("followup", interaction_limit, webhook), channel]
    return [channel]


async def tell(client: discord.Client, posted: Posted, text: str, *, label: str, by_dm: bool = False) -> None:
    """A private word to the requester: through the interaction while it lasts, else (or when Discord
    refuses the token: it ended before the bot thought, or is unknown) a DM. `label` names it in the log."""
    try:
        webhook = None if by_dm else interaction_webhook(client, posted)
        if webhook is not None:
            try:
                await webhook.send(text, ephemeral=True)
            except discord.HTTPException as exc:
                if not token_gone(exc):
                    raise
                log.info("%s: the interaction token was refused (%s); telling by DM", label, exc.status)
            else:
                return
        user = await client.fetch_user(posted.user_id)
        await user.send(text)
    except discord.HTTPException as exc:
        log.info("%s: could not tell the requester (%s)", label, exc.status)


# -- uploading within a route's limit ----------------------------------------------------------------------

# Posts a message by a route: (route, files, the embed's note, a "Full quality" link) -> the message's id.
Send = Callable[[Route, list[discord.File], str | None, str | None], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Upload:
    """One clip to put on Discord: whose it is, how its poster names and words it, and how it is sent.

    Its texts (the message and embed `send` makes, the notes) are made in `language` (`delivery_language`:
    the server's for a public post, the requester's for a private one), or the language of the moment."""

    of: Posted
    label: str  # names it in the log: "job 5", "story 2"
    stem: str  # the attachments' names: {stem}.mp4, {stem}.jpg, {stem}-preview.mp4
    # The embed's note when only a poster frame and a preview fit: made in `language` when it is needed (a
    # text already made is used as it is).
    kept: str | Callable[[], str]
    send: Send
    link: Callable[[Route], Awaitable[str | None]]  # the "Full quality" link for a re-encode or a preview
    language: str | None = None


class Uploader:
    """Uploads a clip by the route that gives the member the best file, re-encoded to fit when needed (each
    re-encode, poster and preview made in `media`'s processes, and kept beside the clip in the store, for the
    next post)."""

    def __init__(
        self,
        client: discord.Client,
        storage: Storage,
        media: MediaPool,
        *,
        on_reencode: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.storage = storage
        self.media = media
        self._on_reencode = on_reencode  # metrics: told of each re-encode made

    async def deliver(self, upload: Upload, clip: Path) -> int:
        """Post by the best route, falling back to the next when one refuses the size or the token."""
        routes = routes_for(self.client, upload.of, clip.stat().st_size)
        for route in routes[:-1]:
            try:
                return await self.post(upload, clip, route)
            except discord.HTTPException as exc:
                if not (too_large(exc) or token_gone(exc)):
                    raise
                log.info("%s: %s route refused (%s); trying the next", upload.label, route.kind, exc.status)
        return await self.post(upload, clip, routes[-1])

    async def post(self, upload: Upload, clip: Path, route: Route) -> int:
        """Post by `route`, within its limit: the clip, else a re-encode that fits (aiming lower on each
        413, ATTEMPTS times), else a poster frame and a preview. Its texts are in the upload's language."""
        with speaking(upload.language) if upload.language is not None else contextlib.nullcontext():
            return await self._post(upload, clip, route)

    async def _post(self, upload: Upload, clip: Path, route: Route) -> int:
        budget = budget_for(route.limit)
        for attempt in range(ATTEMPTS):
            sent, note, link = clip, None, None
            if clip.stat().st_size > budget:
                fitted, note = await self._shrink(upload, clip, budget, route)
                if fitted is None:
                    return await self._post_preview(upload, clip, budget, route)
                sent, link = fitted, await upload.link(route)
            try:
                files = [discord.File(sent, filename=f"{upload.stem}.mp4")]
                return await upload.send(route, files, note, link)
            except discord.HTTPException as exc:
                if not too_large(exc) or attempt == ATTEMPTS - 1:
                    raise
                # Discord disagreed with our idea of the limit: aim lower and try again.
                log.info("%s: upload of %d bytes refused as too large", upload.label, sent.stat().st_size)
                budget = int(min(budget, sent.stat().st_size) * 0.8)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _shrink(
        self, upload: Upload, clip: Path, budget: int, route: Route
    ) -> tuple[Path | None, str | None]:
        """The clip re-encoded within `budget`, made once per budget and kept next to the clip."""
        fitted = fit_path(clip, budget)
        if await self._cached(fitted):
            info = await asyncio.to_thread(probe_clip, fitted)
            width, height = info.width, info.height
        else:
            result = await self.media.run(fit_clip, clip, fitted, max_bytes=budget)
            if result is None:
                return None, None
            await self._keep(fitted)
            if self._on_reencode is not None:
                self._on_reencode()
            log.info(
                "%s: re-encoded %d -> %d bytes to fit", upload.label, clip.stat().st_size, result.size_bytes
            )
            width, height = result.width, result.height
        if route.kind == "dm":
            note = _(
                "Re-encoded to {width}x{height} to fit direct messages' upload limit.",
                width=width,
                height=height,
            )
        else:
            note = _(
                "Re-encoded to {width}x{height} to fit this channel's upload limit.",
                width=width,
                height=height,
            )
        return fitted, note

    async def _post_preview(self, upload: Upload, clip: Path, budget: int, route: Route) -> int:
        """The clip can't be made small enough: post a poster frame and a short preview that fit, if any."""
        files: list[discord.File] = []
        left = budget
        for width in (1280, 640, 320):
            poster = poster_path(clip, width)
            if not await self._cached(poster):
                await self.media.run(poster_frame, clip, poster, max_width=width)
                await self._keep(poster)
            if poster.stat().st_size <= left:
                files.append(discord.File(poster, filename=f"{upload.stem}.jpg"))
                left -= poster.stat().st_size
                break
        preview: Path | None = preview_path(clip, left)
        if preview is not None and not await self._cached(preview):
            preview = await self.media.run(preview_clip, clip, preview, max_bytes=left)
            if preview is not None:
                await self._keep(preview)
        if preview is not None:
            files.append(discord.File(preview, filename=f"{upload.stem}-preview.mp4"))
        kept = upload.kept() if callable(upload.kept) else upload.kept
        return await upload.send(route, files, kept, await upload.link(route))

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
