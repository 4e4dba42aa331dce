"""What a worker does with a job it stops working on: the files it made for a job cancelled meanwhile are
deleted (it is their only owner), and a step that must land whole (an upload) is not cut off by the lease
check's repeated cancels."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot import files
from bot.domain.models import JobState
from bot.storage import Storage
from bot.store.jobs import JobStore

log = logging.getLogger(__name__)


async def let_go(store: JobStore, storage: Storage, job_id: int) -> None:
    """Remove what this worker made for a job it stopped working on, if the job was cancelled meanwhile (by a
    member's Cancel, or their being forgotten, in this process or another): the clip downloaded or being
    downloaded, here and in the store. Whoever cancelled it deleted the files it saw then; this process wrote
    on after, and nobody else will delete what it wrote. A job taken over by another worker (or still held,
    as this process stops) keeps its files: they are its holder's."""
    try:
        current = await store.get(job_id)
        if current is not None and current.state is not JobState.CANCELLED:
            return
        clip = files.clip_path(storage.work_dir, job_id)
        made = clip.is_file()
        await storage.discard(clip)
        clip.unlink(missing_ok=True)  # a download cut short (with the output folder, the stored file)
        if await storage.delete([files.clip_name(job_id)]) or made:
            log.info("job %d: cancelled while its clip was being made; the clip is deleted", job_id)
    except Exception:
        log.exception("job %d: stopped here; checking for a cancel or deleting its clip failed", job_id)


async def through_cancels(step: Awaitable[None], *, stopping: Callable[[], bool] | None = None) -> None:
    """Run `step` to its end, however often this task is cancelled meanwhile (the lease check cancels a lost
    job's task at each round), then go on with the cancel. When `stopping()` says the process is stopping, the
    step is cut off (an upload: the job stays this process's, for the next start)."""
    future = asyncio.ensure_future(step)
    cancelled = False
    while not future.done():
        if stopping is not None and stopping():
            future.cancel()
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not future.cancelled():
            future.exception()  # retrieved: what the step met no longer matters, the job is stopping
        raise asyncio.CancelledError
    future.result()
