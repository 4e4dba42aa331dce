"""Money: a job is refused where the bot can't post its clip, and what Prodia charged stays charged."""

from __future__ import annotations

import pytest

from bot.domain.models import JobState
from tests.e2e.conftest import BOTH_STORAGES, World, all_jobs, clip_key, finished, stored_file, until
from tests.fakes.discord import ATTACH_FILES, CHANNEL_MESSAGES_POST, EMBED_LINKS, EPHEMERAL, SEND_MESSAGES


async def test_video_is_refused_privately_where_the_bot_cannot_attach_files(world: World) -> None:
    guild = world.fake.guilds[world.guild_id]
    guild.set_overwrite(world.channel_id, guild.bot_role_id, deny=ATTACH_FILES)
    async with world.bot() as bot:
        answer = await world.video_answer(prompt="a clip for a channel the bot can't upload to")
        assert answer["flags"] & EPHEMERAL
        assert "Attach Files" in answer["content"] and not answer.get("embeds")
        assert "Send Messages" not in answer["content"]  # only what is missing is named
        assert await all_jobs(bot) == []
        assert world.prodia.requests == []


async def test_every_missing_permission_is_named(world: World) -> None:
    guild = world.fake.guilds[world.guild_id]
    guild.set_overwrite(world.channel_id, guild.bot_role_id, deny=SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES)
    async with world.bot() as bot:
        answer = await world.video_answer(prompt="a clip for a read-only channel")
        assert answer["flags"] & EPHEMERAL
        for name in ("Send Messages", "Embed Links", "Attach Files"):
            assert name in answer["content"]
        assert await all_jobs(bot) == []
        assert world.prodia.requests == []


async def test_a_private_clip_needs_no_permission_to_post_in_the_channel(world: World) -> None:
    guild = world.fake.guilds[world.guild_id]
    guild.set_overwrite(world.channel_id, guild.bot_role_id, deny=SEND_MESSAGES | ATTACH_FILES)
    async with world.bot() as bot:
        await world.video(prompt="a clip only I see", private=True)
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error


@pytest.mark.parametrize("storage", BOTH_STORAGES, indirect=True)
@pytest.mark.fake_refusal(
    status=403,
    code=50007,
    route="POST /channels/{channel_id}/messages",
    reason="the member's DMs are closed too, so the refused clip can't be handed over",
)
async def test_a_paid_clip_whose_post_fails_is_kept_and_still_counts_against_the_budget(world: World) -> None:
    world.fake.dm_closed.add(world.alice)  # a clip handed over by DM would be delivered, not failed
    async with world.bot() as bot:
        await world.admin_command("budget", "set", dollars_per_day=0.4)
        world.fake.fail_next(CHANNEL_MESSAGES_POST, status=403, code=50013, message="Missing Permissions")
        await world.video(prompt="a clip whose post is refused")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED
        async with stored_file(bot, clip_key(bot, job)) as clip:
            assert clip.stat().st_size > 0
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("commit", 0.4)]
        # Prodia was paid: the failed post did not give the server its $0.40 back.
        answer = await world.video_answer(prompt="one more clip on the same budget")
        assert "daily budget of $0.40" in answer["content"]
        assert [j.id for j in await all_jobs(bot)] == [1]
        await until(lambda: not bot.pipeline.scheduler.running_jobs, what="the job's task to end")
