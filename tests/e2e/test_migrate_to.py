"""`sora-bot db migrate-to postgresql://...`: an SQLite database copied row for row into PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from bot.domain.limits import LimitRule
from bot.domain.models import JobState
from bot.store.dashboard_logouts import Logouts
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.jobs import JobStore
from bot.store.meta import set_value
from tests.unit.store.test_jobs import new_job

SORA_BOT = str(Path(sys.executable).parent / "sora-bot")
TABLES = (
    "jobs", "usage_ledger", "meta", "guild_settings", "limit_rules", "allowed_channels", "allowed_roles",
    "blocklist", "member_status", "audit_log", "staff_roles", "dashboard_logouts",
)  # fmt: skip


async def fill(path: Path) -> None:
    """A small but complete database: jobs in several states with their ledger, and every governance table."""
    db = await Database.open(path)
    store, gov = JobStore(db), Governance(db)
    try:
        for i in range(30):
            job = await store.create(new_job(user_id=i % 4, guild_id=10 if i % 5 else None))
            if i % 3 == 0:
                await store.transition(job.id, JobState.CANCELLED)
            elif i % 3 == 1:
                await store.transition(job.id, JobState.SUBMITTING)
                await store.transition(job.id, JobState.RUNNING, prodia_job_id=f"p-{i}", endpoint="async")
                await store.transition(job.id, JobState.DELIVERING, actual_cost=0.35)
                await store.transition(job.id, JobState.DELIVERED, result_message_id=2**62 + i)
        await gov.update_settings(10, budget_dollars_per_day=5.0, audit_channel_id=1_234_567_890_123_456_789)
        await gov.set_limit_rule(10, LimitRule("role", 77, jobs_per_hour=2, pro=False))
        await gov.set_allowed(10, "channels", 5, True)
        await gov.set_allowed(10, "roles", 6, True)
        await gov.add_block_rule(10, "dragon", False, by=1)
        await gov.add_strike(10, 3, 3)
        await gov.audit(10, "settings", actor_id=1, budget=5.0)
        await gov.audit(10, "budget.set", actor_id=1, source="dashboard", dollars_per_day=5.0)
        await gov.set_staff_role(10, 88, "viewer")
        await Logouts(db).end("a-session-id", 2_000_000_000.0, 1_000_000_000.0)
        await set_value(db, "command_tree_hash:global:1", "abc")
    finally:
        await db.close()


async def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: [tuple(row) for row in await db.reader.fetch_all(f"SELECT * FROM {table} ORDER BY 1, 2")]
        for table in TABLES
    }


async def migrate_to(path: Path, url: str) -> tuple[int, str, str]:
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{path}", LOG_LEVEL="WARNING")
    proc = await asyncio.create_subprocess_exec(
        SORA_BOT,
        "db",
        "migrate-to",
        url,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_migrate_to_copies_every_row_and_new_ids_follow_on(tmp_path: Path, postgres_url: str) -> None:
    path = tmp_path / "bot.db"
    await fill(path)
    # Trust auth takes any password; the point is that it is never printed.
    url = postgres_url.replace("postgres@", "postgres:pw-s3cret@")
    code, out, err = await migrate_to(path, url)
    assert code == 0, err
    assert "copied" in out and "30 jobs" in out and "pw-s3cret" not in out + err

    source, target = await Database.open(path), await Database.open(postgres_url)
    try:
        before, after = await dump(source), await dump(target)
        assert after == before
        assert len(after["usage_ledger"]) == 30 + 20  # every job reserved; 20 settled
        assert all(after[table] for table in TABLES)  # the check above compared something in each
        job = await JobStore(target).create(new_job())
        assert job.id == 31  # the id sequence continues after the copied rows
        entry = await Governance(target).audit(10, "after")
        assert entry.id == 3
    finally:
        await source.close()
        await target.close()


async def test_migrate_to_refuses_a_database_that_has_data(tmp_path: Path, postgres_url: str) -> None:
    path = tmp_path / "bot.db"
    await fill(path)
    assert (await migrate_to(path, postgres_url))[0] == 0
    code, _, err = await migrate_to(path, postgres_url)
    assert code != 0 and "already has jobs" in err and len(err.strip().splitlines()) == 1
    target = await Database.open(postgres_url)
    try:
        row = await target.reader.fetch_one("SELECT COUNT(*) FROM jobs")
        assert row is not None and row[0] == 30  # nothing copied twice
    finally:
        await target.close()


async def test_migrate_to_needs_a_postgresql_url(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    await fill(path)
    code, _, err = await migrate_to(path, "mysql://somewhere/db")
    assert code == 2 and "postgresql://" in err
