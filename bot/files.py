"""The names of every file a job owns, in one place: which stored names are the bot's, whose they are, and
which retention and forgetting delete. The store (bot.storage) only ever deletes names this module gives.

A job's files are stored (in the output folder, or an S3 bucket) under names made of its id: the clip
`{id}.mp4`, its re-encodes `{id}.fit-{budget}.mp4`, poster frames `{id}.poster-{width}.jpg`, previews
`{id}.preview-{budget}.mp4` and the last frame `{id}.last.png` (the start picture of a Continue), plus
what a crash can leave of them in a local folder while they are written (`{name}.part`,
`.{name}.{random}.part{suffix}`, the suffix `.jpeg` for a poster).
A story's joined clip is `story-{story id}.mp4`, with its re-encodes and posters named like a job's
(`story-{id}.fit-{budget}.mp4`, ...): they belong to the story, not to any of its shots' jobs, so nothing that
deletes a job's files touches them; they go with the story's retention, its Delete and its member's
forgetting.
Input images are `inputs/{uuid}.jpg`, named before the job exists; a job owns the one its request names,
and Re-roll and Remix share it.

Files are matched by full name against these patterns and compared by job id as a number, never by prefix:
`1.fit-123.mp4` belongs to job 1, `10.mp4` and `01.mp4` do not.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

INPUTS = "inputs"
# Retention leaves a file no job owns this long: its request may still be on the way to becoming a job.
ORPHAN_GRACE_SECONDS = 3600.0

_ID = r"[1-9][0-9]{0,18}"  # database ids: positive, no leading zero
_DERIVED = r"(?:\.fit-[0-9]{1,12}\.mp4|\.poster-[0-9]{1,6}\.jpg|\.preview-[0-9]{1,12}\.mp4|\.last\.png|\.mp4)"
# A crash may leave a partial file: render.py's `{name}.part`, fit.py's `.{name}.{8 random}.part{suffix}`.
_JOB_FILE = re.compile(
    rf"(?P<id>{_ID}){_DERIVED}(?:\.part)?|\.(?P<tmp>{_ID}){_DERIVED}\.[a-z0-9_]{{8}}\.part\.(?:mp4|jpe?g|png)"
)
_INPUT_FILE = re.compile(r"[0-9a-f]{32}\.jpg")
_STORY_FILE = re.compile(
    rf"story-(?P<id>{_ID}){_DERIVED}(?:\.part)?"
    rf"|\.story-(?P<tmp>{_ID}){_DERIVED}\.[a-z0-9_]{{8}}\.part\.(?:mp4|jpe?g|png)"
)


def job_of(name: str) -> int | None:
    """The id of the job that owns a file of this name in the output folder, or None for any other name."""
    match = _JOB_FILE.fullmatch(name)
    return int(match["id"] or match["tmp"]) if match else None


def clip_path(output_dir: Path, job_id: int) -> Path:
    """Where a job's clip is written."""
    return output_dir / f"{job_id}.mp4"


def fit_path(clip: Path, budget: int) -> Path:
    """The clip re-encoded to fit `budget` bytes."""
    return clip.with_name(f"{clip.stem}.fit-{budget}.mp4")


def poster_path(clip: Path, width: int) -> Path:
    """A poster frame of the clip, at most `width` pixels wide."""
    return clip.with_name(f"{clip.stem}.poster-{width}.jpg")


def preview_path(clip: Path, budget: int) -> Path:
    """A short preview, within `budget` bytes, of a clip too large to post."""
    return clip.with_name(f"{clip.stem}.preview-{budget}.mp4")


def last_frame_path(clip: Path) -> Path:
    """The clip's last frame, the start picture of a Continue."""
    return clip.with_name(f"{clip.stem}.last.png")


def clip_name(job_id: int) -> str:
    """The stored name of a job's clip."""
    return f"{job_id}.mp4"


def story_name(story_id: int) -> str:
    """The stored name of a story's joined clip."""
    return f"story-{story_id}.mp4"


