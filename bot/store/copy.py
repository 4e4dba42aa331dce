"""`sora-bot db migrate-to`: copy every row of an SQLite database into an empty PostgreSQL database."""

from __future__ import annotations

import logging

from bot.errors import DatabaseError
from bot.store.db import Database, PostgresConn

log = logging.getLogger(__name__)

# Parents before children (jobs reference stories, usage_ledger jobs); every table of the schema, checked at
# copy time.
TABLES = (
    "stories",
    "jobs",
    "usage_ledger",
    "meta",
    "guild_settings",
    "limit_rules",
    "allowed_channels",
    "allowed_roles",
    "blocklist",
    "member_status",
    "audit_log",
    "staff_roles",
    "dashboard_logouts",
)
IDENTITY_TABLES = ("stories", "jobs", "usage_ledger", "audit_log")
BATCH = 5000


async def copy_database(source: Database, target: Database) -> dict[str, int]:
    """Copy `source` (SQLite) into `target` (PostgreSQL, empty, same schema version) in one transaction;
    returns the rows copied per table. Ids are kept, and the id sequences continue after them."""
    if source.engine != "sqlite" or target.engine != "postgresql":
        raise DatabaseError("migrate-to copies an SQLite database into a PostgreSQL one")
    if await source.version() != await target.version():
        raise DatabaseError("the two databases are at different schema versions; migrate both first")
    tables = {
        str(row[0])
        for row in await source.reader.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if tables != set(TABLES):
        raise DatabaseError(f"unexpected tables in the SQLite database: {sorted(tables ^ set(TABLES))}")
    counts: dict[str, int] = {}
    async with target.transaction() as conn:
        assert isinstance(conn, PostgresConn)
        for table in TABLES:
            row = await conn.fetch_one(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608
            if row is not None and row[0]:
                raise DatabaseError(f"the PostgreSQL database already has {table}; copy into an empty one")
        for table in TABLES:
            counts[table] = await _copy_table(source, conn, table)
        for table in IDENTITY_TABLES:
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
                f" (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )
    log.info("copied %s", ", ".join(f"{n} {t}" for t, n in counts.items()))
    return counts


async def _copy_table(source: Database, conn: PostgresConn, table: str) -> int:
    columns = [str(row[1]) for row in await source.reader.fetch_all(f"PRAGMA table_info({table})")]
    order = "id" if "id" in columns else "rowid"
    copied = 0
    last: object = None
    while True:
        # Keyset pages in id order: a reservation is copied before its settlement (the ledger's trigger).
        where = f"WHERE {order} > ?" if last is not None else ""
        rows = await source.reader.fetch_all(
            f"SELECT {order} AS _key, {', '.join(columns)} FROM {table} {where}"  # noqa: S608
            f" ORDER BY {order} LIMIT {BATCH}",
            (last,) if last is not None else (),
        )
        if not rows:
            return copied
        await conn.raw.copy_records_to_table(table, records=[tuple(row)[1:] for row in rows], columns=columns)
        copied += len(rows)
        last = rows[-1][0]
