"""The story deliverer: a shot's last frame queues the next shot (once); a failed shot stops the story, which
is joined from the shots made (a recording joiner here; bot.media.stitch in tests/e2e/test_cli_story.py)."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from bot import files
from bot.domain.models import Job, JobRequest, JobState
from bot.domain.stories import Story, StoryState
from bot.errors import MediaCrashed, StorageUnavailable
from bot.i18n import messages
from bot.media.pool import MediaPool
from bot.media.render import render_clip
from bot.services.stories import MEDIA_TRIES, StoryDeliverer
from bot.storage.local import FileStorage
from bot.store.jobs import JobStore
from bot.store.stories import NewStory

# The joiners here record their calls in this process: the media work runs in threads.
THREADS = MediaPool(0)


class Joiner:
    """Records the shots it is given and writes the first as the joined clip."""

    def __init__(self) -> None:
        self.calls: list[list[Path]] = []

    def __call__(self, shots: Sequence[Path], dest: Path, transition: str) -> None:
        self.calls.append(list(shots))
        shutil.copyfile(shots[0], dest)


class Output:
    def __init__(self) -> None:
        self.delivered: list[tuple[int, bytes]] = []

    async def deliver_story(self, story: Story, video: Path, **_: object) -> None:
        self.delivered.append((story.id, video.read_bytes()))


async def made(store: JobStore, storage: FileStorage, job: Job) -> tuple[Job, Path]:
    """Run a claimed shot to `delivering` with a real clip in the store."""
    clip = storage.work_dir / files.clip_name(job.id)
    render_clip(clip, prompt=job.request.prompt, width=320, height=180, duration=4, audio=False, seed=1)
    await store.transition(job.id, JobState.RUNNING, prodia_job_id=f"p-{job.id}", endpoint="async")
    moved = await store.transition(job.id, JobState.DELIVERING, output_path=str(clip), actual_cost=0.4)
    assert moved is not None
    return moved, clip


async def claim(store: JobStore) -> Job:
    job = await store.claim_next(owner="w1", lease_seconds=30, max_in_flight=9, target_kinds=["story:file"])
    assert job is not None
    return job


async def test_a_made_shot_queues_the_next_from_its_last_frame_once_and_a_failure_joins_the_rest(
    store: JobStore, tmp_path: Path
) -> None:
    storage = FileStorage(tmp_path / "clips")
    storage.work_dir.mkdir(parents=True)
    joiner, output = Joiner(), Output()
    ended: list[Story] = []
    woken: list[bool] = []
    deliverer = StoryDeliverer(
        store,
        storage,
        THREADS,
        {"file": output},
        wake=lambda: woken.append(True),
        stitcher=joiner,
        on_end=ended.append,
    )
    store.listeners.append(deliverer.on_transition)
    requests = [JobRequest.parse(prompt=f"shot {n} of three", seed=5) for n in (1, 2, 3)]
    story, shots = await store.create_story(
        NewStory(
            requests=requests, estimated_costs=[0.4] * 3, user_id=1, target={"kind": "file", "path": "-"}
        )
    )

    first, clip = await made(store, storage, await claim(store))
    assert await deliverer.deliver(first, clip) is None
    assert await deliverer.deliver(first, clip) is None  # delivered again after a crash: nothing new
    second = await store.get(shots[1].id)
    assert second is not None and second.state is JobState.QUEUED and woken == [True]
    assert second.request.image_path is not None and second.request.job_type.image_to_video
    inputs = list((storage.work_dir / files.INPUTS).iterdir())
    assert [p.name for p in inputs] == [Path(second.request.image_path).name]
    with Image.open(inputs[0]) as image:
        assert image.size == (1280, 720)
    await store.transition(first.id, JobState.DELIVERED)

    assert (await claim(store)).id == second.id
    await store.transition(second.id, JobState.FAILED, error="boom", user_error="Prodia failed the shot.")
    again = await claim(store)  # tried once more: same prompt, seed and start picture, reserved again
    assert (again.story_id, again.shot_index, again.request) == (story.id, 1, second.request)
    assert await store.ledger(again.id) == [("reserve", 0.4)]
    assert woken == [True, True] and joiner.calls == []
    await store.transition(again.id, JobState.FAILED, error="boom", user_error="Prodia failed the shot.")

    third = await store.get(shots[2].id)
    assert third is not None and third.state is JobState.CANCELLED
    assert await store.ledger(third.id) == [("reserve", 0.4), ("refund", 0.4)]
    assert joiner.calls == [[clip]]
    assert output.delivered == [(story.id, clip.read_bytes())]
    assert [s.state for s in ended] == [StoryState.DELIVERED]
    assert ended[0].output_path == storage.location(files.story_name(story.id))
    assert ended[0].user_error is not None and "Prodia failed the shot." in ended[0].user_error


async def test_a_story_whose_first_shot_fails_ends_failed_with_nothing_joined(
    store: JobStore, tmp_path: Path
) -> None:
    storage = FileStorage(tmp_path / "clips")
    joiner, ended = Joiner(), list[Story]()
    deliverer = StoryDeliverer(
        store, storage, THREADS, {"file": Output()}, stitcher=joiner, on_end=ended.append
    )
    store.listeners.append(deliverer.on_transition)
    requests = [JobRequest.parse(prompt=f"shot {n} of two") for n in (1, 2)]
    _, shots = await store.create_story(
        NewStory(
            requests=requests, estimated_costs=[0.4] * 2, user_id=1, target={"kind": "file", "path": "-"}
        )
    )
    await store.transition(shots[0].id, JobState.CANCELLED)
    assert joiner.calls == []
    assert [s.state for s in ended] == [StoryState.CANCELLED]
    assert await store.ledger(shots[1].id) == [("reserve", 0.4), ("refund", 0.4)]


async def test_a_shot_that_fails_once_is_tried_again_and_the_story_goes_on(
    store: JobStore, tmp_path: Path
) -> None:
    storage = FileStorage(tmp_path / "clips")
    storage.work_dir.mkdir(parents=True)
    joiner, output, ended = Joiner(), Output(), list[Story]()
    deliverer = StoryDeliverer(
        store, storage, THREADS, {"file": output}, stitcher=joiner, on_end=ended.append
    )
    store.listeners.append(deliverer.on_transition)
    requests = [JobRequest.parse(prompt=f"shot {n} of two", seed=9) for n in (1, 2)]
    story, shots = await store.create_story(
        NewStory(
            requests=requests, estimated_costs=[0.4] * 2, user_id=1, target={"kind": "file", "path": "-"}
        )
    )
    await claim(store)
    await store.transition(shots[0].id, JobState.FAILED, error="timed out", user_error="It took too long.")
    first, first_clip = await made(store, storage, await claim(store))
    await deliverer.deliver(first, first_clip)
    await store.transition(first.id, JobState.DELIVERED)
    second, second_clip = await made(store, storage, await claim(store))
    assert second.id == shots[1].id and second.request.job_type.image_to_video
    await deliverer.deliver(second, second_clip)
    assert joiner.calls == [[first_clip, second_clip]]
    assert [(s.state, s.user_error) for s in ended] == [(StoryState.DELIVERED, None)]
    found = await store.get_story(story.id)
    assert found is not None and [s.id for s in found[1]] == [first.id, second.id]


async def test_a_shot_prodia_refused_for_its_content_is_not_tried_again(
    store: JobStore, tmp_path: Path
) -> None:
    storage = FileStorage(tmp_path / "clips")
    ended = list[Story]()
    deliverer = StoryDeliverer(
        store, storage, THREADS, {"file": Output()}, stitcher=Joiner(), on_end=ended.append
    )
    store.listeners.append(deliverer.on_transition)
    requests = [JobRequest.parse(prompt=f"shot {n} of two") for n in (1, 2)]
    _, shots = await store.create_story(
        NewStory(
            requests=requests, estimated_costs=[0.4] * 2, user_id=1, target={"kind": "file", "path": "-"}
        )
    )
    await claim(store)
    await store.transition(
        shots[0].id, JobState.FAILED, error="rejected by Prodia: moderation", user_error="No."
    )
    assert [s.state for s in ended] == [StoryState.FAILED]
    assert (
        await store.claim_next(owner="w1", lease_seconds=30, max_in_flight=9, target_kinds=["story:file"])
        is None
    )


class BrokenOutput:
    async def deliver_story(self, story: Story, video: Path, **_: object) -> None:
        raise OSError(28, "No space left on device")


async def test_a_story_whose_joined_clip_cant_be_delivered_ends_failed_without_making_a_shot_again(
    store: JobStore, tmp_path: Path
) -> None:
    storage = FileStorage(tmp_path / "clips")
    storage.work_dir.mkdir(parents=True)
    ended = list[Story]()
    deliverer = StoryDeliverer(
        store, storage, THREADS, {"file": BrokenOutput()}, stitcher=Joiner(), on_end=ended.append
    )
    store.listeners.append(deliverer.on_transition)
    requests = [JobRequest.parse(prompt=f"shot {n} of two") for n in (1, 2)]
    await store.create_story(
        NewStory(
            requests=requests, estimated_costs=[0.4] * 2, user_id=1, target={"kind": "file", "path": "-"}
        )
    )
    first, clip = await made(store, storage, await claim(store))
    await deliverer.deliver(first, clip)
    await store.transition(first.id, JobState.DELIVERED)
    second, second_clip = await made(store, storage, await claim(store))
    with pytest.raises(OSError, match="No space"):
        await deliverer.deliver(second, second_clip)
    await store.transition(second.id, JobState.FAILED, error="OSError: no space", user_error="Stopped.")
    assert (
        await store.claim_next(owner="w1", lease_seconds=30, max_in_flight=9, target_kinds=["story:file"])
        is None
    )
    assert [s.state for s in ended] == [StoryState.FAILED]
    assert ended[0].user_error is not None and "could not be joined or posted" in ended[0].user_error


async def test_a_shot_prodia_may_have_billed_is_not_tried_again(store: JobStore, tmp_path: Path) -> None:
    """It reached Prodia (it has a Prodia id): a second attempt could bill the shot twice, past what the
    story reserved and the server's budget allows. The story stops; what the shot cost stays counted."""
    storage = FileStorage(tmp_path / "clips")
    ended = list[Story]()
    deliverer = StoryDeliverer(
        store, storage, THREADS, {"file": Output()}, stitcher=Joiner(), on_end=ended.append
    )
    store.listeners.append(deliverer.on_transition)
    requests = [JobRequest.parse(prompt=f"shot {n} of two", seed=3) for n in (1, 2)]
    _, shots = await store.create_story(
        NewStory(
            requests=requests, estimated_costs=[0.4] * 2, user_id=1, target={"kind": "file", "path": "-"}
        )
    )
    await claim(store)
    await store.transition(shots[0].id, JobState.RUNNING, prodia_job_id="p-1", endpoint="async")
    await store.transition(shots[0].id, JobState.FAILED, error="timed out", user_error="It took too long.")
    assert [s.state for s in ended] == [StoryState.FAILED]
    assert (
        await store.claim_next(owner="w1", lease_seconds=30, max_in_flight=9, target_kinds=["story:file"])
        is None
    )
    assert await store.ledger(shots[0].id) == [("reserve", 0.4), ("commit", 0.4)]
    assert await store.ledger(shots[1].id) == [("reserve", 0.4), ("refund", 0.4)]


