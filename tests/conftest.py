"""Shared fixtures: real SQLite files in a temporary folder, settings that point at them."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import hypothesis
import pytest
from pydantic import SecretStr

from bot.settings import Settings
from bot.store.db import Database
from bot.store.jobs import JobStore
from tests.fakes.prodia import FakeProdia
from tests.s3 import CREDENTIALS, S3Server

PRODIA_TOKEN = "prodia-test-token-5f3a9c"
# The fuzz tests' profile (each sets its own max_examples): derandomized, so CI runs the same examples every
# time; no example database and no deadline, so a slow machine neither replays nor fails differently.
hypothesis.settings.register_profile(
    "fuzz",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large],
)

# A PostgreSQL server the tests may create databases on; CI starts one (see .ci/run). Without one the
# PostgreSQL tests skip, unless SORA_REQUIRE_POSTGRES=1 (CI) makes that an error.
POSTGRES_ADMIN_URL = os.environ.get("SORA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _admin_connection() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("SORA_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"no PostgreSQL server for the tests ({type(exc).__name__})")


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards: its postgresql:// URL."""
    name = f"sora_test_{uuid.uuid4().hex[:12]}"
    admin = await _admin_connection()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await _drop(name)


async def _drop(name: str) -> None:
    admin = await _admin_connection()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for this test: its postgresql:// URL."""
    async with postgres_database() as url:
        yield url


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings come only from what a test sets: no developer `.env`, no stray variables."""
    monkeypatch.chdir(tmp_path)
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=SecretStr(f"sqlite:///{tmp_path}/bot.db"),
        output_dir=tmp_path / "clips",
        prodia_backend="local",
        prodia_poll_min_seconds=0.05,
        prodia_poll_max_seconds=0.2,
        prodia_retry_base_seconds=0.01,
        prodia_retry_after_max_seconds=2.0,
        lease_seconds=3.0,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The store on each engine: every test that takes `db` (or `store`) runs on SQLite and PostgreSQL."""
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            database = await Database.open(tmp_path / "store.db")
        else:
            database = await Database.open(await stack.enter_async_context(postgres_database()))
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


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3-compatible server on 127.0.0.1 (moto's server mode) for the session, started when first
    needed."""
    server = S3Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_storage(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A new bucket on the S3 server: the bot's settings for it (the credentials are in the environment)."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return s3_server.settings(s3_server.new_bucket())
