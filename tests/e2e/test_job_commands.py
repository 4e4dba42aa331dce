"""/queue, /usage, /history and /show, and the one error handler."""

from __future__ import annotations

import logging

import pytest

from bot.client import SoraBot
from bot.domain.models import JobRequest, JobState
from bot.store.jobs import NewJob
from bot.tree import GENERIC_ERROR
from tests.e2e.conftest import BOTH_ENGINES, World, finished, until
from tests.fakes.discord import EPHEMERAL

# The store's PostgreSQL side under the real bot, as well as SQLite.
pytestmark = pytest.mark.parametrize("engine", BOTH_ENGINES, indirect=True)


async def test_queue_lists_my_jobs_with_positions_and_cancel_buttons(world: World) -> None:
    world.prodia.processing_seconds = 30.0
    async with world.bot(max_concurrent_jobs=1) as bot:
        # One at a time, as people type: commands sent within the same millisecond have no defined order.
        for i in range(3):
            await world.video(prompt=f"queued clip {i}")
            await until(lambda n=i + 1: _count(bot, n), what=f"job {i + 1}")  # type: ignore[misc]
        await world.video(user_id=world.bob, prompt="bob's clip")
        await until(lambda: _running(bot), what="a running job")
        await until(lambda: _count(bot, 4), what="four jobs")
        token = await world.command("queue", world.alice)
        answer = world.answer(token)
        assert answer["flags"] & EPHEMERAL
        text = answer["content"]
        assert "**Job 1**: running" in text
        assert "**Job 2**: position 2" in text  # bob's first job goes before alice's second
        assert "**Job 3**: position 3" in text
        assert "bob's clip" not in text
        assert "3 jobs waiting" in text
        labels = [c["custom_id"] for row in answer["components"] for c in row["components"]]
        assert labels == ["sora:cancel:1", "sora:cancel:2", "sora:cancel:3"]


async def test_history_reads_this_server_even_for_a_member_busy_elsewhere(world: World) -> None:
    other = world.fake.add_guild(name="elsewhere")
    other.add_member(world.alice, name="alice")
    async with world.bot() as bot:
        here = await seed_job(bot, world, world.guild_id, "made here", JobState.AWAITING_APPROVAL)
        for _ in range(250):
            await seed_job(bot, world, other.id, "made elsewhere", JobState.AWAITING_APPROVAL)
        history = world.answer(await world.command("history", world.alice))["content"]
        assert f"**Job {here}**" in history and "made here" in history
        assert "made elsewhere" not in history


async def test_queue_lists_and_counts_this_servers_jobs_only(world: World) -> None:
    other = world.fake.add_guild(name="elsewhere")
    other.add_member(world.alice, name="alice")
    world.prodia.processing_seconds = 600.0
    async with world.bot(max_concurrent_jobs=1) as bot:
        here = await seed_job(bot, world, world.guild_id, "made here", JobState.AWAITING_APPROVAL)
        for _ in range(150):
            await seed_job(bot, world, other.id, "made elsewhere", JobState.QUEUED)
        queue = world.answer(await world.command("queue", world.alice))["content"]
        assert f"**Job {here}**: awaiting_approval" in queue and "made elsewhere" not in queue
        assert "0 jobs waiting in this server's queue" in queue


async def seed_job(bot: SoraBot, world: World, guild_id: int, prompt: str, state: JobState) -> int:
    """A job of alice's stored as /video would store it, without going through Discord."""
    job = await bot.pipeline.store.create(
        NewJob(
            request=JobRequest(prompt=prompt),
            user_id=world.alice,
            estimated_cost=0.4,
            target_kind="discord",
            target={"kind": "discord", "channel_id": world.channel_id, "private": False},
            guild_id=guild_id,
            channel_id=world.channel_id,
            state=state,
        )
    )
    return job.id


async def _running(bot: object) -> bool:
    jobs = await bot.pipeline.store.list_jobs(states=[JobState.RUNNING])  # type: ignore[attr-defined]
    return bool(jobs)


async def _count(bot: object, n: int) -> bool:
    return len(await bot.pipeline.store.list_jobs()) >= n  # type: ignore[attr-defined]


async def test_usage_shows_what_is_left_and_when_it_resets(world: World) -> None:
    async with world.bot(default_jobs_per_hour=5, default_video_seconds_per_day=60) as bot:
        await world.video(prompt="one clip of eight seconds", duration=8)
        await finished(bot, 1)
        text = world.answer(await world.command("usage", world.alice))["content"]
        assert "Jobs this hour: 1 of 5" in text and "<t:" in text
        assert "Video today: 8 s of 60 s" in text
        assert "Jobs queued or running: 0 of 20" in text


async def test_history_shows_recent_jobs_and_hides_others_private_ones(world: World) -> None:
    async with world.bot() as bot:
        await world.video(prompt="a public clip")
        await world.video(prompt="a secret clip", private=True)
        await finished(bot, 1)
        await finished(bot, 2)
        mine = world.answer(await world.command("history", world.alice))["content"]
        assert (
            "a public clip" in mine
            and "a secret clip" in mine
            and "[clip](https://discord.com/channels/" in mine
        )
        theirs = world.answer(await world.command("history", world.bob, user=world.alice))["content"]
        assert "a public clip" in theirs and "a secret clip" not in theirs


async def test_show_reposts_a_past_clip_and_refuses_unknown_ids(world: World) -> None:
    async with world.bot() as bot:
        await world.video(prompt="worth seeing twice")
        await finished(bot, 1)
        await until(world.clips, what="the clip")
        text = world.answer(await world.command("show", world.bob, job_id=1))["content"]
        assert "Posted job 1 again" in text
        assert len(world.clips()) == 2
        again = world.clips()[1]
        assert again["components"][0]["components"][0]["label"] == "Re-roll"
        missing = world.answer(await world.command("show", world.bob, job_id=999))["content"]
        assert "There is no job 999" in missing


async def test_an_unexpected_error_gives_a_generic_private_message_and_a_logged_traceback(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world.bot() as bot:

        async def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the database caught fire")

        monkeypatch.setattr(bot.pipeline, "submit", broken)
        with caplog.at_level(logging.ERROR, logger="bot.tree"):
            token = await world.video(prompt="this will hit a bug")
            await until(lambda: world.answer(token).get("content"), what="the error")
        assert world.answer(token)["content"] == GENERIC_ERROR
        assert world.answer(token)["flags"] & EPHEMERAL
        assert "the database caught fire" not in world.answer(token)["content"]
        assert any("the database caught fire" in (r.exc_text or str(r.exc_info)) for r in caplog.records)
