"""PostgreSQL through asyncpg (for several processes): a pool, READ COMMITTED transactions, row and
advisory locks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from bot.errors import DatabaseError, DatabaseUnavailable
from bot.settings import redact_url
from bot.store.db.base import Conn, Database, Engine, Params, Row, lock_key, to_numbered
from bot.store.db.migrate import apply_postgres_migrations, pg_version

if TYPE_CHECKING:
    from bot.store.db.base import PgConnection

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
    async def open_target(
        cls, target: str | Path, *, migrate: bool, busy_timeout: float, pool_size: int
    ) -> PostgresDatabase:
        return await cls.connect(str(target), migrate=migrate, pool_size=pool_size)

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
                await apply_postgres_migrations(conn, where, migrate)
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
            return await pg_version(conn)

    async def close(self) -> None:
        await self._pool.close()
