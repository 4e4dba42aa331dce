"""The routes a clip can take to Discord and their upload limits (reference/discord-platform.md), the
interaction's own webhook while its token lasts, and how the bot recognises a clip message it posted."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import discord

from bot.domain.models import Job, Target
from bot.ui.embeds import result_embed

MIB = 1024 * 1024
# Bot uploads in a DM channel, and in a server the bot can't see (the unboosted limit).
DM_LIMIT = 10 * MIB
DEFAULT_LIMIT = DM_LIMIT
# Room for the JSON part and multipart framing inside the request-size cap.
HEADROOM = 64 * 1024
TOO_LARGE = 40005

RouteKind = Literal["channel", "followup", "ephemeral", "dm"]


def token_gone(exc: discord.HTTPException) -> bool:
    """The interaction token stopped working (expired: 401 50027; unknown: 404 10015)."""
    return exc.status == 401 or exc.code in (50027, 10015)


def interaction_webhook(client: discord.Client, job: Job) -> discord.Webhook | None:
    """The webhook of the interaction that made the job, while its token still works (15 minutes)."""
    return target_webhook(client, job.target)


def target_webhook(client: discord.Client, target: Target) -> discord.Webhook | None:
    """The webhook of the interaction a target (a job's, a story's) names, while its token still works."""
    token = target.get("interaction_token")
    if not token or time.time() > float(target.get("token_expires_at", 0)) or client.application_id is None:
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
    footer = result_embed(job).footer.text
    nonce = nonce_of(job)
    async for message in channel.history(limit=lookback, after=after, oldest_first=True):
        if message.author.id != me or not message.attachments:
            continue
        if message.nonce == nonce or any(embed.footer.text == footer for embed in message.embeds):
            return message
    return None
