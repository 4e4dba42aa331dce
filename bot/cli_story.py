"""`sora-bot story`: 2 to 5 shots through the pipeline, without Discord, joined into one MP4."""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

from bot.domain.models import SEED_MAX, Job, JobRequest, JobState
from bot.domain.stories import SHOTS_MAX, SHOTS_MIN, Story, StoryState
from bot.errors import SoraBotError
from bot.media.pool import MediaPool
from bot.pipeline import FileStoryOutput, Pipeline
from bot.services.stories import StoryDeliverer
from bot.settings import Settings
from bot.storage import Storage
from bot.store.jobs import JobStore
from bot.store.stories import NewStory

EXIT_FAILED = 1  # as bot.cli's
EXIT_CONFIG = 2
PROGRESS_EVERY = 5.0


def add_parser(commands: Any) -> None:  # argparse's subparsers action has no public type
    story = commands.add_parser(
        "story", help="run a story of 2 to 5 shots through the pipeline, without Discord, as one MP4"
    )
    story.add_argument(
        "prompts", nargs="+", metavar="prompt", help=f"one per shot, {SHOTS_MIN} to {SHOTS_MAX}"
    )
    story.add_argument("--image", type=Path, help="a PNG, JPEG or WebP the first shot animates")
    story.add_argument("--duration", type=int, default=4, help="each shot: 4, 8 or 12 seconds (default 4)")
    story.add_argument("--transition", choices=["cut", "crossfade"], default="cut", help="between shots")
    story.add_argument("--aspect-ratio", default="16:9", help="16:9 (default) or 9:16")
    story.add_argument("--model", default="sora-2", help="sora-2 (default) or sora-2-pro")
    story.add_argument("--resolution", help="720p or 1080p (sora-2-pro only)")
    story.add_argument(
        "--seed", type=int, help=f"1 to {SEED_MAX:,}; every shot uses the same (default: random)"
    )
    story.add_argument("--out", type=Path, required=True, help="where to write the MP4")
    story.add_argument("--backend", choices=["prodia", "local"], help="override PRODIA_BACKEND")
    story.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    story.add_argument("-v", "--verbose", action="store_true", help="log every job transition")


