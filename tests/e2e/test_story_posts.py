"""A story's joined clip posted on Discord (DiscordStoryPoster) by a real bot against the fake Discord: the
routes and limits a job's clip has, its embed and buttons, a channel that refuses it, and posting it once."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import files
from bot.client import SoraBot
from bot.domain.models import JobRequest, JobState, Target
from bot.domain.stories import Story
from bot.errors import DeliveryError
from bot.i18n import messages
from bot.media.probe import probe_clip
from bot.media.render import render_clip
from bot.media.stitch import stitch
from bot.services.story_posts import DiscordStoryPoster
from bot.store.stories import NewStory
from tests.e2e.conftest import World, stored_names, until
from tests.e2e.test_delivery import posts_to
from tests.e2e.test_full_quality import link_buttons
from tests.fakes.discord import CHANNEL_MESSAGES_POST, EPHEMERAL, MIB, SEND_MESSAGES
from tests.fakes.prodia.media import write_padded_copy

SHOTS = 3


@pytest.fixture(scope="module")
def shot_clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Small real shots (320x180, one second each), rendered once for the module."""
    folder = tmp_path_factory.mktemp("shots")
    clips = []
    for n in range(SHOTS):
        clip = folder / f"shot-{n}.mp4"
        render_clip(clip, prompt=f"shot {n + 1}", width=320, height=180, duration=1, audio=False, seed=n)
        clips.append(clip)
    return clips


def public_target(world: World, token: str | None = None) -> Target:
    """A /story's target in the test channel, as Clips.accept builds it for /video."""
    target: Target = {
        "kind": "discord",
        "channel_id": world.channel_id,
        "private": False,
        "filesize_limit": 10 * MIB,
        "guild_filesize_limit": 10 * MIB,
    }
    if token is not None:
        target["interaction_token"] = token
        target["token_expires_at"] = time.time() + 600
    return target


async def answered(world: World) -> str:
    """The token of an interaction of alice's the bot has answered (/usage): its followups work."""
    interaction = await world.fake.slash(
        "usage", [], guild_id=world.guild_id, channel_id=world.channel_id, user_id=world.alice
    )
    await until(lambda: world.answer(interaction.token).get("content"), what="/usage's answer")
    return interaction.token


async def made_story(
    bot: SoraBot, world: World, shots: Sequence[Path], target: Target, *, made: int, pad: int = 0
) -> tuple[Story, Path]:
    """A story of len(shots) shots stored as /story stores it, whose first `made` shots are made (their
    clips stored) and the rest cancelled, and its joined clip (padded by `pad` bytes) in the store."""
    store, storage = bot.pipeline.store, bot.pipeline.storage
    requests = [
        JobRequest.parse(prompt=f"shot {n + 1}: a kite over the dunes @everyone") for n in range(len(shots))
    ]
    # Waiting for approval, no scheduler claims a shot: the test moves each where it wants it.
    story, jobs = await store.create_story(
        NewStory(
            requests=requests,
            estimated_costs=[0.4] * len(shots),
            user_id=world.alice,
            target=target,
            guild_id=world.guild_id,
            channel_id=world.channel_id,
            needs_approval=True,
        )
    )
    # Claimed for its ending, as the story deliverer does before it posts (no listener ends it meanwhile).
    claimed = await store.claim_story_end(story.id, 600.0)
    assert claimed is not None
    story = claimed
    waiting = {JobState.AWAITING_APPROVAL, JobState.WAITING}
    joined: list[Path] = []
    for job, shot in zip(jobs, shots, strict=True):
        if len(joined) == made:
            await store.transition(job.id, JobState.CANCELLED, expect=waiting)
            continue
        clip = storage.work_dir / files.clip_name(job.id)
        clip.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, clip)
        await storage.save(clip)
        await store.transition(job.id, JobState.RUNNING, expect=waiting, prodia_job_id=f"p-{job.id}")
        await store.transition(job.id, JobState.DELIVERING, output_path=storage.location(clip.name))
        await store.transition(job.id, JobState.DELIVERED)
        joined.append(clip)
    video = storage.work_dir / files.story_name(story.id)
    stitch(joined, video)
    if pad:
        write_padded_copy(video, video, pad)
    await storage.save(video)
    return story, video


def poster(bot: SoraBot) -> DiscordStoryPoster:
    return DiscordStoryPoster(
        bot,
        bot.pipeline.store,
        bot.pipeline.storage,
        bot.pipeline.media,
        links=bot.links,
        server_settings=bot.governance.settings,
    )


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [b["custom_id"] for row in message["components"] for b in row["components"] if "custom_id" in b]


async def result_of(bot: SoraBot, story_id: int) -> tuple[int | None, int | None]:
    found = await bot.pipeline.store.get_story(story_id)
    assert found is not None
    return found[0].result_message_id, found[0].result_channel_id


