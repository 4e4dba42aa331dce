"""Every button on status messages and posted clips, including after the bot restarts on the same database."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from bot.domain.models import JobState
from bot.media.probe import probe_clip
from tests.e2e.conftest import BOTH_ENGINES, World, all_jobs, finished, until
from tests.fakes.discord import EPHEMERAL
from tests.fakes.prodia import IMG2VID, PRO_TXT2VID

# The store's PostgreSQL side under the real bot, as well as SQLite.
pytestmark = pytest.mark.parametrize("engine", BOTH_ENGINES, indirect=True)


def reply_text(world: World, token: str) -> str:
    """What the bot answered to a click, privately (the followup after a defer, or the response)."""
    messages = [world.fake.original(token), *world.fake.followups(token)]
    return " ".join(m["content"] for m in messages if m and m.get("content"))


async def click(world: World, action: str, job_id: int, message_id: int, user_id: int) -> str:
    interaction = await world.fake.click(
        f"sora:{action}:{job_id}", message_id=message_id, user_id=user_id, guild_id=world.guild_id
    )
    return interaction.token


async def test_cancel_needs_the_requester_or_a_moderator_and_refunds_queued_jobs(world: World) -> None:
    world.prodia.processing_seconds = 30.0
    async with world.bot(max_concurrent_jobs=1) as bot:
        await world.video(prompt="the first clip runs")
        await world.video(prompt="the second clip waits")
        running = await until(lambda: _state(bot, 1, JobState.RUNNING), what="job 1 running")
        queued = await until(lambda: _with_message(bot, 2), what="job 2's status message")
        assert queued.state is JobState.QUEUED

        token = await click(world, "cancel", 2, queued.message_id, world.bob)
        await until(lambda: reply_text(world, token), what="bob's refusal")
        assert "Only the person who asked" in reply_text(world, token)
        assert (await bot.pipeline.store.get(2)).state is JobState.QUEUED  # type: ignore[union-attr]

        token = await click(world, "cancel", 2, queued.message_id, world.mod)
        await until(lambda: reply_text(world, token), what="the moderator's cancel")
        assert "Cancelled job 2. Your quota was given back." in reply_text(world, token)
        assert await bot.pipeline.store.ledger(2) == [("reserve", 0.4), ("refund", 0.4)]

        token = await click(world, "cancel", 1, running.message_id, world.alice)
        await until(lambda: reply_text(world, token), what="alice's cancel")
        assert "Cancelled job 1." in reply_text(world, token)
        assert await bot.pipeline.store.ledger(1) == [
            ("reserve", 0.4),
            ("commit", 0.4),
        ]  # Prodia had started it


async def _state(bot: Any, job_id: int, state: JobState) -> Any:
    job = await bot.pipeline.store.get(job_id)
    return job if job is not None and job.state is state and job.message_id else None


async def _with_message(bot: Any, job_id: int) -> Any:
    job = await bot.pipeline.store.get(job_id)
    return job if job is not None and job.message_id else None


async def test_result_buttons_make_the_variants_they_promise(world: World) -> None:
    async with world.bot() as bot:
        await world.video(prompt="a red kite climbs", seed=5)
        await finished(bot, 1)
        [posted] = await until(world.clips, what="the clip")
        message_id = int(posted["id"])

        for action in ("reroll", "flip", "upgrade", "continue"):
            token = await click(world, action, 1, message_id, world.bob)
            await until(lambda token=token: world.fake.original(token), what=f"{action} status")  # type: ignore[misc]
        remix = await click(world, "remix", 1, message_id, world.bob)
        shown = await until(lambda: world.fake.interactions[remix].modal, what="the remix modal")
        assert shown["components"][0]["components"][0]["value"] == "a red kite climbs"
        await world.fake.submit_modal(shown["custom_id"], {"prompt": "a blue kite dives"}, user_id=world.bob)
        jobs = await until(lambda: _count(bot, 6), what="five new jobs")
        for job in jobs[1:]:
            assert (await finished(bot, job.id)).state is JobState.DELIVERED, job.error

        # The clicks are handled concurrently, so tell the new jobs apart by what they are.
        [flip] = [j for j in jobs[1:] if j.request.aspect_ratio == "9:16"]
        [upgrade] = [j for j in jobs[1:] if j.request.model == "sora-2-pro"]
        [cont] = [j for j in jobs[1:] if j.request.image_path]
        [remixed] = [j for j in jobs[1:] if j.request.prompt != "a red kite climbs"]
        [reroll] = [j for j in jobs[1:] if j not in (flip, upgrade, cont, remixed)]
        assert reroll.request.prompt == "a red kite climbs" and reroll.request.seed != 5
        assert reroll.user_id == world.bob
        assert flip.request.aspect_ratio == "9:16"
        assert upgrade.request.job_type.value == PRO_TXT2VID and upgrade.request.resolution == "1080p"
        assert cont.request.job_type.value == IMG2VID and cont.request.image_path
        assert remixed.request.prompt == "a blue kite dives" and remixed.request.seed == 5
        flipped = [m for m in world.clips() if f"Job {flip.id} " in m["embeds"][0]["footer"]["text"]]
        info = probe_clip(world.fake.attachment_path(flipped[0]["attachments"][0]))
        assert (info.width, info.height) == (720, 1280)


def _has_embeds(world: World, token: str) -> bool:
    return bool(world.answer(token).get("embeds"))


async def _count(bot: Any, n: int) -> Any:
    jobs = await all_jobs(bot)
    return jobs if len(jobs) >= n else None


async def test_delete_is_for_the_requester_or_a_moderator(world: World) -> None:
    async with world.bot() as bot:
        await world.video(prompt="a short clip to delete")
        await finished(bot, 1)
        [posted] = await until(world.clips, what="the clip")
        token = await click(world, "delete", 1, int(posted["id"]), world.bob)
        await until(lambda: reply_text(world, token), what="refusal")
        assert "Only the person who asked" in reply_text(world, token)
        assert world.clips()
        token = await click(world, "delete", 1, int(posted["id"]), world.alice)
        await until(lambda: not world.clips(), what="the clip deleted")


async def test_every_button_works_after_the_bot_restarts_on_the_same_database(world: World) -> None:
    world.prodia.processing_seconds = 0.0
    async with world.bot(max_concurrent_jobs=1) as bot:
        await world.video(prompt="made before the restart", seed=9)
        await finished(bot, 1)
        [posted] = await until(world.clips, what="the clip")
        world.prodia.stuck = True  # job 2 sits at Prodia, job 3 waits in the queue
        await world.video(prompt="running across the restart")
        await world.video(prompt="queued across the restart")
        await until(lambda: _state(bot, 2, JobState.RUNNING), what="job 2 running")
        queued = await until(lambda: _with_message(bot, 3), what="job 3's status message")
    syncs = world.fake.command_syncs
    async with world.bot(max_concurrent_jobs=1) as bot:
        assert world.fake.command_syncs == syncs  # the command tree did not change: no second sync
        token = await click(world, "cancel", 3, queued.message_id, world.alice)
        await until(lambda: "Cancelled job 3" in reply_text(world, token), what="cancel after restart")
        world.prodia.stuck = False
        assert (await finished(bot, 2)).state is JobState.DELIVERED  # polled by its Prodia id, not re-sent
        assert len(world.prodia.requests_for("POST /job/async")) == 2

        message_id = int(posted["id"])
        for action in ("reroll", "flip", "upgrade", "continue"):
            token = await click(world, action, 1, message_id, world.bob)
            await until(partial(_has_embeds, world, token), what=f"{action} after restart")
        remix = await click(world, "remix", 1, message_id, world.bob)
        shown = await until(lambda: world.fake.interactions[remix].modal, what="the remix modal")
        await world.fake.submit_modal(
            shown["custom_id"], {"prompt": "remixed after restart"}, user_id=world.bob
        )
        jobs = await until(lambda: _count(bot, 8), what="five new jobs")
        assert {j.request.prompt for j in jobs[3:]} == {"made before the restart", "remixed after restart"}

        token = await click(world, "delete", 1, message_id, world.alice)
        await until(
            lambda: not [m for m in world.clips() if m["id"] == posted["id"]], what="the clip deleted"
        )


async def test_private_clips_are_ephemeral_until_posted(world: World) -> None:
    async with world.bot() as bot:
        token = await world.video(prompt="just for me", private=True)
        await finished(bot, 1)
        followup = await until(lambda: [m for m in world.fake.followups(token) if m["attachments"]])
        assert followup[0]["flags"] & EPHEMERAL
        assert world.clips() == []
        post = await click(world, "post", 1, int(followup[0]["id"]), world.alice)
        await until(world.clips, what="the clip in the channel")
        assert "Posted" in reply_text(world, post)
