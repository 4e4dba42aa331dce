"""/queue, /usage, /history and /show: what a member can see of their jobs."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import JobNotFound, UserFacingError
from bot.jobs.models import JobState
from bot.tree import reply
from bot.ui.buttons import JobButton
from bot.ui.embeds import settings_line

if TYPE_CHECKING:
    from bot.client import SoraBot
    from bot.jobs.models import Job

Interaction = discord.Interaction["SoraBot"]
WAITING = (
    JobState.AWAITING_APPROVAL,
    JobState.QUEUED,
    JobState.SUBMITTING,
    JobState.RUNNING,
    JobState.DELIVERING,
)
HISTORY_SIZE = 10


def _when(timestamp: float) -> str:
    return discord.utils.format_dt(datetime.fromtimestamp(timestamp, tz=UTC), "R")


def _short(prompt: str, limit: int = 60) -> str:
    text = " ".join(prompt.split())
    return discord.utils.escape_markdown(text if len(text) <= limit else text[: limit - 1] + "…")


def _link(job: Job) -> str:
    if job.result_message_id and job.guild_id and job.channel_id and not job.target.get("private"):
        return (
            f" [clip](https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.result_message_id})"
        )
    return ""


class Jobs(commands.Cog):
    """Looking at jobs."""

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="queue", description="Your queued and running clips, and how long the queue is"
    )
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def queue(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        store = self.bot.pipeline.store
        mine = [
            job
            for job in await store.list_jobs(states=WAITING, user_id=interaction.user.id)
            if job.guild_id == interaction.guild_id
        ]
        queued_here = await store.list_jobs(states=[JobState.QUEUED], limit=10_000)
        lines = []
        view = discord.ui.View(timeout=None)
        for job in reversed(mine[:20]):
            where = (
                f"position {await store.queue_position(job)}"
                if job.state is JobState.QUEUED
                else job.state.value
            )
            lines.append(f"**Job {job.id}**: {where}, {settings_line(job)}: {_short(job.request.prompt)}")
            if len(view.children) < 25:
                view.add_item(JobButton("cancel", job.id))
        summary = f"{len(queued_here)} job(s) waiting in the queue in all."
        text = "\n".join(lines) if lines else "You have no jobs queued or running."
        await reply(interaction, f"{text}\n{summary}", view=view if lines else discord.utils.MISSING)

    @app_commands.command(name="usage", description="How much of your quota is left, and when it resets")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def usage(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        assert interaction.guild_id is not None
        limits = (await self.bot.guard.policy(interaction.guild_id, interaction.user)).limits
        used = await self.bot.pipeline.store.usage(interaction.guild_id, interaction.user.id)
        lines = [
            f"Jobs this hour: {used.jobs_last_hour} of {limits.jobs_per_hour}"
            + (f" (room again {_when(used.hour_times[0] + 3600)})" if used.hour_times else ""),
            f"Video today: {used.video_seconds_last_day} s of {limits.video_seconds_per_day} s"
            + (f" (oldest use leaves {_when(used.day_uses[0][0] + 86400)})" if used.day_uses else ""),
            f"Jobs queued or running: {used.active_jobs} of {limits.concurrent}",
        ]
        await reply(interaction, "\n".join(lines))

    @app_commands.command(name="history", description="Recent clips, yours or another member's")
    @app_commands.describe(user="Whose clips to list (default: yours)")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def history(self, interaction: Interaction, user: discord.User | None = None) -> None:
        await interaction.response.defer(ephemeral=True)
        who = user or interaction.user
        jobs = [
            job
            for job in await self.bot.pipeline.store.list_jobs(user_id=who.id, limit=200)
            if job.guild_id == interaction.guild_id
            and (who.id == interaction.user.id or not job.target.get("private"))
        ][:HISTORY_SIZE]
        if not jobs:
            await reply(interaction, f"No clips by {who.mention} here yet.")
            return
        lines = [
            f"**Job {job.id}** {_when(job.created_at)}: {job.state.value}{_link(job)}, "
            f"{_short(job.request.prompt)}"
            for job in jobs
        ]
        await reply(interaction, f"Recent clips by {who.mention}:\n" + "\n".join(lines))

    @app_commands.command(name="show", description="Post a past clip again, with its buttons")
    @app_commands.describe(job_id="The job number (see /history)")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def show(self, interaction: Interaction, job_id: int) -> None:
        await interaction.response.defer(ephemeral=True)
        job = await self.bot.pipeline.store.get(job_id)
        if job is None or job.guild_id != interaction.guild_id:
            raise JobNotFound(f"There is no job {job_id} in this server.")
        if job.target.get("private") and job.user_id != interaction.user.id:
            raise JobNotFound(f"There is no job {job_id} in this server.")
        if job.state is not JobState.DELIVERED or not job.output_path or not Path(job.output_path).exists():
            raise UserFacingError(f"Job {job_id} has no clip to show ({job.state.value}).")
        target = {**job.target, "channel_id": interaction.channel_id, "private": False}
        target["filesize_limit"] = interaction.filesize_limit
        target["token_expires_at"] = time.time()
        target["repost"] = (
            f"-{int(time.time()) % 10**8}"  # a new nonce, or Discord hands back the old message
        )
        again = await self.bot.deliverer.repost(job, target, Path(job.output_path))
        await reply(interaction, f"Posted job {job_id} again." if again else "Could not post it.")


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(Jobs(bot))
