"""The store of the bot's files, whatever it is: what every backend does, and what they share.

Every process works on local files (PyAV, Discord uploads and Prodia requests need them): a clip, an input
image or a re-encode is made or read in the process's working folder and kept in the store under the name
bot.files gives it. With the output folder as the store (`file://`), the working folder is the store and
nothing is copied; with a bucket, a process borrows a private local copy for as long as it needs one
(`local`), and what it makes there is saved back (`save`)."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from bot import files


class Storage(ABC):
    """One store of the bot's files, with a local working folder."""

    remote: bool = False  # a bucket (files are copied in and out), not the working folder itself

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir

    @abstractmethod
    async def save(self, path: Path) -> None:
        """Keep this local file (named as bot.files names it) in the store; StorageUnavailable if the store
        can't take it (the local file stays)."""

    @abstractmethod
    async def fetch(self, path: Path) -> bool:
        """Make the stored file of `path`'s name available at `path` (a derived file kept by an earlier
        run); False when the store has no such file."""

    @abstractmethod
    async def put_bytes(self, name: str, data: bytes) -> str:
        """Store `data` under `name`; returns the reference a job request keeps (`image_path`)."""

    @abstractmethod
    def local(self, name: str) -> AbstractAsyncContextManager[Path | None]:
        """A local copy of the stored file `name` for the span of the block (None: not stored). Files made
        next to it (re-encodes, posters, a last frame) may be `save`d while it lasts."""

    @abstractmethod
    async def listing(self) -> dict[str, float]:
        """Every stored name (any name: callers pick the bot's through bot.files) -> modification time."""

    @abstractmethod
    async def _delete(self, names: list[str]) -> int: ...

    @abstractmethod
    async def check(self) -> None:
        """Raise StorageUnavailable unless the store answers (readiness)."""

    async def check_writable(self) -> None:
        """Raise StorageUnavailable unless the store takes a write (a bucket may list but refuse puts)."""
        await self.check()

    @abstractmethod
    def location(self, name: str) -> str:
        """Where `name` is kept, for the job record and the logs (no secret in it)."""

    async def presign(self, name: str, seconds: float) -> str | None:
        """A URL that downloads `name` for `seconds`, when the store can sign one (a bucket can)."""
        return None

    async def discard(self, path: Path) -> None:  # noqa: B027 - a working-folder store keeps its files
        """Drop the local working copy of a stored file (a bucket's copies only: the folder is the store)."""

    async def sweep(self, before: float) -> int:
        """Remove local working files left by a crash, older than `before`; returns how many."""
        return 0

    async def delete(self, names: Iterable[str]) -> int:
        """Delete these stored files; only names bot.files says are the bot's. Returns how many."""
        wanted = sorted({name for name in names if files.is_stored_name(name)})
        return await self._delete(wanted) if wanted else 0

    @contextlib.asynccontextmanager
    async def local_input(self, image_path: str | None) -> AsyncIterator[Path | None]:
        """A local copy of a request's input image: a bot-written one from the store, any other path as it
        is (None when there is no such file)."""
        name = files.input_name(image_path)
        if name is None:
            path = Path(image_path) if image_path else None
            yield path if path is not None and path.is_file() else None
            return
        async with self.local(f"{files.INPUTS}/{name}") as path:
            yield path
