"""Crash safety: `sora-bot run` is killed with SIGKILL at random (seeded) moments while 30 jobs move through
every state, and started again on the same database, several times. Afterwards every job is delivered exactly
once, or failed, refunded and explained; no job reached Prodia twice; the ledger balances."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from tests.e2e.conftest import World, until
from tests.fakes.prodia import PRO_TXT2VID

SORA_BOT = str(Path(sys.executable).parent / "sora-bot")
JOBS = 30
KILLS = 6
SEED = 20261126


def run_env(world: World) -> dict[str, str]:
    return world.environment(
        PRODIA_POLL_MIN_SECONDS="0.1",
        PRODIA_POLL_MAX_SECONDS="0.3",
        DATABASE_URL=f"sqlite:///{world.tmp}/crash.db",
        LEASE_SECONDS="2",
        MAX_CONCURRENT_JOBS="4",
        DEFAULT_JOBS_PER_HOUR="100",
        DEFAULT_CONCURRENT_JOBS="100",
        DEFAULT_VIDEO_SECONDS_PER_DAY="100000",
    )


def rows(world: World, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(world.tmp / "crash.db") as conn:
        return conn.execute(sql).fetchall()


async def start(world: World) -> asyncio.subprocess.Process:
    identified = world.fake.identify_count
    proc = await asyncio.create_subprocess_exec(
        SORA_BOT,
        "run",
        env=run_env(world),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await world.fake.wait_for_gateway(identify_count=identified + 1, timeout=30)
    return proc


async def test_random_sigkills_lose_nothing_and_deliver_nothing_twice(world: World) -> None:
    rng = random.Random(SEED)
    world.prodia.processing_seconds = 1.0
    # Pro text-to-video runs on the sync endpoint, so some kills land while a job is being submitted.
    world.prodia.async_refused.add(PRO_TXT2VID)
    users = [world.alice, world.bob, world.mod, world.admin]
    proc = await start(world)
    for i in range(JOBS):
        model = "sora-2-pro" if i % 3 == 0 else "sora-2"
        await world.video(users[i % len(users)], prompt=f"crash test clip number {i:02d}", model=model)
    await until(lambda: len(rows(world, "SELECT id FROM jobs")) == JOBS, what="all jobs accepted")

    states_at_kill: list[Counter[str]] = []
    for _ in range(KILLS):
        await asyncio.sleep(rng.uniform(0.2, 2.0))
        states_at_kill.append(Counter(str(r[0]) for r in rows(world, "SELECT state FROM jobs")))
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        proc = await start(world)

    def settled() -> bool:
        return all(
            r[0] in ("delivered", "failed", "cancelled") for r in rows(world, "SELECT state FROM jobs")
        )

    try:
        await until(settled, timeout=180, what="every job to finish")
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)

    jobs = rows(
        world, "SELECT id, state, user_error, json_extract(request, '$.prompt') FROM jobs ORDER BY id"
    )
    outcome = Counter(str(state) for _, state, _, _ in jobs)
    print(f"\nstates at each kill: {[dict(c) for c in states_at_kill]}\nfinal: {dict(outcome)}")

    # Delivered exactly once: one clip message per delivered job, none for the others.
    posted = Counter(
        int(str(m["embeds"][0]["footer"]["text"]).split()[1]) for m in world.clips() if m.get("embeds")
    )
    for row_id, state, user_error, _ in jobs:
        job_id = int(str(row_id))
        if state == "delivered":
            assert posted[job_id] == 1, f"job {job_id} posted {posted[job_id]} times"
        else:
            assert posted[job_id] == 0
            assert user_error, f"job {job_id} failed without an explanation"
    # No job was accepted by Prodia twice (a sync job caught mid-submission is failed, never re-sent).
    accepted = Counter(job.config["prompt"] for job in world.prodia.jobs.values())
    assert max(accepted.values()) == 1, accepted.most_common(3)
    # The ledger balances: one reservation and exactly one settlement per job, matching its outcome. Money
    # Prodia charged stays spent: a job Prodia made (a sync job caught mid-submission too) is committed; a
    # failed one Prodia never made is refunded, unless its request had gone out when the process died.
    billed = {job.config["prompt"] for job in world.prodia.jobs.values()}
    ledger = rows(
        world,
        "SELECT jobs.state, group_concat(kind, ','), jobs.request, jobs.endpoint FROM jobs"
        " JOIN usage_ledger ON job_id = jobs.id GROUP BY jobs.id",
    )
    for state, kinds, request, endpoint in ledger:
        prompt = json.loads(str(request))["prompt"]
        ledger_kinds = sorted(str(kinds).split(","))
        # `endpoint` is stored before a request that may bill is sent: from then on it may have been paid.
        paid = state == "delivered" or prompt in billed or endpoint is not None
        assert ledger_kinds == ["commit" if paid else "refund", "reserve"], (state, prompt, kinds)
        if prompt in billed:
            assert endpoint is not None  # Prodia never made a job the bot did not record as sent
    assert outcome["delivered"] >= JOBS // 2  # most jobs survive the crashes
    assert outcome["delivered"] + outcome["failed"] == JOBS
