"""Persistent buttons: the job id and the action live in the custom_id, so they work after a restart."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bot.domain.models import Job

if TYPE_CHECKING:
    from bot.client import SoraBot

ACTIONS: dict[str, tuple[str, discord.ButtonStyle]] = {
    "cancel": ("Cancel", discord.ButtonStyle.danger),
    "reroll": ("Re-roll", discord.ButtonStyle.primary),
    "remix": ("Remix", discord.ButtonStyle.secondary),
    "flip": ("Flip aspect", discord.ButtonStyle.secondary),
    "upgrade": ("Upgrade to Pro 1080p", discord.ButtonStyle.secondary),
    "continue": ("Continue", discord.ButtonStyle.secondary),
    "delete": ("Delete", discord.ButtonStyle.danger),
    "post": ("Post to channel", discord.ButtonStyle.success),
    "approve": ("Approve", discord.ButtonStyle.success),
    "reject": ("Reject", discord.ButtonStyle.danger),
}


class ButtonHandler(Protocol):
    async def on_job_button(
        self, interaction: discord.Interaction[SoraBot], action: str, job_id: int
    ) -> None: ...


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"sora:(?P<action>[a-z]+):(?P<job_id>[0-9]{1,19})",
):
    """One button of a job; pressing it hands (action, job id) to the Video cog."""

    def __init__(self, action: str, job_id: int) -> None:
        label, style = ACTIONS[action]
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=f"sora:{action}:{job_id}"))
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> JobButton:
        if match["action"] not in ACTIONS:
            raise ValueError(f"unknown button action {match['action']!r}")
        return cls(match["action"], int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler: ButtonHandler | None = interaction.client.get_cog("Video")
        if handler is None:
            raise RuntimeError("the Video cog is not loaded")
        await handler.on_job_button(interaction, self.action, self.job_id)


def view_of(job: Job, *actions: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(JobButton(action, job.id))
    return view


def status_view(job: Job) -> discord.ui.View:
    return view_of(job, "cancel")


def result_view(job: Job) -> discord.ui.View:
    actions = ["reroll", "remix", "flip"]
    if not (job.request.model == "sora-2-pro" and job.request.effective_resolution == "1080p"):
        actions.append("upgrade")
    actions += ["continue", "delete"]
    return view_of(job, *actions)


def private_result_view(job: Job) -> discord.ui.View:
    return view_of(job, "post", "reroll", "remix")
