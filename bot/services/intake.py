"""Taking a request in from Discord: where its clip goes, by which routes; its attached image."""

from __future__ import annotations

from typing import Any

import discord

from bot.domain.models import JobRequest, Target
from bot.errors import InvalidImage
from bot.i18n.messages import _, number
from bot.media.images import MAX_IMAGE_BYTES
from bot.pipeline import Pipeline
from bot.services.guard import Asker

# The interaction token lasts 15 minutes; stop using it a little before.
TOKEN_LIFETIME = 14 * 60
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
Interaction = discord.Interaction[Any]


async def around_image(pipeline: Pipeline, image: str, values: dict[str, Any]) -> JobRequest:
    """The image-to-video request of `values` around a just-stored input image, deleted if that fails."""
    try:
        return JobRequest.parse(**{**values, "kind": "img2vid", "image_path": image})
    except BaseException:
        await pipeline.drop_image(image)
        raise


def discord_target(interaction: Interaction, asker: Asker, *, private: bool) -> Target:
    """Where a clip (or a story) asked for by this interaction goes, and the routes it may take there."""
    guild = interaction.guild
    return {
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
        "locale": interaction.locale.value,
        "guild_locale": server_locale(interaction, asker),
    }


def server_locale(interaction: Interaction, asker: Asker) -> str | None:
    """The language of the server the request is for: the interaction's when it comes from that server, else
    (a button in a DM) the server's as the member fetched from it knows it."""
    if interaction.guild_id == asker.guild_id and interaction.guild_locale is not None:
        return interaction.guild_locale.value
    guild = getattr(asker.user, "guild", None)
    locale = getattr(guild, "preferred_locale", None)
    return str(getattr(locale, "value", locale)) if locale is not None else None


async def read_attachment(image: discord.Attachment) -> bytes:
    """An attached input image's bytes, refused early when Discord says it is too large or not an image."""
    if image.size > MAX_IMAGE_BYTES:
        raise InvalidImage(
            _(
                "The image is {megabytes} MB; the limit is {limit_megabytes} MB.",
                megabytes=number(image.size / 2**20, 1),
                limit_megabytes=MAX_IMAGE_BYTES // 2**20,
            )
        )
    if image.content_type and image.content_type.split(";")[0] not in IMAGE_TYPES:
        raise InvalidImage(_("The image must be a PNG, JPEG or WebP file."))
    try:
        return await image.read()
    except discord.HTTPException:
        raise InvalidImage(
            _("The image could not be downloaded from Discord; please attach it again.")
        ) from None
