"""Migrations: two parallel sets of numbered files, `migrations/sqlite` and `migrations/postgresql`, with the
same names (a test checks both build the same tables, columns and indexes), and applying them.

SQLite tracks its version in `PRAGMA user_version`, PostgreSQL in a `schema_version` table.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from importlib import resources
from typing import TYPE_CHECKING

import aiosqlite

from bot.errors import DatabaseError
from bot.store.db.base import Engine

if TYPE_CHECKING:
    from bot.store.db.base import PgConnection

log = logging.getLogger(__name__)

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


def refuse_newer(current: int, latest: int, where: str) -> None:
    if current > latest:
        raise DatabaseError(
            f"the database {where} has schema version {current}, newer than this sora-bot knows "
            f"({latest}); upgrade sora-bot or use a backup"
        )


async def user_version(conn: aiosqlite.Connection) -> int:
    rows = list(await conn.execute_fetchall("PRAGMA user_version"))
    return int(rows[0][0]) if rows else 0


async def apply_sqlite_migrations(conn: aiosqlite.Connection, current: int) -> None:
    for version, name, sql in migrations("sqlite"):
        if version <= current:
            continue
        # executescript commits anything pending first; the script and its version bump commit together.
        try:
            await conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        except sqlite3.OperationalError:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            if await user_version(conn) >= version:
                continue  # another process applied it while we waited for the write lock
            raise
        log.info("database migrated to version %d (%s)", version, name)


async def pg_version(conn: PgConnection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))


async def apply_postgres_migrations(conn: PgConnection, where: str, migrate: bool) -> None:
    latest = schema_version("postgresql")
    current = await pg_version(conn)
    refuse_newer(current, latest, where)
    if current == latest:
        return
    if not migrate:
        raise DatabaseError(f"the database {where} needs migrating: run `sora-bot db migrate`")
    async with conn.transaction():
        # Several processes may start at once: one migrates, the others wait here and find nothing to do.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
        current = await pg_version(conn)
        for version, name, sql in migrations("postgresql"):
            if version <= current:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
            log.info("database migrated to version %d (%s)", version, name)
