"""Per-user limits: checked and reserved atomically, refunds give room back, resets are reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.domain.limits import DAY, HOUR, Limits
from bot.domain.models import JobRequest, JobState
from bot.errors import QuotaExceeded
from bot.store.db import Database
from bot.store.jobs import JobStore, NewJob


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def job(user_id: int = 1, duration: int = 4) -> NewJob:
    return NewJob(
        request=JobRequest.parse(prompt="a dog runs", duration=duration),
        user_id=user_id,
        guild_id=10,
        estimated_cost=0.4,
        target_kind="file",
        target={"kind": "file"},
    )


async def test_hourly_limit_names_itself_and_when_it_resets(db: Database) -> None:
    clock = Clock()
    store = JobStore(db, clock=clock)
    limits = Limits(jobs_per_hour=2, video_seconds_per_day=1000, concurrent=10)
    first = await store.create(job(), limits)
    clock.now += 100
    await store.create(job(), limits)
    with pytest.raises(QuotaExceeded) as caught:
        await store.create(job(), limits)
    assert caught.value.limit == "jobs_per_hour"
    assert caught.value.resets_at == pytest.approx(first.created_at + HOUR)
    assert len(await store.list_jobs()) == 2  # nothing stored for the refused request
    clock.now = first.created_at + HOUR + 1
    await store.create(job(), limits)


async def test_a_refund_gives_the_room_back(db: Database) -> None:
    store = JobStore(db)
    limits = Limits(jobs_per_hour=1, video_seconds_per_day=1000, concurrent=10)
    first = await store.create(job(), limits)
    with pytest.raises(QuotaExceeded):
        await store.create(job(), limits)
    await store.transition(first.id, JobState.CANCELLED)
    await store.create(job(), limits)


async def test_daily_seconds_and_concurrency(db: Database) -> None:
    clock = Clock()
    store = JobStore(db, clock=clock)
    limits = Limits(jobs_per_hour=100, video_seconds_per_day=20, concurrent=2)
    a = await store.create(job(duration=12), limits)
    clock.now += 10
    await store.create(job(duration=8), limits)
    with pytest.raises(QuotaExceeded) as caught:
        await store.create(job(duration=4), limits)
    assert caught.value.limit == "concurrent" and caught.value.resets_at is None
    await store.transition(a.id, JobState.SUBMITTING)
    await store.transition(a.id, JobState.RUNNING, prodia_job_id="p", endpoint="async")
    await store.transition(a.id, JobState.DELIVERING, output_path="/x")
    await store.transition(a.id, JobState.DELIVERED)
    with pytest.raises(QuotaExceeded) as caught:
        await store.create(job(duration=4), limits)
    assert caught.value.limit == "video_seconds_per_day"
    assert "0 s left" in caught.value.user_message
    assert caught.value.resets_at == pytest.approx(a.created_at + DAY)
    other_user = await store.create(job(user_id=2, duration=4), limits)
    assert other_user.user_id == 2


async def test_a_burst_of_concurrent_requests_cannot_cross_a_limit(tmp_path: Path) -> None:
    path = tmp_path / "burst.db"
    stores = [JobStore(await Database.open(path)) for _ in range(4)]
    limits = Limits(jobs_per_hour=5, video_seconds_per_day=1000, concurrent=100)

    async def attempt(i: int) -> bool:
        try:
            await stores[i % 4].create(job(), limits)
        except QuotaExceeded:
            return False
        return True

    results = await asyncio.gather(*(attempt(i) for i in range(40)))
    assert sum(results) == 5
    assert len(await stores[0].list_jobs()) == 5
    usage = await stores[0].usage(10, 1)
    assert usage.jobs_last_hour == 5 and usage.active_jobs == 5
    for store in stores:
        await store.db.close()


async def test_a_paid_job_that_fails_gives_the_quota_back_but_not_the_budget(db: Database) -> None:
    store = JobStore(db)
    limits = Limits(jobs_per_hour=1, video_seconds_per_day=1000, concurrent=10)
    paid = await store.create(job(), limits, budget_per_day=1.0)
    await store.transition(paid.id, JobState.SUBMITTING)
    await store.transition(paid.id, JobState.RUNNING, prodia_job_id="p", endpoint="async")
    await store.transition(paid.id, JobState.DELIVERING, output_path="/x", actual_cost=0.5)
    await store.transition(paid.id, JobState.FAILED, error="the post was refused")
    # The member got no clip through no fault of theirs: their hour is free again...
    await store.create(job(), limits, budget_per_day=1.0)
    # ...but the $0.50 Prodia charged still counts: $0.50 + $0.40 held leaves no room for $0.40 more of $1.
    with pytest.raises(QuotaExceeded) as caught:
        await store.create(job(user_id=2), limits, budget_per_day=1.0)
    assert caught.value.limit == "budget"
