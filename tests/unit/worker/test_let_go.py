"""What a worker leaves of a job it stops working on: nothing when the job was cancelled meanwhile (through
the store, by another process), everything when another worker took the job over (its files are now that
worker's). Real SQLite store, the output folder as the store, a scripted backend."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot import files
from bot.domain.models import JobState
from bot.services.forgetting import cancel_through_store
from bot.storage.local import FileStorage
from bot.store.jobs import JobStore
from bot.worker.scheduler import Scheduler, SchedulerConfig
from tests.harness import until
from tests.unit.worker.test_scheduler import (
    RecordingDeliverer,
    ScriptedBackend,
    _ReadOnlyStore,
    add,
    wait_for_state,
)


async def test_a_paid_clip_waiting_for_the_store_goes_when_its_job_is_cancelled_elsewhere(
    store: JobStore, tmp_path: Path
) -> None:
    """The store refuses the clip: the worker keeps it, waiting, its task ended. Cancelled through the store
    (a member forgotten on the dashboard), the lease check finds the job gone and removes the clip."""
    backend, deliverer = ScriptedBackend(), RecordingDeliverer()
    job = await add(store)
    storage = _ReadOnlyStore(tmp_path / "clips")
    config = SchedulerConfig(idle_poll_seconds=0.05, lease_seconds=0.6)
    sched = Scheduler(store, backend, {"test": deliverer}, config, storage)
    clip = files.clip_path(storage.work_dir, job.id)
    await sched.start()
    try:
        await until(lambda: clip.is_file() and job.id not in sched.running_jobs, what="the clip to wait")
        assert await cancel_through_store(store, job.id) is not None
        await until(lambda: not clip.exists(), what="the worker to remove the clip")
    finally:
        await sched.stop()
    assert deliverer.delivered == []
    assert await wait_for_state(store, job.id, JobState.CANCELLED) is not None


async def test_a_job_taken_over_keeps_its_clip_for_its_new_holder(store: JobStore, tmp_path: Path) -> None:
    """This worker stalls at Prodia; another takes the job over (and writes its clip, in the same output
    folder). This worker stops the job at its lease check and leaves the clip alone."""
    backend, deliverer = ScriptedBackend(), RecordingDeliverer()
    backend.gate = asyncio.Event()
    job = await add(store)
    config = SchedulerConfig(idle_poll_seconds=0.05, lease_seconds=0.6)
    storage = FileStorage(tmp_path / "clips")
    sched = Scheduler(store, backend, {"test": deliverer}, config, storage)
    clip = files.clip_path(storage.work_dir, job.id)
    await sched.start()
    try:

        async def take_over() -> bool:
            """As a worker that found the lease dead (retried: this one renews it meanwhile)."""
            running = await store.get(job.id)
            assert running is not None
            return running.state is JobState.RUNNING and bool(
                await store.take_over(running, owner="elsewhere:1:abc", lease_seconds=60)
            )

        await until(take_over, what="the take-over")
        clip.parent.mkdir(parents=True, exist_ok=True)
        clip.write_bytes(b"the new holder's clip")
        await until(lambda: job.id not in sched.running_jobs, what="the lease check to stop the job")
    finally:
        backend.gate.set()
        await sched.stop()
    assert clip.read_bytes() == b"the new holder's clip"
    assert deliverer.delivered == []


class SlowBucket(FileStorage):
    """A store apart from the working folder whose upload, once started, ends whatever its caller does (a
    thread already copying, a bucket's request already sent)."""

    def __init__(self, work_dir: Path, bucket: Path) -> None:
        super().__init__(work_dir)
        self.bucket = bucket
        self.uploading = asyncio.Event()

    async def save(self, path: Path) -> None:
        self.uploading.set()
        await asyncio.to_thread(self._upload, path)

    def _upload(self, path: Path) -> None:
        data = path.read_bytes()  # sent; the store takes a second to answer
        time.sleep(1.0)
        self.bucket.mkdir(parents=True, exist_ok=True)
        (self.bucket / path.name).write_bytes(data)

    async def _delete(self, names: list[str]) -> int:
        gone = [self.bucket / name for name in names if (self.bucket / name).exists()]
        for path in gone:
            path.unlink()
        return len(gone)


async def test_a_job_cancelled_while_its_clip_is_uploaded_leaves_nothing_once_the_upload_lands(
    store: JobStore, tmp_path: Path
) -> None:
    """Cancelled through the store during the upload, the job is stopped at the lease check; the worker
    waits for the upload to land before deleting, so the clip does not appear in the store after."""
    backend, deliverer = ScriptedBackend(), RecordingDeliverer()
    job = await add(store)
    storage = SlowBucket(tmp_path / "work", tmp_path / "bucket")
    config = SchedulerConfig(idle_poll_seconds=0.05, lease_seconds=0.3)
    sched = Scheduler(store, backend, {"test": deliverer}, config, storage)
    await sched.start()
    try:
        await until(storage.uploading.wait, what="the upload")
        assert await cancel_through_store(store, job.id) is not None
        await until(lambda: job.id not in sched.running_jobs, what="the worker to let the job go")
        await asyncio.sleep(1.2)  # any upload still going has landed by now
    finally:
        await sched.stop()
    assert not (storage.bucket / files.clip_name(job.id)).exists()
    assert not files.clip_path(storage.work_dir, job.id).exists()
    assert deliverer.delivered == []
