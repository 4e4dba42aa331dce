"""/video: parse the options, check the server's rules, store an attached image, hand the request to the
clips service (bot/services/clips.py, which also carries out the clip buttons)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.models import PROMPT_MAX, PROMPT_MIN, SEED_MAX, JobRequest
from bot.pipeline import Pipeline
from bot.services.clips import Clips
from bot.services.guard import Guard
from bot.services.intake import around_image, read_attachment
from bot.ui.options import ASPECT_RATIOS, DESCRIBED, DURATIONS, IMAGE_LIMITS, MODELS, RESOLUTIONS, SEEDS

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
        image=f"A still image to animate ({IMAGE_LIMITS})",
        duration="Length of the clip",
        seed=f"{SEEDS} for reproducible results",
        private="Only you see the clip until you post it",
        **DESCRIBED,
    )
    @app_commands.choices(duration=DURATIONS)
    @app_commands.choices(aspect_ratio=ASPECT_RATIOS, model=MODELS, resolution=RESOLUTIONS)
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
