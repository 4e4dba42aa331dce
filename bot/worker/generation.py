"""Running a claimed job at the backend until its clip is here: sent (each step stored first, so a job is
never sent twice), or polled again by its Prodia id."""

from __future__ import annotations

import asyncio

from bot import files
from bot.domain.models import Job, JobState
from bot.prodia.backend import Backend, Endpoint, Generation
from bot.storage import Storage
from bot.store.jobs import JobStore
from bot.worker.inputs import with_local_image


async def generate(job: Job, store: JobStore, backend: Backend, storage: Storage, owner: str) -> Generation:
    """Run the job at Prodia (or poll it there by its id) until its clip is here, whole."""
    out = files.clip_path(storage.work_dir, job.id)
    generation: Generation
    if job.state is JobState.SUBMITTING:

        async def accepted(prodia_job_id: str, endpoint: Endpoint) -> None:
            moved = await store.transition(
                job.id,
                JobState.RUNNING,
                expect={JobState.SUBMITTING},
                owner=owner,
                prodia_job_id=prodia_job_id,
                endpoint=endpoint,
            )
            if moved is None:
                raise asyncio.CancelledError  # cancelled or taken over while submitting

        async def sent(endpoint: Endpoint) -> None:
            # Stored before the request goes: a job that ends, or a process that dies, from here on
            # counts as possibly paid (README "Refunds").
            if not await store.mark_sent(job.id, endpoint, owner=owner):
                raise asyncio.CancelledError  # cancelled or taken over before anything was sent

        async with with_local_image(storage, job) as request:
            generation = await backend.generate(request, out, accepted, sent)
    else:
        assert job.prodia_job_id is not None and job.endpoint is not None
        endpoint: Endpoint = job.endpoint  # type: ignore[assignment]
        generation = await backend.resume(job.request, job.prodia_job_id, endpoint, out)
    return generation
