"""Retention covers every file the bot writes: clips and what derives from them, input images once no job
uses them, and files no job owns after a grace period. Real files and a real store, on both engines."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bot import files
from bot.domain.models import TERMINAL, JobRequest, JobState
from bot.storage.local import FileStorage
from bot.store.governance import Governance
from bot.store.jobs import JobStore, NewJob
from bot.worker.scheduler import Scheduler, SchedulerConfig
from tests.unit.worker.test_scheduler import RecordingDeliverer, ScriptedBackend

RETENTION = 1000.0
DERIVED = ("{id}.fit-9437184.mp4", "{id}.poster-320.jpg", "{id}.preview-9437184.mp4", "{id}.last.png")


def _image(clips: Path, number: int, *, age: float = 0.0) -> Path:
    path = clips / "inputs" / f"{number:032x}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"an input image")
    os.utime(path, (time.time() - age, time.time() - age))
    return path


async def _job(store: JobStore, clips: Path, image: Path | None, state: JobState, finished_ago: float) -> int:
    """A job in `state`, finished `finished_ago` seconds ago (when it ended), its clip and derived files on
    disk when it was delivered."""
    job = await store.create(
        NewJob(
            request=JobRequest.parse(prompt="a lighthouse", image_path=str(image) if image else None),
            user_id=1,
            estimated_cost=0.4,
            target_kind="test",
            target={"kind": "test"},
        )
    )
    output = None
    if state is JobState.DELIVERED:
        output = str(clips / f"{job.id}.mp4")
        for name in ("{id}.mp4", *DERIVED):
            (clips / name.format(id=job.id)).write_bytes(b"clip")
    finished_at = time.time() - finished_ago if state in TERMINAL else None
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE jobs SET state = ?, finished_at = ?, output_path = ? WHERE id = ?",
            (state.value, finished_at, output, job.id),
        )
    return job.id


def _listing(clips: Path) -> set[str]:
    return {str(p.relative_to(clips)) for p in clips.rglob("*") if p.is_file()}


def _scheduler(store: JobStore, clips: Path) -> Scheduler:
    config = SchedulerConfig(retention_seconds=RETENTION)
    return Scheduler(store, ScriptedBackend(), {"test": RecordingDeliverer()}, config, FileStorage(clips))


async def test_retention_deletes_inputs_no_job_uses_and_orphans_after_the_grace_period(
    store: JobStore, tmp_path: Path
) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    grace = files.ORPHAN_GRACE_SECONDS
    expired_only = _image(clips, 1)  # its only job is past retention
    shared = _image(clips, 2)  # a job past retention, and its Re-roll within it
    waiting = _image(clips, 3)  # a queued job
    failed, cancelled, rejected = _image(clips, 4), _image(clips, 5), _image(clips, 6)
    failed_but_shared = _image(clips, 7)  # a failed Re-roll of a delivered job within retention
    old_orphan = _image(clips, 8, age=grace + 60)  # stored for a request that was refused
    young_orphan = _image(clips, 9, age=60)  # stored a minute ago: its job may be on the way
    old_job = await _job(store, clips, expired_only, JobState.DELIVERED, RETENTION + 60)  # job 1
    expired_shared = await _job(store, clips, shared, JobState.DELIVERED, RETENTION + 60)  # job 2
    for _ in range(7):  # jobs 3 to 9, text only, within retention
        await _job(store, clips, None, JobState.DELIVERED, 10)
    reroll = await _job(store, clips, shared, JobState.DELIVERED, 10)  # job 10
    await _job(store, clips, waiting, JobState.QUEUED, 0)  # 11
    await _job(store, clips, failed, JobState.FAILED, 1)  # 12
    await _job(store, clips, cancelled, JobState.CANCELLED, 1)  # 13
    await _job(store, clips, rejected, JobState.REJECTED, 1)  # 14
    await _job(store, clips, failed_but_shared, JobState.DELIVERED, 10)  # 15
    await _job(store, clips, failed_but_shared, JobState.FAILED, 1)  # 16
    assert (old_job, expired_shared, reroll) == (1, 2, 10)
    # Files no job owns: a clip of a job the database doesn't know, old and new, and the operator's own file.
    for name, age in (("999.mp4", grace + 60), ("998.mp4", 60), ("notes.txt", grace + 60)):
        (clips / name).write_bytes(b"?")
        os.utime(clips / name, (time.time() - age, time.time() - age))
    (clips / ".1.fit-77.mp4.a1b2c3d4.part.mp4").write_bytes(b"left by a crash")
    before = _listing(clips)

    assert await _scheduler(store, clips).clean_old_clips() == 2

    gone = {name.format(id=job_id) for name in ("{id}.mp4", *DERIVED) for job_id in (1, 2)}
    gone |= {".1.fit-77.mp4.a1b2c3d4.part.mp4", "999.mp4"}
    gone |= {str(p.relative_to(clips)) for p in (expired_only, failed, cancelled, rejected, old_orphan)}
    assert before - _listing(clips) == gone
    assert _listing(clips) == before - gone  # job 10's files, shared, waiting, young orphan... all kept
    for path in (shared, waiting, failed_but_shared, young_orphan):
        assert path.exists(), path
    assert (await store.get(1)).output_path is None  # type: ignore[union-attr]
    assert (await store.get(10)).output_path is not None  # type: ignore[union-attr]
    assert await _scheduler(store, clips).clean_old_clips() == 0  # nothing left to clean


async def test_a_shared_image_goes_once_the_last_job_using_it_is_past_retention(
    store: JobStore, tmp_path: Path
) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    shared = _image(clips, 1)
    first = await _job(store, clips, shared, JobState.DELIVERED, RETENTION + 60)
    second = await _job(store, clips, shared, JobState.DELIVERED, 10)
    await _scheduler(store, clips).clean_old_clips()
    assert shared.exists() and not (clips / f"{first}.mp4").exists() and (clips / f"{second}.mp4").exists()
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE jobs SET finished_at = ? WHERE id = ?", (time.time() - RETENTION - 1, second)
        )
    await _scheduler(store, clips).clean_old_clips()
    assert _listing(clips) == set()


async def test_a_forgotten_job_no_longer_holds_the_image_it_shared(store: JobStore, tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    shared = _image(clips, 1)
    expired = await _job(store, clips, shared, JobState.DELIVERED, RETENTION + 60)
    reroll = await _job(store, clips, shared, JobState.DELIVERED, 10)
    async with store.db.transaction() as conn:  # the Re-roll was another member's, in a server
        await conn.execute("UPDATE jobs SET user_id = 2, guild_id = 5 WHERE id = ?", (reroll,))
    forgotten = await Governance(store.db).forget_member(5, 2)
    assert forgotten.job_ids == [reroll] and forgotten.inputs == []  # job 1 still used it then
    await _scheduler(store, clips).clean_old_clips()
    assert not shared.exists() and not (clips / f"{expired}.mp4").exists()