async def test_a_story_left_running_by_a_listener_that_never_ran_is_stopped_by_recovery(
    store: JobStore, tmp_path: Path
) -> None:
    """Shot 1 was cancelled while no listener ran (the process died): the story stays running with shot 2
    waiting and reserved, until recovery stops it and refunds shot 2."""
    storage = FileStorage(tmp_path / "clips")
    ended = list[Story]()
    requests = [JobRequest.parse(prompt=f"shot {n} of two", seed=5) for n in (1, 2)]
    story, shots = await store.create_story(
        NewStory(
            requests=requests, estimated_costs=[0.4] * 2, user_id=1, target={"kind": "file", "path": "-"}
        )
    )
    await store.transition(shots[0].id, JobState.CANCELLED, error="cancelled")  # no deliverer listening
    deliverer = StoryDeliverer(
        store, storage, THREADS, {"file": Output()}, stitcher=Joiner(), on_end=ended.append
    )
    assert await deliverer.recover() == 1
    assert [s.state for s in ended] == [StoryState.CANCELLED]
    assert await store.ledger(shots[1].id) == [("reserve", 0.4), ("refund", 0.4)]
    assert await deliverer.recover() == 0  # nothing left to take up
    found = await store.get_story(story.id)
    assert found is not None and found[0].state is StoryState.CANCELLED


async def test_a_middle_shot_made_but_failed_after_is_in_the_partial_story(
    store: JobStore, tmp_path: Path
) -> None:
    """Shot 2 of 3 was made and stored (paid), then what came after failed (its last frame, say): the story
    stops, and its partial clip has shots 1 and 2, not only shot 1."""
    storage = FileStorage(tmp_path / "clips")
    storage.work_dir.mkdir(parents=True)
    joiner, ended = Joiner(), list[Story]()
    deliverer = StoryDeliverer(
        store, storage, THREADS, {"file": Output()}, stitcher=joiner, on_end=ended.append
    )
    store.listeners.append(deliverer.on_transition)
    requests = [JobRequest.parse(prompt=f"shot {n} of three", seed=5) for n in (1, 2, 3)]
    _, shots = await store.create_story(
        NewStory(
            requests=requests, estimated_costs=[0.4] * 3, user_id=1, target={"kind": "file", "path": "-"}
        )
    )
    first, first_clip = await made(store, storage, await claim(store))
    await deliverer.deliver(first, first_clip)
    await store.transition(first.id, JobState.DELIVERED)
    second, second_clip = await made(store, storage, await claim(store))
    await store.transition(second.id, JobState.FAILED, error="last frame: broken", user_error="Oops.")
    assert joiner.calls == [[first_clip, second_clip]]
    assert [s.state for s in ended] == [StoryState.DELIVERED]
    third = await store.get(shots[2].id)
    assert third is not None and third.state is JobState.CANCELLED


