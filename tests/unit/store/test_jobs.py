"""The jobs repository: the one transition function, the usage ledger, fair and atomic claims, leases."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.domain.models import JobRequest, JobState
from bot.store.db import Database
from bot.store.jobs import JobStore, NewJob
from bot.store.usage import spend_today


def new_job(user_id: int = 1, guild_id: int | None = 10, *, prompt: str = "a dog runs") -> NewJob:
    return NewJob(
        request=JobRequest.parse(prompt=prompt),
        user_id=user_id,
        guild_id=guild_id,
        estimated_cost=0.4,
        target_kind="file",
        target={"kind": "file", "path": "/dev/null"},
    )


async def claim(store: JobStore, owner: str = "w1", cap: int = 100) -> int | None:
    job = await store.claim_next(owner=owner, lease_seconds=30, max_in_flight=cap, target_kinds=["file"])
    return job.id if job else None


async def test_create_reserves_usage_once(store: JobStore) -> None:
    job = await store.create(new_job())
    assert job.state is JobState.QUEUED
    assert await store.ledger(job.id) == [("reserve", 0.4)]


async def test_delivered_commits_the_reported_price(store: JobStore) -> None:
    job = await store.create(new_job())
    assert await claim(store) == job.id
    await store.transition(job.id, JobState.RUNNING, prodia_job_id="p-1", endpoint="async")
    await store.transition(job.id, JobState.DELIVERING, output_path="/x.mp4", actual_cost=0.35)
    done = await store.transition(job.id, JobState.DELIVERED)
    assert done is not None and done.finished_at is not None and done.lease_owner is None
    assert await store.ledger(job.id) == [("reserve", 0.4), ("commit", 0.35)]


async def test_failure_refunds_and_cancel_before_submission_refunds(store: JobStore) -> None:
    failed = await store.create(new_job())
    await claim(store)
    await store.transition(failed.id, JobState.FAILED, error="boom", user_error="it broke")
    cancelled = await store.create(new_job())
    await store.transition(cancelled.id, JobState.CANCELLED)
    assert await store.ledger(failed.id) == [("reserve", 0.4), ("refund", 0.4)]
    assert await store.ledger(cancelled.id) == [("reserve", 0.4), ("refund", 0.4)]


async def test_a_failure_after_prodia_accepted_keeps_the_charge(store: JobStore) -> None:
    priced = await store.create(new_job())
    await claim(store)
    await store.transition(priced.id, JobState.RUNNING, prodia_job_id="p-3", endpoint="async")
    await store.transition(priced.id, JobState.DELIVERING, output_path="/x.mp4", actual_cost=0.35)
    await store.transition(priced.id, JobState.FAILED, error="403 Missing Permissions")
    unpriced = await store.create(new_job())
    await claim(store)
    await store.transition(unpriced.id, JobState.RUNNING, prodia_job_id="p-4", endpoint="async")
    await store.transition(unpriced.id, JobState.FAILED, error="timed out")
    # What Prodia charged stays spent (its price, else the estimate); the member's quota comes back.
    assert await store.ledger(priced.id) == [("reserve", 0.4), ("commit", 0.35)]
    assert await store.ledger(unpriced.id) == [("reserve", 0.4), ("commit", 0.4)]
    async with store.db.transaction() as conn:
        assert await spend_today(conn, 10, time.time()) == pytest.approx(0.75)
    assert (await store.usage(10, 1)).jobs_last_hour == 0


async def test_cancel_after_submission_keeps_the_charge(store: JobStore) -> None:
    job = await store.create(new_job())
    await claim(store)
    await store.transition(job.id, JobState.RUNNING, prodia_job_id="p-2", endpoint="async")
    await store.transition(job.id, JobState.CANCELLED)
    assert await store.ledger(job.id) == [("reserve", 0.4), ("commit", 0.4)]


async def test_a_transition_not_allowed_from_the_current_state_does_nothing(store: JobStore) -> None:
    job = await store.create(new_job())
    assert await store.transition(job.id, JobState.DELIVERED) is None
    assert await store.transition(job.id, JobState.RUNNING) is None
    await store.transition(job.id, JobState.CANCELLED)
    assert await store.transition(job.id, JobState.FAILED) is None  # terminal stays terminal
    assert await store.transition(9999, JobState.CANCELLED) is None
    assert await store.ledger(job.id) == [("reserve", 0.4), ("refund", 0.4)]


async def test_transition_refuses_unknown_columns(store: JobStore) -> None:
    job = await store.create(new_job())
    with pytest.raises(ValueError, match="can't set"):
        await store.transition(job.id, JobState.CANCELLED, state="delivered")


async def test_the_ledger_settles_a_job_only_once(store: JobStore, db: Database) -> None:
    job = await store.create(new_job())
    await store.transition(job.id, JobState.CANCELLED)
    with pytest.raises(Exception, match="already settled"):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO usage_ledger (job_id, user_id, kind, video_seconds, dollars, created_at)"
                " VALUES (?, 1, 'commit', 4, 0.4, 0)",
                (job.id,),
            )


async def test_racing_transitions_have_one_winner(store: JobStore) -> None:
    job = await store.create(new_job())
    results = await asyncio.gather(
        *(store.transition(job.id, state) for state in [JobState.CANCELLED, JobState.SUBMITTING] * 10)
    )
    assert sum(r is not None for r in results) == 1
    assert len(await store.ledger(job.id)) in (1, 2)


async def test_listeners_hear_every_change_with_the_previous_state(store: JobStore) -> None:
    heard: list[tuple[int, str, str]] = []

    async def listener(job: object, previous: JobState) -> None:
        assert hasattr(job, "state")
        heard.append((job.id, previous.value, job.state.value))  # type: ignore[attr-defined]

    store.listeners.append(listener)
    job = await store.create(new_job())
    await claim(store)
    await store.transition(job.id, JobState.FAILED)
    assert heard == [(job.id, "queued", "submitting"), (job.id, "submitting", "failed")]


async def test_round_robin_serves_a_new_user_within_one_slot(store: JobStore) -> None:
    heavy = [await store.create(new_job(user_id=1)) for _ in range(50)]
    first = await claim(store)
    assert first == heavy[0].id
    light = await store.create(new_job(user_id=2))
    # user 2 was never served, so it goes next, ahead of user 1's 49 older jobs
    assert await claim(store) == light.id
    assert await claim(store) == heavy[1].id


async def test_round_robin_alternates_between_busy_users(store: JobStore) -> None:
    for _ in range(5):
        await store.create(new_job(user_id=1))
        await store.create(new_job(user_id=2))
        await store.create(new_job(user_id=3))
    order = []
    for _ in range(15):
        job_id = await claim(store)
        assert job_id is not None
        job = await store.get(job_id)
        assert job is not None
        order.append(job.user_id)
    assert order == [1, 2, 3] * 5


async def test_users_in_different_servers_are_different_users(store: JobStore) -> None:
    a = await store.create(new_job(user_id=1, guild_id=10))
    await store.create(new_job(user_id=1, guild_id=10))
    b = await store.create(new_job(user_id=1, guild_id=20))
    assert [await claim(store), await claim(store)] == [a.id, b.id]


async def test_round_robin_goes_across_servers_before_users(store: JobStore) -> None:
    # A big server with five busy members, a small one with one member, and one member's direct messages.
    for _ in range(3):
        for user in range(1, 6):
            await store.create(new_job(user_id=user, guild_id=10))
    for _ in range(3):
        await store.create(new_job(user_id=9, guild_id=20))
    for _ in range(2):
        await store.create(new_job(user_id=7, guild_id=None))
    order = []
    for _ in range(9):
        job = await store.get(await claim(store))  # type: ignore[arg-type]
        assert job is not None
        order.append((job.guild_id, job.user_id))
    # Servers take turns (DMs count as one), and within the big server its members take turns.
    assert order == [
        (10, 1), (20, 9), (None, 7), (10, 2), (20, 9), (None, 7), (10, 3), (20, 9), (10, 4)
    ]  # fmt: skip


async def test_queue_positions_bound_the_real_claim_order_across_servers(store: JobStore) -> None:
    layout = [(10, 1), (10, 1), (10, 2), (20, 3), (10, 1), (20, 3), (20, 3), (20, 4), (None, 5), (10, 2)]
    jobs = [await store.create(new_job(user_id=user, guild_id=guild)) for guild, user in layout]
    predicted = {job.id: await store.queue_position(job) for job in jobs}
    actual = {await claim(store): place for place in range(1, len(jobs) + 1)}
    for job in jobs:
        assert actual[job.id] <= predicted[job.id] <= len(jobs), (job.id, actual, predicted)  # never too soon


async def test_a_small_servers_member_is_not_told_to_wait_for_a_big_servers_whole_queue(
    store: JobStore,
) -> None:
    big_server, small_server = 1_100_000_000_000_000_010, 1_100_000_000_000_000_020  # Discord-sized ids
    for member in range(10):
        await store.create(new_job(user_id=member, guild_id=big_server))
    small = await store.create(new_job(user_id=99, guild_id=small_server))
    assert await store.queue_position(small) == 2  # one turn of the big server at most, not ten
    assert small.id in {await claim(store), await claim(store)}


async def test_claims_respect_the_in_flight_cap(store: JobStore) -> None:
    for user in range(5):
        await store.create(new_job(user_id=user))
    assert [await claim(store, cap=2) for _ in range(3)] == [1, 2, None]
    await store.transition(1, JobState.RUNNING, prodia_job_id="p", endpoint="async")
    assert await claim(store, cap=2) is None  # running still occupies a slot at Prodia
    await store.transition(1, JobState.DELIVERING, output_path="/x.mp4")
    assert await claim(store, cap=2) == 3  # delivering does not


async def test_claims_only_take_jobs_this_worker_can_deliver(store: JobStore) -> None:
    await store.create(new_job())
    job = await store.claim_next(owner="w", lease_seconds=30, max_in_flight=9, target_kinds=["discord"])
    assert job is None


async def test_concurrent_claims_from_separate_connections_never_share_a_job(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    setup = await Database.open(path)
    seed = JobStore(setup)
    for i in range(60):
        await seed.create(new_job(user_id=i % 7))
    workers = [JobStore(await Database.open(path)) for _ in range(4)]

    async def drain(store: JobStore, owner: str) -> list[int]:
        got = []
        while (job_id := await claim(store, owner=owner)) is not None:
            got.append(job_id)
        return got

    results = await asyncio.gather(*(drain(s, f"w{i}") for i, s in enumerate(workers)))
    claimed = [job_id for got in results for job_id in got]
    assert sorted(claimed) == list(range(1, 61))
    for store in [*workers, seed]:
        await store.db.close()


async def test_leases_renew_release_and_can_be_taken_over_once(store: JobStore) -> None:
    job = await store.create(new_job())
    await claim(store, owner="dead-worker")
    assert await store.renew_leases("dead-worker", 60) == {job.id}
    assert await store.renew_leases("someone-else", 60) == set()
    others = await store.leased_jobs(["file"])
    assert [j.id for j in others] == [job.id]
    await store.release_leases("dead-worker")
    stale = (await store.leased_jobs(["file"]))[0]
    assert stale.lease_expires_at == 0
    results = await asyncio.gather(
        *(store.take_over(stale, owner=f"me{i}", lease_seconds=30) for i in range(5))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0].lease_owner is not None
