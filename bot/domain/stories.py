"""A story (/story): 2 to 5 shots, each a normal job, joined into one clip. Shot 1 is queued at once; shot k
waits (JobState.WAITING) for the last frame of shot k-1, its start picture."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from bot.domain.models import Job, JobState, Target

SHOTS_MIN = 2
SHOTS_MAX = 5
STORY_TARGET = "story"  # shots' target kinds are "story:{output}": the story deliverer takes them from there

Transition = Literal["cut", "crossfade"]


class StoryState(StrEnum):
    """A story's lifecycle; its shots have their own (JobState)."""

    RUNNING = "running"
    STOPPING = "stopping"  # claimed by one process, which joins and posts the shots made (until `stop_until`)
    DELIVERED = "delivered"  # every shot made and joined, or a partial story after a shot failed
    FAILED = "failed"  # nothing could be delivered
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Story:
    """One stored story row; its shots are jobs with its id and their index (0-based)."""

    id: int
    user_id: int
    guild_id: int | None
    channel_id: int | None
    target: Target  # where the joined clip goes
    shots: int
    transition: Transition
    state: StoryState
    output_path: str | None
    error: str | None
    user_error: str | None
    created_at: float
    finished_at: float | None
    based_on: int | None = None  # Re-roll / Extend: the story whose shots before `first_shot` this one reuses
    first_shot: int = 0  # this story's own shots are first_shot..shots-1
    status_message_id: int | None = None  # the interaction's reply that follows the story
    result_message_id: int | None = None  # the posted story clip
    result_channel_id: int | None = None
    stop_until: float | None = None  # a 'stopping' claim's end: past it, recovery may take the story over
    stop_owner: str | None = None  # the claim: only its holder renews, gives up or posts


def shot_kind(output_kind: str) -> str:
    """The target kind of a story's shots whose joined clip goes to `output_kind` ("discord", "file"): a
    process runs only the shots of stories it can deliver."""
    return f"{STORY_TARGET}:{output_kind}"


def shot_made(shot: Job) -> bool:
    """Whether the shot's clip was made and stored (it reached `delivering`)."""
    return shot.state in (JobState.DELIVERING, JobState.DELIVERED)


def shots_made(shots: list[Job], *, also: int | None = None) -> list[Job]:
    """The shots in a joined clip: those made, in order, up to the first that wasn't; `also` the job id of
    a shot known to be made although it failed after (its clip stored, the story's next step failed)."""
    made = []
    for shot in shots:
        if not (shot_made(shot) or shot.id == also):
            break
        made.append(shot)
    return made


@dataclass(frozen=True, slots=True)
class StoryOptions:
    """The /story options every shot shares (None: the server's default)."""

    duration: int | None = None
    aspect_ratio: str | None = None
    model: str | None = None
    resolution: str | None = None
    seed: int | None = None
    private: bool = False
    transition: Transition = "cut"


# Why a story its member (or a moderator) cancelled stopped: stored as its `user_error` (a marker, in
# English), shown as bot.ui.stories.told_error says.
CANCELLED = "cancelled"
