"""The database: SQLite (aiosqlite, the default) or PostgreSQL (asyncpg, for several processes).

Repositories write one SQL dialect, the part SQLite and PostgreSQL share: `?` placeholders (turned into `$n`
for PostgreSQL), `IS NOT DISTINCT FROM`, `ON CONFLICT`, `RETURNING`. What differs sits behind `Conn`:
row locks (`for_update`, `skip_locked`) and advisory locks (`lock`), which SQLite doesn't need because its
write transactions (`BEGIN IMMEDIATE`) already run one at a time.

Migrations are two parallel sets of numbered files, `migrations/sqlite` and `migrations/postgresql`, with the
same names; a test checks both build the same tables, columns and indexes.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import aiosqlite
import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.errors import DatabaseBusy, DatabaseError, DatabaseUnavailable
from bot.settings import redact_url

log = logging.getLogger(__name__)

Engine = Literal["sqlite", "postgresql"]
# sqlite3.Row or asyncpg.Record: both index by column name and by position, and both turn into a dict.
Row = Any
Params = Sequence[Any]
if TYPE_CHECKING:
    PgConnection: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# PostgreSQL: one advisory lock key serializes migrations across processes starting at once.
_MIGRATION_LOCK = 0x534F5241  # "SORA"


def migrations(engine: Engine = "sqlite") -> list[tuple[int, str, str]]:
    """The numbered migrations shipped for `engine`: (version, name, sql), in order, without gaps."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files("bot.store").joinpath("migrations", engine).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise RuntimeError(f"migration {engine}/{name} is out of sequence (expected {expected:04d})")
    return found


def schema_version(engine: Engine = "sqlite") -> int:
    """The schema version this code writes."""
    return len(migrations(engine))


def lock_key(*parts: object) -> int:
    """A stable signed 64-bit key for an advisory lock named by `parts`."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@functools.lru_cache(maxsize=512)
def to_numbered(sql: str) -> str:
    """`?` placeholders outside quotes become `$1`, `$2`, ... (PostgreSQL's form)."""
    out: list[str] = []
    number = 0
    for index, part in enumerate(re.split(r"('(?:[^']|'')*')", sql)):
        if index % 2:  # a quoted literal: as is
            out.append(part)
            continue
        pieces = part.split("?")
        for piece in pieces[:-1]:
            number += 1
            out.append(f"{piece}${number}")
        out.append(pieces[-1])
    return "".join(out)


class Conn(ABC):
    """One connection (inside a transaction, or the shared reader) in the shared dialect."""

    engine: Engine
    for_update = ""  # appended to a SELECT that reads a row it will change
    skip_locked = ""  # appended to a SELECT that picks one of many rows for itself

    @abstractmethod
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; returns how many rows it changed."""

    @abstractmethod
    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement for each of `rows`."""

    async def lock(self, *name: object) -> None:  # noqa: B027 (only PostgreSQL needs one)
        """Hold a lock named by `name` until the transaction ends (PostgreSQL; SQLite's writer is one)."""


class Database(ABC):
    """A store's connections: `transaction()` for writes, `reader` for reads outside one."""

    engine: Engine

    @staticmethod
    async def open(
        target: str | Path, *, migrate: bool = True, busy_timeout: float = 10.0, pool_size: int = 10
    ) -> Database:
        """Open a `sqlite:///path` URL, a Path (SQLite) or a `postgresql://` URL; refuse a newer schema and
        apply pending migrations when asked."""
        if isinstance(target, str) and target.startswith(("postgresql://", "postgres://")):
            return await PostgresDatabase.connect(target, migrate=migrate, pool_size=pool_size)
        path = Path(target.removeprefix("sqlite:///")) if isinstance(target, str) else target
        return await SQLiteDatabase.connect(path, migrate=migrate, busy_timeout=busy_timeout)

    @property
    @abstractmethod
    def reader(self) -> Conn: ...

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Conn]: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def version(self) -> int:
        """The schema version the database is at."""

    async def backup(self, destination: Path) -> None:
        raise DatabaseError("`sora-bot db backup` copies SQLite files; back PostgreSQL up with pg_dump")


def _refuse_newer(current: int, latest: int, where: str) -> None:
    if current > latest:
        raise DatabaseError(
            f"the database {where} has schema version {current}, newer than this sora-bot knows "
            f"({latest}); upgrade sora-bot or use a backup"
        )


