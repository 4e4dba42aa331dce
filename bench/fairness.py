"""Fairness: one user has 50 jobs queued, another submits 1 right after; how many slots does the second wait?
Measured on the store's claim order (JobStore.claim_next) and on the real Scheduler with a scripted backend,
plus what one claim costs with 1,000 jobs queued."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from bench.common import Row, main_for, median, ms, percentile, production_logging, temp_dir, until
from bot.domain.models import Job, JobRequest
from bot.prodia.backend import AcceptedHook, Endpoint, Generation, SentHook
from bot.storage.local import FileStorage
from bot.store.db import Database
from bot.store.jobs import JobStore, NewJob
from bot.worker.scheduler import Scheduler, SchedulerConfig

NAME = "fairness"
GUILD = 77
HEAVY, LIGHT = 1, 2
QUEUED = 50
KINDS = ["bench"]
REQUEST = JobRequest.parse(prompt="a fair share of the queue", duration=4)
SLOT_SECONDS = 0.02  # how long the scripted backend takes per job


def _job(user_id: int) -> NewJob:
    return NewJob(
        request=REQUEST,
        user_id=user_id,
        estimated_cost=0.4,
        target_kind="bench",
        target={"kind": "bench"},
        guild_id=GUILD,
        channel_id=1,
    )


async def _store_order(path: Path, *, heavy_served_first: bool) -> int:
    """Slots the light user's job waits in claim order: heavy jobs claimed after it was queued, before it."""
    db = await Database.open(path)
    try:
        store = JobStore(db)
        for _ in range(QUEUED):
            await store.create(_job(HEAVY))
        if heavy_served_first:  # the scheduler already took the heavy user's first job
            await store.claim_next(owner="bench", lease_seconds=60, max_in_flight=10**6, target_kinds=KINDS)
        light = await store.create(_job(LIGHT))
        waited = 0
        for _ in range(QUEUED + 1):
            job = await store.claim_next(
                owner="bench", lease_seconds=60, max_in_flight=10**6, target_kinds=KINDS
            )
            if job is None or job.id == light.id:
                break
            waited += 1
        return waited
    finally:
        await db.close()


class ScriptedBackend:
    """Takes SLOT_SECONDS per job and records the order jobs started in (by job id)."""

    def __init__(self) -> None:
        self.started: list[str] = []

    async def generate(
        self, request: JobRequest, out: Path, on_accepted: AcceptedHook, on_sent: SentHook | None = None
    ) -> Generation:
        self.started.append(out.stem)  # the scheduler names the output after the job id
        await on_accepted(uuid.uuid4().hex, "async")
        await asyncio.sleep(SLOT_SECONDS)
        return Generation(uuid.uuid4().hex, "async", out, 0.4, SLOT_SECONDS)

    async def resume(
        self, request: JobRequest, prodia_job_id: str, endpoint: Endpoint, out: Path
    ) -> Generation:
        return Generation(prodia_job_id, "async", out, 0.4, 0.0)

    async def aclose(self) -> None:
        return None


class NullDeliverer:
    async def deliver(self, job: Job, clip: Path) -> int | None:
        return None


async def _scheduler_order(folder: Path, cap: int) -> int:
    """Real Scheduler at `cap` slots: heavy jobs started after the light one was queued, before it."""
    db = await Database.open(folder / f"sched-{cap}.db")
    store = JobStore(db)
    backend = ScriptedBackend()
    config = SchedulerConfig(max_concurrent_jobs=cap, idle_poll_seconds=0.05)
    storage = FileStorage(folder / "out")
    scheduler = Scheduler(store, backend, {"bench": NullDeliverer()}, config, storage, owner="bench:1:fair")
    try:
        for _ in range(QUEUED):
            await store.create(_job(HEAVY))
        await scheduler.start()
        await until(lambda: len(backend.started) >= cap, timeout=30, what="the heavy user's first jobs")
        light = await store.create(_job(LIGHT))
        scheduler.wake()
        before = len(backend.started)
        await until(lambda: str(light.id) in backend.started, timeout=30, what="the light user's job")
        return backend.started.index(str(light.id)) - before
    finally:
        await scheduler.stop()
        await db.close()


async def _claim_cost(path: Path, queued: int, claims: int) -> list[float]:
    db = await Database.open(path)
    try:
        store = JobStore(db)
        for i in range(queued):
            await store.create(_job(100 + i % 50))
        times = []
        for _ in range(claims):
            started = time.perf_counter()
            await store.claim_next(owner="bench", lease_seconds=60, max_in_flight=10**6, target_kinds=KINDS)
            times.append(time.perf_counter() - started)
        return times
    finally:
        await db.close()


async def run(quick: bool) -> list[Row]:
    queued = 300 if quick else 1000
    with temp_dir(NAME) as tmp, production_logging(tmp / "bot.log") as watch:
        fresh = await _store_order(tmp / "fresh.db", heavy_served_first=False)
        served = await _store_order(tmp / "served.db", heavy_served_first=True)
        one_slot = await _scheduler_order(tmp, 1)
        four_slots = await _scheduler_order(tmp, 4)
        claims = await _claim_cost(tmp / "claims.db", queued, 100)
    return [
        Row(
            NAME,
            "slots the 2nd user waits (claim order)",
            f"{max(fresh, served)}",
            "",
            "goal <= 1",
            f"JobStore.claim_next: {fresh} when nobody was served yet, {served} when the heavy user's first"
            f" job had started; heavy user has {QUEUED} queued",
        ),
        Row(
            NAME,
            "slots the 2nd user waits (Scheduler)",
            f"{max(one_slot, four_slots)}",
            "",
            "goal <= 1",
            f"real Scheduler, scripted backend ({SLOT_SECONDS * 1000:.0f} ms a job): {one_slot} with 1 slot,"
            f" {four_slots} with 4 slots",
        ),
        Row(
            NAME,
            f"claim_next with {queued} queued, median / p99",
            f"{ms(median(claims))} / {ms(percentile(claims, 99))}",
            "",
            "",
            f"50 users, 100 consecutive claims; {watch.note()}",
        ),
    ]


def main() -> None:
    main_for(run, __doc__)


if __name__ == "__main__":
    main()
