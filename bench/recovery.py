"""Recovery: start-up with 1,000 unfinished jobs in the database (queued; running at Prodia with a dead lease
holder; delivering). Time from Scheduler.start() until every job a dead worker held has been taken over and
has a task running (its backend resume / deliverer called); then, with the backend let go, until every queued
job was claimed and started, and until all are delivered."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from bench.common import Row, main_for, production_logging, temp_dir, until
from bot.domain.models import Job, JobRequest
from bot.prodia.backend import AcceptedHook, Endpoint, Generation, SentHook
from bot.storage.local import FileStorage
from bot.store.db import Database
from bot.store.jobs import JobStore, NewJob
from bot.worker.scheduler import Scheduler, SchedulerConfig

NAME = "recovery"
GUILD = 99
SLOTS = 16
REQUEST = JobRequest.parse(prompt="left behind by a crash", duration=4)


class Gate:
    """Notes when the scheduler first called the backend or deliverer for each job; holds them until open."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.started = time.perf_counter()
        self.first_call: dict[int, float] = {}
        self.calls: Counter[tuple[str, int]] = Counter()

    async def enter(self, kind: str, job_id: int) -> None:
        self.first_call.setdefault(job_id, time.perf_counter() - self.started)
        self.calls[(kind, job_id)] += 1
        await self.open.wait()


class GatedBackend:
    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    async def generate(
        self, request: JobRequest, out: Path, on_accepted: AcceptedHook, on_sent: SentHook | None = None
    ) -> Generation:
        await on_accepted(uuid.uuid4().hex, "async")
        await self.gate.enter("generate", int(out.stem))
        return Generation(uuid.uuid4().hex, "async", out, 0.4, 0.0)

    async def resume(
        self, request: JobRequest, prodia_job_id: str, endpoint: Endpoint, out: Path
    ) -> Generation:
        await self.gate.enter("resume", int(out.stem))
        return Generation(prodia_job_id, endpoint, out, 0.4, 0.0)

    async def aclose(self) -> None:
        return None


class GatedDeliverer:
    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    async def deliver(self, job: Job, clip: Path) -> int | None:
        await self.gate.enter("deliver", job.id)
        return None


def _dead_pid() -> int:
    """The pid of a process of ours that has just exited (so `os.kill(pid, 0)` says it is gone)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def _leave_unfinished(db: Database, total: int, out: Path) -> dict[str, list[int]]:
    """`total` jobs: 40% queued, 40% running at Prodia (half with expired leases from another host, half
    with unexpired leases of a dead process on this host), 20% delivering (expired leases)."""
    store = JobStore(db)
    ids = [
        (await store.create(NewJob(REQUEST, 1000 + i % 50, 0.4, "bench", {"kind": "bench"}, GUILD, 1))).id
        for i in range(total)
    ]
    running = ids[: total * 2 // 5]
    delivering = ids[total * 2 // 5 : total * 3 // 5]
    queued = ids[total * 3 // 5 :]
    now = time.time()
    dead_here = f"{socket.gethostname()}:{_dead_pid()}:deadbeef"
    async with db.transaction() as conn:
        for n, job_id in enumerate(running):
            owner, expires = ("elsewhere:4242:0ff1ce", now - 5) if n % 2 else (dead_here, now + 3600)
            await conn.execute(
                """UPDATE jobs SET state = 'running', prodia_job_id = ?, endpoint = 'async', attempts = 1,
                          started_at = ?, lease_owner = ?, lease_expires_at = ? WHERE id = ?""",
                (uuid.uuid4().hex, now - 60, owner, expires, job_id),
            )
        for job_id in delivering:
            await conn.execute(
                """UPDATE jobs SET state = 'delivering', prodia_job_id = ?, endpoint = 'async', attempts = 1,
                          started_at = ?, output_path = ?, lease_owner = 'elsewhere:4242:0ff1ce',
                          lease_expires_at = ? WHERE id = ?""",
                (uuid.uuid4().hex, now - 60, str(out / f"{job_id}.mp4"), now - 5, job_id),
            )
    return {"running": running, "delivering": delivering, "queued": queued}


async def _delivered(db: Database) -> int:
    row = await db.reader.fetch_one("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'")
    return int(row[0]) if row else 0


async def run(quick: bool) -> list[Row]:
    total = 200 if quick else 1000
    with temp_dir(NAME) as tmp, production_logging(tmp / "bot.log") as watch:
        db = await Database.open(tmp / "recovery.db")
        try:
            jobs = await _leave_unfinished(db, total, tmp / "out")
            leased = jobs["running"] + jobs["delivering"]
            gate = Gate()
            config = SchedulerConfig(max_concurrent_jobs=SLOTS)
            scheduler = Scheduler(
                JobStore(db),
                GatedBackend(gate),
                {"bench": GatedDeliverer(gate)},
                config,
                FileStorage(tmp / "out"),
                owner=None,
            )
            try:
                gate.started = time.perf_counter()
                await scheduler.start()
                start_returned = time.perf_counter() - gate.started
                await until(
                    lambda: all(j in gate.first_call for j in leased), timeout=120, what="the take-over"
                )
                takeover = max(gate.first_call[j] for j in leased)
                held_back = sum(1 for j in jobs["queued"] if j in gate.first_call)

                released = time.perf_counter()
                gate.open.set()
                await until(
                    lambda: all(j in gate.first_call for j in jobs["queued"]),
                    timeout=300,
                    what="every queued job to start",
                )
                queued_started = max(gate.first_call[j] for j in jobs["queued"]) - (released - gate.started)

                async def all_delivered() -> bool:
                    return await _delivered(db) >= total

                await until(all_delivered, timeout=300, what="every job delivered", interval=0.05)
                all_done = time.perf_counter() - released
            finally:
                await scheduler.stop()
        finally:
            await db.close()
    resubmitted = sum(1 for j in jobs["running"] + jobs["delivering"] if gate.calls[("generate", j)])
    twice = sum(1 for count in gate.calls.values() if count > 1)
    mix = (
        f"{len(jobs['queued'])} queued, {len(jobs['running'])} running (half: expired lease elsewhere, half:"
        f" live lease of a dead pid here), {len(jobs['delivering'])} delivering"
    )
    return [
        Row(
            NAME,
            f"take-over of {len(leased)} dead-lease jobs",
            f"{takeover:.2f} s",
            "",
            "",
            f"{mix}; Scheduler.start() returned after {start_returned:.2f} s; from start() until every one"
            f" has a task (resume / deliver called); {held_back} queued jobs started meanwhile"
            f" ({SLOTS} slots, all taken by recovered running jobs)",
        ),
        Row(
            NAME,
            f"all {total} unfinished jobs scheduled",
            f"{takeover + queued_started:.2f} s",
            "",
            "",
            f"queued ones started {queued_started:.2f} s after the recovered jobs could finish (instant"
            f" backend, {SLOTS} slots); all delivered {all_done:.2f} s after; {resubmitted} re-submissions"
            f" of jobs Prodia had, {twice} jobs called twice; {watch.note()}",
        ),
    ]


def main() -> None:
    main_for(run, __doc__)


if __name__ == "__main__":
    main()
