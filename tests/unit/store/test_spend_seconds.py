"""The spend page's rows on both engines: `spend_rows` with each job's seconds of video delivered."""

from __future__ import annotations

from dataclasses import replace

from bot.domain.models import JobRequest, JobState
from bot.store.governance import Governance
from bot.store.jobs import JobStore
from tests.unit.store.test_jobs import new_job

GUILD = 10


async def test_only_a_delivered_clip_counts_its_seconds_and_the_dollars_are_spend_rows(
    store: JobStore,
) -> None:
    delivered = await store.create(
        replace(new_job(1, GUILD), request=JobRequest.parse(prompt="a kite", duration=12))
    )
    claimed = await store.claim_next(owner="w", lease_seconds=30, max_in_flight=5, target_kinds=["file"])
    assert claimed is not None and claimed.id == delivered.id
    await store.transition(delivered.id, JobState.RUNNING, prodia_job_id="p-1", endpoint="async")
    await store.transition(delivered.id, JobState.DELIVERING, output_path="/x.mp4", actual_cost=1.1)
    await store.transition(delivered.id, JobState.DELIVERED)
    refunded = await store.create(
        replace(new_job(2, GUILD), request=JobRequest.parse(prompt="a boat", duration=8))
    )
    await store.transition(refunded.id, JobState.FAILED, error="boom")
    await store.create(
        replace(new_job(2, GUILD), request=JobRequest.parse(prompt="a cat", duration=8))
    )  # open
    await store.create(new_job(3, GUILD + 1))
    governance = Governance(store.db)
    rows = await governance.spend_rows_with_seconds(GUILD, 0)
    assert [(user, round(dollars, 2), state, seconds) for user, _, dollars, state, seconds in rows] == [
        (1, 1.1, "delivered", 12),
        (2, 0.0, "failed", 0),
        (2, 0.4, "queued", 0),
    ]
    assert await governance.spend_rows(GUILD, 0) == [row[:4] for row in rows]
