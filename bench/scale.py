"""Scale-out: jobs per second with 1, 2 and 4 `sora-bot worker` processes on one database, against a fake
Prodia that holds each job for a fixed delay and runs at most `capacity` jobs at once (429 + Retry-After
beyond). Every worker runs WORKER_SLOTS jobs at once and MAX_CONCURRENT_JOBS is set out of the way, so
throughput should grow with the workers until Prodia's capacity binds.

N jobs from 20 members are queued up front through the store, then the workers start; the time runs from
the first claim to the last delivery (`wall` adds the workers' start-up).

With `--storage s3` the workers keep the files in an S3 bucket (moto's S3 server on 127.0.0.1, a new bucket
per row) and each has an empty working folder of its own: they share no folder, as on several machines.

    python -m bench.scale [--db sqlite|postgresql] [--postgres-url URL] [--storage file|s3] [--jobs N]
                          [--delay S] [--capacity N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import asyncpg

from bench.common import (
    BenchWorld,
    Row,
    bench_world,
    clean_environment,
    s3_server,
    temp_dir,
    until,
    warm_prodia_cache,
)
from bot.domain.models import JobRequest
from bot.store.db import Database
from bot.store.jobs import JobStore, NewJob
from tests.harness import stop_processes
from tests.s3 import S3Server

NAME = "scale"
SORA_BOT = str(Path(sys.executable).parent / "sora-bot")
WORKER_COUNTS = (1, 2, 4)
SLOTS = 4  # WORKER_SLOTS of every worker
USERS = 20
RETRY_AFTER = "0.25"  # what the fake Prodia's 429s ask for
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
Engine = Literal["sqlite", "postgresql"]
Store = Literal["file", "s3"]


@dataclass(frozen=True, slots=True)
class Options:
    db: Engine = "sqlite"
    postgres_url: str = POSTGRES_URL
    jobs: int = 60
    delay: float = 1.0
    capacity: int = 8
    storage: Store = "file"


@dataclass(frozen=True, slots=True)
class Result:
    workers: int
    jobs: int
    delivered: int
    seconds: float  # first claim -> last delivery
    wall: float  # workers started -> every job finished
    peak: int  # most jobs processing at Prodia at once
    refusals: int  # Prodia's 429s (capacity)
    log_problems: int  # WARNING/ERROR lines in the workers' logs
    objects: int | None = None  # in the bucket afterwards (s3 only)
    local_files: int = 0  # left in the workers' folders afterwards

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else math.nan


@contextlib.asynccontextmanager
async def fresh_database(options: Options, tmp: Path, label: str) -> AsyncIterator[str]:
    """The URL of a new, empty database for one measurement (PostgreSQL: created and dropped here)."""
    if options.db == "sqlite":
        yield f"sqlite:///{tmp / label}.db"
        return
    name = f"sora_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(options.postgres_url, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield options.postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin = await asyncpg.connect(options.postgres_url, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _queue(db: Database, world: BenchWorld, jobs: int) -> None:
    store = JobStore(db)
    for i in range(jobs):
        await store.create(
            NewJob(
                request=JobRequest.parse(prompt=f"scale benchmark clip number {i}", duration=4),
                user_id=world.users[i % len(world.users)],
                estimated_cost=0.4,
                target_kind="discord",
                target={"kind": "discord", "channel_id": world.channel_id, "private": False},
                guild_id=world.guild_id,
                channel_id=world.channel_id,
            )
        )


def _env(world: BenchWorld, url: str, out: Path, storage: dict[str, str]) -> dict[str, str]:
    """One worker's environment: with a bucket, `out` is its own working folder (credentials come from this
    process's environment)."""
    return world.environment(
        **{name.upper(): value for name, value in storage.items()},
        PRODIA_POLL_MIN_SECONDS="0.05",
        PRODIA_POLL_MAX_SECONDS="0.2",
        # Waiting out 429s must not use up a job's attempts while other workers hold the capacity.
        PRODIA_MAX_ATTEMPTS="20",
        DATABASE_URL=url,
        OUTPUT_DIR=str(out),
        MAX_CONCURRENT_JOBS="256",  # out of the way: the slots per worker and Prodia's capacity bind
        WORKER_SLOTS=str(SLOTS),
    )