async def test_a_partial_public_story_is_posted_with_its_shots_buttons_pinging_only_its_requester(
    world: World, shot_clips: list[Path]
) -> None:
    async with world.bot() as bot:
        story, video = await made_story(bot, world, shot_clips, public_target(world), made=2)
        await poster(bot).deliver_story(story, video)
        [posted] = world.clips()
        assert posted["content"] == f"<@{world.alice}> your story is ready."
        assert [int(m["id"]) for m in posted["mentions"]] == [world.alice]
        assert not posted["mention_everyone"] and not posted["mention_roles"]
        [post] = posts_to(world, world.channel_id)
        assert post.json["allowed_mentions"] == {"parse": [], "users": [world.alice]}
        assert post.json["nonce"] == "story-1" and post.json["enforce_nonce"] is True
        [attachment] = posted["attachments"]
        assert attachment["filename"] == "story-1.mp4" and attachment["size"] == video.stat().st_size
        # Shot 3 was cancelled: the story has 2 shots, each with its Re-roll, and shot 3's Re-roll goes on
        # from shot 2; no Extend on a story that stopped early.
        assert custom_ids(posted) == [
            "sora-story:reroll:1:1",
            "sora-story:reroll:1:2",
            "sora-story:reroll:1:3",
            "sora-story:delete:1",
        ]
        [embed] = posted["embeds"]
        assert "shot 1: a kite" in embed["description"] and "shot 2: a kite" in embed["description"]
        assert "shot 3" not in embed["description"]
        assert embed["footer"]["text"].startswith("Story 1")
        assert "in 2 shots" in str(embed["fields"])
        assert await result_of(bot, story.id) == (int(posted["id"]), world.channel_id)


async def test_a_story_over_the_servers_limit_is_reencoded_under_it_and_links_the_original(
    world: World, shot_clips: list[Path]
) -> None:
    # Discord refuses the first re-encode after all: the next aims lower.
    world.fake.fail_next(CHANNEL_MESSAGES_POST, status=413, code=40005, message="Request entity too large")
    async with world.bot(http_port=0) as bot:  # the bot serves its clips: a "Full quality" link
        story, video = await made_story(
            bot, world, shot_clips[:2], public_target(world), made=2, pad=11 * MIB
        )
        assert video.stat().st_size > 10 * MIB
        await poster(bot).deliver_story(story, video)
        [posted] = world.clips()
        [attachment] = posted["attachments"]
        assert attachment["size"] <= 10 * MIB
        first, second = (p.files[0][2] for p in posts_to(world, world.channel_id))
        assert [p.status for p in posts_to(world, world.channel_id)] == [413, 200]
        assert len(second) <= 0.8 * len(first) < 10 * MIB
        info = probe_clip(world.fake.attachment_path(attachment))
        assert info.duration == pytest.approx(2, abs=0.2) and (info.width, info.height) == (320, 180)
        assert "Re-encoded" in str(posted["embeds"][0]["fields"])
        # The re-encodes are the story's files, kept for a repost.
        fits = {name for name in await stored_names(bot) if ".fit-" in name}
        assert len(fits) == 2 and {files.story_of(name) for name in fits} == {story.id}
        [button] = link_buttons(posted)
        assert button["label"] == "Full quality" and "story-1.mp4" in button["url"]
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(button["url"])).content == video.read_bytes()
        assert "sora-story:delete:1" in custom_ids(posted)


async def test_a_private_story_is_an_ephemeral_followup_while_the_token_lives_then_a_dm(
    world: World, shot_clips: list[Path]
) -> None:
    async with world.bot() as bot:
        token = await answered(world)
        live: Target = {**public_target(world, token), "private": True}
        story, video = await made_story(bot, world, shot_clips[:2], live, made=2)
        await poster(bot).deliver_story(story, video)
        [ephemeral] = [m for m in world.fake.followups(token) if m.get("attachments")]
        assert ephemeral["flags"] & EPHEMERAL
        assert custom_ids(ephemeral) == [
            "sora-story:reroll:1:1",
            "sora-story:reroll:1:2",
            "sora-story:extend:1",
            "sora-story:delete:1",
        ]
        assert await result_of(bot, story.id) == (int(ephemeral["id"]), None)
        # Its Delete takes the ephemeral message away (only the interaction's webhook can).
        pressed = await world.fake.click(
            "sora-story:delete:1", message_id=int(ephemeral["id"]), user_id=world.alice
        )
        await until(lambda: world.fake.followups(pressed.token), what="the delete's answer")
        assert world.fake.messages[int(ephemeral["id"])]["deleted"]

        expired: Target = {**live, "token_expires_at": 0}
        story, video = await made_story(bot, world, shot_clips[:2], expired, made=2)
        await poster(bot).deliver_story(story, video)
        [dm] = await until(lambda: world.dm_clips(world.alice), what="the story by DM")
        assert dm["attachments"][0]["filename"] == "story-2.mp4"
        assert "sora-story:reroll:2:2" in custom_ids(dm) and dm["embeds"][0]["title"] == "Sora 2 story"
        assert await result_of(bot, story.id) == (int(dm["id"]), int(dm["channel_id"]))
        assert not world.clips()


