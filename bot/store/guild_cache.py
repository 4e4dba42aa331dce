"""The shared piece of the per-server repositories: cached reads that a server's own writes clear.

Every function takes the server's id, and every query is filtered by it: no server reads another's data.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

from bot.store.db import Conn, Database

T = TypeVar("T")


# Reads on every /video are cached this long; this process's own changes clear the cache at once, another
# process's (several workers, later) show within this time.
CACHE_SECONDS = 5.0


class GuildRepository:
    """A repository of per-server rows whose reads are cached for a moment (they are read on every /video)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}

    async def _cached(self, key: tuple[Any, ...], load: Callable[[], Awaitable[T]]) -> T:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return cast(T, hit[1])
        value = await load()
        self._cache[key] = (now + CACHE_SECONDS, value)
        return value

    @asynccontextmanager
    async def _write(self, guild_id: int) -> AsyncIterator[Conn]:
        """A write transaction for one server; its cached reads are dropped once it ends."""
        try:
            async with self.db.transaction() as conn:
                yield conn
        finally:
            self._changed(guild_id)

    def _changed(self, guild_id: int) -> None:
        for key in [k for k in self._cache if k[1] == guild_id]:
            del self._cache[key]
