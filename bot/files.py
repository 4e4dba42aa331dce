"""The names of every file a job owns, in one place, and the only code that lists or deletes them.

A job's files live in the output folder and are named after its id: the clip `{id}.mp4`, its
re-encodes `{id}.fit-{budget}.mp4`, poster frames `{id}.poster-{width}.jpg`, previews
`{id}.preview-{budget}.mp4` and the last frame `{id}.last.png` (the start picture of a Continue), plus
what a crash can leave of them while they are written (`{name}.part`, `.{name}.{random}.part{suffix}`).
Input images are `inputs/{uuid}.jpg`, named before the job exists; a job owns the one its request names,
and Re-roll and Remix share it.

Files are matched by full name against these patterns and compared by job id as a number, never by prefix:
`1.fit-123.mp4` belongs to job 1, `10.mp4` and `01.mp4` do not.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

INPUTS = "inputs"
# Retention leaves a file no job owns this long: its request may still be on the way to becoming a job.
ORPHAN_GRACE_SECONDS = 3600.0

_ID = r"[1-9][0-9]{0,18}"  # database ids: positive, no leading zero
_DERIVED = r"(?:\.fit-[0-9]{1,12}\.mp4|\.poster-[0-9]{1,6}\.jpg|\.preview-[0-9]{1,12}\.mp4|\.last\.png|\.mp4)"
# A crash may leave a partial file: render.py's `{name}.part`, fit.py's `.{name}.{8 random}.part{suffix}`.
_JOB_FILE = re.compile(
    rf"(?P<id>{_ID}){_DERIVED}(?:\.part)?|\.(?P<tmp>{_ID}){_DERIVED}\.[a-z0-9_]{{8}}\.part\.(?:mp4|jpg|png)"
)
_INPUT_FILE = re.compile(r"[0-9a-f]{32}\.jpg")


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


def new_input_path(output_dir: Path) -> Path:
    """A fresh name for an input image (stored before its job exists)."""
    return output_dir / INPUTS / f"{uuid.uuid4().hex}.jpg"


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
    inputs: Mapping[str, tuple[Path, float]], references: Iterable[tuple[str, bool]], grace_ends: float
) -> list[str]:
    """Which stored input images (`input_files`) retention deletes, given (image path, still used) for
    every job that may name one: those named only by jobs done with them, and those no job names that were
    written before `grace_ends`."""
    named = [(input_name(path), used) for path, used in references]
    unused = unused_inputs([n for n, used in named if not used], [n for n, used in named if used])
    referenced = {n for n, _ in named}
    return sorted(
        name
        for name, (_, mtime) in inputs.items()
        if name in unused or (name not in referenced and mtime < grace_ends)
    )


@dataclass(frozen=True, slots=True)
class JobFiles:
    """The files of one job in the output folder."""

    output_dir: Path
    job_id: int

    @property
    def clip(self) -> Path:
        return clip_path(self.output_dir, self.job_id)

    def fit(self, budget: int) -> Path:
        return fit_path(self.clip, budget)

    def poster(self, width: int) -> Path:
        return poster_path(self.clip, width)

    def preview(self, budget: int) -> Path:
        return preview_path(self.clip, budget)

    @property
    def last_frame(self) -> Path:
        return last_frame_path(self.clip)

    def owned(self) -> list[Path]:
        """Exactly the existing files of this job (not its input image, which jobs may share)."""
        return files_by_job(self.output_dir).get(self.job_id, [])


def files_by_job(output_dir: Path) -> dict[int, list[Path]]:
    """Every job file in the output folder, by job id (one directory read)."""
    found: dict[int, list[Path]] = {}
    try:
        entries = list(os.scandir(output_dir))
    except FileNotFoundError:
        return found
    for entry in entries:
        job_id = job_of(entry.name)
        if job_id is not None and entry.is_file(follow_symlinks=False):
            found.setdefault(job_id, []).append(Path(entry.path))
    for paths in found.values():
        paths.sort()
    return found


def input_files(output_dir: Path) -> dict[str, tuple[Path, float]]:
    """Every input image the bot wrote: name -> (path, modification time)."""
    found: dict[str, tuple[Path, float]] = {}
    try:
        entries = list(os.scandir(output_dir / INPUTS))
    except FileNotFoundError:
        return found
    for entry in entries:
        if _INPUT_FILE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                found[entry.name] = (Path(entry.path), entry.stat(follow_symlinks=False).st_mtime)
            except FileNotFoundError:
                continue
    return found


def delete_job_files(output_dir: Path, job_ids: Collection[int]) -> int:
    """Delete every file of these jobs (their input images aside); returns how many were deleted."""
    wanted = set(job_ids)
    if not wanted:
        return 0
    paths = [p for job_id, owned in files_by_job(output_dir).items() if job_id in wanted for p in owned]
    return _unlink(paths)


def delete_inputs(output_dir: Path, names: Iterable[str]) -> int:
    """Delete these input images (names as `input_name` gives them); returns how many were deleted."""
    return _unlink(output_dir / INPUTS / name for name in set(names) if _INPUT_FILE.fullmatch(name))


def delete_if_older(paths: Iterable[Path], than: float) -> int:
    """Delete those of these files last modified before `than` (a timestamp); returns how many."""
    old: list[Path] = []
    for path in paths:
        try:
            if path.stat().st_mtime < than:
                old.append(path)
        except FileNotFoundError:
            continue
    return _unlink(old)


def _unlink(paths: Iterable[Path]) -> int:
    removed = 0
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed
