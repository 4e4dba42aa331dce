"""An S3-compatible bucket as the store (`s3://bucket/prefix`): AWS S3, Cloudflare R2, MinIO, Backblaze B2,
Garage. Through obstore (Rust's object_store): requests signed, retried with backoff, large files uploaded in
parallel parts and downloaded as a stream, so memory does not grow with the clip. Credentials come from the
standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, a web identity or the
instance's role), never from our settings or logs."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import obstore
from obstore.store import S3Store

from bot import files
from bot.errors import StorageUnavailable
from bot.storage.base import Storage

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig

# Parts of a multipart upload (S3's smallest but the last), how many of one upload go at once, and how many
# transfers (uploads and downloads) one process runs at once: what a process holds in buffers is bounded by
# TRANSFERS_AT_ONCE * PARTS_AT_ONCE * PART_BYTES for multipart uploads and downloads, whatever the clips'
# sizes; a file of one part (at most PART_BYTES) goes at once, one per job in flight.
PART_BYTES = 5 * 1024 * 1024
PARTS_AT_ONCE = 2
TRANSFERS_AT_ONCE = 4
CHUNK_BYTES = 1024 * 1024  # a download is written as it arrives, about this much at a time
WORK_PREFIX = ".work-"  # a borrowed local copy's private folder in the working folder
# A presigned S3 URL is valid for at most 7 days (SigV4).
MAX_PRESIGN_SECONDS = 7 * 86400


class S3Storage(Storage):
    """A bucket every process reaches; each process keeps only short-lived local copies."""

    remote = True

    def __init__(
        self,
        work_dir: Path,
        *,
        bucket: str,
        prefix: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        retry_seconds: float = 30.0,
        public_endpoint_url: str | None = None,
    ) -> None:
        super().__init__(work_dir)
        self._kept: set[Path] = set()  # local files saved whole, until discarded: lent without a download
        self._transfers = asyncio.Semaphore(TRANSFERS_AT_ONCE)
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        client: ClientConfig = {"connect_timeout": timedelta(seconds=5), "timeout": timedelta(seconds=300)}
        if endpoint_url and endpoint_url.startswith("http://"):
            client["allow_http"] = True
        retry: RetryConfig = {"max_retries": 4, "retry_timeout": timedelta(seconds=retry_seconds)}
        extra: dict[str, str] = {}
        if endpoint_url:
            extra["endpoint"] = endpoint_url
        if region:
            extra["region"] = region
        self._store = S3Store(
            bucket,
            prefix=self.prefix or None,
            client_options=client,
            retry_config=retry,
            **extra,  # type: ignore[arg-type]
        )
        # Links are signed for the address members reach, when the bot reaches the store by another (a
        # compose network's http://minio:9000): signing needs no request, only that address.
        self._signer = self._store
        if public_endpoint_url:
            public = {**extra, "endpoint": public_endpoint_url}
            self._signer = S3Store(
                bucket,
                prefix=self.prefix or None,
                client_options=client,
                **public,  # type: ignore[arg-type]
            )

    def __repr__(self) -> str:
        return f"S3Storage({self.location('')!r})"

    async def save(self, path: Path) -> None:
        name = files.stored_name(path)
        # A file of one part goes at once (its buffer is the file); larger ones take turns. A missing local
        # file raises here, as itself: every error from the store below is the store's (obstore raises the
        # builtin FileNotFoundError for a bucket that does not exist, PermissionError for a 403).
        multipart = path.stat().st_size > PART_BYTES
        try:
            async with self._transfers if multipart else contextlib.nullcontext():
                await obstore.put_async(
                    self._store, name, path, chunk_size=PART_BYTES, max_concurrency=PARTS_AT_ONCE
                )
        except Exception as exc:
            raise StorageUnavailable(f"could not store {self.location(name)}: {_short(exc)}") from None
        if path.parent == self.work_dir:
            self._kept.add(path)

    async def fetch(self, path: Path) -> bool:
        if path.is_file():
            return True
        return await self._download(files.stored_name(path), path)

    async def put_bytes(self, name: str, data: bytes) -> str:
        try:
            await obstore.put_async(self._store, name, data)
        except Exception as exc:
            raise StorageUnavailable(f"could not store {self.location(name)}: {_short(exc)}") from None
        return name

    @contextlib.asynccontextmanager
    async def local(self, name: str) -> AsyncIterator[Path | None]:
        folder = self.work_dir / f"{WORK_PREFIX}{uuid.uuid4().hex}"
        path = folder / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # This process's own file, stored whole and not yet discarded (never a partial download a crash
            # left): linked, not copied, and private, so discarding the original can't break the copy.
            made_here = self.work_dir / name
            found = False
            if made_here in self._kept:
                with contextlib.suppress(OSError):
                    path.hardlink_to(made_here)
                    found = True
            if not found:
                found = await self._download(name, path)
            yield path if found else None
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def listing(self) -> dict[str, float]:
        found: dict[str, float] = {}
        try:
            async for batch in obstore.list(self._store, chunk_size=1000):
                for meta in batch:
                    found[meta["path"]] = meta["last_modified"].timestamp()
        except Exception as exc:
            raise StorageUnavailable(f"could not list {self.location('')}: {_short(exc)}") from None
        return found

    async def _delete(self, names: list[str]) -> int:
        try:
            await obstore.delete_async(self._store, names)
        except Exception as exc:
            where = self.location("")
            raise StorageUnavailable(f"could not remove files in {where}: {_short(exc)}") from None
        return len(names)

    async def check(self) -> None:
        try:
            async for _ in obstore.list(self._store, prefix=files.INPUTS, chunk_size=1):
                break
        except Exception as exc:
            raise StorageUnavailable(f"{self.location('')} does not answer: {_short(exc)}") from None

    async def check_writable(self) -> None:
        probe = f".sora-probe/{uuid.uuid4().hex}"  # no name the bot's files use
        try:
            await obstore.put_async(self._store, probe, b"")
            await obstore.delete_async(self._store, probe)
        except Exception as exc:
            raise StorageUnavailable(f"{self.location('')} refuses writes: {_short(exc)}") from None

    def location(self, name: str) -> str:
        return "s3://" + "/".join(part for part in (self.bucket, self.prefix, name) if part)

    async def presign(self, name: str, seconds: float) -> str | None:
        lifetime = timedelta(seconds=max(1.0, min(seconds, MAX_PRESIGN_SECONDS)))
        try:
            return await obstore.sign_async(self._signer, "GET", name, lifetime)
        except Exception as exc:
            raise StorageUnavailable(
                f"could not sign a link to {self.location(name)}: {_short(exc)}"
            ) from None

    async def discard(self, path: Path) -> None:
        if path.parent == self.work_dir or path.parent == self.work_dir / files.INPUTS:
            self._kept.discard(path)
            path.unlink(missing_ok=True)

    async def sweep(self, before: float) -> int:
        return await asyncio.to_thread(_sweep, self.work_dir, before)

    async def _download(self, name: str, path: Path) -> bool:
        """Stream the stored `name` into `path` (whole or not at all); False when it is not stored. Errors of
        the store are StorageUnavailable; errors of the local disk (full, read-only) stay OSError."""
        part = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part{path.suffix}")
        try:
            async with self._transfers:
                try:
                    result = await obstore.get_async(self._store, name)
                except Exception as exc:
                    if _no_such_object(exc):
                        return False
                    raise self._unreadable(name, exc) from None
                path.parent.mkdir(parents=True, exist_ok=True)
                chunks = result.stream(min_chunk_size=CHUNK_BYTES)
                with part.open("wb") as out:
                    while True:
                        try:
                            chunk = await anext(chunks)
                        except StopAsyncIteration:
                            break
                        except Exception as exc:
                            raise self._unreadable(name, exc) from None
                        await asyncio.to_thread(out.write, chunk)
            part.replace(path)
        finally:
            part.unlink(missing_ok=True)
        return True

    def _unreadable(self, name: str, exc: Exception) -> StorageUnavailable:
        return StorageUnavailable(f"could not read {self.location(name)}: {_short(exc)}")


def _no_such_object(exc: Exception) -> bool:
    """S3's own answer that the object does not exist (NoSuchKey). obstore raises FileNotFoundError for any
    404: a missing bucket, or a proxy's default page while the store restarts, is the store's failure."""
    return isinstance(exc, FileNotFoundError) and "NoSuchKey" in str(exc)


def _sweep(work_dir: Path, before: float) -> int:
    """The working folder holds only copies: a borrowed copy's folder or a job's file older than `before`
    was left by a crash. Nothing else in it is touched."""
    removed = 0
    try:
        entries = list(work_dir.iterdir())
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if entry.stat().st_mtime >= before:
                continue
            if entry.is_dir() and entry.name.startswith(WORK_PREFIX):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.is_file() and (files.job_of(entry.name), files.story_of(entry.name)) != (None, None):
                entry.unlink()
            else:
                continue
        except FileNotFoundError:
            continue
        removed += 1
    return removed


def _short(exc: Exception) -> str:
    """The first line of an obstore error (its full text repeats the request at length)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"