@pytest.mark.fake_refusal(
    status=403,
    code=50013,
    route="POST /channels/{channel_id}/messages",
    reason="the bot's permission to post is taken away while the story runs",
)
@pytest.mark.fake_refusal(
    status=403,
    code=50007,
    route="POST /channels/{channel_id}/messages",
    reason="the member's DMs are closed to the bot, so the story can't be handed over",
)
async def test_a_channel_that_refuses_the_story_hands_it_to_the_requester_by_dm(
    world: World, shot_clips: list[Path]
) -> None:
    async with world.bot() as bot:
        token = await answered(world)
        world.guild.set_overwrite(world.channel_id, world.fake.app_id, deny=SEND_MESSAGES)
        story, video = await made_story(bot, world, shot_clips[:2], public_target(world, token), made=2)
        await poster(bot).deliver_story(story, video)
        [dm] = await until(lambda: world.dm_clips(world.alice), what="the story by DM")
        assert "not allowed to post" in dm["content"] and dm["attachments"][0]["filename"] == "story-1.mp4"
        # No buttons: a Re-roll or Extend pressed there would post into the channel that refused it.
        assert not dm.get("components")
        assert await result_of(bot, story.id) == (int(dm["id"]), int(dm["channel_id"]))
        told = [m for m in world.fake.followups(token) if "sent it to you by direct message" in m["content"]]
        assert told and told[0]["flags"] & EPHEMERAL
        assert not world.clips()

        # Nor do the requester's DMs take it: the story fails.
        world.fake.dm_closed.add(world.alice)
        story, video = await made_story(bot, world, shot_clips[:2], public_target(world), made=2)
        with pytest.raises(DeliveryError, match="missing permissions"):
            await poster(bot).deliver_story(story, video)
        assert await result_of(bot, story.id) == (None, None)


async def test_a_story_delivered_again_after_a_crash_is_posted_once(
    world: World, shot_clips: list[Path]
) -> None:
    async with world.bot() as bot:
        story, video = await made_story(bot, world, shot_clips[:2], public_target(world), made=2)
        stories = poster(bot)
        await stories.deliver_story(story, video)
        [posted] = world.clips()
        await stories.deliver_story(story, video)  # the row says it was posted: nothing is sent
        assert len(posts_to(world, world.channel_id)) == 1
        # A crash between Discord's answer and storing its id: the nonce gets the same message back.
        async with bot.pipeline.db.transaction() as conn:
            await conn.execute("UPDATE stories SET result_message_id = NULL, result_channel_id = NULL")
        await stories.deliver_story(story, video)
        assert [m["id"] for m in world.clips()] == [posted["id"]]
        assert await result_of(bot, story.id) == (int(posted["id"]), world.channel_id)


class Marked:
    """A catalog that translates every text into "[<locale>] <English>" (the shipped ones don't have these
    texts yet)."""

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def gettext(self, text: str) -> str:
        return f"[{self.locale}] {text}"

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return f"[{self.locale}] {singular if count == 1 else plural}"


async def test_a_public_story_is_posted_in_the_servers_language_a_private_one_in_its_requesters(
    world: World, shot_clips: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages, "_translations", Marked)
    async with world.bot() as bot:
        spoken: Target = {**public_target(world), "locale": "de", "guild_locale": "fr"}
        story, video = await made_story(bot, world, shot_clips[:2], spoken, made=2)
        await poster(bot).deliver_story(story, video)
        [posted] = world.clips()
        assert posted["content"] == f"[fr] <@{world.alice}> your story is ready."  # the server's own
        assert posted["embeds"][0]["title"] == "[fr] Sora 2 story"

        await bot.governance.update_settings(world.guild_id, language="ja")  # its admins' choice
        story, video = await made_story(bot, world, shot_clips[:2], spoken, made=2)
        await poster(bot).deliver_story(story, video)
        assert world.clips()[-1]["embeds"][0]["title"] == "[ja] Sora 2 story"

        private: Target = {**spoken, "private": True}
        story, video = await made_story(bot, world, shot_clips[:2], private, made=2)
        await poster(bot).deliver_story(story, video)
        [dm] = await until(lambda: world.dm_clips(world.alice), what="the story by DM")
        assert dm["embeds"][0]["title"] == "[de] Sora 2 story"  # its requester's
