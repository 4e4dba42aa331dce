"""Embeds for status messages and posted clips."""

from __future__ import annotations

import time

import discord

from bot.jobs.models import Job, JobState

COLOURS = {
    JobState.AWAITING_APPROVAL: discord.Colour.light_grey(),
    JobState.QUEUED: discord.Colour.blurple(),
    JobState.SUBMITTING: discord.Colour.blurple(),
    JobState.RUNNING: discord.Colour.gold(),
    JobState.DELIVERING: discord.Colour.gold(),
    JobState.DELIVERED: discord.Colour.green(),
    JobState.FAILED: discord.Colour.red(),
    JobState.CANCELLED: discord.Colour.dark_grey(),
    JobState.REJECTED: discord.Colour.red(),
}
PROMPT_SHOWN = 1000


def settings_line(job: Job) -> str:
    request = job.request
    parts = [request.model, f"{request.duration} s", request.aspect_ratio]
    if request.model == "sora-2-pro":
        parts.append(request.effective_resolution)
    if request.image_path:
        parts.append("from an image")
    return " · ".join(parts)


def quote(prompt: str, limit: int = PROMPT_SHOWN) -> str:
    """The prompt as a block quote, cut to `limit` characters; mentions are inert because no message pings."""
    text = prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"
    return "\n".join(f"> {line}" for line in text.splitlines() or [""])


def status_embed(job: Job, *, position: int | None = None, now: float | None = None) -> discord.Embed:
    """What the requester sees while the job moves."""
    now = now or time.time()
    state = job.state
    if state is JobState.QUEUED:
        headline = f"Queued{f', position {position}' if position else ''}"
    elif state in (JobState.SUBMITTING, JobState.RUNNING):
        headline = f"Generating… {now - (job.started_at or job.created_at):.0f} s"
    elif state is JobState.DELIVERING:
        headline = "Delivering…"
    elif state is JobState.DELIVERED:
        headline = "Done: the clip is posted"
    elif state is JobState.AWAITING_APPROVAL:
        headline = "Waiting for a moderator's approval"
    else:
        headline = state.value.capitalize()
    embed = discord.Embed(title=headline, description=quote(job.request.prompt, 300), colour=COLOURS[state])
    embed.add_field(name="Settings", value=settings_line(job), inline=False)
    cost = job.actual_cost if job.actual_cost is not None else job.estimated_cost
    label = "Cost" if job.actual_cost is not None else "Estimated cost"
    embed.add_field(name=label, value=f"${cost:.2f}")
    if job.user_error and state in (JobState.FAILED, JobState.REJECTED):
        embed.add_field(name="What happened", value=job.user_error[:1000], inline=False)
    embed.set_footer(text=f"Job {job.id}")
    return embed


def result_embed(job: Job, *, note: str | None = None) -> discord.Embed:
    """The embed posted with a finished clip."""
    request = job.request
    embed = discord.Embed(
        title="Sora 2 clip", description=quote(request.prompt), colour=COLOURS[JobState.DELIVERED]
    )
    embed.add_field(name="Settings", value=settings_line(job), inline=False)
    embed.add_field(name="Seed", value=str(request.seed) if request.seed is not None else "random")
    if job.started_at:
        embed.add_field(
            name="Generation time", value=f"{(job.updated_at or time.time()) - job.started_at:.0f} s"
        )
    cost = job.actual_cost if job.actual_cost is not None else job.estimated_cost
    embed.add_field(name="Cost", value=f"${cost:.2f}")
    if note:
        embed.add_field(name="Note", value=note, inline=False)
    embed.set_footer(text=f"Job {job.id} · requested by user {job.user_id}")
    return embed