def _log_problems(paths: Sequence[Path]) -> int:
    """WARNING/ERROR lines in the workers' logs, besides discord.py's voice notice and the retries of 429s
    (counted by the fake Prodia already)."""
    expected = ("voice will NOT", "Prodia answered 429")
    lines = (line for path in paths for line in path.read_text(errors="replace").splitlines())
    return sum(
        1
        for line in lines
        if (" WARNING " in line or " ERROR " in line) and not any(text in line for text in expected)
    )


async def measure(
    world: BenchWorld, options: Options, workers: int, tmp: Path, s3: S3Server | None = None
) -> Result:
    """Queue the jobs, run `workers` worker processes until every job finished, and read the timings. With
    `s3`, the workers keep the files in a new bucket of it, each with a working folder of its own."""
    prodia = world.prodia
    prodia.processing_seconds = options.delay
    prodia.capacity = options.capacity
    prodia.retry_after = RETRY_AFTER
    prodia.peak_in_flight = prodia.capacity_refusals = 0
    async with fresh_database(options, tmp, f"scale-{workers}-{uuid.uuid4().hex[:8]}") as url:
        db = await Database.open(url)
        try:
            await _queue(db, world, options.jobs)
            bucket = s3.new_bucket() if s3 else ""
            storage = s3.settings(bucket) if s3 else {}
            if s3:
                folders = [tmp / f"work-{workers}-{i}" for i in range(workers)]
            else:
                folders = [tmp / f"clips-{workers}"] * workers
            logs = [tmp / f"worker-{workers}-{i}.log" for i in range(workers)]
            procs: list[asyncio.subprocess.Process] = []
            started = time.monotonic()
            try:
                for log, folder in zip(logs, folders, strict=True):
                    with log.open("wb") as err:
                        procs.append(
                            await asyncio.create_subprocess_exec(
                                SORA_BOT,
                                "worker",
                                env=_env(world, url, folder, storage),
                                cwd=tmp,
                                stdout=asyncio.subprocess.DEVNULL,
                                stderr=err,
                            )
                        )

                async def finished() -> bool:
                    for proc, log in zip(procs, logs, strict=True):
                        if proc.returncode is not None:
                            tail = log.read_text(errors="replace").splitlines()[-5:]
                            raise RuntimeError(f"a worker exited with {proc.returncode}: {tail}")
                    rows = await db.reader.fetch_all(
                        "SELECT COUNT(*) FROM jobs WHERE state IN ('delivered', 'failed', 'cancelled')"
                    )
                    return int(rows[0][0]) == options.jobs

                await until(
                    finished,
                    timeout=60 + 4 * options.jobs * options.delay,
                    what=f"{options.jobs} jobs with {workers} worker(s)",
                    interval=0.05,
                )
                wall = time.monotonic() - started
            finally:
                await stop_processes({str(i): p for i, p in enumerate(procs)})
            row = await db.reader.fetch_one(
                "SELECT MIN(started_at), MAX(finished_at),"
                " SUM(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END) FROM jobs"
            )
            assert row is not None
        finally:
            await db.close()
    return Result(
        workers=workers,
        jobs=options.jobs,
        delivered=int(row[2]),
        seconds=float(row[1]) - float(row[0]),
        wall=wall,
        peak=prodia.peak_in_flight,
        refusals=prodia.capacity_refusals,
        log_problems=_log_problems(logs),
        objects=len(s3.objects(bucket)) if s3 else None,
        local_files=sum(1 for folder in set(folders) for p in folder.rglob("*") if p.is_file()),
    )


