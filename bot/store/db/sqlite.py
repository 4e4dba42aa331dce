"""SQLite through aiosqlite (the default): a writer connection behind a lock and a reader connection."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from bot.errors import DatabaseBusy, DatabaseError
from bot.store.db.base import Conn, Database, Engine, Params, Row
from bot.store.db.migrate import apply_sqlite_migrations, refuse_newer, schema_version, user_version

log = logging.getLogger(__name__)


class SQLiteConn(Conn):
    engine: Engine = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.raw = conn

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        # execute_fetchall: a single trip to the database thread (a cursor costs three).
        return list(await self.raw.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self.raw.execute(sql, params)
        return cursor.rowcount

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        await self.raw.executemany(sql, rows)


class SQLiteDatabase(Database):
    """A writer connection behind a lock (one transaction at a time) and a reader connection (WAL)."""

    engine: Engine = "sqlite"

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self._writer = writer
        self._writer_conn = SQLiteConn(writer)
        self._reader = SQLiteConn(reader)
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open_target(
        cls, target: str | Path, *, migrate: bool, busy_timeout: float, pool_size: int
    ) -> SQLiteDatabase:
        return await cls.connect(Path(target), migrate=migrate, busy_timeout=busy_timeout)

    @classmethod
    async def connect(cls, path: Path, *, migrate: bool = True, busy_timeout: float = 10.0) -> SQLiteDatabase:
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
    async def _open(cls, path: Path, migrate: bool, busy_ms: int) -> SQLiteDatabase:
        writer = await _sqlite_connect(path, busy_ms)
        try:
            await _wal(writer, busy_ms / 1000)
            current = await user_version(writer)
            latest = schema_version("sqlite")
            refuse_newer(current, latest, str(path))
            if current < latest:
                if not migrate:
                    raise DatabaseError(f"the database {path} needs migrating: run `sora-bot db migrate`")
                await apply_sqlite_migrations(writer, current)
            reader = await _sqlite_connect(path, busy_ms)
        except BaseException:
            await writer.close()
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        await self._reader.raw.close()
        await self._writer.close()

    async def version(self) -> int:
        return await user_version(self._reader.raw)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
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
                yield self._writer_conn
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
    def reader(self) -> Conn:
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


async def _sqlite_connect(path: Path, busy_ms: int) -> aiosqlite.Connection:
    # isolation_level=None: autocommit, so transactions are exactly the explicit BEGIN IMMEDIATE blocks.
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute(f"PRAGMA busy_timeout={busy_ms}")
    await conn.execute("PRAGMA foreign_keys=ON")
    await conn.execute("PRAGMA synchronous=NORMAL")
    return conn


async def _wal(conn: aiosqlite.Connection, patience: float) -> None:
    """Switch to WAL. SQLite answers "locked" at once, without its busy handler, while another connection
    is switching a new file too (processes starting together), so wait here instead."""
    deadline = time.monotonic() + patience
    while True:
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
        else:
            return
