"""/queue, /usage, /history and /show: what a member can see of their jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.models import JobState
from bot.i18n.messages import _, label_, n_, number, when
from bot.services.clips import Clips
from bot.services.guard import Guard
from bot.store.jobs import JobStore
from bot.tree import reply
from bot.ui.buttons import ClipButton
from bot.ui.embeds import escape, settings_line, state_name
from bot.ui.pages import ROW_WIDTH, ROWS, Page, PagedReply, send_pages

if TYPE_CHECKING:
    from bot.client import SoraBot
    from bot.domain.models import Job

Interaction = discord.Interaction["SoraBot"]
HISTORY_SIZE = 50  # the latest jobs /history pages through
# A member may have up to 100 jobs queued or running (the highest concurrent limit an admin can set).
QUEUE_SHOWN = 100
# Each job on a page has its Cancel button: four rows of five, the fifth row turns the pages.
JOBS_PER_PAGE = (ROWS - 1) * ROW_WIDTH


def _short(prompt: str, limit: int = 60) -> str:
    text = " ".join(prompt.split())
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _cancel_button(job: Job) -> ClipButton:
    button = ClipButton("cancel", job.id)
    button.item.label = label_("Cancel job {job}", job=job.id)  # a page holds up to 20: say which
    return button


def _link(job: Job) -> str | None:
    # A delivered job with a user_error went elsewhere (by DM, the channel refused it): no channel link.
    if job.user_error or job.target.get("private"):
        return None
    if job.result_message_id and job.guild_id and job.channel_id:
        return f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.result_message_id}"
    return None


def _history_line(job: Job) -> str:
    values = {
        "job": job.id,
        "time": when(job.created_at),
        "state": state_name(job.state),
        "prompt": _short(job.request.prompt),
    }
    link = _link(job)
    if link is None:
        return _("**Job {job}** {time}: {state}, {prompt}", **values)
    return _("**Job {job}** {time}: {state} [clip]({link}), {prompt}", link=link, **values)


class Jobs(commands.Cog):
    """Looking at jobs."""

    def __init__(self, store: JobStore, guard: Guard, clips: Clips) -> None:
        self.store = store
        self.guard = guard
        self.clips = clips

    @app_commands.command(
        name="queue", description="Your queued and running clips, and how long the queue is"
    )
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def queue(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        assert interaction.guild_id is not None
        store = self.store
        mine = await store.waiting_jobs(interaction.guild_id, interaction.user.id, limit=QUEUE_SHOWN + 1)
        lines = []
        for job in mine[:QUEUE_SHOWN]:
            where = (
                _("position {position}", position=number(await store.queue_position(job)))
                if job.state is JobState.QUEUED
                else state_name(job.state)
            )
            lines.append(
                _(
                    "**Job {job}**: {where}, {settings}: {prompt}",
                    job=job.id,
                    where=where,
                    settings=settings_line(job),
                    prompt=_short(job.request.prompt),
                )
            )
        waiting = await store.count_queued(interaction.guild_id)
        footer = n_(
            "{count} job waiting in this server's queue.",
            "{count} jobs waiting in this server's queue.",
            waiting,
        )
        if len(mine) > QUEUE_SHOWN:
            footer = "\n".join(
                [
                    n_("Your first {count} job is shown.", "Your first {count} jobs are shown.", QUEUE_SHOWN),
                    footer,
                ]
            )
        pages = PagedReply(
            "", lines, per_page=JOBS_PER_PAGE, empty=_("You have no jobs queued or running."), footer=footer
        )

        def cancel_buttons(page: Page) -> list[discord.ui.Item[Any]]:
            return [_cancel_button(job) for job in mine[page.start : page.stop]]

        await send_pages(interaction, pages, items_for=cancel_buttons)

    @app_commands.command(name="usage", description="How much of your quota is left, and when it resets")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def usage(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        assert interaction.guild_id is not None
        limits = (await self.guard.policy(interaction.guild_id, interaction.user)).limits
        used = await self.store.usage(interaction.guild_id, interaction.user.id)
        hour = {"used": number(used.jobs_last_hour), "limit": number(limits.jobs_per_hour)}
        day = {"used": number(used.video_seconds_last_day), "limit": number(limits.video_seconds_per_day)}
        lines = [
            _(
                "Jobs this hour: {used} of {limit} (room again {time})",
                time=when(used.hour_times[0] + 3600),
                **hour,
            )
            if used.hour_times
            else _("Jobs this hour: {used} of {limit}", **hour),
            _(
                "Video today: {used} s of {limit} s (oldest use leaves {time})",
                time=when(used.day_uses[0][0] + 86400),
                **day,
            )
            if used.day_uses
            else _("Video today: {used} s of {limit} s", **day),
            _(
                "Jobs queued or running: {used} of {limit}",
                used=number(used.active_jobs),
                limit=number(limits.concurrent),
            ),
        ]
        await reply(interaction, "\n".join(lines))

    @app_commands.command(name="history", description="Recent clips, yours or another member's")
    @app_commands.describe(user="Whose clips to list (default: yours)")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def history(self, interaction: Interaction, user: discord.User | None = None) -> None:
        await interaction.response.defer(ephemeral=True)
        assert interaction.guild_id is not None
        who = user or interaction.user
        jobs = await self.store.recent_jobs(
            interaction.guild_id,
            who.id,
            limit=HISTORY_SIZE,
            include_private=who.id == interaction.user.id,
        )
        if not jobs:
            await reply(interaction, _("No clips by {member} here yet.", member=who.mention))
            return
        lines = [_history_line(job) for job in jobs]
        pages = PagedReply(_("Recent clips by {member}:", member=who.mention), lines)
        await send_pages(interaction, pages)

    @app_commands.command(name="show", description="Post a past clip again, with its buttons")
    @app_commands.describe(job_id="The job number (see /history)")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def show(self, interaction: Interaction, job_id: int) -> None:
        await interaction.response.defer(ephemeral=True)
        await self.clips.show(interaction, job_id)
        await reply(interaction, _("Posted job {job} again.", job=job_id))


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(Jobs(bot.pipeline.store, bot.guard, bot.clips))