async def measure_all(options: Options) -> list[Result]:
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(temp_dir(NAME))
        s3 = stack.enter_context(s3_server()) if options.storage == "s3" else None
        async with bench_world(tmp, users=USERS) as world:
            await warm_prodia_cache(world.prodia.base_url)
            results = []
            for workers in WORKER_COUNTS:
                print(f"  {workers} worker(s) ...", file=sys.stderr, flush=True)
                results.append(await measure(world, options, workers, tmp, s3))
            return results


def _settings_line(options: Options) -> str:
    where = "s3:// (moto), a working folder per worker" if options.storage == "s3" else "file://, one folder"
    return (
        f"{options.db}; {where}; Prodia holds each job {options.delay:g} s and takes {options.capacity}"
        f" at once (429, Retry-After {RETRY_AFTER} s); {SLOTS} slots per worker"
    )


def rows(results: Sequence[Result], options: Options) -> list[Row]:
    base = results[0].rate
    return [
        Row(
            NAME,
            f"jobs/s with {r.workers} worker process{'es' if r.workers > 1 else ''}",
            f"{r.rate:.2f}",
            f"{base:.2f} (1 worker)",
            f"{r.rate / base:.2f}x",
            f"{r.delivered}/{r.jobs} delivered in {r.seconds:.1f} s (wall {r.wall:.1f} s with start-up);"
            f" peak {r.peak} at Prodia, {r.refusals} 429s; {_settings_line(options)};"
            f" {r.log_problems} other warning/error log lines{_store_note(r)}",
        )
        for r in results
    ]


def _store_note(r: Result) -> str:
    if r.objects is None:
        return ""
    return f"; {r.objects} objects in the bucket, {r.local_files} files left in the workers' folders"


def table(results: Sequence[Result], options: Options) -> str:
    base = results[0].rate
    s3 = options.storage == "s3"
    lines = [
        "| workers | jobs | seconds | jobs/s | speed-up vs 1 worker | peak in flight at Prodia | wall s"
        " | 429s |" + (" objects in the bucket | files left in the workers' folders |" if s3 else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|---|" if s3 else ""),
    ]
    for r in results:
        lines.append(
            f"| {r.workers} | {r.delivered}/{r.jobs} | {r.seconds:.1f} | {r.rate:.2f} | {r.rate / base:.2f}x"
            f" | {r.peak} / {options.capacity} | {r.wall:.1f} | {r.refusals} |"
            + (f" {r.objects} | {r.local_files} |" if s3 else "")
        )
    problems = sum(r.log_problems for r in results)
    lines += [
        "",
        f"{_settings_line(options)}. seconds: first claim -> last delivery; wall: workers started -> all"
        f" done; {problems} warning/error lines (429 retries aside) in the workers' logs.",
    ]
    return "\n".join(lines)


async def run(quick: bool) -> list[Row]:
    options = Options(jobs=24 if quick else 60)
    return rows(await measure_all(options), options)


def main() -> None:
    clean_environment()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--postgres-url", default=POSTGRES_URL, help="a server to create (and drop) the database on"
    )
    parser.add_argument(
        "--storage",
        choices=["file", "s3"],
        default="file",
        help="file: one shared output folder (default); s3: a bucket, and a working folder per worker",
    )
    parser.add_argument("--jobs", type=int, default=60, help="jobs queued up front (default 60)")
    parser.add_argument("--delay", type=float, default=1.0, help="seconds Prodia takes per job (default 1)")
    parser.add_argument("--capacity", type=int, default=8, help="jobs Prodia runs at once (default 8)")
    parser.add_argument("--quick", action="store_true", help="24 jobs")
    args = parser.parse_args()
    options = Options(
        db=args.db,
        postgres_url=args.postgres_url,
        storage=args.storage,
        jobs=24 if args.quick else args.jobs,
        delay=args.delay,
        capacity=args.capacity,
    )
    print(table(asyncio.run(measure_all(options)), options))


if __name__ == "__main__":
    main()
