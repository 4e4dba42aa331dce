"""Pipeline throughput: a burst of /video jobs against a fake Prodia that answers at once with ~1 MB clips;
jobs per second from acceptance to posted clip, Discord REST calls per job (by route), and the throughput as
a share of the ceiling Discord's global rate limit allows (50 requests/s / REST calls per job)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from bench.common import (
    CDN_ROUTE,
    BenchWorld,
    Row,
    bench_world,
    main_for,
    median,
    percentile,
    production_logging,
    temp_dir,
    until,
    warm_prodia_cache,
)
from bot.domain.models import TERMINAL
from bot.store.db import SQLiteConn, SQLiteDatabase
from tests.fakes.discord import INTERACTION_CALLBACK, running_bot
from tests.harness import TestBot

NAME = "throughput"
USERS = 50
CLIP_EXTRA = 1_000_000
MAX_CONCURRENT = 16
GLOBAL_RATE = 50.0  # Discord's global limit, requests per second per bot


async def _states(bot: TestBot) -> Counter[str]:
    rows = await bot.pipeline.db.reader.fetch_all("SELECT state, COUNT(*) FROM jobs GROUP BY state")
    return Counter({row[0]: int(row[1]) for row in rows})


async def _created_and_finished(bot: TestBot) -> list[tuple[float, float | None, str]]:
    rows = await bot.pipeline.db.reader.fetch_all(
        "SELECT created_at, finished_at, state FROM jobs ORDER BY id"
    )
    return [(float(r[0]), r[1], str(r[2])) for r in rows]


async def _quiet(world: BenchWorld, seconds: float, timeout: float) -> None:
    """Wait until the fake Discord saw no new request for `seconds` (the last status edits)."""
    deadline = time.monotonic() + timeout
    seen = len(world.fake.requests)
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if len(world.fake.requests) != seen:
            seen, last_change = len(world.fake.requests), time.monotonic()
        elif time.monotonic() - last_change >= seconds:
            return


class _SqlCount:
    def __init__(self) -> None:
        self.statements = 0

    def __call__(self, _sql: str) -> None:
        self.statements += 1


async def run(quick: bool) -> list[Row]:
    jobs = 50 if quick else 500
    with temp_dir(NAME) as tmp, production_logging(tmp / "bot.log") as watch:
        async with bench_world(tmp, users=USERS) as world:
            world.prodia.clip_bytes_extra = CLIP_EXTRA
            await warm_prodia_cache(world.prodia.base_url)
            settings = world.settings(
                default_jobs_per_hour=10_000,
                default_concurrent_jobs=1_000,
                default_video_seconds_per_day=10**7,
                max_concurrent_jobs=MAX_CONCURRENT,
                prodia_poll_min_seconds=0.05,
                prodia_poll_max_seconds=0.2,
            )
            bot = TestBot(settings, guild_ready_timeout=0.05)
            async with running_bot(world.fake, bot):
                sql = _SqlCount()
                db = bot.pipeline.db
                assert isinstance(db, SQLiteDatabase) and isinstance(db.reader, SQLiteConn)
                await db.reader.raw.set_trace_callback(sql)
                await db._writer.set_trace_callback(sql)
                offset = time.time() - time.monotonic()  # wall clock (the store's) -> monotonic (the fake's)
                start = world.fake.mark()
                started = time.monotonic()
                interactions = await asyncio.gather(*(world.video(i) for i in range(jobs)))

                async def all_done() -> bool:
                    states = await _states(bot)
                    return sum(states.values()) >= jobs and all(s in TERMINAL for s in states)

                await until(all_done, timeout=30 + jobs * 1.0, what=f"{jobs} jobs to finish", interval=0.2)
                await _quiet(world, 1.5, 30)
                elapsed_all = time.monotonic() - started
                rows = await _created_and_finished(bot)
                statements = sql.statements

            requests = [r for r in world.fake.requests[start:] if r.route != CDN_ROUTE]
            posts = world.posted_clips(start)
            tokens = {i.token for i in interactions}
            callbacks = [r for r in requests if r.route == INTERACTION_CALLBACK]
            late = sum(1 for r in callbacks if r.status == 404 and r.params["interaction_token"] in tokens)
            return _report(jobs, rows, posts, requests, offset, elapsed_all, late, statements, watch.note())


def _report(
    jobs: int,
    rows: list[tuple[float, float | None, str]],
    posts: list[Any],
    requests: list[Any],
    offset: float,
    elapsed_all: float,
    late: int,
    statements: int,
    log_note: str,
) -> list[Row]:
    delivered = sum(1 for _, _, state in rows if state == "delivered")
    first_accept = min(created for created, _, _ in rows) - offset
    accepting = max(created for created, _, _ in rows) - offset - first_accept
    last_post = max(p.at for p in posts) if posts else first_accept
    window = last_post - first_accept
    rate = len(posts) / window if window > 0 else 0.0
    per_job = len(requests) / jobs
    ceiling = GLOBAL_RATE / per_job
    by_route = Counter(f"{r.method} {r.route.split(' ', 1)[1] if r.route else r.path}" for r in requests)
    breakdown = ", ".join(f"{_short(route)} {n / jobs:.2f}" for route, n in by_route.most_common())
    sizes = [len(p.files[0][2]) for p in posts]
    # Time each job waited from acceptance to its clip in the channel (queueing included: it's a burst).
    latency = [f - c for c, f, state in rows if f is not None and state == "delivered"]
    errors = [r for r in requests if r.status >= 400]
    return [
        Row(
            NAME,
            "jobs/s, acceptance -> posted clip",
            f"{rate:.2f}",
            f"ceiling {ceiling:.2f} (50 req/s / {per_job:.2f})",
            f"{rate / ceiling:.2f} of ceiling",
            f"{jobs} jobs in one burst (all accepted within {accepting:.2f} s), {delivered} delivered,"
            f" {len(posts)} clips of"
            f" {median(sizes) / 1e6:.2f} MB; {MAX_CONCURRENT} in flight; window {window:.1f} s"
            f" (all settled in {elapsed_all:.1f} s)",
        ),
        Row(
            NAME,
            "Discord REST calls per job",
            f"{per_job:.2f}",
            "",
            "",
            f"{breakdown}; {len(errors)} answered >= 400, {late} late defers; CDN GETs excluded",
        ),
        Row(
            NAME,
            "acceptance -> delivered per job, median / p99",
            f"{median(latency):.1f} s / {percentile(latency, 99):.1f} s",
            "",
            "",
            f"queueing included (burst of {jobs}); {statements / jobs:.0f} SQL statements per job;"
            f" {log_note}",
        ),
    ]


def _short(route: str) -> str:
    return (
        route.replace("/{application_id}", "")
        .replace("/{interaction_id}/{interaction_token}", "/{i}")
        .replace("/{interaction_token}", "/{token}")
        .replace("{channel_id}", "{ch}")
        .replace("{message_id}", "{msg}")
    )


def main() -> None:
    main_for(run, __doc__)


if __name__ == "__main__":
    main()
