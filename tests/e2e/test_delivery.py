"""Delivery within Discord's limits and its failures: re-encode to fit, 413, previews, 403, 404."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.jobs.models import JobState
from bot.media.probe import probe_clip
from tests.e2e.conftest import World, finished, until
from tests.fakes.discord import CHANNEL_MESSAGES_POST, EPHEMERAL


async def video_with_limit(world: World, limit: int, prompt: str = "a long pan across a valley") -> str:
    interaction = await world.fake.slash(
        "video",
        [{"name": "prompt", "value": prompt}],
        guild_id=world.guild_id,
        channel_id=world.channel_id,
        user_id=world.alice,
        attachment_size_limit=limit,
    )
    return interaction.token


async def test_a_clip_over_the_limit_is_reencoded_to_fit(world: World) -> None:
    limit = 100_000
    async with world.bot() as bot:
        await video_with_limit(world, limit)
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        assert job.output_path is not None
        original = probe_clip(Path(job.output_path))
        assert original.size_bytes > limit  # the test is only meaningful if the clip did not fit
        [posted] = world.clips()
        [attachment] = posted["attachments"]
        assert attachment["size"] <= limit
        info = probe_clip(world.fake.attachment_path(attachment))
        assert info.duration == pytest.approx(4, abs=0.2)
        assert info.width / info.height == pytest.approx(16 / 9, rel=0.02)
        assert "Re-encoded" in str(posted["embeds"][0]["fields"])


async def test_a_413_from_discord_takes_the_same_path(world: World) -> None:
    world.fake.fail_next(CHANNEL_MESSAGES_POST, status=413, code=40005, message="Request entity too large")
    async with world.bot() as bot:
        await world.video(prompt="a clip Discord finds too large")
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        posts = world.fake.requests_for(CHANNEL_MESSAGES_POST)
        assert [p.status for p in posts] == [413, 200]
        first, second = (p.files[0][2] for p in posts)
        assert len(second) < len(first)
        [posted] = world.clips()
        info = probe_clip(world.fake.attachment_path(posted["attachments"][0]))
        assert info.duration == pytest.approx(4, abs=0.2)


async def test_a_clip_that_cannot_fit_is_posted_as_a_poster_with_the_original_kept(world: World) -> None:
    async with world.bot() as bot:
        await video_with_limit(world, 8_000)
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        [posted] = world.clips()
        names = [a["filename"] for a in posted["attachments"]]
        assert names[0] == "sora-1.jpg"
        assert sum(a["size"] for a in posted["attachments"]) <= 8_000
        assert "/show 1" in str(posted["embeds"][0]["fields"])
        assert job.output_path is not None and probe_clip(Path(job.output_path)).width == 1280


async def test_missing_permissions_are_explained_privately_and_the_paid_clip_stays_charged(
    world: World,
) -> None:
    world.fake.fail_next(CHANNEL_MESSAGES_POST, status=403, code=50013, message="Missing Permissions")
    async with world.bot() as bot:
        token = await world.video(prompt="a clip for a locked channel")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED and job.error is not None and "missing permissions" in job.error
        told = await until(
            lambda: [m for m in world.fake.followups(token) if "not allowed to post" in m["content"]]
        )
        assert told[0]["flags"] & EPHEMERAL
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("commit", 0.4)]  # Prodia was paid
        assert len(world.fake.requests_for(CHANNEL_MESSAGES_POST)) == 1  # not retried forever


async def test_a_deleted_channel_ends_the_job_as_undeliverable(world: World) -> None:
    world.fake.fail_next(CHANNEL_MESSAGES_POST, status=404, code=10003, message="Unknown Channel")
    async with world.bot() as bot:
        token = await world.video(prompt="a clip for a channel about to vanish")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED and job.error is not None and "no longer exists" in job.error
        await until(lambda: "Failed" in world.answer(token).get("embeds", [{}])[0].get("title", ""))
        assert len(world.fake.requests_for(CHANNEL_MESSAGES_POST)) == 1
