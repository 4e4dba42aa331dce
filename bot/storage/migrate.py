"""Copying an output folder into a bucket (`sora-bot storage migrate`): the bot's own files only (as
bot.files names them; no `.part` leftovers, nothing foreign), each streamed by `S3Storage.save`, skipping what
the bucket holds already at the same size, so an interrupted run resumes and a finished one copies nothing
more. Nothing is ever deleted, here or in the bucket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import obstore

from bot import files
from bot.errors import StorageUnavailable
from bot.storage.local import FileStorage
from bot.storage.s3 import S3Storage, _short

# Files in flight at once: small files (posters, inputs) are bound by round trips, so a few go together; each
# holds at most PART_BYTES * PARTS_AT_ONCE in memory while it uploads, whatever its size.
FILES_AT_ONCE = 4
# A bucket that refuses this many files in a row is down (or refuses us): stop rather than wait out its
# retries on every remaining file. A later run resumes.
FAILURES_TO_STOP = 8


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run copies: (name, size) of each of the bot's files the bucket lacks, and what it skips."""

    to_copy: list[tuple[str, int]]
    skipped: int  # in the bucket already, at the same size
    ignored: int  # in the folder but not the bot's to store (`.part` leftovers, foreign files)

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.to_copy)


@dataclass(slots=True)
class Tally:
    """How a run went so far."""

    copied: int = 0
    skipped: int = 0
    failed: int = 0
    copied_bytes: int = 0
    stopped: bool = False  # too many failures in a row: the rest was not tried
    failures_in_a_row: int = field(default=0, repr=False)

    def line(self) -> str:
        return f"copied {self.copied}, skipped {self.skipped}, failed {self.failed}"


def copyable(name: str, folder: Path) -> bool:
    """Whether a listed name in `folder` is one of the bot's stored files (not a crash's partial file)."""
    if not files.is_stored_name(name):
        return False
    try:
        return files.stored_name(folder / name) == name
    except ValueError:
        return False


async def plan(source: FileStorage, target: S3Storage) -> Plan:
    """The bot's files in the folder, against what the bucket holds (StorageUnavailable if it can't be
    listed)."""
    listed = await source.listing()
    names = [name for name in listed if copyable(name, source.work_dir)]
    local = await asyncio.to_thread(_sizes, source.work_dir, names)
    stored = await _stored_sizes(target)
    to_copy = sorted((name, size) for name, size in local.items() if stored.get(name) != size)
    return Plan(to_copy=to_copy, skipped=len(local) - len(to_copy), ignored=len(listed) - len(names))


async def copy(
    source: FileStorage,
    target: S3Storage,
    todo: Plan,
    *,
    on_done: Callable[[Tally], None],
    on_failure: Callable[[str, str], None],
    on_gone: Callable[[str], None],
) -> Tally:
    """Copy the planned files: `on_done(tally)` after each one, `on_failure(name, reason)` for one that
    failed, `on_gone(name)` for one removed from the folder since it was listed (retention: nothing to copy).
    Never raises for one file."""
    tally = Tally(skipped=todo.skipped)
    queue = list(reversed(todo.to_copy))

    async def one(name: str, size: int) -> None:
        try:
            await target.save(source.work_dir / name)
        except FileNotFoundError:
            tally.skipped += 1
            on_gone(name)
        except StorageUnavailable as exc:
            tally.failed += 1
            tally.failures_in_a_row += 1
            tally.stopped = tally.failures_in_a_row >= FAILURES_TO_STOP
            on_failure(name, exc.detail)
        except OSError as exc:  # the local file can't be read
            tally.failed += 1
            on_failure(name, f"can't read it: {exc.strerror or type(exc).__name__}")
        else:
            tally.copied += 1
            tally.copied_bytes += size
            tally.failures_in_a_row = 0

    async def worker() -> None:
        while queue and not tally.stopped:
            await one(*queue.pop())
            on_done(tally)

    async with asyncio.TaskGroup() as group:
        for _ in range(FILES_AT_ONCE):
            group.create_task(worker())
    return tally


def _sizes(folder: Path, names: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for name in names:
        try:
            found[name] = (folder / name).stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue  # removed since the listing (retention): nothing to copy
    return found


async def _stored_sizes(target: S3Storage) -> dict[str, int]:
    """Every stored name -> its size. Through the bucket's own client: the Storage interface has no sizes."""
    found: dict[str, int] = {}
    try:
        async for batch in obstore.list(target._store, chunk_size=1000):
            for meta in batch:
                found[meta["path"]] = meta["size"]
    except Exception as exc:
        raise StorageUnavailable(f"could not list {target.location('')}: {_short(exc)}") from None
    return found
