"""PostgreSQL next to SQLite: twin migrations, the shared dialect, and checks that hold across processes.

Several `Database` objects on one PostgreSQL database stand for several processes: each has its own pool,
so nothing but the database itself keeps them in step.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from bot.domain.limits import Limits
from bot.domain.models import JobState
from bot.errors import QuotaExceeded
from bot.store.db import Database, migrations, schema_version, to_numbered
from bot.store.jobs import JobStore
from tests.unit.store.test_jobs import new_job

PROCESSES = 4


async def _sqlite_schema(path: Path) -> dict[str, set[str]]:
    db = await Database.open(path)
    try:
        schema: dict[str, set[str]] = {}
        for (table,) in await db.reader.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ):
            rows = await db.reader.fetch_all(f"PRAGMA table_info({table})")
            schema[table] = {str(row[1]) for row in rows}
        indexes = await db.reader.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
        schema["(indexes)"] = {str(row[0]) for row in indexes}
        triggers = await db.reader.fetch_all("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        schema["(triggers)"] = {str(row[0]) for row in triggers}
        return schema
    finally:
        await db.close()


async def _postgres_schema(url: str) -> dict[str, set[str]]:
    conn = await asyncpg.connect(url)
    try:
        schema: dict[str, set[str]] = {}
        for row in await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        ):
            schema.setdefault(row["table_name"], set()).add(row["column_name"])
        schema.pop("schema_version")  # PostgreSQL's stand-in for PRAGMA user_version
        indexes = await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey'"
        )
        schema["(indexes)"] = {str(row[0]) for row in indexes}
        triggers = await conn.fetch("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        schema["(triggers)"] = {str(row[0]) for row in triggers}
        return schema
    finally:
        await conn.close()


def test_both_engines_have_the_same_numbered_migrations() -> None:
    assert [name for _, name, _ in migrations("sqlite")] == [name for _, name, _ in migrations("postgresql")]
    assert schema_version("sqlite") == schema_version("postgresql") >= 3


async def test_both_engines_build_the_same_tables_columns_indexes_and_triggers(
    tmp_path: Path, postgres_url: str
) -> None:
    sqlite_schema = await _sqlite_schema(tmp_path / "bot.db")
    await (await Database.open(postgres_url)).close()
    postgres_schema = await _postgres_schema(postgres_url)
    assert postgres_schema == sqlite_schema
    assert {"jobs", "usage_ledger", "guild_settings", "audit_log"} <= set(sqlite_schema)


def test_placeholders_are_numbered_outside_quotes() -> None:
    assert to_numbered("SELECT ? , '?', 'it''s ?' WHERE a = ? AND b IN (?, ?)") == (
        "SELECT $1 , '?', 'it''s ?' WHERE a = $2 AND b IN ($3, $4)"
    )


async def test_processes_starting_at_once_migrate_once(postgres_url: str) -> None:
    opened = await asyncio.gather(*(Database.open(postgres_url) for _ in range(PROCESSES)))
    assert [await db.version() for db in opened] == [schema_version("postgresql")] * PROCESSES
    for db in opened:
        await db.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        versions = [row[0] for row in await conn.fetch("SELECT version FROM schema_version ORDER BY 1")]
    finally:
        await conn.close()
    assert versions == list(range(1, schema_version("postgresql") + 1))


async def test_a_newer_postgresql_schema_is_refused(postgres_url: str) -> None:
    await (await Database.open(postgres_url)).close()
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("INSERT INTO schema_version VALUES ($1)", schema_version("postgresql") + 1)
    finally:
        await conn.close()
    with pytest.raises(Exception, match="newer than this sora-bot"):
        await Database.open(postgres_url)


async def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    with pytest.raises(Exception, match="can't be reached") as caught:
        await Database.open("postgresql://sora:hunter2-secret@127.0.0.1:1/sora")
    assert "hunter2" not in str(caught.value) and "127.0.0.1:1/sora" in str(caught.value)


async def _processes(url: str) -> list[JobStore]:
    return [JobStore(await Database.open(url, pool_size=3)) for _ in range(PROCESSES)]


async def _close(stores: list[JobStore]) -> None:
    for store in stores:
        await store.db.close()


async def test_limits_hold_when_processes_race(postgres_url: str) -> None:
    stores = await _processes(postgres_url)
    limits = Limits(jobs_per_hour=100, video_seconds_per_day=1000, concurrent=5)
    try:

        async def attempt(i: int) -> bool:
            try:
                await stores[i % PROCESSES].create(new_job(user_id=7), limits)
            except QuotaExceeded:
                return False
            return True

        accepted = await asyncio.gather(*(attempt(i) for i in range(40)))
        assert sum(accepted) == 5
        row = await stores[0].db.reader.fetch_one("SELECT COUNT(*) FROM usage_ledger WHERE kind = 'reserve'")
        assert row is not None and row[0] == 5
    finally:
        await _close(stores)


async def test_a_server_budget_holds_when_processes_race(postgres_url: str) -> None:
    stores = await _processes(postgres_url)
    try:

        async def attempt(i: int) -> bool:
            try:  # forty members of one server, $0.40 each, against a $2.00 day
                await stores[i % PROCESSES].create(new_job(user_id=100 + i), budget_per_day=2.0)
            except QuotaExceeded:
                return False
            return True

        accepted = await asyncio.gather(*(attempt(i) for i in range(40)))
        assert sum(accepted) == 5
    finally:
        await _close(stores)


async def test_claims_from_racing_processes_respect_the_cap_and_take_each_job_once(postgres_url: str) -> None:
    stores = await _processes(postgres_url)
    try:
        for i in range(12):
            await stores[0].create(new_job(user_id=i % 3))

        async def claim(i: int) -> int | None:
            job = await stores[i % PROCESSES].claim_next(
                owner=f"w{i % PROCESSES}", lease_seconds=30, max_in_flight=5, target_kinds=["file"]
            )
            return job.id if job else None

        claimed = [c for c in await asyncio.gather(*(claim(i) for i in range(20))) if c is not None]
        assert len(claimed) == len(set(claimed)) == 5
        # The fairest five: users 0, 1 and 2 once each before anyone's second job.
        users = [(await stores[0].get(c)).user_id for c in sorted(claimed)]  # type: ignore[union-attr]
        assert sorted(users[:3]) == [0, 1, 2]
    finally:
        await _close(stores)


async def test_racing_transitions_across_processes_settle_the_ledger_once(postgres_url: str) -> None:
    stores = await _processes(postgres_url)
    try:
        job = await stores[0].create(new_job())
        results = await asyncio.gather(
            *(
                stores[i % PROCESSES].transition(job.id, state)
                for i, state in enumerate([JobState.CANCELLED, JobState.FAILED] * 10)
            )
        )
        assert sum(r is not None for r in results) == 1
        assert [kind for kind, _ in await stores[0].ledger(job.id)] == ["reserve", "refund"]
    finally:
        await _close(stores)
