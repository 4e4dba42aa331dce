"""The money invariant, over random interleavings of what the bot does to jobs, on both engines.

Random lists of operations (accept, approve, reject, claim, a request that may bill sent, Prodia accepting or
clearly refusing it, finishing with or without a price, deliver, deliver again, fail, cancel, a worker dying
mid-submission) drive the real JobStore as the scheduler, the approvals and the buttons do. After every step,
against a model kept by the test:

  - a server's spend (spend_today, and the admin report's spend_rows) is, for each of its jobs, what Prodia
    charged (its price once reported, else the estimate) for a job Prodia accepted, or that ended after a
    request that may bill was sent to it and not clearly refused, never less, whatever happened next; the
    estimate while a job is held; nothing for a job that never reached Prodia;
  - a member's quota follows the refund policy in the README: it stays used while the job is open, and for a
    delivered clip or the member's own cancel after submission; it is given back when the job failed, was
    rejected, or was cancelled before reaching Prodia;
  - every job has one reservation and, once it has ended, exactly one settlement (never two).

Hypothesis runs in a worker thread and hands each example to the test's event loop, so one database per
engine serves every example (emptied between them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.domain.limits import DAY
from bot.domain.models import IN_FLIGHT, TERMINAL, JobRequest, JobState
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.jobs import JobStore, NewJob
from bot.store.usage import spend_today, usage_of

INVARIANT = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=50,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

GUILDS = (10, 20)
USERS = (1, 2, 3)
START = 100 * DAY + 600.0  # early in a UTC day: every step stays in the same day and the same hour

Op = tuple[Any, ...]

ACCEPT = st.tuples(
    st.just("accept"),
    st.sampled_from(USERS),
    st.sampled_from(GUILDS),
    st.booleans(),  # waits for a moderator's approval
    st.sampled_from((4, 8, 12)),
    st.sampled_from((0.4, 0.8, 1.2)),
)
# The next step of an open job's own life (approve, claim, Prodia accepts, Prodia finishes with a price that
# is missing, below or above the estimate, deliver), as the bot runs it.
ADVANCE = st.tuples(st.just("advance"), st.integers(0, 7), st.sampled_from((None, 0.25, 0.5, 2.0)))
# What can happen to a job at any time; most are refused in most states, which the test checks too.
DISRUPT = st.tuples(
    st.sampled_from(["fail", "cancel", "reject", "interrupt", "claim", "redeliver", "sent", "refused"]),
    st.integers(0, 7),
)
ops = st.lists(st.one_of(ACCEPT, ADVANCE, ADVANCE, ADVANCE, DISRUPT), min_size=8, max_size=40)


@dataclass
class Model:
    """What the test knows of a job, from the answers of the store's own calls."""

    id: int
    guild_id: int
    user_id: int
    duration: int
    estimate: float
    state: JobState
    charged: bool = False  # Prodia accepted it (or may have: cancelled mid-submission, or sent to it)
    sent: bool = False  # a request that may bill went to Prodia while it was being submitted
    price: float | None = None

    def spend(self) -> float:
        if self.state not in TERMINAL or self.charged or self.state is JobState.DELIVERED:
            return self.price if self.price is not None else self.estimate
        return 0.0

    def quota_used(self) -> bool:
        if self.state not in TERMINAL or self.state is JobState.DELIVERED:
            return True
        return self.state is JobState.CANCELLED and self.charged


NEXT = {
    JobState.AWAITING_APPROVAL: "approve",
    JobState.QUEUED: "claim",
    JobState.SUBMITTING: "prodia_accepts",
    JobState.RUNNING: "finish",
    JobState.DELIVERING: "deliver",
}


