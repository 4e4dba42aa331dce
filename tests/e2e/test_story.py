"""/story through the real bot, the fake Discord and the fake Prodia: the form, the plan, the status message,
shots chained by their last frames into one posted clip, the rules for the whole story up front, a shot that
fails, a restart in the middle, approval, and the story's buttons."""

from __future__ import annotations

import asyncio
import hashlib
import io
from functools import partial
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from bot.domain.models import JobState
from bot.domain.stories import StoryState
from bot.media.probe import probe_clip
from tests.e2e.conftest import World, stored_file, stored_names, until
from tests.fakes.prodia import IMG2VID, TXT2VID, Fault

PROMPTS = ["a red kite climbs into the wind", "the kite loops over the dunes", "the kite lands on the sand"]
FPS = 24


async def open_story(world: World, user_id: int | None = None, **options: Any) -> tuple[str, dict[str, Any]]:
    """Run /story; returns its token and the form it answered with (or fails with its answer)."""
    attachments = options.pop("attachments", None)
    interaction = await world.fake.slash(
        "story",
        [{"name": k, "value": v} for k, v in options.items()],
        guild_id=world.guild_id,
        channel_id=world.channel_id,
        user_id=user_id or world.alice,
        attachments=attachments,
    )
    token = interaction.token
    await until(
        lambda: world.fake.interactions[token].modal or world.answer(token).get("content"), what="/story"
    )
    return token, world.fake.interactions[token].modal or {}


def inputs_of(form: dict[str, Any]) -> list[str]:
    """The custom_ids of a form's text inputs."""
    found = []
    for row in form["components"]:
        for item in row.get("components", [row.get("component")]):
            if item and item.get("type") == 4:
                found.append(item["custom_id"])
    return found


async def tell_story(
    world: World, prompts: list[str], user_id: int | None = None, **options: Any
) -> tuple[str, dict[str, Any]]:
    """/story, its form filled with `prompts`; returns the submit's token and its first real answer."""
    token, form = await open_story(world, user_id, **options)
    assert form, world.answer(token)
    values = {f"shot-{i}": prompt for i, prompt in enumerate(prompts, 1)}
    submitted = await world.fake.submit_modal(
        None, values, interaction=world.fake.interactions[token], user_id=user_id or world.alice
    )
    answer = await until(
        lambda: world.answer(submitted.token).get("embeds") or world.answer(submitted.token).get("content"),
        what="the story's answer",
    )
    assert answer
    return submitted.token, world.answer(submitted.token)


async def story_ended(bot: Any, story_id: int = 1, timeout: float = 90.0) -> tuple[Any, list[Any]]:
    async def ended() -> Any:
        found = await bot.pipeline.store.get_story(story_id)
        ended = found is not None and found[0].state not in (StoryState.RUNNING, StoryState.STOPPING)
        return found if ended else None

    return await until(ended, timeout=timeout, what=f"story {story_id} to end")  # type: ignore[no-any-return]


