"""Shared fixtures: real SQLite files in a temporary folder, settings that point at them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.store.database import Database
from bot.store.jobs import JobStore
from tests.fakes.prodia import FakeProdia

PRODIA_TOKEN = "prodia-test-token-5f3a9c"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings come only from what a test sets: no developer `.env`, no stray variables."""
    monkeypatch.chdir(tmp_path)
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/bot.db",
        output_dir=tmp_path / "clips",
        prodia_backend="local",
        prodia_poll_min_seconds=0.05,
        prodia_poll_max_seconds=0.2,
        prodia_retry_base_seconds=0.01,
        prodia_retry_after_max_seconds=2.0,
        lease_seconds=3.0,
    )


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "store.db")
    yield database
    await database.close()


@pytest.fixture
def store(db: Database) -> JobStore:
    return JobStore(db)


@pytest.fixture(scope="session")
def clip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One render cache for the fake Prodia across the session: each distinct clip is rendered once."""
    return tmp_path_factory.mktemp("fake-prodia-clips")


@pytest.fixture
async def fake_prodia(clip_cache: Path) -> AsyncIterator[FakeProdia]:
    server = FakeProdia(token=PRODIA_TOKEN, clip_dir=clip_cache)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
