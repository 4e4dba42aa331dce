"""Forgetting a member in one server: their unfinished jobs stop, their prompts go, and so do the files
that only their jobs held."""

from __future__ import annotations

import time

from bot import files
from bot.domain.models import TERMINAL
from bot.pipeline import Pipeline
from bot.store.governance import Governance


async def forget_member(pipeline: Pipeline, governance: Governance, guild_id: int, user_id: int) -> int:
    """Cancel the member's unfinished jobs here, remove their prompts, delete the files no other job
    uses; returns how many files were deleted."""
    # Their stories end first, so cancelling a shot doesn't join and post the shots made (prompts and all).
    await governance.end_member_stories(guild_id, user_id, time.time())
    for job in await pipeline.store.list_jobs(user_id=user_id, guild_id=guild_id, limit=100_000):
        if job.state not in TERMINAL:
            await pipeline.scheduler.cancel(job.id)
    forgotten = await governance.forget_member(guild_id, user_id)
    # The forgotten jobs' own files, and the input images no other job uses.
    listing = await pipeline.storage.listing() if forgotten.job_ids or forgotten.story_ids else {}
    doomed = files.names_of_jobs(listing, forgotten.job_ids) + files.input_names(forgotten.inputs)
    doomed += files.names_of_stories(listing, forgotten.story_ids)
    return await pipeline.storage.delete(doomed)