def file_story(shots: int, **extra: object) -> NewStory:
    requests = [JobRequest.parse(prompt=f"shot {n} of {shots}", seed=5) for n in range(1, shots + 1)]
    return NewStory(
        requests=requests,
        estimated_costs=[0.4] * shots,
        user_id=1,
        target={"kind": "file", "path": "-"},
        **extra,  # type: ignore[arg-type]
    )


async def test_once_a_story_is_being_ended_no_shot_is_queued_or_tried_again(store: JobStore) -> None:
    story, _ = await store.create_story(file_story(3))
    first = await claim(store)
    await store.transition(first.id, JobState.RUNNING, prodia_job_id="p-1", endpoint="async")
    assert await store.claim_story_end(story.id, 600.0) is not None  # a Cancel
    assert await store.queue_shot(story.id, 1, "inputs/0123456789abcdef0123456789abcdef.jpg") is None
    failed = await store.transition(first.id, JobState.FAILED, endpoint=None, prodia_job_id=None)
    assert failed is not None and await store.retry_shot(failed) is None
    found = await store.get_story(story.id)
    assert found is not None and [s.state for s in found[1]] == [
        JobState.FAILED,
        JobState.WAITING,
        JobState.WAITING,
    ]


async def test_recovery_leaves_the_stories_of_another_output_alone(store: JobStore, tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "clips")
    deliverer = StoryDeliverer(store, storage, THREADS, {"file": Output()})
    bots = dataclasses.replace(file_story(2), target={"kind": "discord", "channel_id": 1})
    story, shots = await store.create_story(bots)
    await store.transition(shots[0].id, JobState.CANCELLED)
    assert await deliverer.recover() == 0  # `sora-bot story` sharing the bot's database
    found = await store.get_story(story.id)
    assert found is not None and found[0].state is StoryState.RUNNING
    assert await StoryDeliverer(store, storage, THREADS, {"discord": Output()}).recover() == 1


