"""Delivery within Discord's limits and its failures: each route by its own limit, re-encode to fit, 413,
previews, 403, 404, and a re-run after an outage that must not post twice."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import discord
import pytest

from bot.client import SoraBot
from bot.domain.models import Job, JobState
from bot.media.pool import TRIES, MediaPool
from bot.media.probe import probe_clip
from tests.e2e.conftest import BOTH_STORAGES, World, clip_key, finished, stored_file, until
from tests.e2e.conftest import TestBot as WorkerBot
from tests.e2e.test_show import dms
from tests.fakes.discord import (
    CHANNEL_MESSAGES_POST,
    EPHEMERAL,
    FOLLOWUP_POST,
    MIB,
    NONCE_WINDOW,
    SEND_MESSAGES,
    RecordedRequest,
    redirect_discord,
    running_bot,
)
from tests.fakes.prodia import Fault
from tests.media_faults import KillOnce

# Every delivery reads the clip, and keeps its re-encodes, posters and previews, in the store: the output
# folder and a bucket of the local S3 server.
pytestmark = pytest.mark.parametrize("storage", BOTH_STORAGES, indirect=True)


def posts_to(world: World, channel_id: int) -> list[RecordedRequest]:
    """The bot-token posts (answered or refused) to one channel."""
    return [
        r for r in world.fake.requests_for(CHANNEL_MESSAGES_POST) if r.params["channel_id"] == str(channel_id)
    ]


async def video_with_limit(
    world: World, limit: int, prompt: str = "a long pan across a valley", *, private: bool = False
) -> str:
    options: list[dict[str, object]] = [{"name": "prompt", "value": prompt}]
    if private:
        options.append({"name": "private", "value": True})
    interaction = await world.fake.slash(
        "video",
        options,
        guild_id=world.guild_id,
        channel_id=world.channel_id,
        user_id=world.alice,
        attachment_size_limit=limit,
    )
    return interaction.token


async def test_a_clip_over_the_servers_limit_is_reencoded_to_fit(world: World) -> None:
    world.prodia.clip_bytes_extra = 11 * MIB  # an unboosted server: 10 MiB for a bot-token post
    async with world.bot() as bot:
        await world.video(prompt="a long pan across a valley")
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        async with stored_file(bot, clip_key(bot, job)) as clip:
            assert clip.stat().st_size > 10 * MIB  # meaningful only if the clip did not fit
        [posted] = world.clips()
        [attachment] = posted["attachments"]
        assert attachment["size"] <= 10 * MIB
        info = probe_clip(world.fake.attachment_path(attachment))
        assert info.duration == pytest.approx(4, abs=0.2)
        assert info.width / info.height == pytest.approx(16 / 9, rel=0.02)
        assert "Re-encoded" in str(posted["embeds"][0]["fields"])
        assert not [r for r in world.fake.requests if r.status == 413]
        # Without Nitro the interaction allows no more than the server: posted by the bot, not the token.
        [post] = posts_to(world, world.channel_id)
        assert post.response["id"] == posted["id"]


async def test_a_media_process_killed_while_fitting_a_clip_delays_its_delivery_and_it_is_posted_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    world.prodia.clip_bytes_extra = 11 * MIB  # over an unboosted server's 10 MiB: fitted to be posted
    # Its first TRIES fits kill their process: the pool gives the call up, the job's step is tried again.
    killer = KillOnce("fit_clip", world.tmp / "killed-while-fitting", times=TRIES)
    bot = WorkerBot(world.settings(), media=MediaPool(1, before_call=killer), guild_ready_timeout=0.05)
    async with running_bot(world.fake, bot):
        await world.video(prompt="a long pan across a valley")
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
    killed = killer.kills()
    assert len(set(killed)) == TRIES and os.getpid() not in killed  # media processes really died, fitting it
    for pid in killed:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert "a media process died while fit_clip ran" in caplog.text  # sent again by the pool, TRIES times
    assert (
        "job 1: media process died: the media process running fit_clip died 3 times; trying again (2 of 3)"
        in (caplog.text)
    )
    assert job.error is None and job.user_error is None
    [posted] = world.clips()
    [attachment] = posted["attachments"]
    assert attachment["size"] <= 10 * MIB
    assert "Re-encoded" in str(posted["embeds"][0]["fields"])
    assert len(posts_to(world, world.channel_id)) == 1  # posted once, after the fit that worked


async def test_a_private_clip_over_the_interactions_limit_is_reencoded_to_fit(world: World) -> None:
    limit = 100_000
    async with world.bot() as bot:
        token = await video_with_limit(world, limit, private=True)
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        async with stored_file(bot, clip_key(bot, job)) as clip:
            assert probe_clip(clip).size_bytes > limit  # the clip did not fit
        [posted] = [m for m in world.fake.followups(token) if m.get("attachments")]
        assert posted["flags"] & EPHEMERAL
        [attachment] = posted["attachments"]
        assert attachment["size"] <= limit
        info = probe_clip(world.fake.attachment_path(attachment))
        assert info.duration == pytest.approx(4, abs=0.2)
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
        token = await video_with_limit(world, 8_000, private=True)
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        [posted] = [m for m in world.fake.followups(token) if m.get("attachments")]
        names = [a["filename"] for a in posted["attachments"]]
        assert names[0] == "sora-1.jpg"
        assert sum(a["size"] for a in posted["attachments"]) <= 8_000
        assert "/show 1" in str(posted["embeds"][0]["fields"])
        async with stored_file(bot, clip_key(bot, job)) as clip:
            assert probe_clip(clip).width == 1280


async def test_missing_permissions_are_explained_privately_and_the_paid_clip_stays_charged(
    world: World,
) -> None:
    world.fake.fail_next(CHANNEL_MESSAGES_POST, status=403, code=50013, message="Missing Permissions")
    async with world.bot() as bot:
        token = await world.video(prompt="a clip for a locked channel")
        job = await finished(bot, 1)
        # Handed over by DM: the member has the clip, so the job is delivered (README "Refunds").
        assert job.state is JobState.DELIVERED, job.error
        assert job.error is not None and "missing permissions" in job.error
        told = await until(
            lambda: [m for m in world.fake.followups(token) if "not allowed to post" in m["content"]]
        )
        assert told[0]["flags"] & EPHEMERAL
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("commit", 0.4)]  # Prodia was paid
        assert len(posts_to(world, world.channel_id)) == 1  # not retried forever


@pytest.mark.fake_refusal(
    status=403,
    code=50007,
    route="POST /channels/{channel_id}/messages",
    reason="the member's DMs are closed to the bot, so the clip can't be handed over",
)
async def test_a_deleted_channel_ends_the_job_as_undeliverable(world: World) -> None:
    world.fake.dm_closed.add(world.alice)  # nor can it go by DM
    world.fake.fail_next(CHANNEL_MESSAGES_POST, status=404, code=10003, message="Unknown Channel")
    async with world.bot() as bot:
        token = await world.video(prompt="a clip for a channel about to vanish")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED and job.error is not None and "no longer exists" in job.error
        await until(lambda: "Failed" in world.answer(token).get("embeds", [{}])[0].get("title", ""))
        assert len(posts_to(world, world.channel_id)) == 1


# -- each route by its own limit (issue 10 #1) ------------------------------------------------------------


async def test_a_nitro_members_big_clip_in_an_unboosted_server_is_posted_whole_without_413s(
    world: World,
) -> None:
    world.prodia.clip_bytes_extra = 16 * MIB  # over the server's 10 MiB, well within a Nitro member's 500
    async with world.bot() as bot:
        token = await video_with_limit(world, 500 * MIB, prompt="a Nitro member's long clip")
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        async with stored_file(bot, clip_key(bot, job)) as clip:
            size = clip.stat().st_size
        assert size > 16 * MIB
        [posted] = world.clips()  # public, in the channel: a followup with the member's token
        assert [a["size"] for a in posted["attachments"]] == [size]  # the whole clip, not a re-encode
        assert str(job.result_message_id) == posted["id"]
        assert posted in world.fake.followups(token)
        assert f"<@{world.alice}>" in posted["content"]
        assert not [r for r in world.fake.requests if r.status == 413]


async def test_a_413_on_a_nitro_members_followup_aims_lower_and_still_delivers(world: World) -> None:
    world.prodia.clip_bytes_extra = 16 * MIB
    # Discord has accepted less than the interaction advertised (discord-api-docs issue 7603).
    world.fake.fail_next(FOLLOWUP_POST, status=413, code=40005, message="Request entity too large")
    async with world.bot() as bot:
        await video_with_limit(world, 500 * MIB, prompt="a clip Discord finds too large after all")
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        [posted] = world.clips()
        [attachment] = posted["attachments"]
        assert attachment["size"] < 16 * MIB  # re-encoded below what was refused
        assert probe_clip(world.fake.attachment_path(attachment)).duration == pytest.approx(4, abs=0.2)
        assert [r.status for r in world.fake.requests_for(FOLLOWUP_POST)] == [413, 200]


async def test_once_the_token_expired_a_nitro_members_big_clip_is_fitted_to_the_servers_limit(
    world: World,
) -> None:
    world.prodia.clip_bytes_extra = 16 * MIB
    world.prodia.processing_seconds = 1.0
    async with world.bot() as bot:
        token = await video_with_limit(world, 500 * MIB, prompt="a clip that outlives its token")
        await until(lambda: _in_state(bot, JobState.RUNNING), what="the job at Prodia")
        await world.expire_token(bot, 1, token)
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        [posted] = world.clips()
        [attachment] = posted["attachments"]
        assert attachment["size"] <= 10 * MIB  # a bot-token post: the server's limit
        assert "Re-encoded" in str(posted["embeds"][0]["fields"])
        assert not [r for r in world.fake.requests if r.status == 413]


async def test_a_private_clip_after_the_token_expired_is_sent_by_dm_within_10_mib(world: World) -> None:
    world.prodia.clip_bytes_extra = 16 * MIB
    world.prodia.processing_seconds = 1.0
    async with world.bot() as bot:
        token = await video_with_limit(world, 500 * MIB, prompt="a private clip for later", private=True)
        await until(lambda: _in_state(bot, JobState.RUNNING), what="the job at Prodia")
        await world.expire_token(bot, 1, token)
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        [dm] = await until(lambda: world.dm_clips(world.alice), what="the clip by DM")
        assert dm["attachments"][0]["size"] <= 10 * MIB
        assert not [r for r in world.fake.requests if r.status == 413]


async def _in_state(bot: SoraBot, state: JobState) -> bool:
    job = await bot.pipeline.store.get(1)
    return job is not None and job.state is state


# -- a delivery re-run after a long outage (issue 10 #7) ---------------------------------------------------


async def _left_delivering(bot: SoraBot, world: World, *, recorded: bool) -> None:
    """What a worker that died mid-delivery leaves, longer ago than Discord remembers nonces: the job still
    delivering under a dead lease; with `recorded` False it died between the post and storing its id."""
    for key, (message_id, at) in list(world.fake._nonces.items()):
        world.fake._nonces[key] = (message_id, at - NONCE_WINDOW - 1)
    async with bot.pipeline.db.transaction() as conn:
        await conn.execute("DELETE FROM usage_ledger WHERE job_id = 1 AND kind = 'commit'")
        await conn.execute(
            "UPDATE jobs SET state = 'delivering', finished_at = NULL, lease_owner = 'gone:1:dead',"
            " lease_expires_at = 0, user_error = NULL, error = NULL WHERE id = 1"  # the end was never stored
        )
        if not recorded:
            await conn.execute(
                "UPDATE jobs SET result_message_id = NULL, result_channel_id = NULL,"
                " delivery_started_at = 1 WHERE id = 1"
            )


async def _redelivered(bot: SoraBot) -> Job:
    async def check() -> Job | None:
        job = await bot.pipeline.store.get(1)
        return job if job is not None and job.state is JobState.DELIVERED and job.finished_at else None

    job: Job = await until(check, what="the job delivered again")
    return job


@pytest.mark.parametrize("recorded", [True, False], ids=["id-stored", "crashed-before-storing-the-id"])
async def test_a_delivery_rerun_after_a_long_outage_does_not_post_the_clip_twice(
    world: World, recorded: bool
) -> None:
    async with world.bot() as bot:
        await world.video(prompt="a clip delivered just before the outage")
        first = await finished(bot, 1)
        [posted] = await until(world.clips, what="the clip")
        for message in world.fake.messages.values():
            message.pop("nonce", None)  # Discord's history does not return a message's nonce
        await _left_delivering(bot, world, recorded=recorded)
        again = await _redelivered(bot)
        assert again.result_message_id == first.result_message_id == int(posted["id"])
        assert len(world.clips()) == 1
        assert len(posts_to(world, world.channel_id)) == 1
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("commit", 0.4)]


@pytest.mark.parametrize("recorded", [True, False], ids=["id-stored", "crashed-before-storing-the-id"])
async def test_a_private_clip_sent_by_dm_is_not_sent_twice_after_an_outage(
    world: World, recorded: bool
) -> None:
    world.prodia.processing_seconds = 1.0
    async with world.bot() as bot:
        token = await video_with_limit(world, 10 * MIB, prompt="a private clip sent by DM", private=True)
        await until(lambda: _in_state(bot, JobState.RUNNING), what="the job at Prodia")
        await world.expire_token(bot, 1, token)
        await finished(bot, 1)
        [dm] = await until(lambda: world.dm_clips(world.alice), what="the clip by DM")
        await _left_delivering(bot, world, recorded=recorded)
        again = await _redelivered(bot)
        assert again.result_message_id == int(dm["id"])
        assert len(world.dm_clips(world.alice)) == 1


async def test_a_private_followup_is_not_sent_twice_when_its_id_was_stored(world: World) -> None:
    async with world.bot() as bot:
        token = await video_with_limit(world, 10 * MIB, prompt="a private clip", private=True)
        first = await finished(bot, 1)
        await _left_delivering(bot, world, recorded=True)
        again = await _redelivered(bot)
        assert again.result_message_id == first.result_message_id
        assert len([m for m in world.fake.followups(token) if m.get("attachments")]) == 1


# -- a channel that refuses a paid clip (issue 11 #2c) -----------------------------------------------------


@pytest.mark.fake_refusal(
    status=403,
    code=50013,
    route="POST /channels/{channel_id}/messages",
    reason="the bot's permission to post is taken away while the job runs",
)
async def test_a_channel_that_refuses_the_bot_gets_the_clip_to_its_requester_by_dm(world: World) -> None:
    world.prodia.clip_bytes_extra = 12 * MIB  # over the DM limit too: the DM carries a re-encode
    world.prodia.processing_seconds = 1.0
    guild = world.fake.guilds[world.guild_id]
    async with world.bot() as bot:
        token = await world.video(prompt="a clip for a channel the bot can't post in")
        await until(lambda: world.answer(token).get("embeds"), what="the job accepted")
        # Taken away while the job runs (a /video where the bot can't post is refused up front).
        guild.set_overwrite(world.channel_id, world.fake.app_id, deny=SEND_MESSAGES)
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        assert job.error is not None and "missing permissions" in job.error
        [dm] = await until(lambda: world.dm_clips(world.alice), what="the clip by DM")
        assert job.result_message_id == int(dm["id"])
        assert "/show 1" in dm["content"] and "not allowed to post" in dm["content"]
        [attachment] = dm["attachments"]
        assert attachment["size"] <= 10 * MIB
        assert probe_clip(world.fake.attachment_path(attachment)).duration == pytest.approx(4, abs=0.2)
        told = await until(lambda: [m for m in world.fake.followups(token) if "/show 1" in m["content"]])
        assert told[0]["flags"] & EPHEMERAL
        assert not world.clips()


# -- a clip handed over by DM is a delivered clip (review: the member got it for free) --------------------


async def _refused_by_the_channel(world: World, bot: SoraBot, *, jobs_per_hour: int = 1) -> tuple[str, Job]:
    """A /video whose channel post is refused with 404 (a thread its owner deleted while the job ran)."""
    await world.admin_command("limits", "set", jobs_per_hour=jobs_per_hour)
    world.fake.fail_next(CHANNEL_MESSAGES_POST, status=404, code=10003, message="Unknown Channel")
    token = await world.video(prompt="a clip whose thread the member deleted")
    return token, await finished(bot, 1)


async def test_a_clip_handed_over_by_dm_keeps_the_members_quota(world: World) -> None:
    async with world.bot() as bot:
        token, job = await _refused_by_the_channel(world, bot)
        [dm] = await until(lambda: world.dm_clips(world.alice), what="the clip by DM")
        # The member has the clip: the job is delivered, by the DM, and the hour's one job stays used.
        assert job.state is JobState.DELIVERED, job.error
        assert job.result_message_id == int(dm["id"])
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("commit", 0.4)]
        usage = await bot.pipeline.store.usage(world.guild_id, world.alice)
        assert usage.jobs_last_hour == 1
        answer = await world.video_answer(prompt="another one within the same hour")
        assert "job" in str(answer).lower() and len(await bot.pipeline.store.list_jobs()) == 1

        def status_says_dm() -> bool:
            embeds: list[dict[str, Any]] = world.answer(token).get("embeds") or []
            return bool(embeds) and "direct message" in json.dumps(embeds[0])

        await until(status_says_dm, what="the status saying the clip went by DM")
        assert not world.clips()
        # /history lists it without a link to a channel message that does not exist.
        history = world.answer(await world.command("history", world.alice))["content"]
        assert "a clip whose thread the member deleted" in history and "[clip](" not in history


@pytest.mark.fake_refusal(
    status=403,
    code=50007,
    route="POST /channels/{channel_id}/messages",
    reason="the member's DMs are closed to the bot, so the clip can't be handed over",
)
async def test_a_clip_neither_the_channel_nor_dms_take_gives_the_quota_back(world: World) -> None:
    world.fake.dm_closed.add(world.alice)
    async with world.bot() as bot:
        _, job = await _refused_by_the_channel(world, bot, jobs_per_hour=5)
        assert job.state is JobState.FAILED and job.error is not None and "no longer exists" in job.error
        assert not world.dm_clips(world.alice)
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("commit", 0.4)]  # Prodia was paid
        usage = await bot.pipeline.store.usage(world.guild_id, world.alice)
        assert usage.jobs_last_hour == 0  # the member got nothing: their quota is back


# -- finding what an earlier run posted (review: duplicate posts) -----------------------------------------


async def test_a_rerun_finds_its_clip_behind_a_busy_channels_last_50_messages(world: World) -> None:
    async with world.bot() as bot:
        await world.video(prompt="a clip in a busy channel")
        first = await finished(bot, 1)
        [posted] = await until(world.clips, what="the clip")
        for message in world.fake.messages.values():
            message.pop("nonce", None)  # Discord's history does not return a message's nonce
        for i in range(120):  # the channel talks on while the worker is down
            await world.fake.user_message(world.channel_id, world.bob, f"message {i}")
        await _left_delivering(bot, world, recorded=False)
        async with bot.pipeline.db.transaction() as conn:
            # The upload began just before the clip was posted (not at the dawn of time).
            started = first.updated_at - 2
            await conn.execute("UPDATE jobs SET delivery_started_at = ? WHERE id = 1", (started,))
        again = await _redelivered(bot)
        assert again.result_message_id == int(posted["id"])
        assert len(world.clips()) == 1
        assert len(posts_to(world, world.channel_id)) == 1


async def test_a_clip_handed_over_by_dm_is_not_sent_twice_after_a_crash(world: World) -> None:
    """The worker died after the DM (its id stored), before the job's end was stored: the re-run finds the
    DM, sends nothing again, and keeps saying where the clip went."""
    # The thread stays gone: every post there is refused.
    world.fake.fail_next(
        CHANNEL_MESSAGES_POST,
        status=404,
        code=10003,
        message="Unknown Channel",
        times=2,
        when=lambda r: r.params["channel_id"] == str(world.channel_id),
    )
    async with world.bot() as bot:
        await world.video(prompt="a clip whose thread is gone for good")
        await finished(bot, 1)
        [dm] = await until(lambda: world.dm_clips(world.alice), what="the clip by DM")
        # The worker dies right after the DM, before the job's end is stored.
        await _left_delivering(bot, world, recorded=True)

        async def ended_again() -> bool:
            job = await bot.pipeline.store.get(1)
            return job is not None and job.finished_at is not None

        await until(ended_again, what="the delivery re-run to end")
        assert [m["id"] for m in world.dm_clips(world.alice)] == [dm["id"]]
        assert len(posts_to(world, world.channel_id)) == 1  # the stored DM was found: nothing re-sent
        # ... and the re-run still says where the clip went
        job = await _redelivered(bot)
        assert job.user_error is not None and "direct message" in job.user_error
        history = world.answer(await world.command("history", world.alice))["content"]
        assert "Job 1" in history and "discord.com/channels" not in history  # no link where the clip isn't


# -- a worker process has no gateway, so no guild cache (review: worker sizes) ----------------------------


async def test_a_worker_process_posts_a_30_mib_clip_whole_in_a_boosted_server(world: World) -> None:
    world.fake.guilds[world.guild_id].premium_tier = 2  # 50 MiB per file
    world.prodia.clip_bytes_extra = 30 * MIB
    gateway = WorkerBot(world.settings(), role="gateway", guild_ready_timeout=0.05)
    worker = WorkerBot(world.settings(), role="worker")
    async with running_bot(world.fake, gateway):
        # The member's own limit is the unboosted one: only the server's boost can carry the clip whole.
        token = await video_with_limit(world, 10 * MIB, prompt="a long clip made by a worker")
        await until(lambda: world.answer(token).get("embeds"), what="the job accepted")
        with redirect_discord(world.fake):
            async with worker:
                await worker.login(world.fake.bot_token)  # as `sora-bot worker`: REST only, no gateway
                assert worker.get_guild(world.guild_id) is None
                job = await finished(worker, 1)
                await until(lambda: not worker.pipeline.scheduler.running_jobs, what="the worker idle")
                assert job.state is JobState.DELIVERED, job.error
                async with stored_file(worker, clip_key(worker, job)) as clip:
                    size = clip.stat().st_size
    assert size > 30 * MIB
    [posted] = world.clips()
    assert [a["size"] for a in posted["attachments"]] == [size]  # the whole clip, not a re-encode
    assert "Re-encoded" not in json.dumps(posted["embeds"])
    assert posted not in world.fake.followups(token)  # a bot-token post, sized by the server's boost


# -- the interaction token's 15 minutes (review: token expiry) ---------------------------------------------


async def test_the_tokens_expiry_counts_from_the_interactions_creation(world: World) -> None:
    made = world.fake.snowflake
    late = 90_000 << 22  # the bot gets to the interaction 90 s after Discord created it (a busy bot)
    world.fake.snowflake = lambda: made() - late  # type: ignore[method-assign]
    async with world.bot() as bot:
        token = await world.video(prompt="a clip accepted late")
        world.fake.snowflake = made  # type: ignore[method-assign]
        await until(lambda: bot.pipeline.store.get(1), what="the job accepted")
        job = await bot.pipeline.store.get(1)
        assert job is not None
        created = discord.utils.snowflake_time(world.fake.interactions[token].id).timestamp()
        # Discord's 15 minutes run from the interaction's creation; the bot stops a minute early.
        assert float(job.target["token_expires_at"]) == pytest.approx(created + 14 * 60, abs=1.0)
        await finished(bot, 1)


@pytest.mark.fake_refusal(
    status=401,
    code=50027,
    route="PATCH /webhooks/{application_id}/{interaction_token}/messages/{message_id}",
    reason="Discord ended the interaction token before the bot's 14-minute margin",
)
async def test_a_failure_reaches_the_member_by_dm_when_discord_expired_the_token_early(world: World) -> None:
    world.prodia.processing_seconds = 1.0
    async with world.bot(prodia_max_attempts=2) as bot:
        token = await world.video(prompt="a clip whose token Discord ends early")
        await until(lambda: _in_state(bot, JobState.RUNNING), what="the job at Prodia")
        world.fake.expire_interaction(token)  # Discord refuses the token while the bot still trusts it
        world.prodia.add_fault(Fault("GET state", "not_found", times=10))
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED
        told = await until(
            lambda: [m for m in dms(world) if "Job 1 failed" in m["content"]], what="the failure by DM"
        )
        assert "no longer has this job" in told[0]["content"]


WEBHOOK_MESSAGE = "PATCH /webhooks/{application_id}/{interaction_token}/messages/{message_id}"


@pytest.mark.fake_refusal(
    status=401,
    code=50027,
    route=FOLLOWUP_POST,
    reason="Discord ended the interaction token before the bot's 14-minute margin",
)
async def test_a_word_for_the_requester_goes_by_dm_when_discord_refuses_the_token(world: World) -> None:
    world.prodia.processing_seconds = 1.0
    # The status message never shows (its first edit is refused), so the failure is told in a new message.
    world.fake.fail_next(
        WEBHOOK_MESSAGE,
        status=404,
        code=10015,
        when=lambda r: r.params.get("message_id") == "@original" and r.method == "PATCH",
    )
    async with world.bot(prodia_max_attempts=2) as bot:
        token = await world.video(prompt="a clip whose token Discord ends early")
        await until(lambda: _in_state(bot, JobState.RUNNING), what="the job at Prodia")
        world.fake.expire_interaction(token)  # Discord refuses the token while the bot still trusts it
        world.prodia.add_fault(Fault("GET state", "not_found", times=10))
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED and job.message_id is None
        told = await until(
            lambda: [m for m in dms(world) if "Job 1 failed" in m["content"]], what="the failure by DM"
        )
        assert "no longer has this job" in told[0]["content"]