class Run:
    def __init__(self, db: Database, seen: set[tuple[JobState, JobState]]) -> None:
        self.db = db
        self.seen = seen
        self.now = START
        self.store = JobStore(db, clock=lambda: self.now)
        self.jobs: list[Model] = []

    @staticmethod
    def pick(index: int, jobs: list[Model]) -> Model | None:
        return jobs[index % len(jobs)] if jobs else None

    async def step(self, op: Op) -> None:
        self.now += 1.0
        name = op[0]
        if name == "accept":
            _, user, guild, approval, duration, estimate = op
            job = await self.store.create(
                NewJob(
                    request=JobRequest.parse(prompt=f"clip {len(self.jobs)}", duration=duration),
                    user_id=user,
                    guild_id=guild,
                    estimated_cost=estimate,
                    target_kind="file",
                    target={"kind": "file"},
                    state=JobState.AWAITING_APPROVAL if approval else JobState.QUEUED,
                )
            )
            self.jobs.append(Model(job.id, guild, user, duration, estimate, job.state))
            return
        # Delivering again and a late Cancel go to any job (ended ones too); the rest to an open job.
        model = self.pick(
            op[1],
            self.jobs
            if name in ("redeliver", "cancel")
            else [m for m in self.jobs if m.state not in TERMINAL],
        )
        if model is None:
            return
        if name == "advance":
            name = NEXT[model.state]
        if name == "sent":  # the backend is about to send a request that may bill (Scheduler's on_sent)
            marked = await self.store.mark_sent(model.id, "sync", owner="w")
            assert marked is (model.state is JobState.SUBMITTING)
            model.sent = model.sent or marked
            return
        if name == "claim":
            claimed = await self.store.claim_next(
                owner="w", lease_seconds=60, max_in_flight=100, target_kinds=["file"]
            )
            if claimed is not None:
                next(m for m in self.jobs if m.id == claimed.id).state = claimed.state
            return
        before = model.state
        moved = await self._move(name, model, op)
        if moved is None:
            assert (await self._state(model.id)) is before  # a refused move changes nothing
            return
        self.seen.add((before, moved.state))
        model.state = moved.state
        if name == "refused":  # Prodia clearly refused what was sent: it started nothing to pay for
            model.sent = False
        if (
            moved.state is JobState.RUNNING
            or (moved.state is JobState.CANCELLED and before is JobState.SUBMITTING)
            or (moved.state in TERMINAL and before is JobState.SUBMITTING and model.sent)
        ):
            model.charged = True
        if name == "finish":
            model.price = op[2]

    async def _move(self, name: str, model: Model, op: Op) -> Any:
        t = self.store.transition
        if name == "approve":
            return await t(model.id, JobState.QUEUED, expect={JobState.AWAITING_APPROVAL})
        if name == "reject":
            return await t(model.id, JobState.REJECTED, expect={JobState.AWAITING_APPROVAL})
        if name == "prodia_accepts":
            return await t(
                model.id,
                JobState.RUNNING,
                expect={JobState.SUBMITTING},
                prodia_job_id=f"p-{model.id}",
                endpoint="async",
            )
        if name == "finish":
            return await t(
                model.id,
                JobState.DELIVERING,
                expect={JobState.RUNNING},
                output_path=f"/clips/{model.id}.mp4",
                actual_cost=op[2],
            )
        if name in ("deliver", "redeliver"):  # again after a crash: the second one must change nothing
            return await t(model.id, JobState.DELIVERED, expect={JobState.DELIVERING})
        if name == "fail":
            return await t(model.id, JobState.FAILED, error="failed", user_error="It failed.")
        if name == "refused":  # as Scheduler._fail on a clear refusal (401/403, 429, a 4xx job error)
            return await t(model.id, JobState.FAILED, expect={JobState.SUBMITTING}, endpoint=None, error="no")
        if name == "interrupt":  # recovery: a worker died between submitting and storing Prodia's id
            return await t(model.id, JobState.FAILED, expect={JobState.SUBMITTING}, error="interrupted")
        assert name == "cancel"  # as Scheduler.cancel: before Prodia, else whatever is in flight
        cancelled = await t(
            model.id, JobState.CANCELLED, expect={JobState.QUEUED, JobState.AWAITING_APPROVAL}
        )
        return cancelled or await t(model.id, JobState.CANCELLED, expect=IN_FLIGHT)

    async def _state(self, job_id: int) -> JobState:
        job = await self.store.get(job_id)
        assert job is not None
        return job.state

    async def check(self) -> None:
        for model in self.jobs:
            job = await self.store.get(model.id)
            assert job is not None and job.state is model.state
            rows = await self.db.reader.fetch_all(
                "SELECT kind, dollars, quota_returned FROM usage_ledger WHERE job_id = ? ORDER BY id",
                (model.id,),
            )
            kinds = [row["kind"] for row in rows]
            assert kinds[0] == "reserve" and rows[0]["dollars"] == model.estimate
            assert len(kinds) == (2 if model.state in TERMINAL else 1), (model, kinds)
            if model.state in TERMINAL:
                settled = rows[1]
                spent = settled["dollars"] if settled["kind"] == "commit" else 0.0
                assert spent == pytest.approx(model.spend()), (model, kinds)
                assert bool(settled["quota_returned"]) is not model.quota_used(), (model, dict(settled))
        governance = Governance(self.db)
        for guild in GUILDS:
            expected = sum(m.spend() for m in self.jobs if m.guild_id == guild)
            async with self.db.transaction() as conn:
                assert await spend_today(conn, guild, self.now) == pytest.approx(expected)
            reported = await governance.spend_rows(guild, 0)  # the admin report's view of the same money
            assert len(reported) == sum(m.guild_id == guild for m in self.jobs)
            assert sum(row[2] for row in reported) == pytest.approx(expected)
            for user in USERS:
                mine = [m for m in self.jobs if m.guild_id == guild and m.user_id == user]
                used = [m for m in mine if m.quota_used()]
                usage = await usage_of(self.db.reader, guild, user, self.now)
                assert usage.jobs_last_hour == len(used)
                assert usage.video_seconds_last_day == sum(m.duration for m in used)
                assert usage.active_jobs == sum(m.state not in TERMINAL for m in mine)