async def test_a_rejected_reroll_posts_nothing_of_the_story_it_reuses(
    store: JobStore, tmp_path: Path
) -> None:
    storage = FileStorage(tmp_path / "clips")
    storage.work_dir.mkdir(parents=True)
    output = Output()
    deliverer = StoryDeliverer(store, storage, THREADS, {"file": output}, stitcher=Joiner())
    store.listeners.append(deliverer.on_transition)
    first, _ = await store.create_story(file_story(2))
    for _ in range(2):
        job, clip = await made(store, storage, await claim(store))
        await deliverer.deliver(job, clip)
        await store.transition(job.id, JobState.DELIVERED)
    assert len(output.delivered) == 1
    again, own = await store.create_story(
        file_story(1, based_on=first.id, first_shot=2, needs_approval=True)  # an Extend, awaiting approval
    )
    await store.transition(own[0].id, JobState.REJECTED, user_error="A moderator rejected this request: no")
    found = await store.get_story(again.id)
    assert found is not None and found[0].state is StoryState.CANCELLED
    assert len(output.delivered) == 1  # story 1 was not posted again as story 2


async def test_a_store_outage_while_ending_leaves_the_story_to_be_ended_again(
    store: JobStore, tmp_path: Path
) -> None:
    storage = FileStorage(tmp_path / "clips")
    storage.work_dir.mkdir(parents=True)

    class Unreachable:
        async def deliver_story(self, story: Story, video: Path, **_: object) -> None:
            raise StorageUnavailable("the bucket is unreachable")

    deliverer = StoryDeliverer(store, storage, THREADS, {"file": Unreachable()}, stitcher=Joiner())
    story, _ = await store.create_story(file_story(2))
    for index in range(2):
        job, clip = await made(store, storage, await claim(store))
        if index == 0:
            await deliverer.deliver(job, clip)
            await store.transition(job.id, JobState.DELIVERED)
    with pytest.raises(StorageUnavailable):
        await deliverer.deliver(job, clip)
    found = await store.get_story(story.id)
    # Not failed: its claim given up, the story stays closed to new shots for the next to end it.
    assert found is not None and found[0].state is StoryState.STOPPING and found[0].stop_until == 0
    # The shot ends delivered (its clip is made); once the store is back, recovery joins and posts the story.
    await store.transition(job.id, JobState.DELIVERED)
    healed = Output()
    assert await StoryDeliverer(store, storage, THREADS, {"file": healed}, stitcher=Joiner()).recover() == 1
    assert [story_id for story_id, _ in healed.delivered] == [story.id]


async def test_a_story_whose_joining_kills_the_media_process_each_time_ends_failed_not_retried_forever(
    store: JobStore, tmp_path: Path
) -> None:
    storage = FileStorage(tmp_path / "clips")
    storage.work_dir.mkdir(parents=True)
    joins = 0

    def crashing(shots: Sequence[Path], dest: Path, transition: str) -> None:
        nonlocal joins
        joins += 1
        raise MediaCrashed("the media process running stitch_shots died 3 times")

    deliverer = StoryDeliverer(store, storage, THREADS, {"file": Output()}, stitcher=crashing)
    story, _ = await store.create_story(file_story(2))
    for index in range(2):
        job, clip = await made(store, storage, await claim(store))
        if index == 0:
            await deliverer.deliver(job, clip)
            await store.transition(job.id, JobState.DELIVERED)
    with pytest.raises(MediaCrashed):
        await deliverer.deliver(job, clip)  # the first join: its claim given up, to be tried again
    await store.transition(job.id, JobState.DELIVERED)
    for _ in range(5):
        await deliverer.recover()
    found = await store.get_story(story.id)
    assert found is not None and found[0].state is StoryState.FAILED
    assert found[0].user_error == "The shots made could not be joined or posted."
    assert joins == MEDIA_TRIES


