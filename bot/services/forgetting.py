"""Forgetting a member in one server: their unfinished jobs stop, their prompts go, and so do the files
that only their jobs held. The bot forgets through its pipeline (its scheduler stops a job it runs itself);
the dashboard, which runs no jobs, through the store alone, as any process cancels a job another one holds."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import files
from bot.domain.models import IN_FLIGHT, TERMINAL, Job, JobState
from bot.storage.base import Storage
from bot.store.governance import Governance
from bot.store.job_queries import JobQueries
from bot.store.jobs import JobStore

if TYPE_CHECKING:
    from bot.pipeline import Pipeline  # the bot's; the dashboard forgets without one

Cancel = Callable[[int], Awaitable[object]]
EVERY_JOB = 100_000  # a member's jobs in one server, all of them in practice
# Where a job waits without a worker holding it: cancelled at once (as the scheduler does).
WAITING = frozenset({JobState.QUEUED, JobState.AWAITING_APPROVAL, JobState.WAITING})


@dataclass(frozen=True, slots=True)
class Forgettable:
    """What forgetting a member here would take: their jobs (and how many are unfinished), their stories,
    and the stored files of both (input images not counted: another job may still use one)."""

    jobs: int
    unfinished: int
    stories: int
    files: int


async def forget_member(pipeline: Pipeline, governance: Governance, guild_id: int, user_id: int) -> int:
    """Forget the member through the bot's pipeline; returns how many files were deleted."""
    cancel = pipeline.scheduler.cancel
    return await forget(governance, pipeline.store, pipeline.storage, cancel, guild_id, user_id)


async def forget(
    governance: Governance,
    jobs: JobQueries,
    storage: Storage,
    cancel: Cancel,
    guild_id: int,
    user_id: int,
) -> int:
    """Cancel the member's unfinished jobs here (with `cancel`), remove their prompts, delete the files no
    other job uses; returns how many files were deleted."""
    # Their stories end first, so cancelling a shot doesn't join and post the shots made (prompts and all).
    await governance.end_member_stories(guild_id, user_id, time.time())
    for job in await jobs.list_jobs(user_id=user_id, guild_id=guild_id, limit=EVERY_JOB):
        if job.state not in TERMINAL:
            await cancel(job.id)
    forgotten = await governance.forget_member(guild_id, user_id)
    # The forgotten jobs' own files, and the input images no other job uses.
    listing = await storage.listing() if forgotten.job_ids or forgotten.story_ids else {}
    doomed = files.names_of_jobs(listing, forgotten.job_ids) + files.input_names(forgotten.inputs)
    doomed += files.names_of_stories(listing, forgotten.story_ids)
    return await storage.delete(doomed)


async def forgettable(jobs: JobQueries, storage: Storage, guild_id: int, user_id: int) -> Forgettable:
    """What `forget` would take now, changing nothing (for an admin to confirm first)."""
    held = await jobs.list_jobs(user_id=user_id, guild_id=guild_id, limit=EVERY_JOB)
    job_ids = [job.id for job in held]
    story_ids = {job.story_id for job in held if job.story_id is not None}  # a story's shots are its member's
    listing = await storage.listing() if held else {}
    stored = files.names_of_jobs(listing, job_ids) + files.names_of_stories(listing, story_ids)
    unfinished = sum(job.state not in TERMINAL for job in held)
    return Forgettable(len(held), unfinished, len(story_ids), len(stored))


async def cancel_through_store(store: JobStore, job_id: int) -> Job | None:
    """Cancel a job from a process that runs none, as the scheduler cancels one another process holds: a
    waiting job at once, one in flight taken from its worker (which stops it when it sees it no longer
    holds it). Returns the cancelled job, or None when it had already moved on."""
    job = await store.transition(job_id, JobState.CANCELLED, expect=WAITING)
    if job is not None:
        return job
    return await store.transition(job_id, JobState.CANCELLED, expect=IN_FLIGHT)
