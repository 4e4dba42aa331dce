"""Quota decisions on SQLite: atomic reserve-or-refuse decisions per second (JobStore.create with Limits, from
concurrent tasks), against plain single-row write transactions through the same Database class; and
over-admissions when 1,000 requests race for a limit of N from several connections at once."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import Row, main_for, median, production_logging, temp_dir
from bot.domain.limits import Limits
from bot.domain.models import JobRequest
from bot.errors import QuotaExceeded
from bot.store.db import Database
from bot.store.jobs import JobStore, NewJob

NAME = "quota"
GUILD = 4242
TASKS = 8
USERS = 100
CONNECTIONS = 4
GENEROUS = Limits(jobs_per_hour=10**9, video_seconds_per_day=10**12, concurrent=10**9)
REQUEST = JobRequest.parse(prompt="a quota decision under load", duration=4)
COST = 0.40


def _job(user_id: int) -> NewJob:
    return NewJob(
        request=REQUEST,
        user_id=user_id,
        estimated_cost=COST,
        target_kind="bench",
        target={"kind": "bench"},
        guild_id=GUILD,
        channel_id=1,
    )


@dataclass
class Timed:
    count: int
    seconds: float
    done_at: list[float] = field(default_factory=list)  # completion times, seconds from the start

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def quarter_rate(self, which: int) -> float:
        """Operations per second within the first (0) or last (3) quarter of the operations."""
        ordered = sorted(self.done_at)
        size = len(ordered) // 4
        part = ordered[which * size : (which + 1) * size]
        return (len(part) - 1) / (part[-1] - part[0]) if len(part) > 1 and part[-1] > part[0] else 0.0


async def _timed(total: int, op: Callable[[int], Awaitable[None]]) -> Timed:
    """Run `op(i)` for i in range(total) from TASKS concurrent tasks."""
    counter = itertools.count()
    result = Timed(total, 0.0)
    started = time.perf_counter()

    async def worker() -> None:
        while (i := next(counter)) < total:
            await op(i)
            result.done_at.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(TASKS)))
    result.seconds = time.perf_counter() - started
    return result


async def _plain_writes(db: Database, total: int) -> Timed:
    async with db.transaction() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_writes (id INTEGER PRIMARY KEY, user_id INTEGER, at REAL)"
        )

    async def write(i: int) -> None:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO bench_writes (user_id, at) VALUES (?, ?)", (i % USERS, time.time())
            )

    return await _timed(total, write)


async def _decisions(store: JobStore, total: int, *, budget: float | None, user_base: int) -> Timed:
    async def decide(i: int) -> None:
        await store.create(_job(user_base + i % USERS), GENEROUS, budget)

    return await _timed(total, decide)


async def _add_history(db: Database, jobs: int) -> None:
    """`jobs` finished jobs of other servers (reserve + commit rows each), as on a bot that ran a while."""
    yesterday = time.time() - 86400
    request = REQUEST.model_dump_json()
    rows = [
        ("delivered", request, REQUEST.job_type.value, 10_000 + i % 20, 1, 50_000 + i % 500, "bench", "{}", 4,
         COST, yesterday + i % 80_000, yesterday + i % 80_000)
        for i in range(jobs)
    ]  # fmt: skip
    async with db.transaction() as conn:
        await conn.execute_many(
            """INSERT INTO jobs (state, request, job_type, guild_id, channel_id, user_id, target_kind, target,
                                 video_seconds, estimated_cost, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )
        for kind in ("reserve", "commit"):
            await conn.execute(
                """INSERT INTO usage_ledger
                          (job_id, guild_id, user_id, kind, video_seconds, dollars, created_at)
                   SELECT id, guild_id, user_id, ?, video_seconds, estimated_cost, created_at FROM jobs
                    WHERE guild_id != ?""",
                (kind, GUILD),
            )


@dataclass
class Paired:
    """Alternating runs of a measured operation and its baseline, under the same machine conditions."""

    values: list[float] = field(default_factory=list)
    baselines: list[float] = field(default_factory=list)

    def add(self, value: Timed, baseline: Timed) -> None:
        self.values.append(value.rate)
        self.baselines.append(baseline.rate)

    @property
    def ratio(self) -> float:
        return median([v / b for v, b in zip(self.values, self.baselines, strict=True)])

    def spread(self) -> str:
        return (
            f"{min(self.values):.0f}-{max(self.values):.0f} vs"
            f" {min(self.baselines):.0f}-{max(self.baselines):.0f} per s"
        )


