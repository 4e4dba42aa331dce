"""At scale: one `sora-bot gateway` and three `sora-bot worker` processes on one database (SQLite, then
PostgreSQL, then PostgreSQL with the clips in a bucket of the local S3 server and no folder shared: each
process has a working folder of its own) serve 20 members.

The gateway accepts 200 of 221 requests: each member sends 11 at once and one is refused by the hourly
limit of 10, and a 21st member is refused by the server's daily budget, set to exactly the price of 200
clips. Only then do the workers start, so the order in which they claim the 200 queued jobs shows how fair
the claims are. One worker is killed with SIGKILL while it runs jobs; the others take them over. Afterwards
every job is delivered exactly once (or failed by the mid-submission rule, refunded and explained), no prompt
reached Prodia twice, the ledger balances and the limits and the budget held.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bot.store.db import Database
from tests.conftest import postgres_database
from tests.e2e.conftest import World, until
from tests.e2e.test_crash import SORA_BOT, run_env
from tests.fakes.discord import EPHEMERAL
from tests.harness import stop_processes
from tests.s3 import S3Server

USERS = 20
JOBS_PER_HOUR = 10
ATTEMPTS = JOBS_PER_HOUR + 1  # per member, sent at once: one is refused
JOBS = USERS * JOBS_PER_HOUR
PRICE = 0.40  # sora-2, 4 s at $0.10 a second (the bot's estimate and the fake Prodia's bill)
BUDGET = JOBS * PRICE
WORKERS = 3
SLOTS = 4  # WORKER_SLOTS: jobs one worker runs at once
MAX_IN_FLIGHT = WORKERS * SLOTS  # MAX_CONCURRENT_JOBS, counted in the database across the workers
# Claims are fair when every run of USERS consecutive claims (by start time) serves every member: claims are
# serialized across processes and each reads its start time holding that lock, so start times follow the
# order claims commit in, and least-recently-served first is a strict round-robin over the 20 members.
MIN_DISTINCT_PER_WINDOW = USERS
INTERRUPTED = "interrupted between submission and storing Prodia's job id"


@pytest.fixture
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The one database every process of the test shares (PostgreSQL: skipped without a server)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/scale.db"
        return
    async with postgres_database() as url:
        yield url


async def spawn(world: World, env: dict[str, str], role: str, name: str) -> asyncio.subprocess.Process:
    if world.storage:
        env = {**env, "OUTPUT_DIR": str(world.tmp / f"work-{name}")}  # shares no folder with the others
    # Logs go to files: an unread pipe fills up and stalls the process writing to it.
    with (world.tmp / f"{name}.log").open("wb") as log:
        return await asyncio.create_subprocess_exec(
            SORA_BOT, role, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=log
        )


async def stop(procs: dict[str, asyncio.subprocess.Process]) -> None:
    """SIGTERM every live process; one that does not stop is killed and reported."""
    stuck = await stop_processes(procs)
    assert not stuck, f"{stuck} did not stop on SIGTERM"


@pytest.mark.parametrize(
    ("database_url", "storage"),
    [("sqlite", "file"), ("postgresql", "file"), ("postgresql", "s3")],
    indirect=True,
)
async def test_200_jobs_from_20_members_through_a_gateway_and_3_workers_limits_budget_fairness_and_a_kill(
    world: World, database_url: str, request: pytest.FixtureRequest
) -> None:
    world.prodia.processing_seconds = 0.5
    env = run_env(world)
    env.update(
        DATABASE_URL=database_url,
        LEASE_SECONDS="2",
        MAX_CONCURRENT_JOBS=str(MAX_IN_FLIGHT),
        WORKER_SLOTS=str(SLOTS),
        DEFAULT_JOBS_PER_HOUR=str(JOBS_PER_HOUR),
        # Room for every attempt at once, so the hourly limit is the one that binds.
        DEFAULT_CONCURRENT_JOBS=str(ATTEMPTS),
        DEFAULT_VIDEO_SECONDS_PER_DAY="1000",
    )
    members = world.add_members(USERS, "member")
    (latecomer,) = world.add_members(1, "latecomer")
    procs = {"gateway": await spawn(world, env, "gateway", "gateway")}
    db: Database | None = None
    try:
        await world.fake.wait_for_gateway(timeout=30)
        await world.admin_command("budget", "set", dollars_per_day=BUDGET)

        # Member by member, each sending 11 at once: the queue holds one member's jobs after another's, so
        # first-come-first-served claims would look nothing like round-robin ones. The gateway only enqueues.
        answers: dict[int, list[dict[str, Any]]] = {}
        for user in members:
            sent = await asyncio.gather(
                *(
                    world.video(user, prompt=f"scale test clip {i:02d} of member {user}")
                    for i in range(ATTEMPTS)
                )
            )
            answers[user] = [
                await until(partial(_answered, world, t), what=f"/video of member {user}") for t in sent
            ]
        late_token = await world.video(latecomer, prompt="one clip more than the budget allows")
        over_budget = await until(lambda: _answered(world, late_token), what="the latecomer's answer")

        db = await Database.open(database_url)
        reader = db.reader
        queued = await reader.fetch_all("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        assert {str(r[0]): int(r[1]) for r in queued} == {"queued": JOBS}

        for i in range(WORKERS):
            procs[f"worker{i}"] = await spawn(world, env, "worker", f"worker{i}")
        victim = procs["worker0"]

        async def victim_busy_and_not_submitting() -> list[str]:
            # Killed with all its slots running at Prodia, it leaves no job caught mid-submission.
            held = await reader.fetch_all(
                "SELECT state FROM jobs WHERE lease_owner LIKE ?", (f"%:{victim.pid}:%",)
            )
            states = [str(r[0]) for r in held]
            return states if len(states) == SLOTS and set(states) == {"running"} else []

        held_at_kill = await until(
            victim_busy_and_not_submitting, timeout=60, what="worker0 to run a full set of jobs"
        )
        victim.send_signal(signal.SIGKILL)
        await victim.wait()

        async def settled() -> bool:
            gone = [name for name, p in procs.items() if p is not victim and p.returncode is not None]
            assert not gone, f"{gone} exited early (logs in {world.tmp})"
            rows = await reader.fetch_all(
                "SELECT COUNT(*) FROM jobs WHERE state NOT IN ('delivered', 'failed')"
            )
            return int(rows[0][0]) == 0

        await until(settled, timeout=120, what="every job to finish")
        jobs = await reader.fetch_all(
            "SELECT id, state, user_id, started_at, attempts, error, user_error, prodia_job_id, request,"
            " target, endpoint FROM jobs ORDER BY id",
        )
        ledger = await reader.fetch_all("SELECT job_id, kind, dollars FROM usage_ledger ORDER BY id")
        # A failed job can only be one the kill caught between submitting and storing Prodia's id (checked
        # below); its requester is told why on the job's status message, by a surviving worker.
        for row in jobs:
            if row["state"] == "failed":
                await until(
                    partial(_told, world, row),
                    what=f"the requester of failed job {row['id']} to be told",
                )
    finally:
        if db is not None:
            await db.close()
        await stop(procs)

    delivered = {int(r["id"]) for r in jobs if r["state"] == "delivered"}
    failed = {int(r["id"]) for r in jobs if r["state"] == "failed"}
    print(
        f"\nworker0 held {held_at_kill} when killed; {len(delivered)} delivered, {len(failed)} failed;"
        f" peak {world.prodia.peak_in_flight} jobs at Prodia at once"
    )

    # Limits: every member got exactly 10 jobs; one of their 11 requests was refused, privately, unstored.
    assert len(jobs) == JOBS
    assert Counter(int(r["user_id"]) for r in jobs) == dict.fromkeys(members, JOBS_PER_HOUR)
    for user in members:
        refused = [a for a in answers[user] if not a.get("embeds")]
        assert len(refused) == 1, f"member {user}: {len(refused)} of {ATTEMPTS} refused"
        assert "used your 10 jobs for this hour" in refused[0]["content"], refused[0]["content"]
        assert refused[0]["flags"] & EPHEMERAL

    # Budget: it bound at exactly 200 clips, refused the next request and was never exceeded.
    assert f"daily budget of ${BUDGET:.2f}" in over_budget["content"], over_budget["content"]
    assert over_budget["flags"] & EPHEMERAL
    kinds: dict[int, list[str]] = defaultdict(list)
    for row in ledger:
        kinds[int(row["job_id"])].append(str(row["kind"]))
    reserved = sum(float(r["dollars"]) for r in ledger if r["kind"] == "reserve")
    committed = sum(float(r["dollars"]) for r in ledger if r["kind"] == "commit")
    assert reserved == pytest.approx(BUDGET)
    assert committed <= BUDGET + 1e-9

    # The ledger: one reservation and exactly one settlement per job, matching its outcome. Money Prodia may
    # have charged stays spent: a job killed mid-submission is committed once its request had gone out (its
    # `endpoint` is stored before it is sent), refunded before.
    for row in jobs:
        outcome = "commit" if row["state"] == "delivered" or row["endpoint"] is not None else "refund"
        assert sorted(kinds[int(row["id"])]) == [outcome, "reserve"], (row["id"], kinds[int(row["id"])])

    # Delivered exactly once: one clip message per delivered job, none for a failed one, which was failed
    # only because the kill caught it mid-submission (settled as the ledger check above says).
    assert all(row["error"] == INTERRUPTED for row in jobs if row["state"] == "failed")
    posted = Counter(int(str(m["embeds"][0]["footer"]["text"]).split()[1]) for m in world.clips())
    assert set(posted) == delivered and set(posted.values()) == {1}, posted.most_common(3)

    # No prompt reached Prodia twice: a taken-over job was polled by its id, never re-sent.
    at_prodia = Counter(job.config["prompt"] for job in world.prodia.jobs.values())
    assert max(at_prodia.values()) == 1, at_prodia.most_common(3)
    for row in jobs:
        if row["state"] == "delivered":
            sent = world.prodia.jobs[str(row["prodia_job_id"])].config["prompt"]
            assert sent == json.loads(row["request"])["prompt"]
    assert world.prodia.peak_in_flight <= MAX_IN_FLIGHT

    # The kill: the survivors took the dead worker's jobs over and finished them.
    logs = "".join((world.tmp / f"worker{i}.log").read_text() for i in range(1, WORKERS))
    assert "taken over from" in logs and f":{victim.pid}:" in logs
    assert all(proc.returncode == 0 for proc in procs.values() if proc is not victim)
    assert world.fake.identify_count == 1  # only the gateway opened a gateway connection

    if world.storage:
        # Nothing shared but the bucket: it holds each delivered clip, no working folder keeps one.
        server: S3Server = request.getfixturevalue("s3_server")
        bucket = world.storage["storage_url"].removeprefix("s3://").split("/")[0]
        stored = server.objects(bucket)
        assert {f"clips/{job_id}.mp4" for job_id in delivered} <= set(stored)
        assert not (world.tmp / "clips").exists()
        for name in ["gateway", *(f"worker{i}" for i in range(1, WORKERS))]:
            left = [p.name for p in (world.tmp / f"work-{name}").rglob("*") if p.is_file()]
            assert left == [], (name, left)

    # Fairness: each job was claimed once; by start time, no member's second job started before every
    # member's first, and every run of USERS consecutive claims served every member.
    assert {int(r["attempts"]) for r in jobs} == {1}
    by_start = sorted(jobs, key=lambda r: (float(r["started_at"]), int(r["id"])))
    starts: dict[int, list[float]] = defaultdict(list)
    for row in by_start:
        starts[int(row["user_id"])].append(float(row["started_at"]))
    last_first = max(s[0] for s in starts.values())
    first_second = min(s[1] for s in starts.values())
    assert first_second > last_first, (first_second, last_first)
    order = [int(r["user_id"]) for r in by_start]
    distinct = [len(set(order[i : i + USERS])) for i in range(len(order) - USERS + 1)]
    print(f"distinct members per {USERS} consecutive claims: {sorted(Counter(distinct).items())}")
    assert min(distinct) >= MIN_DISTINCT_PER_WINDOW, distinct


def _told(world: World, row: Any) -> bool:
    """Whether the failed job's status message now says what happened."""
    token = json.loads(row["target"])["interaction_token"]
    embed = (world.answer(token).get("embeds") or [{}])[0]
    said = {field["name"]: field["value"] for field in embed.get("fields", [])}
    return embed.get("footer", {}).get("text") == f"Job {row['id']}" and said.get("What happened") == str(
        row["user_error"]
    )


def _answered(world: World, token: str) -> dict[str, Any] | None:
    """The interaction's answer once it is a status embed (accepted) or a text (refused)."""
    answer = world.answer(token)
    return answer if answer.get("embeds") or answer.get("content") else None
