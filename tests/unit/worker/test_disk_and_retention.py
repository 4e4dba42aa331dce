"""A full disk fails the job cleanly; finished clips are removed after the retention."""

from __future__ import annotations

import asyncio
import errno
import time
from pathlib import Path

from bot.domain.models import JobState
from bot.prodia.backend import AcceptedHook, Endpoint, Generation
from bot.storage.local import FileStorage
from bot.store.jobs import JobStore
from bot.worker.scheduler import Scheduler, SchedulerConfig
from tests.unit.worker.test_scheduler import RecordingDeliverer, ScriptedBackend, add, wait_for_state


class DiskFullBackend(ScriptedBackend):
    """Writes part of the clip, then the disk is full."""

    async def generate(
        self, request: object, out: Path, on_accepted: AcceptedHook, on_sent: object = None
    ) -> Generation:
        await on_accepted("p-full", "async")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"half a clip")
        raise OSError(errno.ENOSPC, "No space left on device")

    async def resume(self, request: object, prodia_job_id: str, endpoint: Endpoint, out: Path) -> Generation:
        raise AssertionError("not resumed")


async def test_a_full_disk_fails_the_job_with_a_clear_message_and_leaves_no_file(
    store: JobStore, tmp_path: Path
) -> None:
    config = SchedulerConfig(idle_poll_seconds=0.05)
    storage = FileStorage(tmp_path / "clips")
    scheduler = Scheduler(store, DiskFullBackend(), {"test": RecordingDeliverer()}, config, storage)
    job = await add(store)
    await scheduler.start()
    failed = await wait_for_state(store, job.id, JobState.FAILED)
    await scheduler.stop()
    assert failed.user_error is not None and "ran out of disk space" in failed.user_error
    # Prodia had accepted it: its estimate stays charged (the member's quota comes back).
    assert await store.ledger(job.id) == [("reserve", 0.4), ("commit", 0.4)]
    assert not (tmp_path / "clips" / f"{job.id}.mp4").exists()


async def test_clips_past_retention_are_deleted_with_their_derivatives(
    store: JobStore, tmp_path: Path
) -> None:
    config = SchedulerConfig(idle_poll_seconds=0.05, retention_seconds=0.2)
    storage = FileStorage(tmp_path / "clips")
    scheduler = Scheduler(store, ScriptedBackend(), {"test": RecordingDeliverer()}, config, storage)
    old, new = await add(store, "old clip"), await add(store, "new clip")
    await scheduler.start()
    await wait_for_state(store, old.id, JobState.DELIVERED)
    await wait_for_state(store, new.id, JobState.DELIVERED)
    await scheduler.stop()
    clips = tmp_path / "clips"
    (clips / f"{old.id}.poster-1280.jpg").write_bytes(b"poster")
    (clips / f"{old.id}.last.png").write_bytes(b"frame")
    (clips / f"{old.id}0.mp4").write_bytes(b"another job's clip, job 10")
    await asyncio.sleep(0.3)
    async with store.db.transaction() as conn:  # the newer job finished just now
        await conn.execute("UPDATE jobs SET finished_at = ? WHERE id = ?", (time.time(), new.id))
    assert await scheduler.clean_old_clips() == 1
    assert sorted(p.name for p in clips.iterdir()) == sorted([f"{new.id}.mp4", f"{old.id}0.mp4"])
    cleaned = await store.get(old.id)
    assert cleaned is not None and cleaned.output_path is None
    assert await scheduler.clean_old_clips() == 0