async def run_story(settings: Settings, args: argparse.Namespace) -> int:
    if settings.prodia_backend == "prodia":
        settings.require("prodia_token")
    if not SHOTS_MIN <= len(args.prompts) <= SHOTS_MAX:
        print(f"sora-bot: a story has {SHOTS_MIN} to {SHOTS_MAX} shots (prompts)", file=sys.stderr)
        return EXIT_CONFIG
    shared: dict[str, Any] = {
        "duration": args.duration,
        "aspect_ratio": args.aspect_ratio,
        "model": args.model,
        "resolution": args.resolution,
        # One seed for every shot, so they look like one story.
        "seed": args.seed if args.seed is not None else random.randint(1, SEED_MAX),
    }
    requests: list[JobRequest] = []
    try:
        for prompt in args.prompts:
            requests.append(JobRequest.parse(prompt=prompt, **shared))
        image_bytes = args.image.read_bytes() if args.image else None
    except SoraBotError as exc:
        print(f"sora-bot: shot {len(requests) + 1}: {exc.detail}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"sora-bot: can't read the image {args.image}: {exc.strerror}", file=sys.stderr)
        return EXIT_CONFIG

    progress = _StoryProgress(quiet=args.quiet)

    def deliverers(store: JobStore, storage: Storage, media: MediaPool) -> dict[str, StoryDeliverer]:
        progress.deliverer = StoryDeliverer(
            store, storage, media, {"file": FileStoryOutput()}, on_end=progress.ended
        )
        return dict.fromkeys(progress.deliverer.kinds, progress.deliverer)

    pipeline = await Pipeline.open(settings, deliverers)
    try:
        assert progress.deliverer is not None
        progress.deliverer.wake = pipeline.scheduler.wake
        pipeline.store.listeners.append(progress.deliverer.on_transition)
        pipeline.store.listeners.append(progress.on_transition)
        if image_bytes is not None:
            try:
                image_path = await pipeline.store_image(image_bytes, requests[0].size)
            except SoraBotError as exc:
                print(f"sora-bot: {exc.detail}", file=sys.stderr)
                return EXIT_CONFIG
            requests[0] = JobRequest.parse(
                prompt=args.prompts[0], **shared, kind="img2vid", image_path=str(image_path)
            )
        story, shots = await pipeline.store.create_story(
            NewStory(
                requests=requests,
                estimated_costs=[pipeline.prices.estimate(request) for request in requests],
                user_id=0,
                target={"kind": "file", "path": str(args.out.resolve())},
                transition=args.transition,
            )
        )
        progress.watch(story, shots)
        await pipeline.start()
        assert progress.deliverer is not None
        # An earlier run's story its process left stuck (one ended two leases ago: not another run's at work).
        await progress.deliverer.recover(ended_before=time.time() - 2 * settings.lease_seconds)
        # Every shot may take the job's timeout, and be tried once more.
        final = await progress.wait(pipeline, settings.job_timeout_seconds * (2 * len(requests) + 1))
        await pipeline.scheduler.wait_idle()
        found = await pipeline.store.get_story(final.id)
        assert found is not None
        final, shots = found
    finally:
        await pipeline.close()
    return _report(final, shots, args.out)


def _report(story: Story, shots: list[Job], out: Path) -> int:
    cost = sum(
        s.actual_cost if s.actual_cost is not None else s.estimated_cost for s in shots if s.prodia_job_id
    )
    made = sum(1 for shot in shots if shot.state is JobState.DELIVERED)
    if story.state is StoryState.DELIVERED:
        print(f"story {story.id} delivered: {made} of {story.shots} shots")
        print(f"  output: {out}")
        print(f"  cost:   ${cost:.2f}")
        if story.user_error:
            print(f"sora-bot: {story.user_error}", file=sys.stderr)
            return EXIT_FAILED
        return 0
    print(
        f"sora-bot: story {story.id} {story.state.value}: {story.user_error or story.error}", file=sys.stderr
    )
    if story.error and story.error != story.user_error:
        print(f"sora-bot: detail: {story.error}", file=sys.stderr)
    return EXIT_FAILED


class _StoryProgress:
    """One line per state change of each shot of the watched story; ends when the story ends."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.deliverer: StoryDeliverer | None = None
        self.story: Story | None = None
        self.shots = 0
        self.started = time.monotonic()
        self.done = asyncio.Event()

    def watch(self, story: Story, shots: list[Job]) -> None:
        self.story, self.shots = story, story.shots
        for shot in shots:
            self._say(f"shot {(shot.shot_index or 0) + 1}/{self.shots} (job {shot.id}): {shot.state.value}")

    def ended(self, story: Story) -> None:
        if self.story is not None and story.id == self.story.id:
            self.done.set()

    async def on_transition(self, job: Job, previous: JobState) -> None:
        if self.story is None or job.story_id != self.story.id:
            return
        elapsed = time.monotonic() - self.started
        shot = (job.shot_index or 0) + 1
        self._say(f"shot {shot}/{self.shots} (job {job.id}): {job.state.value} ({elapsed:.1f}s)")

    async def wait(self, pipeline: Pipeline, limit: float) -> Story:
        assert self.story is not None
        while not self.done.is_set():
            if time.monotonic() - self.started > limit:
                self._say(f"story {self.story.id}: still running after {limit:.0f}s; stopped waiting")
                break
            try:
                async with asyncio.timeout(PROGRESS_EVERY):
                    await self.done.wait()
            except TimeoutError:
                found = await pipeline.store.get_story(self.story.id)
                if found is not None and found[0].state is not StoryState.RUNNING:
                    break
                self._say(f"story {self.story.id}: {time.monotonic() - self.started:.0f}s elapsed")
        return self.story

    def _say(self, line: str) -> None:
        if not self.quiet:
            print(line, file=sys.stderr, flush=True)