def story_of(name: str) -> int | None:
    """The id of the story whose joined clip (or a re-encode, poster, partial file of it) has this name, or
    None for any other name."""
    match = _STORY_FILE.fullmatch(name)
    return int(match["id"] or match["tmp"]) if match else None


def names_of_stories(listing: Iterable[str], story_ids: Collection[int]) -> list[str]:
    """The stored names of every file of these stories."""
    wanted = set(story_ids)
    return sorted(name for name in listing if story_of(name) in wanted)


def new_input_name() -> str:
    """A fresh stored name for an input image (stored before its job exists)."""
    return f"{INPUTS}/{uuid.uuid4().hex}.jpg"


def stored_name(path: Path) -> str:
    """The stored name of a local file the bot wrote: `{name}` for a job's file, `inputs/{name}` for an
    input image. ValueError for any other file: only the bot's own names are ever stored or deleted."""
    if job_of(path.name) is not None and not path.name.endswith(".part") and not path.name.startswith("."):
        return path.name
    if story_of(path.name) is not None and not path.name.endswith(".part") and not path.name.startswith("."):
        return path.name
    if path.parent.name == INPUTS and _INPUT_FILE.fullmatch(path.name):
        return f"{INPUTS}/{path.name}"
    raise ValueError(f"not a file name the bot writes: {path.name!r}")


def is_stored_name(name: str) -> bool:
    """Whether `name` is one the bot stores (and so may delete): a job's file or an input image."""
    folder, slash, leaf = name.rpartition("/")
    if slash:
        return folder == INPUTS and _INPUT_FILE.fullmatch(leaf) is not None
    return job_of(leaf) is not None or story_of(leaf) is not None


def input_name(image_path: str | None) -> str | None:
    """The file name of a bot-written input image, or None for anything else (no image, a foreign path)."""
    if not image_path:
        return None
    path = Path(image_path)
    return path.name if path.parent.name == INPUTS and _INPUT_FILE.fullmatch(path.name) else None


def unused_inputs(leaving: Iterable[str | None], staying: Iterable[str | None]) -> set[str]:
    """The input images (by name) named by jobs that let go of them and by no job that still uses one."""
    return {name for name in leaving if name} - {name for name in staying if name}


def inputs_to_delete(
    inputs: Mapping[str, float], references: Iterable[tuple[str, bool]], grace_ends: float
) -> list[str]:
    """Which stored input images (name -> modification time, as `input_files` gives them) retention
    deletes, given (image path, still used) for every job that may name one: those named only by jobs done
    with them, and those no job names that were written before `grace_ends`."""
    named = [(input_name(path), used) for path, used in references]
    unused = unused_inputs([n for n, used in named if not used], [n for n, used in named if used])
    referenced = {n for n, _ in named}
    return sorted(
        name
        for name, mtime in inputs.items()
        if name in unused or (name not in referenced and mtime < grace_ends)
    )


def files_by_job(listing: Iterable[str]) -> dict[int, list[str]]:
    """The job files among these stored names, by job id."""
    found: dict[int, list[str]] = {}
    for name in listing:
        job_id = job_of(name)
        if job_id is not None:
            found.setdefault(job_id, []).append(name)
    for names in found.values():
        names.sort()
    return found


def input_files(listing: Mapping[str, float]) -> dict[str, float]:
    """The input images among these stored names (name -> modification time): leaf name -> time."""
    prefix = f"{INPUTS}/"
    return {
        name.removeprefix(prefix): mtime
        for name, mtime in listing.items()
        if name.startswith(prefix) and _INPUT_FILE.fullmatch(name.removeprefix(prefix))
    }


def names_of_jobs(listing: Iterable[str], job_ids: Collection[int]) -> list[str]:
    """The stored names of every file of these jobs (their input images aside)."""
    wanted = set(job_ids)
    return sorted(
        name for job_id, names in files_by_job(listing).items() if job_id in wanted for name in names
    )


def input_names(names: Iterable[str]) -> list[str]:
    """The stored names of these input images (leaf names, as `input_name` gives them)."""
    return sorted(f"{INPUTS}/{name}" for name in set(names) if _INPUT_FILE.fullmatch(name))
