"""Forgetting a member in one server: their unfinished jobs stop, their prompts go, and so do the files
that only their jobs held."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.domain.models import TERMINAL
from bot.files import delete_inputs, delete_job_files
from bot.pipeline import Pipeline
from bot.store.forget import Forgotten
from bot.store.governance import Governance


async def forget_member(pipeline: Pipeline, governance: Governance, guild_id: int, user_id: int) -> int:
    """Cancel the member's unfinished jobs here, remove their prompts, delete the files no other job
    uses; returns how many files were deleted."""
    for job in await pipeline.store.list_jobs(user_id=user_id, guild_id=guild_id, limit=100_000):
        if job.state not in TERMINAL:
            await pipeline.scheduler.cancel(job.id)
    forgotten = await governance.forget_member(guild_id, user_id)
    return await asyncio.to_thread(_delete_files, pipeline.settings.output_dir, forgotten)


def _delete_files(output_dir: Path, forgotten: Forgotten) -> int:
    """The forgotten jobs' own files, and the input images no other job uses; returns how many went."""
    return delete_job_files(output_dir, forgotten.job_ids) + delete_inputs(output_dir, forgotten.inputs)
