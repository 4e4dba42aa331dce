"""Storage: the throughput burst (as bench/throughput.py runs it, smaller) on the output folder (`file://`)
and on an S3 bucket (`s3://`, moto's S3 server on 127.0.0.1), jobs per second for each; then the peak RSS of a
`sora-bot run` process posting concurrent clips of 10 MiB and of 50 MiB with its files in the bucket (measured
as bench/memory.py does: the bot under a launcher that reports its children's peak).

The two stores run in one invocation against the same fakes, alternately (file, s3, then s3, file in a full
run), each with a database and folder of its own."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    MIB,
    BenchWorld,
    Row,
    bench_world,
    main_for,
    median,
    production_logging,
    ratio,
    s3_server,
    temp_dir,
    until,
    warm_prodia_cache,
)
from bench.memory import launched_bot, post_clips
from bench.throughput import CLIP_EXTRA, MAX_CONCURRENT, USERS, _created_and_finished, _quiet, _states
from bot.domain.models import TERMINAL
from tests.fakes.discord import running_bot
from tests.harness import TestBot
from tests.s3 import S3Server

NAME = "storage"
SORA_BOT = str(Path(sys.executable).parent / "sora-bot")
CLIP_SIZES = (10 * MIB, 50 * MIB)
GOAL_RATIO = 1.2  # the goal: s3 within 1.2x of file's jobs per second, and memory flat in clip size


@dataclass(frozen=True, slots=True)
class Burst:
    store: str
    jobs: int
    delivered: int
    posted: int
    window: float  # first acceptance -> last clip posted
    latency: float  # median acceptance -> delivered
    objects: int  # in the bucket afterwards (s3 only)
    server_cpu: float  # CPU seconds the S3 server used during the burst (it shares this machine's cores)

    @property
    def rate(self) -> float:
        return self.posted / self.window if self.window > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Peak:
    store: str
    clip_bytes: int
    clips: int
    peak_kib: int
    posted: int
    seconds: float
    exit_code: int
    objects: int


def _bucket(server: S3Server) -> tuple[str, dict[str, str]]:
    bucket = server.new_bucket()
    return bucket, server.settings(bucket)


# -- throughput ------------------------------------------------------------------------------------------


async def _burst(world: BenchWorld, server: S3Server, store: str, jobs: int, label: str) -> Burst:
    """`jobs` /video at once from USERS members to an in-process bot keeping its files in `store`."""
    storage: dict[str, str] = {}
    bucket = ""
    if store == "s3":
        bucket, storage = _bucket(server)
    settings = world.settings(
        database_url=f"sqlite:///{world.tmp}/{label}.db",
        output_dir=world.tmp / f"{label}-files",
        default_jobs_per_hour=10_000,
        default_concurrent_jobs=1_000,
        default_video_seconds_per_day=10**7,
        max_concurrent_jobs=MAX_CONCURRENT,
        prodia_poll_min_seconds=0.05,
        prodia_poll_max_seconds=0.2,
        **storage,
    )
    bot = TestBot(settings, guild_ready_timeout=0.05)
    cpu_before = server.cpu_seconds()
    async with running_bot(world.fake, bot):
        offset = time.time() - time.monotonic()  # wall clock (the store's) -> monotonic (the fake's)
        start = world.fake.mark()
        await asyncio.gather(*(world.video(i) for i in range(jobs)))

        async def all_done() -> bool:
            states = await _states(bot)
            return sum(states.values()) >= jobs and all(s in TERMINAL for s in states)

        await until(all_done, timeout=30 + jobs * 1.0, what=f"{jobs} jobs on {store}://", interval=0.2)
        await _quiet(world, 1.0, 30)
        rows = await _created_and_finished(bot)
    posts = world.posted_clips(start)
    first_accept = min(created for created, _, _ in rows) - offset
    last_post = max((p.at for p in posts), default=first_accept)
    latency = [f - c for c, f, state in rows if f is not None and state == "delivered"]
    return Burst(
        store=store,
        jobs=jobs,
        delivered=sum(1 for _, _, state in rows if state == "delivered"),
        posted=len(posts),
        window=last_post - first_accept,
        latency=median(latency),
        objects=len(server.objects(bucket)) if bucket else 0,
        server_cpu=server.cpu_seconds() - cpu_before,
    )


async def _bursts(tmp: Path, server: S3Server, jobs: int, order: tuple[str, ...]) -> tuple[list[Burst], str]:
    tmp.mkdir()
    with production_logging(tmp / "bot.log") as watch:
        async with bench_world(tmp, users=USERS) as world:
            world.prodia.clip_bytes_extra = CLIP_EXTRA
            await warm_prodia_cache(world.prodia.base_url)
            bursts = []
            for i, store in enumerate(order):
                print(f"  burst of {jobs} on {store}:// ...", file=sys.stderr, flush=True)
                bursts.append(await _burst(world, server, store, jobs, f"burst-{i}-{store}"))
        return bursts, watch.note()


def _throughput_rows(bursts: list[Burst], log_note: str) -> list[Row]:
    by_store = {store: [b for b in bursts if b.store == store] for store in ("file", "s3")}
    rates = {store: median([b.rate for b in runs]) for store, runs in by_store.items()}
    s3_over_file = ratio(rates["s3"], rates["file"])
    rows = []
    for store, runs in by_store.items():
        each = " / ".join(f"{b.rate:.2f}" for b in runs)
        objects = ""
        if store == "s3":
            cpu = median([b.server_cpu / b.window for b in runs if b.window > 0])
            objects = (
                f"; {runs[-1].objects} objects in the bucket after the last; the S3 server (moto, Python,"
                f" on the same {os.cpu_count()} cores) used {cpu:.2f} CPU-s per second of burst"
            )
        rows.append(
            Row(
                NAME,
                f"jobs/s, acceptance -> posted clip, {store}://",
                f"{rates[store]:.2f}",
                f"{rates['file']:.2f} (file://)" if store == "s3" else "",
                f"{s3_over_file:.2f}x of file:// (goal >= {1 / GOAL_RATIO:.2f}: within {GOAL_RATIO}x)"
                if store == "s3"
                else "",
                f"median of {len(runs)} burst(s) ({each} jobs/s) of {runs[0].jobs} jobs, clips of"
                f" {(CLIP_EXTRA / 1e6):.0f} MB + the render, {MAX_CONCURRENT} in flight;"
                f" {sum(b.delivered for b in runs)}/{sum(b.jobs for b in runs)} delivered; acceptance ->"
                f" delivered median {median([b.latency for b in runs]):.1f} s{objects}; {log_note}",
            )
        )
    return rows


# -- memory ----------------------------------------------------------------------------------------------


async def _peak(tmp: Path, server: S3Server, store: str, clip_bytes: int, clips: int) -> Peak:
    """Peak RSS of a `sora-bot run` process posting `clips` concurrent clips of `clip_bytes`."""
    label = f"{store}-{clip_bytes // MIB}"
    bucket = ""
    async with bench_world(tmp, users=clips, premium_tier=3) as world:
        if store == "s3":
            bucket, world.storage = _bucket(server)  # the process gets a working folder of its own
        world.prodia.clip_bytes_extra = clip_bytes
        await warm_prodia_cache(world.prodia.base_url)
        env = world.environment(
            PRODIA_POLL_MIN_SECONDS="0.1",
            PRODIA_POLL_MAX_SECONDS="0.5",
            DATABASE_URL=f"sqlite:///{tmp}/{label}.db",
            MAX_CONCURRENT_JOBS="32",
            DEFAULT_JOBS_PER_HOUR="1000",
            DEFAULT_CONCURRENT_JOBS="100",
            DEFAULT_VIDEO_SECONDS_PER_DAY="1000000",
        )
        what = f"{clips} clips of {clip_bytes // MIB} MiB posted from {store}://"
        async with launched_bot(world, env, label) as bot:
            seconds, posts = await post_clips(world, clips, what)
    assert bot.code is not None
    objects = len(server.objects(bucket)) if bucket else 0
    return Peak(store, clip_bytes, clips, bot.peak_kib, len(posts), seconds, bot.code, objects)


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB" if kib >= 0 else "?"


def _memory_rows(peaks: list[Peak]) -> list[Row]:
    """Per store, the small clips then the large; the large against the small (s3: the goal), and s3 against
    file (the same clips with the output folder as the store, for reference)."""
    found = {(p.store, p.clip_bytes): p for p in peaks}
    rows = []
    for p in peaks:
        small = found[(p.store, CLIP_SIZES[0])]
        large = p.clip_bytes == CLIP_SIZES[1]
        goal = f" (goal <= {GOAL_RATIO}x: flat in clip size)" if p.store == "s3" else ""
        versus = found.get(("file", p.clip_bytes)) if p.store == "s3" else None
        rows.append(
            Row(
                NAME,
                f"peak RSS, {p.clips} concurrent {p.clip_bytes // MIB} MiB clips, {p.store}://",
                _mib(p.peak_kib),
                f"{_mib(small.peak_kib)} ({small.clip_bytes // MIB} MiB clips)" if large else "",
                f"{ratio(p.peak_kib, small.peak_kib):.2f}x{goal}" if large else "",
                f"`sora-bot run` subprocess; posted {p.posted} clips in {p.seconds:.1f} s (not re-encoded);"
                + (f" {p.objects} objects in the bucket;" if p.store == "s3" else "")
                + (f" {ratio(p.peak_kib, versus.peak_kib):.2f}x of file://;" if versus else "")
                + f" exit code {p.exit_code} after SIGTERM",
            )
        )
    return rows


async def run(quick: bool) -> list[Row]:
    jobs = 40 if quick else 200
    order = ("file", "s3") if quick else ("file", "s3", "s3", "file")
    clips = 3 if quick else 10
    with temp_dir(NAME) as tmp, s3_server() as server:
        bursts, log_note = await _bursts(tmp / "throughput", server, jobs, order)
        peaks = []
        for store, size in [(store, size) for store in ("file", "s3") for size in CLIP_SIZES]:
            print(f"  {clips} clips of {size // MIB} MiB on {store}:// ...", file=sys.stderr, flush=True)
            folder = tmp / f"memory-{store}-{size // MIB}"
            folder.mkdir()
            peaks.append(await _peak(folder, server, store, size, clips))
    return _throughput_rows(bursts, log_note) + _memory_rows(peaks)


def main() -> None:
    main_for(run, __doc__)


if __name__ == "__main__":
    main()
