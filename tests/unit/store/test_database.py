"""Migrations, WAL, refusing newer schemas, and online backups on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.errors import DatabaseError
from bot.store.db import Database, migrations, schema_version


async def test_new_database_is_migrated_to_the_latest_version_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "bot.db"
    db = await Database.open(path)
    await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version() >= 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"jobs", "usage_ledger", "meta"} <= tables


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [version for version, _, _ in migrations()]
    assert versions == list(range(1, len(versions) + 1))


async def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    for _ in range(3):
        db = await Database.open(tmp_path / "bot.db")
        await db.close()


async def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    await (await Database.open(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {schema_version() + 1}")
    with pytest.raises(DatabaseError, match="newer than this sora-bot"):
        await Database.open(path)


async def test_an_old_database_is_not_migrated_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    with pytest.raises(DatabaseError, match="sora-bot db migrate"):
        await Database.open(path, migrate=False)


async def test_backup_is_a_consistent_copy(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.db")
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    await db.backup(tmp_path / "copy" / "backup.db")
    await db.close()
    with sqlite3.connect(tmp_path / "copy" / "backup.db") as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'k'").fetchone()[0] == "v"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version()


async def test_a_failed_transaction_rolls_back(db: Database) -> None:
    """On both engines (the `db` fixture)."""
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
            raise RuntimeError("boom")
    row = await db.reader.fetch_one("SELECT COUNT(*) FROM meta")
    assert row is not None and row[0] == 0


async def test_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "race.db"
    opened = await asyncio.gather(*(Database.open(path) for _ in range(4)))
    for db in opened:
        await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version()


async def test_a_task_cancelled_mid_transaction_leaves_the_writer_usable(tmp_path: Path) -> None:
    import asyncio

    db = await Database.open(tmp_path / "bot.db")

    async def write(key: str, pause: float = 0.0) -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", (key,))
            await asyncio.sleep(pause)

    for delay in (0, 0.0005, 0.001, 0.002, 0.005, 0.05):
        task = asyncio.create_task(write(f"cancelled-{delay}", pause=0.1))
        await asyncio.sleep(delay)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await write(f"after-{delay}")  # would fail with "cannot start a transaction within a transaction"
    keys = [row[0] for row in await db.reader.fetch_all("SELECT key FROM meta ORDER BY key")]
    await db.close()
    assert all(k.startswith("after-") for k in keys) and len(keys) == 6


async def test_migrating_a_version_6_database_keeps_its_jobs_and_ledger_and_allows_waiting_shots(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bot.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        for version, _, sql in migrations()[:6]:
            conn.executescript(f"{sql}\nPRAGMA user_version = {version};")
        conn.execute(
            "INSERT INTO jobs (state, request, job_type, user_id, target_kind, video_seconds, estimated_cost,"
            " created_at, updated_at) VALUES ('queued', '{}', 't', 1, 'file', 4, 0.4, 1, 1)"
        )
        conn.execute(
            "INSERT INTO usage_ledger (job_id, user_id, kind, video_seconds, dollars, created_at)"
            " VALUES (1, 1, 'reserve', 4, 0.4, 1)"
        )
    await (await Database.open(path)).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version()
        assert conn.execute("SELECT state, story_id FROM jobs").fetchall() == [("queued", None)]
        assert conn.execute("SELECT job_id, kind FROM usage_ledger").fetchall() == [(1, "reserve")]
        conn.execute("UPDATE jobs SET state = 'waiting'")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE jobs SET state = 'sleeping'")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
