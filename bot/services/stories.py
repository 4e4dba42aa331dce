"""Stories (/story) as they run: each shot's clip hands its last frame to the next shot; after the last
shot (or once a shot fails) the shots made are joined into one clip and delivered where the story asked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import discord

from bot import files
from bot.domain.models import Job, JobState
from bot.domain.stories import Story, StoryState, Transition, shot_kind, shot_made, shots_made
from bot.errors import (
    DatabaseUnavailable,
    MediaCrashed,
    SoraBotError,
    StorageUnavailable,
    is_content_rejection,
)
from bot.i18n.messages import _, current, n_, speaking, supported
from bot.media.images import start_picture
from bot.media.pool import MediaPool
from bot.media.stitch import stitch_shots
from bot.storage import Storage
from bot.store.jobs import JobStore
from bot.store.ledger import charged_at_prodia
from bot.tasks import spawn
from bot.ui.embeds import cut
from bot.ui.stories import stopped_reason, told_error

log = logging.getLogger(__name__)

_ENDED_EARLY = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.REJECTED})  # rejected: by a moderator
_SETTLED = _ENDED_EARLY | {JobState.DELIVERED, JobState.WAITING}  # no shot of the story under way
# The longest reason a partial story's note gives for the shot that stopped it (a shot's own user_error).
REASON_MAX = 600
# How long a process's claim to end a story (join and post its shots) holds before recovery may take it over.
STOP_SECONDS = 900.0
# Joining a story that killed its media process this many times ends it failed (not tried again forever).
MEDIA_TRIES = 3


# Why a partial story stopped, for its post: a text, or one made in the post's language when it is posted.
Note = str | Callable[[], str]


class StoryOutput(Protocol):
    """Puts a story's joined clip where the story asked (its target's kind). Safe to call again."""

    async def deliver_story(
        self, story: Story, video: Path, *, shots: Sequence[Job] | None = None, note: Note | None = None
    ) -> None: ...


# Joins the shots into one clip at dest (run in a media process: a module-level function).
Stitcher = Callable[[Sequence[Path], Path, Transition], None]


class StoryDeliverer:
    """The deliverer of every shot's job (target kinds "story:{output}"), and a transition listener that
    stops a story whose shot failed, was cancelled or rejected. Ending a story (joining and posting the
    shots made) is claimed first (`claim_story_end`), so one process does it once."""

    def __init__(
        self,
        store: JobStore,
        storage: Storage,
        media: MediaPool,
        outputs: Mapping[str, StoryOutput],
        *,
        wake: Callable[[], None] = lambda: None,
        stitcher: Stitcher = stitch_shots,
        on_end: Callable[[Story], None] | None = None,
    ) -> None:
        self.store = store
        self.storage = storage
        self.media = media  # takes last frames and joins shots in its processes
        self.outputs = dict(outputs)
        self.wake = wake  # the scheduler's: a shot was queued
        self.stitcher = stitcher
        self.on_end = on_end
        # Media processes that died joining each story (in this process): ended failed at MEDIA_TRIES.
        self._media_crashes: dict[int, int] = {}

    @property
    def kinds(self) -> list[str]:
        """The target kinds of the shots this deliverer runs: those of stories it has an output for."""
        return [shot_kind(kind) for kind in self.outputs]

    async def deliver(self, job: Job, clip: Path) -> int | None:
        """Shot k is made: queue shot k+1 from its last frame, or, after the last shot, join and deliver."""
        story, shots = await self._story_of(job)
        assert job.shot_index is not None
        if job.shot_index + 1 < story.shots:
            if (
                shots[job.shot_index + 1].state is not JobState.WAITING
                or story.state is not StoryState.RUNNING
            ):
                return None  # queued by an earlier call for this shot, or the story is ending
            picture = await self.media.run(start_picture, clip, job.request.size)
            name = files.new_input_name()
            image_path = await self.storage.put_bytes(name, picture)
            if await self.store.queue_shot(story.id, job.shot_index + 1, image_path) is None:
                # Queued by a racing call for this shot, or the story is ending: this picture is nobody's.
                await self.storage.delete([name])
            else:
                log.info(
                    "story %d: shot %d queued from job %d's last frame", story.id, job.shot_index + 2, job.id
                )
                self.wake()
            return None
        claimed = await self.store.claim_story_end(story.id, STOP_SECONDS)
        if claimed is None:
            return None  # ended, or being ended (a Cancel) by whoever claimed it: it joins this shot too
        made = [shot for shot in shots if shot.id != job.id and shot_made(shot)]
        await self._finish(claimed, made, extra=(job, clip))
        return None

    async def on_transition(self, job: Job, previous: JobState) -> None:
        """A shot failed, was cancelled or rejected: retry it once, or stop the story (the waiting shots
        refunded, the shots made delivered)."""
        if job.story_id is None or job.state not in _ENDED_EARLY or previous is JobState.WAITING:
            return
        story, _ = await self._story_of(job)
        if story.state is not StoryState.RUNNING:
            return  # ending already: whoever claimed it joins what was made
        # Once more with the same seed, unless Prodia refused the content (it would refuse, and bill, again),
        # or the clip was made and what failed was joining or delivering it (a new clip wouldn't help), or
        # Prodia may have billed this attempt (a second one would bill the shot twice, past what the story
        # reserved and the server's budget allowed).
        if (
            job.state is JobState.FAILED
            and previous is not JobState.DELIVERING
            and not is_content_rejection(job.error)
            and not charged_at_prodia(job, previous)
            and await self.store.retry_shot(job) is not None
        ):
            self.wake()
            return
        claimed = await self.store.claim_story_end(story.id, STOP_SECONDS)
        if claimed is not None:
            await self.end(claimed, cause=job, made_cause=previous is JobState.DELIVERING)

    async def end(
        self, story: Story, *, cause: Job | None = None, made_cause: bool = False, why: str | None = None
    ) -> None:
        """End a story this process claimed: its waiting shots cancelled (refunded), the shots made (in order
        from the first) joined and delivered as a partial story, or, with none, the story ended as the shot
        that stopped it (`cause`; None: a Cancel, or recovery) left it. `made_cause`: its clip was stored and
        what failed came after. `why`: what the member is told (by default why the claim was taken, else the
        cause's error)."""
        shot = (cause.shot_index or 0) + 1 if cause is not None else None
        with speaking(story.target.get("locale")):  # the requester's: texts stored for them to read later
            refunded = _("The story stopped before this shot; you were not charged for it.")
        await self.store.stop_waiting_shots(
            story.id,
            error=f"story stopped: shot {shot} (job {cause.id}) {cause.state.value}"
            if cause
            else "story ended",
            user_error=refunded,
        )
        found = await self.store.get_story(story.id)
        assert found is not None
        shots = found[1]
        made = shots_made(
            shots, also=cause.id if made_cause and cause is not None and cause.output_path else None
        )
        why = why or story.user_error
        if cause is not None and not why:
            with speaking(story.target.get("locale")):
                why = cause.user_error or stopped_reason(shot, cause)
        if len(made) == story.shots:
            await self._finish(story, made, reraise=False)
            return
        if not any(shot.story_id == story.id for shot in made):
            # Nothing of its own made (a rejected Re-roll, say): the story it reuses is posted already.
            failed = cause is not None and cause.state is JobState.FAILED
            detail = f"shot {shot} (job {cause.id}): {cause.error or cause.state.value}" if cause else "ended"
            state = StoryState.FAILED if failed else StoryState.CANCELLED
            await self._end_as(story.id, state, error=detail, user_error=why)
            return
        stopped_at = len(made) + 1
        requester = supported(story.target.get("locale"))

        def partial() -> str:
            """Why the story is partial, in the language of the moment: the reason (written in the
            requester's language) only where it is read in that language (their status and DMs, a private
            post, a post in a server speaking it); elsewhere the facts alone."""
            if current() != requester:
                return n_(
                    "Shot {shot} of {shots} did not finish; the story has its first {count}.",
                    "Shot {shot} of {shots} did not finish; the story has its first {count}.",
                    len(made),
                    shot=stopped_at,
                    shots=story.shots,
                )
            reason = cut(told_error(why) or _("stopped"), REASON_MAX)  # (no marker inside another's call)
            return n_(
                "Shot {shot} of {shots} did not finish ({reason}); the story has its first {count}.",
                "Shot {shot} of {shots} did not finish ({reason}); the story has its first {count}.",
                len(made),
                shot=stopped_at,
                shots=story.shots,
                reason=reason,
            )

        with speaking(requester):
            told = partial()
        await self._finish(
            story,
            made,
            error=f"partial: stopped at shot {stopped_at}",
            user_error=told,
            note=partial,
            reraise=False,
        )

    async def recover(self, *, ended_before: float | None = None) -> int:
        """Take up the stories left unfinished: running with no shot under way while a shot ended early and
        its listener never ran (the process died, the database failed it), counting the shot as possibly
        billed (no retry); or being ended by a process whose claim ran out. Only shots that ended before
        `ended_before` count (a listener of this or another process may still be at work on a newer one).
        Returns how many."""
        taken = 0
        for story_id in await self.store.running_story_ids():
            taken += await self.settle(story_id, ended_before=ended_before)
        return taken

    async def settle(self, story_id: int, *, ended_before: float | None = None) -> bool:
        """End a story whose shot ended early with no shot under way, whose shots are all made but which was
        not joined (an outage), or whose ending's claim ran out. False when the story is in none of these."""
        found = await self.store.get_story(story_id)
        if found is None:
            return False
        story, shots = found
        if str(story.target.get("kind")) not in self.outputs:
            return False  # another process's story (`sora-bot story` and the bot may share a database)
        own = [s for s in shots if s.story_id == story_id]  # a Re-roll's earlier shots are another story's
        ended = sorted((s for s in own if s.state in _ENDED_EARLY), key=lambda s: s.shot_index or 0)
        if story.state is StoryState.STOPPING:
            claimed = await self.store.claim_story_end(story_id, STOP_SECONDS)  # only once it ran out
            if claimed is None:
                return False
            await self.end(claimed, cause=ended[0] if ended else None)
            return True
        if story.state is not StoryState.RUNNING or any(s.state not in _SETTLED for s in own):
            return False  # a shot is still under way (job recovery has it)
        # A shot ended early; or every shot is made and the story was not joined (its ending was given up
        # in an outage).
        whole = len(shots_made(shots)) == story.shots
        if not ended and not whole:
            return False
        basis = ended[0] if ended else max(own, key=lambda s: s.updated_at)
        if ended_before is not None and basis.updated_at >= ended_before:
            return False
        claimed = await self.store.claim_story_end(story_id, STOP_SECONDS)
        if claimed is None:
            return False
        await self.end(claimed, cause=ended[0] if ended else None)
        return True

    async def _finish(
        self,
        story: Story,
        made: Sequence[Job],
        *,
        extra: tuple[Job, Path] | None = None,
        error: str | None = None,
        user_error: str | None = None,
        note: Note | None = None,
        reraise: bool = True,
    ) -> None:
        """Join and deliver the shots made; when that fails the story ends failed, explained (the shots were
        paid: what failed is said), and with `reraise` the error goes on (to fail the shot delivering)."""
        renewal = spawn(self._hold_claim(story), f"story {story.id} claim")
        try:
            await self._join_and_deliver(
                story, made, extra=extra, error=error, user_error=user_error, note=note or user_error
            )
        except (
            StorageUnavailable,
            DatabaseUnavailable,
            MediaCrashed,
            discord.DiscordServerError,
            asyncio.CancelledError,
        ) as exc:
            if isinstance(exc, MediaCrashed) and self._crashed(story.id):
                # Its joining killed the media process every time: ended failed below, not tried forever.
                await self._failed_to_join(story, exc, error=error, user_error=user_error, reraise=reraise)
                return
            # An outage (or a shutdown, or a media process that died), not the story's fault: the claim is
            # given up, for the shot's delivery tried again, or recovery, to end it once the outage is over.
            with contextlib.suppress(Exception):
                await self.store.release_story_claim(story)
            if reraise:
                raise
            log.warning(
                "story %d: ending it waits for the store, database or Discord", story.id, exc_info=True
            )
        except Exception as exc:
            log.exception("story %d: joining or delivering the shots made failed", story.id)
            await self._failed_to_join(story, exc, error=error, user_error=user_error, reraise=reraise)
        finally:
            renewal.cancel()

    async def _hold_claim(self, story: Story) -> None:
        """Keep this process's claim to end the story while it joins and posts (a long join of five 12 s
        1080p shots, re-encodes, retries): only a process that died loses it."""
        while True:
            await asyncio.sleep(STOP_SECONDS / 4)
            try:
                await self.store.renew_story_claim(story, STOP_SECONDS)
            except Exception:  # a database blip: the next round renews it, well within the claim
                log.warning("story %d: its claim was not renewed", story.id, exc_info=True)

    async def _end_as(self, story_id: int, state: StoryState, **fields: str | None) -> None:
        """Finish the story (once) and tell `on_end`."""
        ended = await self.store.finish_story(story_id, state, **fields)
        if ended is not None and self.on_end is not None:
            self.on_end(ended)

    async def _story_of(self, job: Job) -> tuple[Story, list[Job]]:
        found = await self.store.get_story(job.story_id) if job.story_id is not None else None
        if found is None:
            raise SoraBotError(f"job {job.id} is a shot of no stored story")
        return found

    def _crashed(self, story_id: int) -> bool:
        """Count a media process dying while this story was joined; whether that was the last try."""
        self._media_crashes[story_id] = self._media_crashes.get(story_id, 0) + 1
        return self._media_crashes[story_id] >= MEDIA_TRIES

    async def _failed_to_join(
        self, story: Story, exc: BaseException, *, error: str | None, user_error: str | None, reraise: bool
    ) -> None:
        """End the story failed, explained (its shots were paid: what failed is said)."""
        self._media_crashes.pop(story.id, None)
        with speaking(story.target.get("locale")):
            unposted = (
                _("{note} The shots made could not be joined or posted.", note=user_error)
                if user_error
                else _("The shots made could not be joined or posted.")
            )
        await self._end_as(
            story.id,
            StoryState.FAILED,
            error=f"{error or 'complete'}; then {type(exc).__name__}: {exc}",
            user_error=unposted,
        )
        if reraise:
            raise exc

    async def _join_and_deliver(
        self,
        story: Story,
        made: Sequence[Job],
        *,
        extra: tuple[Job, Path] | None = None,
        error: str | None = None,
        user_error: str | None = None,
        note: Note | None = None,
    ) -> None:
        """Join the shots made (borrowed local copies, and `extra`'s clip in hand) in order into the story's
        clip, store it, deliver it to the story's target and end the story."""
        output = self.outputs.get(str(story.target.get("kind", "")))
        if output is None:
            raise SoraBotError(f"no output for story target {story.target!r}")
        dest = self.storage.work_dir / files.story_name(story.id)
        async with contextlib.AsyncExitStack() as stack:
            clips: list[tuple[int, Path, Job]] = []
            for shot in made:
                local = await stack.enter_async_context(self.storage.local(files.clip_name(shot.id)))
                if local is None:
                    raise SoraBotError(f"story {story.id}: the clip of shot job {shot.id} is missing")
                clips.append((shot.shot_index or 0, local, shot))
            if extra is not None:
                clips.append((extra[0].shot_index or 0, extra[1], extra[0]))
            clips.sort(key=lambda clip: clip[0])
            joined = [shot for _, _, shot in clips]
            await self.media.run(self.stitcher, [path for _, path, _ in clips], dest, story.transition)
        try:
            if not await self.store.holds_claim(story):
                # Taken over, or ended meanwhile (its member forgotten): nothing of it is kept or posted.
                raise SoraBotError(f"story {story.id}: its ending was taken over or it ended meanwhile")
            await self.storage.save(dest)
            await output.deliver_story(story, dest, shots=joined, note=note)
        finally:
            await self.storage.discard(dest)  # a bucket's working copy, stored or not
        location = self.storage.location(dest.name)
        await self._end_as(
            story.id, StoryState.DELIVERED, output_path=location, error=error, user_error=user_error
        )
