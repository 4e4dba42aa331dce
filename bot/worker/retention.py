"""Retention: the sweep that removes the files of jobs finished long ago, and files no job owns."""

from __future__ import annotations

import logging
import time

from bot import files
from bot.storage import Storage
from bot.store.jobs import JobStore
from bot.tasks import Loop

log = logging.getLogger(__name__)


class Retention:
    """One loop: a sweep at start, then every `check_seconds`."""

    def __init__(
        self, store: JobStore, storage: Storage, *, retention_seconds: float, check_seconds: float
    ) -> None:
        self.store = store
        self.storage = storage
        self.retention_seconds = retention_seconds
        self.check_seconds = check_seconds
        self.loop = Loop("scheduler retention", self.clean_old_clips, check_seconds)

    async def clean_old_clips(self) -> int:
        """Retention, over every file the bot writes: the files of jobs finished longer ago than the
        retention (clip, re-encodes, posters, preview, last frame); input images once no job uses them (a
        delivered job uses its image until its retention ends, one that failed or was cancelled or rejected
        no longer); and, after a grace period, files no job owns (an image stored for a refused request).
        Returns how many jobs' clips were cleaned."""
        now = time.time()
        finished_before = now - self.retention_seconds
        grace_ends = now - files.ORPHAN_GRACE_SECONDS
        # The store is read before the database: a file seen here was written for a job (or a request) the
        # queries below already see, so nothing written meanwhile is mistaken for an orphan.
        listing = await self.storage.listing()
        on_disk = files.files_by_job(listing)
        inputs = files.input_files(listing)
        unkept = set(on_disk) - await self.store.jobs_keeping_files(finished_before)
        expired = await self.store.existing_jobs(unkept)
        doomed = files.names_of_jobs(listing, expired)
        # Files of no job (its request refused, or the job deleted) go after the grace period.
        doomed += [
            name for job_id in unkept - expired for name in on_disk[job_id] if listing[name] < grace_ends
        ]
        if inputs:
            # An image is stored before any job that names it is created; the grace absorbs clock skew.
            since = min(inputs.values()) - files.ORPHAN_GRACE_SECONDS
            references = await self.store.image_references(since, finished_before)
            doomed += files.input_names(files.inputs_to_delete(inputs, references, grace_ends))
        # A story's joined clip is the story's: it goes with the story's retention (or, a story no longer
        # stored, after the grace period).
        stories = {name: story_id for name in listing if (story_id := files.story_of(name)) is not None}
        if stories:
            kept = await self.store.stories_keeping_files(finished_before)
            doomed += [n for n, i in stories.items() if i not in kept and listing[n] < grace_ends]
        removed = await self.storage.delete(doomed)
        removed += await self.storage.sweep(grace_ends)
        await self.store.clear_story_outputs(finished_before)
        cleaned = set(expired)
        for job_id, _ in await self.store.old_outputs(finished_before):
            await self.store.clear_output(job_id)
            cleaned.add(job_id)
        if removed:
            log.info("retention removed %d file(s), the clips of %d job(s)", removed, len(cleaned))
        return len(cleaned)