# -- SQLite ------------------------------------------------------------------------------------------------


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
            current = await _user_version(writer)
            latest = schema_version("sqlite")
            _refuse_newer(current, latest, str(path))
            if current < latest:
                if not migrate:
                    raise DatabaseError(f"the database {path} needs migrating: run `sora-bot db migrate`")
                await _apply_sqlite_migrations(writer, current)
            reader = await _sqlite_connect(path, busy_ms)
        except BaseException:
            await writer.close()
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        await self._reader.raw.close()
        await self._writer.close()

    async def version(self) -> int:
        return await _user_version(self._reader.raw)

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


async def _user_version(conn: aiosqlite.Connection) -> int:
    rows = list(await conn.execute_fetchall("PRAGMA user_version"))
    return int(rows[0][0]) if rows else 0


async def _apply_sqlite_migrations(conn: aiosqlite.Connection, current: int) -> None:
    for version, name, sql in migrations("sqlite"):
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


# -- PostgreSQL --------------------------------------------------------------------------------------------


# The server went away, restarts, refuses more connections or dropped ours: worth retrying later.
_UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
)


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    """Turn "the server can't be reached" into DatabaseUnavailable; every other error passes as it is."""
    try:
        yield
    except _UNREACHABLE as exc:
        raise DatabaseUnavailable(type(exc).__name__) from exc


def _params(params: Params) -> list[Any]:
    # Flags are INTEGER 0/1 columns in both schemas; asyncpg won't take a bool for one.
    return [int(p) if isinstance(p, bool) else p for p in params]


class PostgresConn(Conn):
    engine: Engine = "postgresql"
    for_update = " FOR UPDATE"
    # KEY SHARE: pass over a queued job another transaction is moving to a new state (a transition reads
    # its row FOR UPDATE first), but wait a moment for one that is only being annotated (its status message
    # id stored: a plain UPDATE), so the fairest job is never passed over for that.
    skip_locked = " FOR KEY SHARE SKIP LOCKED"

    def __init__(self, conn: PgConnection) -> None:
        self.raw = conn

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self.raw.fetch(to_numbered(sql), *_params(params)))

    async def execute(self, sql: str, params: Params = ()) -> int:
        status = await self.raw.execute(to_numbered(sql), *_params(params))
        count = status.rsplit(" ", 1)[-1]  # "UPDATE 3", "INSERT 0 1", "DELETE 0"
        return int(count) if count.isdigit() else 0

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        await self.raw.executemany(to_numbered(sql), [_params(row) for row in rows])

    async def lock(self, *name: object) -> None:
        await self.raw.execute("SELECT pg_advisory_xact_lock($1)", lock_key(*name))


class _PoolReader(Conn):
    """Reads outside a transaction: each borrows a pooled connection for one statement."""

    engine: Engine = "postgresql"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with _reachable(), self._pool.acquire() as conn:
            return await PostgresConn(conn).fetch_all(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with _reachable(), self._pool.acquire() as conn:
            return await PostgresConn(conn).execute(sql, params)

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        async with _reachable(), self._pool.acquire() as conn:
            await PostgresConn(conn).execute_many(sql, rows)


class PostgresDatabase(Database):
    """A pool of connections; every transaction is READ COMMITTED on its own connection, with row locks
    and advisory locks where a check and a write must not interleave with another process's."""

    engine: Engine = "postgresql"

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self.url = url
        self._pool = pool
        self._reader = _PoolReader(pool)

    @classmethod
    async def connect(cls, url: str, *, migrate: bool = True, pool_size: int = 10) -> PostgresDatabase:
        where = redact_url(url)
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=pool_size, timeout=10)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseError(
                f"the PostgreSQL database {where} can't be reached: {type(exc).__name__}"
            ) from None
        try:
            async with pool.acquire() as conn:
                await _apply_postgres_migrations(conn, where, migrate)
        except BaseException:
            await pool.close()
            raise
        return cls(url, pool)

    @property
    def reader(self) -> Conn:
        return self._reader

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        async with _reachable(), self._pool.acquire() as conn, conn.transaction():
            yield PostgresConn(conn)

    async def version(self) -> int:
        async with self._pool.acquire() as conn:
            return await _pg_version(conn)

    async def close(self) -> None:
        await self._pool.close()


async def _pg_version(conn: PgConnection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))


async def _apply_postgres_migrations(conn: PgConnection, where: str, migrate: bool) -> None:
    latest = schema_version("postgresql")
    current = await _pg_version(conn)
    _refuse_newer(current, latest, where)
    if current == latest:
        return
    if not migrate:
        raise DatabaseError(f"the database {where} needs migrating: run `sora-bot db migrate`")
    async with conn.transaction():
        # Several processes may start at once: one migrates, the others wait here and find nothing to do.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
        current = await _pg_version(conn)
        for version, name, sql in migrations("postgresql"):
            if version <= current:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
            log.info("database migrated to version %d (%s)", version, name)
