"""/story: a form with one prompt per shot (2 to 5, as many as the member may have), the options every shot
shares, and the story handed to the story flow (bot/services/story_flow.py), which also carries out its
buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.domain.models import SEED_MAX
from bot.domain.stories import SHOTS_MIN, StoryOptions, Transition
from bot.i18n.messages import label_, title_
from bot.services.intake import TOKEN_LIFETIME
from bot.services.story_flow import StoryFlow
from bot.tree import handle_error, only_its_opener
from bot.ui.options import ASPECT_RATIOS, DESCRIBED, DURATIONS, IMAGE_LIMITS, MODELS, RESOLUTIONS, SEEDS

if TYPE_CHECKING:
    from bot.client import SoraBot

Interaction = discord.Interaction["SoraBot"]
# A modal's text input holds at most 4,000 characters (Discord's limit), under a prompt's 4,096.
SHOT_PROMPT_MAX = 4000


class StoryModal(discord.ui.Modal):
    """One paragraph input per shot the member may have (Discord allows 5 in a modal); the first two are
    required, empty ones are left out."""

    def __init__(
        self,
        flow: StoryFlow,
        shots: int,
        options: StoryOptions,
        image: discord.Attachment | None,
        opener_id: int,
    ) -> None:
        # discord.py's random custom_id keeps each opening apart.
        super().__init__(title=title_("Your story, shot by shot"), timeout=TOKEN_LIFETIME)
        self.flow = flow
        self.options = options
        self.image = image
        self.opener_id = opener_id
        self.prompts: list[discord.ui.TextInput[StoryModal]] = []
        for shot in range(1, shots + 1):
            prompt: discord.ui.TextInput[StoryModal] = discord.ui.TextInput(
                label=title_("Shot {shot}", shot=shot),
                custom_id=f"shot-{shot}",
                style=discord.TextStyle.paragraph,
                # A placeholder holds 100 characters (label_'s 80 is the nearest limit checked).
                placeholder=label_("What happens in this shot: lead with the action")
                if shot == 1
                else label_("What happens next"),
                required=shot <= SHOTS_MIN,
                min_length=3 if shot <= SHOTS_MIN else 0,
                max_length=SHOT_PROMPT_MAX,
            )
            self.prompts.append(prompt)
            self.add_item(prompt)

    async def interaction_check(self, interaction: Interaction) -> bool:  # type: ignore[override]
        return await only_its_opener(interaction, self.opener_id)

    async def on_submit(self, interaction: Interaction) -> None:  # type: ignore[override]
        await interaction.response.defer(ephemeral=True, thinking=True)
        prompts = [item.value for item in self.prompts if item.value.strip()]
        await self.flow.accept(interaction, prompts, self.options, self.image)

    async def on_error(self, interaction: Interaction, error: Exception) -> None:  # type: ignore[override]
        await handle_error(interaction, error)


class Story(commands.Cog):
    """Stories: several shots, each from the last frame of the one before, joined into one clip."""

    def __init__(self, flow: StoryFlow) -> None:
        self.flow = flow

    @app_commands.command(
        name="story",
        description="Make a story of 2 to 5 Sora 2 shots, each going on from the last, as one clip",
    )
    @app_commands.describe(
        duration="Length of each shot",
        seed=f"{SEEDS}, used for every shot (random if not given)",
        image=f"A still image the first shot animates ({IMAGE_LIMITS})",
        private="Only you see the story",
        transition="Between shots: a cut, or a short crossfade",
        **DESCRIBED,
    )
    @app_commands.choices(duration=DURATIONS)
    @app_commands.choices(aspect_ratio=ASPECT_RATIOS, model=MODELS, resolution=RESOLUTIONS)
    @app_commands.choices(
        transition=[Choice(name="Cut", value="cut"), Choice(name="Crossfade", value="crossfade")]
    )
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def story(
        self,
        interaction: Interaction,
        duration: int | None = None,
        aspect_ratio: str | None = None,
        model: str | None = None,
        resolution: str | None = None,
        seed: app_commands.Range[int, 1, SEED_MAX] | None = None,
        image: discord.Attachment | None = None,
        private: bool = False,
        transition: str = "cut",
    ) -> None:
        # The form must be the first answer (a deferred interaction can't open one): only quick checks first.
        shots = await self.flow.shots_allowed(interaction)
        chosen: Transition = "crossfade" if transition == "crossfade" else "cut"
        options = StoryOptions(duration, aspect_ratio, model, resolution, seed, private, chosen)
        modal = StoryModal(self.flow, shots, options, image, interaction.user.id)
        await interaction.response.send_modal(modal)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(Story(bot.story_flow))
