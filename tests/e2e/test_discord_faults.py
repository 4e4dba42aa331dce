"""Discord misbehaving mid-job: 429s on uploads and edits, 500s, the gateway dropping, an expired interaction.
No job is lost and none is delivered twice."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.models import JobState
from tests.e2e.conftest import World, finished, until
from tests.fakes.discord import CHANNEL_MESSAGES_POST, WEBHOOK_MESSAGE


def clips_of(world: World, job_id: int) -> list[dict[str, Any]]:
    return [m for m in world.clips() if f"Job {job_id} " in m["embeds"][0]["footer"]["text"]]


async def test_429_on_uploads_and_status_edits_is_waited_out(world: World) -> None:
    world.fake.fail_next(CHANNEL_MESSAGES_POST, status=429, retry_after=0.2, times=2)
    world.fake.fail_next("PATCH " + WEBHOOK_MESSAGE, status=429, retry_after=0.2, times=2)
    async with world.bot() as bot:
        token = await world.video(prompt="a clip Discord rate limits")
        assert (await finished(bot, 1)).state is JobState.DELIVERED
        await until(lambda: clips_of(world, 1), what="the clip")
        await until(lambda: "Done" in world.answer(token)["embeds"][0]["title"], what="the final status")
        posts = world.fake.requests_for(CHANNEL_MESSAGES_POST)
        assert [p.status for p in posts] == [429, 429, 200]
        assert len(clips_of(world, 1)) == 1


async def test_a_500_on_upload_is_retried_and_delivers_once(world: World) -> None:
    world.fake.fail_next(CHANNEL_MESSAGES_POST, status=500, times=1)
    async with world.bot() as bot:
        await world.video(prompt="a clip hit by a server error")
        assert (await finished(bot, 1)).state is JobState.DELIVERED
        await until(lambda: clips_of(world, 1), what="the clip")
        assert [p.status for p in world.fake.requests_for(CHANNEL_MESSAGES_POST)] == [500, 200]
        assert len(clips_of(world, 1)) == 1


async def test_an_upload_that_succeeded_but_whose_answer_was_lost_is_not_posted_twice(world: World) -> None:
    # Discord created the message, then the answer failed: discord.py retries the 500, and the nonce makes
    # Discord hand back the message it already created instead of a second one.
    world.fake.fail_next(CHANNEL_MESSAGES_POST, status=500, after_work=True)
    async with world.bot() as bot:
        await world.video(prompt="a clip whose upload answer was lost")
        assert (await finished(bot, 1)).state is JobState.DELIVERED
        assert len(clips_of(world, 1)) == 1


async def test_the_gateway_dropping_mid_job_loses_nothing(world: World) -> None:
    world.prodia.processing_seconds = 1.5
    async with world.bot() as bot:
        await world.video(prompt="a clip across a reconnect")
        await until(lambda: _running(bot), what="the job at Prodia")
        await world.fake.drop_gateway(resume=True)
        assert (await finished(bot, 1)).state is JobState.DELIVERED
        assert world.fake.resume_count >= 1
        await world.video(world.bob, prompt="a clip after the reconnect")
        assert (await finished(bot, 2)).state is JobState.DELIVERED
        assert len(clips_of(world, 1)) == len(clips_of(world, 2)) == 1


async def _running(bot: Any) -> bool:
    job = await bot.pipeline.store.get(1)
    return bool(job and job.state is JobState.RUNNING)


@pytest.mark.fake_refusal(
    status=401,
    code=50027,
    route="PATCH " + WEBHOOK_MESSAGE,
    reason="the test expires the token early, before the bot's own 14-minute margin",
)
async def test_an_expired_interaction_still_gets_the_clip_posted(world: World) -> None:
    world.prodia.processing_seconds = 1.0
    async with world.bot() as bot:
        token = await world.video(prompt="a clip that outlives its interaction")
        await until(lambda: _running(bot), what="the job at Prodia")
        world.fake.expire_interaction(token)
        assert (await finished(bot, 1)).state is JobState.DELIVERED
        await until(lambda: clips_of(world, 1), what="the clip")


async def test_a_failure_after_the_interaction_expired_is_explained_by_direct_message(world: World) -> None:
    world.prodia.processing_seconds = 1.0
    async with world.bot(lease_seconds=3.0) as bot:
        token = await world.video(prompt="something forbidden after a long wait")
        await until(lambda: _running(bot), what="the job at Prodia")
        # Past the bot's own 14-minute margin: the status message can't be edited any more.
        await world.expire_token(bot, 1, token)
        assert (await finished(bot, 1)).state is JobState.FAILED
        dms = await until(lambda: _dms_to(world, world.alice), what="a direct message")
        assert "Job 1 failed" in dms[0]["content"] and "content moderation" in dms[0]["content"]


def _dms_to(world: World, user_id: int) -> list[dict[str, Any]]:
    dm_channels = {str(c.id) for c in world.fake.channels.values() if c.recipient_id == user_id}
    return [m for m in world.fake.messages.values() if m["channel_id"] in dm_channels and m.get("content")]


async def test_a_deleted_status_message_does_not_stop_the_job(world: World) -> None:
    world.fake.fail_next(
        "PATCH " + WEBHOOK_MESSAGE, status=404, code=10008, message="Unknown Message", times=20
    )
    async with world.bot() as bot:
        token = await world.video(prompt="a clip whose status message vanished")
        assert (await finished(bot, 1)).state is JobState.DELIVERED
        assert not world.fake.followups(token)  # no error message for a job that went fine
        await until(lambda: clips_of(world, 1), what="the clip")
        assert len(clips_of(world, 1)) == 1
