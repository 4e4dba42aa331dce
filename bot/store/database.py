"""The SQLite database: connections, numbered migrations tracked with PRAGMA user_version, backups."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from bot.errors import DatabaseBusy, DatabaseError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """The numbered migrations shipped with the package: (version, name, sql), in order, without gaps."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files("bot.store").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise RuntimeError(f"migration {name} is out of sequence (expected {expected:04d})")
    return found


def schema_version() -> int:
    """The schema version this code writes."""
    return len(migrations())


class Database:
    """A writer connection behind a lock (one transaction at a time) and a reader connection (WAL)."""

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, *, migrate: bool = True, busy_timeout: float = 10.0) -> Database:
        """Open (creating the folder), refuse a newer schema, and apply pending migrations when asked."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return await cls._open(path, migrate, int(busy_timeout * 1000))
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise DatabaseError(f"the database {path} is locked by another process") from None
            raise DatabaseError(f"the database {path} can't be opened: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"the database {path} is not a usable SQLite file: {exc}") from None

    @classmethod
    async def _open(cls, path: Path, migrate: bool, busy_ms: int) -> Database:
        writer = await _connect(path, busy_ms)
        try:
            await writer.execute("PRAGMA journal_mode=WAL")
            current = await _user_version(writer)
            latest = schema_version()
            if current > latest:
                raise DatabaseError(
                    f"the database {path} has schema version {current}, newer than this sora-bot knows "
                    f"({latest}); upgrade sora-bot or use a backup"
                )
            if current < latest:
                if not migrate:
                    raise DatabaseError(f"the database {path} needs migrating: run `sora-bot db migrate`")
                await _apply_migrations(writer, current)
            reader = await _connect(path, busy_ms)
        except BaseException:
            await writer.close()
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """`BEGIN IMMEDIATE` on the writer: SQLite's write lock is taken up front, so it can't deadlock.

        A task cancelled at any await in here (a Cancel button, a shutdown) must not leave the shared writer
        inside a transaction: aiosqlite still runs a statement whose caller was cancelled, so the BEGIN may
        have happened. Every exit but a completed COMMIT queues a ROLLBACK behind it, shielded.
        """
        async with self._write_lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise DatabaseBusy() from None
                raise
            except BaseException:
                await asyncio.shield(self._rollback())
                raise
            try:
                yield self._writer
                await self._writer.execute("COMMIT")
            except BaseException:
                await asyncio.shield(self._rollback())
                raise

    async def _rollback(self) -> None:
        """Roll back whatever transaction is open on the writer; nothing open is fine."""
        try:
            await self._writer.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if "no transaction is active" not in str(exc):
                log.exception("rolling back failed")

    @property
    def reader(self) -> aiosqlite.Connection:
        return self._reader

    async def backup(self, destination: Path) -> None:
        """Copy the live database with SQLite's online backup API (consistent while the bot runs)."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        target = await aiosqlite.connect(destination)
        try:
            async with self._write_lock:
                await self._writer.backup(target)
        finally:
            await target.close()


async def _connect(path: Path, busy_ms: int) -> aiosqlite.Connection:
    # isolation_level=None: autocommit, so transactions are exactly the explicit BEGIN IMMEDIATE blocks.
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute(f"PRAGMA busy_timeout={busy_ms}")
    await conn.execute("PRAGMA foreign_keys=ON")
    await conn.execute("PRAGMA synchronous=NORMAL")
    return conn


async def _user_version(conn: aiosqlite.Connection) -> int:
    row = await fetch_one(conn, "PRAGMA user_version")
    return int(row[0]) if row else 0


async def _apply_migrations(conn: aiosqlite.Connection, current: int) -> None:
    for version, name, sql in migrations():
        if version <= current:
            continue
        # executescript commits anything pending first; the script and its version bump commit together.
        try:
            await conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        except sqlite3.OperationalError:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            if await _user_version(conn) >= version:
                continue  # another process applied it while we waited for the write lock
            raise
        log.info("database migrated to version %d (%s)", version, name)


async def fetch_one(conn: aiosqlite.Connection, sql: str, params: Any = ()) -> sqlite3.Row | None:
    """One row (or None), in a single trip to the database thread."""
    rows = list(await conn.execute_fetchall(sql, params))
    return rows[0] if rows else None


async def fetch_all(conn: aiosqlite.Connection, sql: str, params: Any = ()) -> list[sqlite3.Row]:
    """Every row, in a single trip to the database thread (a cursor costs three)."""
    return list(await conn.execute_fetchall(sql, params))
