"""The output folder as the store (`file://`, the default): files are made, read and kept in place."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from bot import files
from bot.errors import StorageUnavailable
from bot.storage.base import Storage


class FileStorage(Storage):
    """A folder every process of the bot sees (one machine, or a shared file system)."""

    async def save(self, path: Path) -> None:
        dest = self.work_dir / files.stored_name(path)
        if dest.resolve() != path.resolve():
            await asyncio.to_thread(_copy, path, dest)

    async def fetch(self, path: Path) -> bool:
        if path.is_file():
            return True
        src = self.work_dir / files.stored_name(path)
        if src.resolve() == path.resolve() or not src.is_file():
            return False
        await asyncio.to_thread(_copy, src, path)
        return True

    async def put_bytes(self, name: str, data: bytes) -> str:
        path = self.work_dir / name
        await asyncio.to_thread(_write, path, data)
        return str(path)

    @contextlib.asynccontextmanager
    async def local(self, name: str) -> AsyncIterator[Path | None]:
        path = self.work_dir / name
        yield path if path.is_file() else None

    async def listing(self) -> dict[str, float]:
        return await asyncio.to_thread(_listing, self.work_dir)

    async def _delete(self, names: list[str]) -> int:
        return await asyncio.to_thread(_unlink, [self.work_dir / name for name in names])

    async def check(self) -> None:
        if not await asyncio.to_thread(os.access, self.work_dir, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"the output folder {self.work_dir} is missing or not writable")

    def location(self, name: str) -> str:
        return str(self.work_dir / name)


def _listing(root: Path) -> dict[str, float]:
    found: dict[str, float] = {}
    for folder, prefix in ((root, ""), (root / files.INPUTS, f"{files.INPUTS}/")):
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False):
                    found[prefix + entry.name] = entry.stat(follow_symlinks=False).st_mtime
            except FileNotFoundError:
                continue
    return found


def _write(path: Path, data: bytes) -> None:
    """Write whole or not at all: another process may read the file as soon as its name appears."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part{path.suffix}")
    try:
        part.write_bytes(data)
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part{dest.suffix}")
    try:
        shutil.copyfile(src, part)
        part.replace(dest)
    finally:
        part.unlink(missing_ok=True)


def _unlink(paths: list[Path]) -> int:
    removed = 0
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed
