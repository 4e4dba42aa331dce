"""The database's shared dialect: `Conn` (one connection) and `Database` (a store's connections).

Repositories write one SQL dialect, the part SQLite and PostgreSQL share: `?` placeholders (turned into `$n`
for PostgreSQL), `IS NOT DISTINCT FROM`, `ON CONFLICT`, `RETURNING`. What differs sits behind `Conn`:
row locks (`for_update`, `skip_locked`) and advisory locks (`lock`), which SQLite doesn't need because its
write transactions (`BEGIN IMMEDIATE`) already run one at a time. The engines are `sqlite` and `postgres`
in this package, which imports both, so `Database.open` finds them.
"""

from __future__ import annotations

import functools
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.errors import DatabaseError

Engine = Literal["sqlite", "postgresql"]
# sqlite3.Row or asyncpg.Record: both index by column name and by position, and both turn into a dict.
Row = Any
Params = Sequence[Any]
if TYPE_CHECKING:
    PgConnection: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]


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
    # Each engine's class, registered as it is defined (the engines import this module, not the reverse).
    _engines: ClassVar[dict[str, type[Database]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Database._engines[cls.engine] = cls

    @staticmethod
    async def open(
        target: str | Path, *, migrate: bool = True, busy_timeout: float = 10.0, pool_size: int = 10
    ) -> Database:
        """Open a `sqlite:///path` URL, a Path (SQLite) or a `postgresql://` URL; refuse a newer schema and
        apply pending migrations when asked."""
        if isinstance(target, str) and target.startswith(("postgresql://", "postgres://")):
            engine: Engine = "postgresql"
        else:
            engine = "sqlite"
            target = Path(target.removeprefix("sqlite:///")) if isinstance(target, str) else target
        return await Database._engines[engine].open_target(
            target, migrate=migrate, busy_timeout=busy_timeout, pool_size=pool_size
        )

    @classmethod
    @abstractmethod
    async def open_target(
        cls, target: str | Path, *, migrate: bool, busy_timeout: float, pool_size: int
    ) -> Database:
        """Open this engine's database at `target` (a Path for SQLite, a URL for PostgreSQL)."""

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