async def reset(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM usage_ledger")
        await conn.execute("DELETE FROM jobs")


async def run_example(db: Database, steps: Sequence[Op], seen: set[tuple[JobState, JobState]]) -> None:
    await reset(db)
    run = Run(db, seen)
    for op in steps:
        await run.step(op)
        await run.check()


# Every way a job can end, and the moves that decide what is charged, must come up (at least in the explicit
# example; the random ones explore the interleavings).
MUST_SEE = {
    (JobState.DELIVERING, JobState.DELIVERED),
    (JobState.DELIVERING, JobState.FAILED),  # a paid clip whose delivery failed
    (JobState.RUNNING, JobState.FAILED),
    (JobState.RUNNING, JobState.CANCELLED),
    (JobState.SUBMITTING, JobState.CANCELLED),
    (JobState.SUBMITTING, JobState.FAILED),
    (JobState.QUEUED, JobState.CANCELLED),
    (JobState.QUEUED, JobState.FAILED),
    (JobState.AWAITING_APPROVAL, JobState.REJECTED),
    (JobState.AWAITING_APPROVAL, JobState.CANCELLED),
}


def _one_job_at_a_time() -> list[Op]:
    """Every ending, one job after another: `advance 0` reaches the only open job, `cancel -1` the newest."""

    def accept(approval: bool = False) -> Op:
        return ("accept", 1, GUILDS[0], approval, 8, 0.8)

    step: Op = ("advance", 0, None)
    return [
        *(accept(), step, step, ("advance", 0, 2.0), step, ("redeliver", 0)),  # delivered, price > estimate
        *(accept(), step, step, ("advance", 0, 0.25), ("fail", 0)),  # paid clip, delivery failed
        *(accept(), step, step, ("fail", 0)),  # failed at Prodia
        *(accept(), step, step, ("cancel", -1)),  # the member cancelled it while Prodia ran it
        *(accept(), step, ("cancel", -1)),  # cancelled mid-submission
        *(accept(), step, ("interrupt", 0)),  # a worker died mid-submission, before sending anything
        *(accept(), step, ("sent", 0), ("interrupt", 0)),  # ... after sending a sync job: may be paid
        *(accept(), step, ("sent", 0), ("fail", 0)),  # a sync answer cut short: may be paid
        *(accept(), step, ("sent", 0), ("refused", 0)),  # sent and clearly refused (401, 429): refunded
        *(accept(), ("fail", 0)),
        *(accept(), ("cancel", -1)),
        *(accept(approval=True), ("reject", 0)),
        *(accept(approval=True), ("cancel", -1)),
    ]


async def test_spend_follows_prodia_and_quota_follows_the_refund_policy(db: Database) -> None:
    loop = asyncio.get_running_loop()
    seen: set[tuple[JobState, JobState]] = set()

    @INVARIANT
    @example(steps=_one_job_at_a_time())
    @given(steps=ops)
    def run(steps: list[Op]) -> None:
        asyncio.run_coroutine_threadsafe(run_example(db, steps, seen), loop).result(timeout=60)

    await asyncio.to_thread(run)
    assert seen >= MUST_SEE, sorted(MUST_SEE - seen)