class Marked:
    """A catalog that translates every text into "[de] <English>" (the shipped ones don't have these yet)."""

    def gettext(self, text: str) -> str:
        return f"[de] {text}"

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return f"[de] {singular if count == 1 else plural}"


async def test_what_a_stopped_story_stores_for_its_member_is_in_their_language(
    store: JobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages, "_translations", lambda locale: Marked() if locale == "de" else None)
    storage = FileStorage(tmp_path / "clips")
    storage.work_dir.mkdir(parents=True)
    ended = list[Story]()
    deliverer = StoryDeliverer(
        store, storage, THREADS, {"file": Output()}, stitcher=Joiner(), on_end=ended.append
    )
    store.listeners.append(deliverer.on_transition)
    requests = [JobRequest.parse(prompt=f"shot {n} of three") for n in (1, 2, 3)]
    _, shots = await store.create_story(
        NewStory(
            requests=requests,
            estimated_costs=[0.4] * 3,
            user_id=1,
            target={"kind": "file", "path": "-", "locale": "de"},
        )
    )
    first, clip = await made(store, storage, await claim(store))
    await deliverer.deliver(first, clip)
    await store.transition(first.id, JobState.DELIVERED)
    await claim(store)
    # Refused for its content (not tried again), and the shot itself said nothing to its member.
    await store.transition(shots[1].id, JobState.FAILED, error="rejected by Prodia: moderation")

    assert [s.state for s in ended] == [StoryState.DELIVERED]
    assert ended[0].user_error == (
        "[de] Shot 2 of 3 did not finish ([de] shot 2 failed); the story has its first 1."
    )
    third = await store.get(shots[2].id)
    assert third is not None
    assert third.user_error == "[de] The story stopped before this shot; you were not charged for it."


class SpeakingOutput:
    """Posts in a set language, recording the partial story's note as that post shows it."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.notes: list[str | None] = []

    async def deliver_story(self, story: Story, video: Path, *, note: object = None, **_: object) -> None:
        with messages.speaking(self.language):
            self.notes.append(note() if callable(note) else note)  # type: ignore[arg-type]


@pytest.mark.parametrize("language", ["de", "ja"])
async def test_a_partial_storys_post_gives_the_reason_only_in_the_requesters_language(
    store: JobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, language: str
) -> None:
    """The reason was written in the requester's language: a post in another (the server's) states the
    facts alone, in its own language, rather than mix two."""
    monkeypatch.setattr(messages, "_translations", lambda locale: Marked() if locale == "de" else None)
    storage = FileStorage(tmp_path / "clips")
    storage.work_dir.mkdir(parents=True)
    output = SpeakingOutput(language)
    deliverer = StoryDeliverer(store, storage, THREADS, {"file": output}, stitcher=Joiner())
    store.listeners.append(deliverer.on_transition)
    requests = [JobRequest.parse(prompt=f"shot {n} of three") for n in (1, 2, 3)]
    _, shots = await store.create_story(
        NewStory(requests=requests, estimated_costs=[0.4] * 3, user_id=1,
                 target={"kind": "file", "path": "-", "locale": "de"})
    )  # fmt: skip
    first, clip = await made(store, storage, await claim(store))
    await deliverer.deliver(first, clip)
    await store.transition(first.id, JobState.DELIVERED)
    await claim(store)
    await store.transition(shots[1].id, JobState.FAILED, error="rejected by Prodia: moderation")

    expected = {
        "de": "[de] Shot 2 of 3 did not finish ([de] shot 2 failed); the story has its first 1.",
        "ja": "Shot 2 of 3 did not finish; the story has its first 1.",  # no Japanese for it here: English
    }
    assert output.notes == [expected[language]]
