"""Stories: a story and all its shots in one transaction, waiting shots never claimed, queueing the next shot
once, stopping a story with refunds."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from bot.domain.limits import Limits
from bot.domain.models import JobRequest, JobState
from bot.domain.stories import StoryState
from bot.errors import QuotaExceeded
from bot.store.jobs import JobStore
from bot.store.stories import NewStory

IMAGE = "inputs/0123456789abcdef0123456789abcdef.jpg"


def new_story(shots: int = 3, *, duration: int = 4, guild_id: int | None = 10) -> NewStory:
    return NewStory(
        requests=[
            JobRequest.parse(prompt=f"shot {n} of the story", duration=duration, seed=7) for n in range(shots)
        ],
        estimated_costs=[0.4] * shots,
        user_id=1,
        guild_id=guild_id,
        target={"kind": "file", "path": "/dev/null"},
    )


async def claim(store: JobStore) -> int | None:
    job = await store.claim_next(owner="w1", lease_seconds=30, max_in_flight=100, target_kinds=["story:file"])
    return job.id if job else None


async def test_a_story_is_stored_with_shot_one_queued_the_rest_waiting_and_every_shot_reserved(
    store: JobStore,
) -> None:
    story, shots = await store.create_story(new_story(3))
    assert story.state is StoryState.RUNNING and story.shots == 3 and story.transition == "cut"
    assert [shot.state for shot in shots] == [JobState.QUEUED, JobState.WAITING, JobState.WAITING]
    assert [(shot.story_id, shot.shot_index) for shot in shots] == [
        (story.id, 0),
        (story.id, 1),
        (story.id, 2),
    ]
    for shot in shots:
        assert await store.ledger(shot.id) == [("reserve", 0.4)]
    usage = await store.usage(10, 1)
    assert usage.video_seconds_last_day == 12 and usage.jobs_last_hour == 3
    assert usage.active_jobs == 1  # the waiting shots don't hold a slot
    found = await store.get_story(story.id)
    assert found is not None and [s.id for s in found[1]] == [s.id for s in shots]


async def test_a_story_the_limits_cant_hold_whole_stores_nothing(store: JobStore) -> None:
    limits = Limits(jobs_per_hour=10, video_seconds_per_day=20, concurrent=1)
    with pytest.raises(QuotaExceeded):
        await store.create_story(new_story(3, duration=8), limits)  # 24 s of 20
    assert (await store.usage(10, 1)).video_seconds_last_day == 0
    assert await claim(store) is None
    story, _ = await store.create_story(new_story(2, duration=8), limits)  # 16 s, one slot
    assert story.shots == 2


async def test_a_story_over_the_servers_budget_is_refused(store: JobStore) -> None:
    with pytest.raises(QuotaExceeded):
        await store.create_story(new_story(3), budget_per_day=1.0)  # 3 x $0.40
    await store.create_story(new_story(2), budget_per_day=1.0)


async def test_waiting_shots_are_never_claimed(store: JobStore) -> None:
    _, shots = await store.create_story(new_story(3))
    assert await claim(store) == shots[0].id
    assert await claim(store) is None
    assert await store.count_queued(10) == 0


async def test_queueing_the_next_shot_gives_it_the_image_once(store: JobStore) -> None:
    story, shots = await store.create_story(new_story(3))
    queued = await store.queue_shot(story.id, 1, IMAGE)
    assert queued is not None and queued.state is JobState.QUEUED
    assert queued.request.image_path == IMAGE and queued.request.job_type.image_to_video
    assert queued.request.seed == 7 and queued.request.prompt == "shot 1 of the story"
    assert await store.queue_shot(story.id, 1, "inputs/ffffffffffffffffffffffffffffffff.jpg") is None
    again = await store.get(shots[1].id)
    assert again is not None and again.request.image_path == IMAGE
    assert await store.queue_shot(story.id, 9, IMAGE) is None


async def test_stopping_a_story_cancels_and_refunds_the_waiting_shots_only(store: JobStore) -> None:
    story, shots = await store.create_story(new_story(3))
    await claim(store)
    stopped = await store.stop_waiting_shots(story.id, error="stopped", user_error="The story stopped.")
    assert [job.id for job in stopped] == [shots[1].id, shots[2].id]
    for shot in shots[1:]:
        assert await store.ledger(shot.id) == [("reserve", 0.4), ("refund", 0.4)]
    first = await store.get(shots[0].id)
    assert first is not None and first.state is JobState.SUBMITTING
    assert await store.queue_shot(story.id, 1, IMAGE) is None
    assert await store.stop_waiting_shots(story.id, error="again", user_error="again") == []
    assert (await store.usage(10, 1)).video_seconds_last_day == 4


async def test_a_story_ends_once(store: JobStore) -> None:
    story, _ = await store.create_story(new_story(2))
    ended = await store.finish_story(story.id, StoryState.DELIVERED, output_path="story-1.mp4")
    assert ended is not None and ended.state is StoryState.DELIVERED and ended.finished_at is not None
    assert await store.finish_story(story.id, StoryState.FAILED, error="late") is None


async def test_a_failed_shot_is_tried_again_once_and_only_while_its_story_runs(store: JobStore) -> None:
    story, shots = await store.create_story(new_story(2))
    await claim(store)
    failed = await store.transition(shots[0].id, JobState.FAILED, error="boom", user_error="broke")
    assert failed is not None
    again = await store.retry_shot(failed)
    assert again is not None and again.state is JobState.QUEUED and again.request == failed.request
    assert await store.retry_shot(failed) is None  # once
    assert await store.ledger(again.id) == [("reserve", 0.4)]
    await claim(store)
    failed_again = await store.transition(again.id, JobState.FAILED, error="boom", user_error="broke")
    assert failed_again is not None and await store.retry_shot(failed_again) is None
    other, other_shots = await store.create_story(new_story(2))
    await store.finish_story(other.id, StoryState.CANCELLED)
    await claim(store)
    stopped = await store.transition(other_shots[0].id, JobState.FAILED, error="boom", user_error="broke")
    assert stopped is not None and await store.retry_shot(stopped) is None
    found = await store.get_story(story.id)
    assert found is not None and [s.id for s in found[1]] == [again.id, shots[1].id]


async def test_a_storys_joined_clip_goes_with_its_retention_and_when_its_member_is_forgotten(
    store: JobStore, tmp_path: Path
) -> None:
    from bot import files
    from bot.storage.local import FileStorage
    from bot.store.governance import Governance
    from bot.worker.retention import Retention

    (tmp_path / "clips").mkdir()
    storage = FileStorage(tmp_path / "clips")
    old, recent, forgotten = [await store.create_story(new_story(2, guild_id=g)) for g in (10, 10, 20)]
    for story, _ in (old, recent, forgotten):
        await storage.put_bytes(files.story_name(story.id), b"joined")
        await store.finish_story(story.id, StoryState.DELIVERED, output_path=files.story_name(story.id))
    async with store.db.transaction() as conn:
        await conn.execute("UPDATE stories SET finished_at = finished_at - 5000 WHERE id = ?", (old[0].id,))
    listing = await storage.listing()
    for name in listing:  # written long ago, as far as the grace period is concerned
        os.utime(tmp_path / "clips" / name, (1.0, 1.0))
    retention = Retention(store, storage, retention_seconds=1000, check_seconds=3600)
    await retention.clean_old_clips()
    assert set(await storage.listing()) == {files.story_name(recent[0].id), files.story_name(forgotten[0].id)}
    found = await store.get_story(old[0].id)
    assert found is not None and found[0].output_path is None

    gone = await Governance(store.db).forget_member(20, 1)
    assert gone.story_ids == [forgotten[0].id]


async def test_a_waiting_shot_can_be_cancelled_and_is_refunded(store: JobStore, tmp_path: Path) -> None:
    from bot.media.pool import MediaPool
    from bot.prodia.local import LocalBackend
    from bot.storage.local import FileStorage
    from bot.worker.scheduler import Scheduler, SchedulerConfig

    _, shots = await store.create_story(new_story(2))
    scheduler = Scheduler(store, LocalBackend(MediaPool(0)), {}, SchedulerConfig(), FileStorage(tmp_path))
    cancelled = await scheduler.cancel(shots[1].id)
    assert cancelled is not None and cancelled.state is JobState.CANCELLED
    assert await store.ledger(shots[1].id) == [("reserve", 0.4), ("refund", 0.4)]


async def test_a_received_clip_waiting_for_the_store_keeps_prodias_price(store: JobStore) -> None:
    await store.create_story(new_story(2))
    claimed = await store.claim_next(
        owner="w1", lease_seconds=30, max_in_flight=9, target_kinds=["story:file"]
    )
    assert claimed is not None
    await store.transition(claimed.id, JobState.RUNNING, owner="w1", prodia_job_id="p-1", endpoint="async")
    assert await store.mark_received(claimed.id, "s3://b/1.mp4", owner="w1", actual_cost=0.55)
    await store.transition(claimed.id, JobState.CANCELLED, error="cancelled")
    assert await store.ledger(claimed.id) == [("reserve", 0.4), ("commit", 0.55)]


async def finish_shot(store: JobStore, job_id: int, finished_at: float) -> None:
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE jobs SET state = 'delivered', output_path = ?, finished_at = ? WHERE id = ?",
            (f"{job_id}.mp4", finished_at, job_id),
        )


async def test_a_rerolls_shots_reuse_the_earlier_storys_and_keep_their_clips_while_it_runs(
    store: JobStore,
) -> None:
    first, shots = await store.create_story(new_story(3))
    for shot in shots:
        await finish_shot(store, shot.id, finished_at=100.0)
    await store.finish_story(first.id, StoryState.DELIVERED, output_path="story-1.mp4")
    again = NewStory(
        requests=[
            JobRequest.parse(prompt="shot 2 again", seed=7),
            JobRequest.parse(prompt="shot 3 again", seed=7),
        ],
        estimated_costs=[0.4, 0.4],
        user_id=1,
        guild_id=10,
        target={"kind": "file", "path": "/dev/null"},
        based_on=first.id,
        first_shot=1,
    )
    reroll, own = await store.create_story(again)
    assert reroll.shots == 3 and reroll.based_on == first.id and [j.shot_index for j in own] == [1, 2]
    found = await store.get_story(reroll.id)
    assert found is not None and [s.id for s in found[1]] == [shots[0].id, own[0].id, own[1].id]
    # Long past retention, the shots the running re-roll reuses keep their clips; the earlier story's
    # re-made shots don't.
    kept = await store.jobs_keeping_files(finished_before=1000.0)
    assert shots[0].id in kept and shots[1].id in kept  # first's shots: first is reused by a running story
    assert {j for j, _ in await store.old_outputs(1000.0)} & {s.id for s in shots} == set()
    await store.finish_story(reroll.id, StoryState.CANCELLED)
    kept = await store.jobs_keeping_files(finished_before=1000.0)
    assert not kept & {s.id for s in shots}
    assert {j for j, _ in await store.old_outputs(1000.0)} == {s.id for s in shots}


async def test_approval_holds_a_storys_first_shot(store: JobStore) -> None:
    _, shots = await store.create_story(dataclasses.replace(new_story(2), needs_approval=True))
    assert [s.state for s in shots] == [JobState.AWAITING_APPROVAL, JobState.WAITING]
    assert await claim(store) is None


async def test_a_process_runs_only_the_shots_of_stories_it_can_deliver(store: JobStore) -> None:
    discord_story = dataclasses.replace(new_story(2), target={"kind": "discord", "private": True})
    _, shots = await store.create_story(discord_story)
    assert shots[0].target == {"kind": "story:discord", "private": True}
    # `sora-bot story` (a file output) sharing the database never takes the bot's shots, nor the other way.
    assert await claim(store) is None
    _, file_shots = await store.create_story(new_story(2))
    assert await claim(store) == file_shots[0].id
    claimed = await store.claim_next(
        owner="w1", lease_seconds=30, max_in_flight=9, target_kinds=["story:discord"]
    )
    assert claimed is not None and claimed.id == shots[0].id


async def test_ending_a_story_is_claimed_once_until_the_claim_runs_out(store: JobStore) -> None:
    story, _ = await store.create_story(new_story(2))
    claimed = await store.claim_story_end(story.id, 60.0)
    assert claimed is not None and claimed.state is StoryState.STOPPING
    assert await store.claim_story_end(story.id, 60.0) is None  # held
    assert await store.claim_story_end(story.id, -1.0) is None
    assert await store.holds_claim(claimed)
    async with store.db.transaction() as conn:  # the holder died: its claim runs out
        await conn.execute("UPDATE stories SET stop_until = 0 WHERE id = ?", (story.id,))
    taken = await store.claim_story_end(story.id, 60.0, why="cancelled")
    assert taken is not None and taken.stop_owner != claimed.stop_owner and taken.user_error == "cancelled"
    # The old holder's claim is gone: it can neither post, renew nor give up the new one's.
    assert not await store.holds_claim(claimed) and await store.holds_claim(taken)
    await store.renew_story_claim(claimed, 1000.0)
    await store.release_story_claim(claimed)
    found = await store.get_story(story.id)
    assert found is not None and found[0].stop_until == taken.stop_until
    assert await store.finish_story(story.id, StoryState.DELIVERED) is not None
    assert await store.claim_story_end(story.id, 60.0) is None  # ended