def frame_at(path: Path, seconds: float) -> np.ndarray[Any, Any]:
    """The decoded frame shown at `seconds` (the last one at or before it), as RGB."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        found = None
        for frame in container.decode(stream):
            if frame.time is not None and frame.time > seconds + 1e-6:
                break
            found = frame
        assert found is not None
        return found.to_ndarray(format="rgb24").astype(np.int16)


def difference(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    """Mean absolute difference of two same-sized RGB frames (0..255)."""
    return float(np.abs(a - b).mean())


def story_clips(world: World) -> list[dict[str, Any]]:
    return [m for m in world.clips() if any(e.get("title") == "Sora 2 story" for e in m.get("embeds", []))]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [
        c["custom_id"] for row in message.get("components", []) for c in row["components"] if "custom_id" in c
    ]


async def test_a_three_shot_story_is_planned_chained_by_last_frames_and_posted_as_one_clip(
    world: World, tmp_path: Path
) -> None:
    world.prodia.processing_seconds = 0.3
    async with world.bot() as bot:
        token, form = await open_story(world, duration=4, seed=42, transition="cut")
        # The default story_shots limit is 3: the form asks for three shots, two of them required.
        assert inputs_of(form) == ["shot-1", "shot-2", "shot-3"]
        submitted = await world.fake.submit_modal(
            None, dict(zip(inputs_of(form), PROMPTS, strict=True)), interaction=world.fake.interactions[token]
        )
        plan = await until(lambda: world.answer(submitted.token).get("embeds"), what="the plan")
        fields = {f["name"]: f["value"] for f in plan[0]["fields"]}
        assert plan[0]["title"].startswith("Story: shot 1 of 3")
        assert fields["Length"] == "12 s in 3 shots" and fields["Estimated cost"] == "$1.20"
        assert custom_ids(world.answer(submitted.token)) == ["sora-story:cancel:1"]

        story, shots = await story_ended(bot)
        assert story.state is StoryState.DELIVERED and story.user_error is None
        assert [s.state for s in shots] == [JobState.DELIVERED] * 3
        assert [await bot.pipeline.store.ledger(s.id) for s in shots] == [
            [("reserve", 0.4), ("commit", 0.4)]
        ] * 3

        posts = world.prodia.requests_for("POST /job/async")
        assert [p.job["type"] for p in posts] == [TXT2VID, IMG2VID, IMG2VID]  # no shot sent twice
        assert [p.job["config"]["prompt"] for p in posts] == PROMPTS
        assert {p.job["config"]["seed"] for p in posts} == {42}

        [posted] = await until(lambda: story_clips(world), what="the story's clip")
        assert posted["content"] == f"<@{world.alice}> your story is ready."
        assert custom_ids(posted) == [
            "sora-story:reroll:1:1", "sora-story:reroll:1:2", "sora-story:reroll:1:3",
            "sora-story:extend:1", "sora-story:delete:1",
        ]  # fmt: skip
        [attachment] = posted["attachments"]
        joined = world.fake.attachment_path(attachment)
        made = []
        for shot in shots:
            async with stored_file(bot, f"{shot.id}.mp4") as clip:
                copy = tmp_path / f"shot-{shot.id}.mp4"
                copy.write_bytes(clip.read_bytes())
                made.append(copy)
        lengths = [probe_clip(clip).duration for clip in made]
        assert probe_clip(joined).duration == pytest.approx(sum(lengths), abs=1 / FPS)

        # Every later shot started from the previous shot's last frame: Prodia got (closely) that picture.
        for before, shot in zip(made, shots[1:], strict=False):
            sent = Image.open(io.BytesIO(await _input_image(world, bot, shot))).convert("RGB")
            last = frame_at(before, probe_clip(before).duration)
            assert sent.size == (last.shape[1], last.shape[0])
            assert difference(np.asarray(sent, dtype=np.int16), last) < 6
        # The joined clip is the shots in order: around each join it shows the shot before, then the next.
        at = 0.0
        for index, clip in enumerate(made):
            middle = frame_at(joined, at + lengths[index] / 2)
            assert difference(middle, frame_at(clip, lengths[index] / 2)) < 8
            if index:
                assert (
                    difference(
                        frame_at(joined, at + 0.5), frame_at(made[index - 1], lengths[index - 1] - 0.02)
                    )
                    > 1
                )
            at += lengths[index]

        # The status message ends with the outcome and a thumbnail of each shot, without buttons.
        final = await until(
            lambda: (
                world.answer(submitted.token)["embeds"][0]["title"].startswith("Done")
                and world.answer(submitted.token)
            ),
            what="the final status",
        )
        assert [a["filename"] for a in final["attachments"]] == ["shot-1.jpg", "shot-2.jpg", "shot-3.jpg"]
        assert [e.get("thumbnail", {}).get("url") for e in final["embeds"][1:]] == [
            "attachment://shot-1.jpg", "attachment://shot-2.jpg", "attachment://shot-3.jpg",
        ]  # fmt: skip
        assert not final.get("components")


async def _input_image(world: World, bot: Any, shot: Any) -> bytes:
    """The shot's start picture as the bot stored it, checked to be byte for byte what Prodia received (the
    fake keeps each input image under its hash)."""
    async with bot.pipeline.storage.local_input(shot.request.image_path) as path:
        data: bytes = path.read_bytes()
    received = world.prodia.clip_dir / "inputs" / f"{hashlib.sha256(data).hexdigest()[:16]}.img"
    assert received.read_bytes() == data
    return data


async def test_the_whole_story_must_fit_the_rules_limits_and_budget_before_anything_is_spent(
    world: World,
) -> None:
    async with world.bot(default_story_shots=5) as bot:
        await world.admin_command("budget", "set", dollars_per_day=1.0)
        # 3 shots x $0.40 = $1.20 > $1.00: refused whole, although the first two shots would fit.
        _, answer = await tell_story(world, PROMPTS)
        assert "The whole story (3 shots, 12 s, about $1.20)" in answer["content"]
        assert "daily budget of $1.00" in answer["content"]
        # A blocked word in the last shot refuses the story (and is a strike), before any work.
        await world.admin_command("budget", "set", dollars_per_day=10.0)
        await world.admin_command("blocklist", "add", pattern="lands")
        _, answer = await tell_story(world, PROMPTS)
        assert "words this server doesn't allow" in answer["content"]
        # The member's daily video seconds cover the whole story, not just its first shots.
        await world.admin_command("blocklist", "remove", pattern="lands")
        await world.admin_command("limits", "set", user=world.alice, video_seconds_per_day=10)
        _, answer = await tell_story(world, PROMPTS)
        assert "10 s for the day" in answer["content"]
        # The member's story_shots: 2 here, so the form has two inputs.
        await world.admin_command("limits", "set", user=world.alice, video_seconds_per_day=100, story_shots=2)
        _, form = await open_story(world)
        assert inputs_of(form) == ["shot-1", "shot-2"]
        await world.admin_command("limits", "set", user=world.alice, story_shots=1)
        token, form = await open_story(world)
        assert not form and "Stories aren't enabled for you" in world.answer(token)["content"]

        assert world.prodia.requests == []
        assert await bot.pipeline.store.running_story_ids() == []
        assert await bot.pipeline.store.list_jobs(user_id=world.alice, limit=100) == []


async def test_a_middle_shot_that_fails_posts_the_shots_made_and_refunds_the_rest(world: World) -> None:
    async with world.bot() as bot:
        prompts = [PROMPTS[0], "something forbidden happens to the kite", PROMPTS[2]]
        token, _ = await tell_story(world, prompts, duration=4)
        story, shots = await story_ended(bot)
        assert story.state is StoryState.DELIVERED
        assert story.user_error is not None and "Shot 2 of 3 did not finish" in story.user_error
        # Prodia refused the content: no second try (it would refuse, and bill, again).
        assert [p.job["config"]["prompt"] for p in world.prodia.requests_for("POST /job/async")] == prompts[
            :2
        ]
        assert [(s.state, await bot.pipeline.store.ledger(s.id)) for s in shots] == [
            (JobState.DELIVERED, [("reserve", 0.4), ("commit", 0.4)]),
            (JobState.FAILED, [("reserve", 0.4), ("commit", 0.4)]),  # Prodia ran it: charged
            (JobState.CANCELLED, [("reserve", 0.4), ("refund", 0.4)]),  # never sent: refunded
        ]
        [posted] = await until(lambda: story_clips(world), what="the partial story")
        fields = {f["name"]: f["value"] for f in posted["embeds"][0]["fields"]}
        assert "Shot 2 of 3 did not finish" in fields["Note"] and fields["Length"] == "4 s in 1 shot"
        # Shot 2 can be re-rolled to go on; no Extend on a story that stopped early.
        assert custom_ids(posted) == ["sora-story:reroll:1:1", "sora-story:reroll:1:2", "sora-story:delete:1"]
        final = await until(
            lambda: "What happened" in str(world.answer(token)["embeds"][0]) and world.answer(token),
            what="the explained status",
        )
        assert "Shot 2 of 3 did not finish" in str(final["embeds"][0])
        # What the story cost, by the ledger: shots 1 and 2 charged, shot 3 refunded.
        assert {f["name"]: f["value"] for f in final["embeds"][0]["fields"]}["Cost"] == "$0.80"
        assert fields["Cost"] == "$0.80"  # the posted clip says what the story cost too


async def test_a_shot_that_fails_once_is_tried_again_with_the_same_seed(world: World) -> None:
    world.prodia.processing_seconds = 1.0
    async with world.bot(prodia_max_attempts=2) as bot:
        await tell_story(world, PROMPTS[:2], seed=7)
        # Prodia is at capacity for the second shot's every attempt (429s create no job, so nothing is
        # billed): the shot fails, and is tried once more as a new job, same request.
        await until(lambda: world.prodia.requests_for("POST /job/async"), what="shot 1 sent")
        busy = world.prodia.add_fault(
            Fault(match="POST /job/async", kind="status", status=429, retry_after="0", times=2)
        )
        story, _shots = await story_ended(bot)
        assert story.state is StoryState.DELIVERED and story.user_error is None
        jobs = await bot.pipeline.store.list_jobs(user_id=world.alice, limit=10)
        assert sorted((j.shot_index, j.state) for j in jobs) == [
            (0, JobState.DELIVERED), (1, JobState.DELIVERED), (1, JobState.FAILED),
        ]  # fmt: skip
        assert busy.hits == 2
        assert {p.job["config"]["seed"] for p in world.prodia.requests_for("POST /job/async")} == {7}


async def test_a_restart_in_the_middle_resumes_the_story_without_sending_a_shot_twice(world: World) -> None:
    world.prodia.processing_seconds = 1.5
    async with world.bot() as bot:
        await tell_story(world, PROMPTS, duration=4)

        async def second_running() -> Any:
            found = await bot.pipeline.store.get_story(1)
            return found is not None and found[1][1].state is JobState.RUNNING

        await until(second_running, timeout=60, what="shot 2 running")
    async with world.bot() as bot:
        story, shots = await story_ended(bot)
        assert story.state is StoryState.DELIVERED and [s.state for s in shots] == [JobState.DELIVERED] * 3
        posts = world.prodia.requests_for("POST /job/async")
        assert [p.job["config"]["prompt"] for p in posts] == PROMPTS  # each shot sent once
        await until(lambda: story_clips(world), what="the story's clip")
        assert len(story_clips(world)) == 1


async def test_approval_holds_the_whole_story_as_one_request(world: World) -> None:
    async with world.bot() as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        _token, answer = await tell_story(world, PROMPTS[:2])
        assert "waiting for a moderator's approval" in answer["embeds"][0]["title"]
        [request] = await until(
            lambda: [m for m in world.fake.channel_messages(world.mods_channel_id) if m.get("embeds")],
            what="the approval request",
        )
        embed = request["embeds"][0]
        assert embed["title"] == "Approval needed: a story of 2 shots"
        assert PROMPTS[0] in embed["description"] and PROMPTS[1] in embed["description"]
        assert {f["name"]: f["value"] for f in embed["fields"]}["Estimated cost"] == "$0.80"
        assert world.prodia.requests == []
        await world.fake.click("sora:approve:1", message_id=int(request["id"]), user_id=world.mod)
        story, _ = await story_ended(bot)
        assert story.state is StoryState.DELIVERED
        assert len(world.prodia.requests_for("POST /job/async")) == 2  # one approval for both shots

        await tell_story(world, PROMPTS[:2])
        second = await until(
            lambda: [m for m in world.fake.channel_messages(world.mods_channel_id) if m.get("components")],
            what="the second request",
        )
        press = await world.fake.click("sora:reject:3", message_id=int(second[-1]["id"]), user_id=world.mod)
        await until(lambda: press.modal, what="the reject form")
        assert press.modal is not None
        await world.fake.submit_modal(press.modal["custom_id"], {"reason": "not today"}, user_id=world.mod)
        story, shots = await story_ended(bot, 2)
        assert story.state is StoryState.CANCELLED and "not today" in (story.user_error or "")
        assert [await bot.pipeline.store.ledger(s.id) for s in shots] == [
            [("reserve", 0.4), ("refund", 0.4)]
        ] * 2
        assert len(world.prodia.requests_for("POST /job/async")) == 2


async def press(world: World, custom_id: str, message_id: int, user_id: int, **extra: Any) -> str:
    """A story button pressed; returns the token once the bot answered (a form, a reply or a followup)."""
    interaction = await world.fake.click(custom_id, message_id=message_id, user_id=user_id, **extra)
    token = interaction.token
    await until(
        lambda: (
            interaction.modal
            or world.answer(token).get("content")
            or world.answer(token).get("embeds")
            or world.fake.followups(token)
        ),
        what=f"the answer to {custom_id}",
    )
    return token


def said(world: World, token: str) -> str:
    messages = [world.answer(token), *world.fake.followups(token)]
    return " ".join(str(m.get("content") or m.get("embeds") or "") for m in messages)


async def test_reroll_a_shot_remakes_it_and_every_later_one_from_the_shot_before(world: World) -> None:
    async with world.bot(default_story_shots=4) as bot:
        await tell_story(world, PROMPTS, seed=9)
        await story_ended(bot)
        [posted] = await until(lambda: story_clips(world), what="the story")
        message_id = int(posted["id"])

        # Somebody else's press does nothing.
        token = await press(world, "sora-story:reroll:1:2", message_id, world.bob)
        assert "Only the person who asked for this story" in said(world, token)

        token = await press(world, "sora-story:reroll:1:2", message_id, world.alice)
        story, shots = await story_ended(bot, 2)
        assert story.state is StoryState.DELIVERED and story.based_on == 1 and story.first_shot == 1
        first = (await bot.pipeline.store.get_story(1))[1]  # type: ignore[index]
        assert shots[0].id == first[0].id  # shot 1 reused, shots 2 and 3 made again
        assert [s.story_id for s in shots] == [1, 2, 2]
        posts = world.prodia.requests_for("POST /job/async")
        assert [p.job["config"]["prompt"] for p in posts] == PROMPTS + PROMPTS[1:]
        assert [p.job["type"] for p in posts[3:]] == [IMG2VID, IMG2VID]
        # A re-roll is a new take: a new seed, shared by the shots made again.
        assert {p.job["config"]["seed"] for p in posts[:3]} == {9}
        assert len({p.job["config"]["seed"] for p in posts[3:]} - {9}) == 1
        assert [await bot.pipeline.store.ledger(s.id) for s in shots[1:]] == [
            [("reserve", 0.4), ("commit", 0.4)]
        ] * 2
        clips = await until(
            lambda: len(story_clips(world)) == 2 and story_clips(world), what="the re-rolled story"
        )
        assert probe_clip(world.fake.attachment_path(clips[1]["attachments"][0])).duration == pytest.approx(
            12, abs=0.1
        )

        # Extend: a form for the next shot's prompt, then one more shot from the last frame.
        interaction = await world.fake.click(
            "sora-story:extend:2", message_id=int(clips[1]["id"]), user_id=world.alice
        )
        await until(lambda: interaction.modal, what="the extend form")
        assert interaction.modal is not None
        await world.fake.submit_modal(None, {"prompt": "the kite flies off at dusk"}, interaction=interaction)
        story, shots = await story_ended(bot, 3)
        assert (
            story.state is StoryState.DELIVERED
            and story.shots == 4
            and [s.story_id for s in shots] == [1, 2, 2, 3]
        )
        assert world.prodia.requests_for("POST /job/async")[-1].job["type"] == IMG2VID
        clips = await until(
            lambda: len(story_clips(world)) == 3 and story_clips(world), what="the extended story"
        )
        assert probe_clip(world.fake.attachment_path(clips[2]["attachments"][0])).duration == pytest.approx(
            16, abs=0.1
        )
        # At the member's story_shots (4), no more.
        extend = await world.fake.click(
            "sora-story:extend:3", message_id=int(clips[2]["id"]), user_id=world.alice
        )
        await until(lambda: extend.modal, what="the second extend form")
        submitted = await world.fake.submit_modal(None, {"prompt": "and again"}, interaction=extend)
        await until(lambda: world.answer(submitted.token).get("content"), what="the refusal")
        assert "at most 4 shots" in world.answer(submitted.token)["content"]
        assert await bot.pipeline.store.get_story(4) is None


async def test_delete_and_cancel_are_for_the_requester_or_a_moderator_and_work_once(world: World) -> None:
    world.prodia.processing_seconds = 30.0
    async with world.bot() as bot:
        token, _answer = await tell_story(world, PROMPTS)
        status_id = int(world.answer(token)["id"])
        await until(lambda: world.prodia.requests_for("POST /job/async"), what="shot 1 sent")
        refused = await press(world, "sora-story:cancel:1", status_id, world.bob)
        assert "Only the person who asked for this story, or a moderator" in said(world, refused)
        cancel = await press(world, "sora-story:cancel:1", status_id, world.alice)
        assert "Cancelled story 1" in said(world, cancel)
        story, shots = await story_ended(bot)
        assert story.state is StoryState.CANCELLED
        assert [s.state for s in shots] == [JobState.CANCELLED] * 3
        # Shot 1 was with Prodia (charged); the two never sent are refunded.
        assert [await bot.pipeline.store.ledger(s.id) for s in shots[1:]] == [
            [("reserve", 0.4), ("refund", 0.4)]
        ] * 2
        again = await press(world, "sora-story:cancel:1", status_id, world.alice)
        assert "already cancelled" in said(world, again)

    world.prodia.processing_seconds = 0.2
    async with world.bot() as bot:
        await tell_story(world, PROMPTS[:2])
        await story_ended(bot, 2)
        [posted] = await until(lambda: story_clips(world), what="the story")
        assert "story-2.mp4" in await stored_names(bot)
        refused = await press(world, "sora-story:delete:2", int(posted["id"]), world.bob)
        assert "Only the person who asked for this story, or a moderator" in said(world, refused)
        deleted = await press(world, "sora-story:delete:2", int(posted["id"]), world.mod)
        assert "Deleted story 2." in said(world, deleted)
        assert story_clips(world) == []
        assert not {n for n in await stored_names(bot) if n.startswith("story-2")}
        assert (await bot.pipeline.store.get_story(2))[0].output_path is None  # type: ignore[index]


async def test_a_private_storys_shots_stay_private_and_a_deleted_storys_shots_are_not_shown_again(
    world: World,
) -> None:
    async with world.bot() as bot:
        await tell_story(world, PROMPTS[:2], private=True)
        await story_ended(bot)
        token = await world.command("show", world.bob, job_id=1)
        assert "no job 1" in world.answer(token)["content"]  # another member's private clip: not even named
        token = await world.command("history", world.bob, user=world.alice)
        assert PROMPTS[0] not in str(world.answer(token))

        await tell_story(world, PROMPTS[:2])
        await story_ended(bot, 2)
        [posted] = await until(lambda: story_clips(world), what="the public story")
        await press(world, "sora-story:delete:2", int(posted["id"]), world.mod)
        token = await world.command("show", world.alice, job_id=3)
        assert "removed" in world.answer(token)["content"]


async def test_cancel_pressed_twice_at_once_posts_the_shots_made_once(world: World) -> None:
    world.prodia.processing_seconds = 1.0
    async with world.bot() as bot:
        token, _ = await tell_story(world, PROMPTS)
        status_id = int(world.answer(token)["id"])

        async def second_running() -> bool:
            found = await bot.pipeline.store.get_story(1)
            return found is not None and found[1][1].state is JobState.RUNNING

        await until(second_running, timeout=60, what="shot 2 running")
        first, second = await asyncio.gather(
            world.fake.click("sora-story:cancel:1", message_id=status_id, user_id=world.alice),
            world.fake.click("sora-story:cancel:1", message_id=status_id, user_id=world.alice),
        )
        story, shots = await story_ended(bot)
        assert story.state is StoryState.DELIVERED and "cancelled" in (story.user_error or "")
        assert [s.state for s in shots] == [JobState.DELIVERED, JobState.CANCELLED, JobState.CANCELLED]
        answers = []
        for pressed in (first, second):
            answers.append(await until(partial(said, world, pressed.token), what="an answer"))
        assert sum("Cancelled story 1" in a for a in answers) == 1, answers
        await asyncio.sleep(1.0)  # room for a second post, were there one
        [posted] = story_clips(world)
        assert {f["name"]: f["value"] for f in posted["embeds"][0]["fields"]}["Length"] == "4 s in 1 shot"
        assert len(world.prodia.requests_for("POST /job/async")) == 2


async def test_forgetting_a_member_ends_their_story_without_posting_it(world: World) -> None:
    world.prodia.processing_seconds = 1.0
    async with world.bot() as bot:
        await tell_story(world, PROMPTS)

        async def second_running() -> bool:
            found = await bot.pipeline.store.get_story(1)
            return found is not None and found[1][1].state is JobState.RUNNING

        await until(second_running, timeout=60, what="shot 2 running")
        await world.admin_command("user", "forget", member=world.alice)
        story, shots = await story_ended(bot)
        assert story.state is StoryState.CANCELLED
        assert all(s.state in (JobState.DELIVERED, JobState.CANCELLED) for s in shots)
        await asyncio.sleep(1.0)
        assert story_clips(world) == []
        assert not {n for n in await stored_names(bot) if n.startswith("story-")}


async def test_blank_prompts_are_left_out_and_a_story_needs_two(world: World) -> None:
    async with world.bot() as bot:
        _, answer = await tell_story(world, [PROMPTS[0], "   ", "      "])
        assert "at least 2 shots with a prompt" in answer["content"]
        assert await bot.pipeline.store.list_jobs(user_id=world.alice, limit=10) == []
