"""/video: parse the options, check the server's rules, store an attached image, hand the request to the
clips service (bot/services/clips.py, which also carries out the clip buttons)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.domain.models import PROMPT_MAX, PROMPT_MIN, SEED_MAX, JobRequest
from bot.pipeline import Pipeline
from bot.services.clips import Clips
from bot.services.guard import Guard
from bot.services.intake import around_image, read_attachment

if TYPE_CHECKING:
    from bot.client import SoraBot

Interaction = discord.Interaction["SoraBot"]


class Video(commands.Cog):
    """Making clips."""

    def __init__(self, guard: Guard, pipeline: Pipeline, clips: Clips) -> None:
        self.guard = guard
        self.pipeline = pipeline
        self.clips = clips

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
        self.guard.require_post_permissions(interaction, private=private)
        server = await self.guard.may_generate(interaction)
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
        admission = await self.guard.admit(interaction, request, has_image=image is not None, settings=server)
        if image is not None:
            data = await read_attachment(image)
            path = await self.pipeline.store_image(data, request.size)
            request = await around_image(self.pipeline, path, values)
        await self.clips.accept(interaction, request, private=private, admission=admission)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(Video(bot.guard, bot.pipeline, bot.clips))
