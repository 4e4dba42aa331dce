"""The jobs repository's list queries for /queue and /history: one server's rows, in SQL, with a limit."""

from __future__ import annotations

from typing import Any, cast

from bot.domain.models import JobRequest, JobState, Target
from bot.store.jobs import JobStore, NewJob


async def add(
    store: JobStore, *, user_id: int = 1, guild_id: int = 10, private: bool = False, **target: Any
) -> int:
    job = await store.create(
        NewJob(
            request=JobRequest.parse(prompt='a clip "private": true'),
            user_id=user_id,
            guild_id=guild_id,
            estimated_cost=0.4,
            target_kind="discord",
            # `target` may hold keys no real target has (a look-alike flag in a value): cast, not checked.
            target=cast(Target, {"kind": "discord", "private": private, **target}),
        )
    )
    return job.id


async def test_recent_jobs_are_this_servers_newest_first_with_limit_and_offset(store: JobStore) -> None:
    mine = [await add(store) for _ in range(5)]
    for _ in range(20):
        await add(store, guild_id=20)  # busy elsewhere
        await add(store, user_id=2)  # someone else here
    recent = await store.recent_jobs(10, 1, limit=3, include_private=True)
    assert [j.id for j in recent] == mine[::-1][:3]
    rest = await store.recent_jobs(10, 1, limit=3, offset=3, include_private=True)
    assert [j.id for j in rest] == mine[::-1][3:]


async def test_recent_jobs_leave_out_private_ones_unless_asked(store: JobStore) -> None:
    public = await add(store)
    secret = await add(store, private=True)
    # Text that looks like the flag, inside a value, doesn't hide a job.
    tricky = await add(store, note='"private": true')
    assert [j.id for j in await store.recent_jobs(10, 1, limit=10, include_private=False)] == [tricky, public]
    assert [j.id for j in await store.recent_jobs(10, 1, limit=10, include_private=True)] == [
        tricky,
        secret,
        public,
    ]


async def test_waiting_jobs_and_the_queue_count_are_this_servers(store: JobStore) -> None:
    first, second, done = [await add(store) for _ in range(3)]
    await store.transition(done, JobState.CANCELLED)
    for _ in range(7):
        await add(store, guild_id=20)
    assert [j.id for j in await store.waiting_jobs(10, 1, limit=10)] == [first, second]
    assert [j.id for j in await store.waiting_jobs(10, 1, limit=1)] == [first]
    assert await store.count_queued(10) == 2
    assert await store.count_queued(20) == 7
    assert await store.count_queued(30) == 0
