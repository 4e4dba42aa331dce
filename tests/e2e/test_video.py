"""/video end to end: the real bot against the fake Discord and fake Prodia."""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
from typing import Any

import pytest
from PIL import Image

from bot.media.probe import probe_clip
from tests.conftest import PRODIA_TOKEN
from tests.e2e.conftest import BOTH_ENGINES, World, all_jobs, finished, until
from tests.fakes.discord import CHANNEL_MESSAGES_POST, EPHEMERAL, INTERACTION_CALLBACK
from tests.fakes.prodia import IMG2VID, TXT2VID

# The store's PostgreSQL side under the real bot, as well as SQLite.
pytestmark = pytest.mark.parametrize("engine", BOTH_ENGINES, indirect=True)


def png(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 60, 20)).save(out, format="PNG")
    return out.getvalue()


async def test_video_is_acknowledged_shows_status_and_posts_the_clip_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with world.bot() as bot:
        token = await world.video(prompt="A cyclist sprints up a steep hill @everyone", seed=77)
        job = await finished(bot, 1)
        assert job.state.value == "delivered", job.error

        callback = world.fake.interaction_responses(token)[0]
        assert callback.route == INTERACTION_CALLBACK and callback.status == 200
        assert callback.json is not None and callback.json["type"] == 5  # deferred at once
        edits = [r.json for r in world.fake.interaction_responses(token) if r.method == "PATCH"]
        first = edits[0]
        assert first is not None and "Queued" in first["embeds"][0]["title"]
        assert first["components"][0]["components"][0]["label"] == "Cancel"
        await until(lambda: "Done" in world.answer(token)["embeds"][0]["title"], what="final status")
        status = world.fake.original(token)
        assert status is not None and status["flags"] & EPHEMERAL and not status["components"]

        await until(world.clips, what="the clip in the channel")
        [posted] = world.clips()
        assert posted["content"] == f"<@{world.alice}> your clip is ready."
        assert posted["allowed_mentions"] == {"parse": [], "users": [world.alice]}
        [attachment] = posted["attachments"]
        info = probe_clip(world.fake.attachment_path(attachment))
        assert (info.width, info.height, info.video_codec) == (1280, 720, "h264")
        assert info.duration == pytest.approx(4, abs=0.2)
        [embed] = posted["embeds"]
        assert "A cyclist sprints up a steep hill" in embed["description"]
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields["Seed"] == "77" and fields["Cost"] == "$0.40" and "sora-2" in fields["Settings"]
        labels = [c["label"] for row in posted["components"] for c in row["components"]]
        assert labels == ["Re-roll", "Remix", "Flip aspect", "Upgrade to Pro 1080p", "Continue", "Delete"]

        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("commit", 0.4)]
        assert job.result_message_id == int(posted["id"])
        assert [j.type for j in world.prodia.jobs.values()] == [TXT2VID]
        assert len(world.fake.requests_for(CHANNEL_MESSAGES_POST)) == 1
    assert world.fake.bot_token not in caplog.text and PRODIA_TOKEN not in caplog.text


async def test_image_to_video_from_an_attached_png(world: World) -> None:
    async with world.bot() as bot:
        await world.video(
            prompt="the kite lifts off", image="pic", attachments={"pic": ("kite.png", png(), "image/png")}
        )
        job = await finished(bot, 1)
        assert job.state.value == "delivered", job.error
        [prodia_job] = world.prodia.jobs.values()
        assert prodia_job.type == IMG2VID
        sent = world.prodia.requests_for("POST /job/async")[0]
        assert [name for name, _ in sent.inputs] == ["input.jpg"]
        await until(world.clips, what="the clip")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prompt": "a fine prompt", "resolution": "1080p"}, "sora-2-pro"),
        ({"prompt": "   ab\n  "}, "at least 3 characters"),
        ({"prompt": "bad\x00prompt here"}, "control characters"),
        (
            {
                "prompt": "animate",
                "image": "a",
                "attachments": {"a": ("x.png", b"\x89PNG\r\n\x1a\ngarbage", "image/png")},
            },
            "not a readable",
        ),
        (
            {
                "prompt": "animate",
                "image": "a",
                "attachments": {"a": ("notes.png", b"just text, renamed", "image/png")},
            },
            "not a readable",
        ),
        (
            {
                "prompt": "animate",
                "image": "a",
                "attachments": {"a": ("big.png", png(5000, 100), "image/png")},
            },
            "at most 4096",
        ),
        (
            {"prompt": "animate", "image": "a", "attachments": {"a": ("doc.txt", b"hello", "text/plain")}},
            "PNG, JPEG or WebP",
        ),
        (
            {
                "prompt": "animate",
                "image": "a",
                "attachments": {"a": ("notes.png", b"hello", "text/plain; charset=utf-8")},
            },
            "PNG, JPEG or WebP",
        ),
    ],
)
async def test_bad_input_gets_a_private_error_and_nothing_is_enqueued(
    world: World, options: dict[str, Any], message: str
) -> None:
    async with world.bot() as bot:
        token = await world.video(**options)
        await until(lambda: world.answer(token).get("content"), what="the error")
        assert world.answer(token)["flags"] & EPHEMERAL
        assert message in world.answer(token)["content"]
        assert await all_jobs(bot) == []
        assert world.prodia.requests == []
        usage = await bot.pipeline.store.usage(world.guild_id, world.alice)
        assert usage.jobs_last_hour == 0


async def test_limits_hold_under_20_concurrent_commands(world: World) -> None:
    world.prodia.processing_seconds = 2.0
    async with world.bot(default_jobs_per_hour=5) as bot:
        tokens = await asyncio.gather(*(world.video(prompt=f"clip number {i}") for i in range(20)))

        def answered() -> bool:
            return all(world.answer(t).get("embeds") or world.answer(t).get("content") for t in tokens)

        await until(answered, what="20 answers")
        accepted = [t for t in tokens if world.answer(t)["embeds"]]
        refused = [world.answer(t)["content"] for t in tokens if not world.answer(t)["embeds"]]
        assert len(accepted) == 5 and len(refused) == 15
        assert all("5 jobs for this hour" in text and "<t:" in text for text in refused)
        assert len(await all_jobs(bot)) == 5


async def test_the_status_message_follows_the_job_at_most_once_every_5_seconds(world: World) -> None:
    world.prodia.processing_seconds = 11.0
    async with world.bot() as bot:
        token = await world.video(prompt="a slow clip worth watching")
        await finished(bot, 1)
        await until(lambda: "Done" in world.answer(token)["embeds"][0]["title"], what="the final status")
    edits = [r for r in world.fake.interaction_responses(token) if r.method == "PATCH"]
    titles = [r.json["embeds"][0]["title"] for r in edits if r.json]
    assert titles[0].startswith("Queued") and titles[-1].startswith("Done")
    assert any(t.startswith("Generating… ") and not t.endswith(" 0 s") for t in titles), titles
    # Every edit before the final one comes at least 5 s after the previous edit.
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(edits[:-1])]
    assert all(gap >= 4.9 for gap in gaps), gaps