async def _limits_vs_plain(folder: Path, rounds: int, total: int) -> Paired:
    """Each round on a fresh database: plain writes, then as many admitting decisions (alternating order)."""
    paired = Paired()
    for n in range(rounds):
        db = await Database.open(folder / f"decisions-{n}.db")
        try:
            store = JobStore(db)
            if n % 2:
                decided = await _decisions(store, total, budget=None, user_base=0)
                plain = await _plain_writes(db, total)
            else:
                plain = await _plain_writes(db, total)
                decided = await _decisions(store, total, budget=None, user_base=0)
            paired.add(decided, plain)
        finally:
            await db.close()
    return paired


async def _budget_vs_none(folder: Path, rounds: int, total: int, history: int) -> Paired:
    """On a database with `history` jobs of other servers: decisions with a daily budget set, vs without."""
    paired = Paired()
    db = await Database.open(folder / "history.db")
    try:
        await _add_history(db, history)
        store = JobStore(db)
        for n in range(rounds):
            base = 1_000 + n * USERS
            if n % 2:
                plain = await _decisions(store, total, budget=None, user_base=base)
                budgeted = await _decisions(store, total, budget=10.0**9, user_base=base + 500)
            else:
                budgeted = await _decisions(store, total, budget=10.0**9, user_base=base + 500)
                plain = await _decisions(store, total, budget=None, user_base=base)
            paired.add(budgeted, plain)
    finally:
        await db.close()
    return paired


@dataclass
class Race:
    what: str
    limit: int
    accepted: int = 0
    refused: int = 0
    errors: int = 0
    stored: int = 0  # reservations actually in the ledger afterwards


async def _race(folder: Path, what: str, limit: int, racers: int) -> Race:
    """`racers` concurrent requests over CONNECTIONS separate connections (as several processes would)."""
    path = folder / f"race-{what}.db"
    dbs = [await Database.open(path) for _ in range(CONNECTIONS)]
    stores = [JobStore(db) for db in dbs]
    race = Race(what, limit)
    try:

        async def attempt(i: int) -> None:
            store = stores[i % CONNECTIONS]
            if what == "jobs_per_hour":
                call = store.create(_job(1), Limits(limit, 10**12, 10**9))
            elif what == "concurrent":
                call = store.create(_job(1), Limits(10**9, 10**12, limit))
            else:  # the server's daily budget, spread over many members
                call = store.create(_job(1000 + i), GENEROUS, budget_per_day=limit * COST)
            try:
                await call
            except QuotaExceeded:
                race.refused += 1
            except sqlite3.Error:
                race.errors += 1
            else:
                race.accepted += 1

        await asyncio.gather(*(attempt(i) for i in range(racers)))
        row = await dbs[0].reader.fetch_one("SELECT COUNT(*) FROM usage_ledger WHERE kind = 'reserve'")
        race.stored = int(row[0]) if row else 0
    finally:
        for db in dbs:
            await db.close()
    return race


async def run(quick: bool) -> list[Row]:
    total = 300 if quick else 1000
    rounds = 3 if quick else 5
    history = 5_000 if quick else 20_000
    racers = 200 if quick else 1000
    limit = 20 if quick else 50
    with temp_dir(NAME) as tmp, production_logging(tmp / "bot.log") as watch:
        limits = await _limits_vs_plain(tmp, rounds, total)
        budget = await _budget_vs_none(tmp, 2, total // 2, history)
        races = [await _race(tmp, what, limit, racers) for what in ("jobs_per_hour", "concurrent", "budget")]
    rows = [
        Row(
            NAME,
            "reserve-or-refuse decisions/s",
            f"{median(limits.values):.0f}/s",
            f"{median(limits.baselines):.0f}/s plain 1-row write txns",
            f"{limits.ratio:.2f}x of plain",
            f"{TASKS} tasks on one Database (the bot's); medians of {rounds} alternating rounds of {total},"
            f" fresh db each ({limits.spread()}); every decision admits: usage check + job + ledger row",
        ),
        Row(
            NAME,
            "decisions/s with a server budget set",
            f"{median(budget.values):.0f}/s",
            f"{median(budget.baselines):.0f}/s same db, no budget",
            f"{budget.ratio:.2f}x",
            f"db holding {history} earlier jobs of other servers ({2 * history} ledger rows); 2 alternating"
            f" rounds of {total // 2} ({budget.spread()}); {watch.note()}",
        ),
    ]
    for race in races:
        over = max(0, race.accepted - race.limit)
        rows.append(
            Row(
                NAME,
                f"over-admissions, {race.what} limit {race.limit}",
                str(over),
                "",
                "goal 0",
                f"{racers} racing requests over {CONNECTIONS} connections: {race.accepted} admitted,"
                f" {race.refused} refused, {race.errors} errors; {race.stored} reservations stored",
            )
        )
    return rows


def main() -> None:
    main_for(run, __doc__)


if __name__ == "__main__":
    main()
