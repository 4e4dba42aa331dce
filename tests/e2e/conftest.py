"""The real bot (SoraBot, discord.py 2.7) against the fake Discord and the fake Prodia, on real SQLite."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot import files
from bot.client import SoraBot
from bot.domain.models import TERMINAL, Job
from bot.settings import Settings
from tests.conftest import postgres_database
from tests.fakes.prodia import FakeProdia
from tests.harness import Stage, discord_with_guild

# Re-exported: the tests import these from here.
from tests.harness import TestBot as TestBot  # noqa: PLC0414
from tests.harness import until as until  # noqa: PLC0414

MANAGE_MESSAGES = 1 << 13
MANAGE_GUILD = 1 << 5


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fake_refusal(status=None, code=None, route=None, reason=...): a refusal by the fake Discord that "
        "the test provokes on purpose (FakeDiscord.expect_refusal); any other one fails the test",
    )


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Any:
    """The refusal guard: a test whose bot sent something the fake Discord refused (a 4xx it did not
    declare with `fake_refusal` / `expect_refusal`) fails, in the call phase so `xfail` applies to it.

    A new reply path over one of Discord's limits is caught by any test that touches it. Checked when
    the test body ends (the bot has stopped by then); the `world` fixture checks again at teardown.
    """
    world = pyfuncitem.funcargs.get("world")
    if not isinstance(world, World):
        return (yield)
    try:
        result = yield
    except BaseException as exc:
        report = world.take_refusal_report()
        if report:
            exc.add_note(report)
        raise
    report = world.take_refusal_report()
    if report:
        pytest.fail(report, pytrace=False)
    return result


@dataclass(kw_only=True)
class World(Stage):
    """The test server: alice and bob, a moderator and an admin; a clips, a mod-queue and an audit channel."""

    alice: int
    bob: int
    mod: int
    admin: int
    mods_channel_id: int
    audit_channel_id: int
    refusals_reported: int = 0  # how many of fake.unexpected_refusals the guard has reported

    def take_refusal_report(self) -> str:
        """The fake's unexpected refusals not reported yet, as a failure message ("" when none)."""
        refused = self.fake.unexpected_refusals[self.refusals_reported :]
        self.refusals_reported += len(refused)
        if not refused:
            return ""
        return (
            f"the fake Discord refused {len(refused)} request(s) the test did not expect (a bot bug, or "
            "a refusal to declare with @pytest.mark.fake_refusal / fake.expect_refusal):\n"
            + self.fake.refusal_report(refused)
        )

    def settings(self, **overrides: Any) -> Settings:
        """Fast polling and retries, and quotas a test only meets on purpose."""
        values: dict[str, Any] = {
            "prodia_poll_min_seconds": 0.05,
            "prodia_poll_max_seconds": 0.2,
            "prodia_retry_base_seconds": 0.01,
            "lease_seconds": 3.0,
            "default_jobs_per_hour": 50,
            "default_video_seconds_per_day": 1000,
            "default_concurrent_jobs": 20,
        }
        values.update(overrides)
        return super().settings(**values)

    def add_members(self, count: int, prefix: str = "member") -> list[int]:
        """`count` more members of the test server, without roles (named prefix0, prefix1, ...)."""
        return [self.guild.add_member(name=f"{prefix}{i}") for i in range(count)]

    def clips(self) -> list[dict[str, Any]]:
        """Public messages in the channel that carry attachments: the posted clips."""
        messages = self.fake.channel_messages(self.channel_id)
        return [m for m in messages if m.get("attachments") and not m["flags"]]

    def dm_clips(self, user_id: int) -> list[dict[str, Any]]:
        """Messages with attachments, not deleted, in the member's direct messages with the bot."""
        dm_channels = {str(c.id) for c in self.fake.channels.values() if c.recipient_id == user_id}
        return [
            m
            for m in self.fake.messages.values()
            if m["channel_id"] in dm_channels and m.get("attachments") and not m["deleted"]
        ]

    def answer(self, token: str) -> dict[str, Any]:
        """The interaction's response message as it stands (empty while there is none)."""
        return self.fake.original(token) or {}

    async def command(self, name: str, user_id: int, **options: object) -> str:
        """Run /NAME with options as `user_id` in the test channel; returns the token once it answered."""
        interaction = await self.fake.slash(
            name,
            [{"name": k, "value": v} for k, v in options.items()],
            guild_id=self.guild_id,
            channel_id=self.channel_id,
            user_id=user_id,
        )
        await until(lambda: self.answer(interaction.token).get("content"), what=f"/{name}'s answer")
        return interaction.token

    async def expire_token(self, bot: SoraBot, job_id: int, token: str) -> None:
        """Age the job's interaction token past the bot's 14-minute margin, and expire it on Discord's."""
        job = await bot.pipeline.store.get(job_id)
        assert job is not None
        async with bot.pipeline.db.transaction() as conn:
            await conn.execute(
                "UPDATE jobs SET target = ? WHERE id = ?",
                (json.dumps({**job.target, "token_expires_at": 0}), job_id),
            )
        self.fake.expire_interaction(token)

    async def admin_command(
        self,
        *path: str,
        user_id: int | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        **options: Any,
    ) -> str:
        """Run /sora-admin PATH... with options; returns the interaction token once it has answered."""
        opts = [{"name": name, "value": value} for name, value in options.items()]
        interaction = await self.fake.slash(
            "sora-admin",
            opts,
            subcommand=list(path),
            guild_id=guild_id or self.guild_id,
            channel_id=channel_id or self.channel_id,
            user_id=user_id or self.admin,
        )
        await until(
            lambda: self.answer(interaction.token).get("content"), what=f"/sora-admin {' '.join(path)}"
        )
        return interaction.token

    async def video(self, user_id: int | None = None, **options: Any) -> str:
        """Dispatch /video with the given options; returns the interaction token."""
        attachments = options.pop("attachments", None)
        guild_id = options.pop("guild_id", None) or self.guild_id
        channel_id = options.pop("channel_id", None) or self.channel_id
        opts = [{"name": name, "value": value} for name, value in options.items()]
        interaction = await self.fake.slash(
            "video",
            opts,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id or self.alice,
            attachments=attachments,
        )
        return interaction.token

    async def video_answer(self, user_id: int | None = None, **options: Any) -> dict[str, Any]:
        """Run /video and wait for its first real answer (a status embed or an error)."""
        token = await self.video(user_id, **options)
        await until(
            lambda: self.answer(token).get("embeds") or self.answer(token).get("content"), what="/video"
        )
        return self.answer(token)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The bot's database engine: SQLite, unless a module runs on both with
    `pytestmark = pytest.mark.parametrize("engine", BOTH_ENGINES, indirect=True)`, or
    SORA_TEST_E2E_DATABASE=postgresql runs the whole end-to-end suite on PostgreSQL."""
    return str(getattr(request, "param", os.environ.get("SORA_TEST_E2E_DATABASE", "sqlite")))


BOTH_ENGINES = ["sqlite", "postgresql"]


@pytest.fixture
def storage(request: pytest.FixtureRequest) -> str:
    """Where the bot keeps its files: its output folder (`file`), unless a module runs on both with
    `pytestmark = pytest.mark.parametrize("storage", BOTH_STORAGES, indirect=True)`, or
    SORA_TEST_E2E_STORAGE=s3 runs the whole end-to-end suite against a bucket on the local S3 server."""
    return str(getattr(request, "param", os.environ.get("SORA_TEST_E2E_STORAGE", "file")))


BOTH_STORAGES = ["file", "s3"]


def staged_world(tmp: Path, prodia: FakeProdia, *, name: str = "generation") -> World:
    """The test server on a fake Discord not started yet (the browser tests' too, tests/browser)."""
    fake, guild = discord_with_guild(name, cdn_dir=tmp / "cdn")
    channel = guild.add_channel("clips")
    mods = guild.add_role("mods", MANAGE_MESSAGES)
    admins = guild.add_role("admins", MANAGE_GUILD | MANAGE_MESSAGES)
    return World(
        fake=fake,
        prodia=prodia,
        guild_id=guild.id,
        channel_id=channel,
        alice=guild.add_member(name="alice"),
        bob=guild.add_member(name="bob"),
        mod=guild.add_member(name="mod", roles=[mods]),
        admin=guild.add_member(name="admin", roles=[admins]),
        mods_channel_id=guild.add_channel("mod-queue"),
        audit_channel_id=guild.add_channel("audit"),
        tmp=tmp,
    )


@pytest.fixture
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, fake_prodia: FakeProdia, engine: str, storage: str
) -> AsyncIterator[World]:
    world = staged_world(tmp_path, fake_prodia)
    fake = world.fake
    for marker in request.node.iter_markers("fake_refusal"):
        fake.expect_refusal(**marker.kwargs)
    async with contextlib.AsyncExitStack() as stack:
        if engine == "postgresql":
            world.database_url = await stack.enter_async_context(postgres_database())
        if storage == "s3":
            world.storage = request.getfixturevalue("s3_storage")
        await fake.start()
        stack.push_async_callback(fake.stop)
        yield world
    # Refusals after the test body (a bot still stopping) fail the test at teardown.
    report = world.take_refusal_report()
    if report:
        pytest.fail(report, pytrace=False)


async def finished(bot: SoraBot, job_id: int, timeout: float = 60.0) -> Job:
    async def check() -> Job | None:
        job = await bot.pipeline.store.get(job_id)
        return job if job is not None and job.state in TERMINAL else None

    job: Job = await until(check, timeout, f"job {job_id} to finish")
    return job


async def all_jobs(bot: SoraBot) -> list[Job]:
    return list(reversed(await bot.pipeline.store.list_jobs(limit=1000)))


# -- the bot's files, whatever the store (the output folder, or a bucket) --------------------------------


async def stored_names(bot: SoraBot) -> set[str]:
    """Every name in the bot's store: `1.mp4`, `1.fit-123.mp4`, `inputs/{uuid}.jpg`, ..."""
    return set(await bot.pipeline.storage.listing())


async def kept_files(bot: SoraBot) -> set[str]:
    """Every file the bot keeps anywhere: its stored names, and the files in its local working folder (by
    path under it). With the output folder as the store they are the same files."""
    work_dir = bot.pipeline.storage.work_dir
    local = {str(p.relative_to(work_dir)) for p in work_dir.rglob("*") if p.is_file()}
    return await stored_names(bot) | local


@contextlib.asynccontextmanager
async def stored_file(bot: SoraBot, name: str) -> AsyncIterator[Path]:
    """A local copy of the stored file `name` for the block (read from the bucket, with S3); the test fails
    when the store has no such file."""
    async with bot.pipeline.storage.local(name) as path:
        assert path is not None, f"{name} is not in the store ({bot.pipeline.storage.location(name)})"
        yield path


def clip_key(bot: SoraBot, job: Job) -> str:
    """The stored name of the job's clip, checking that the job's record points at it."""
    name = files.clip_name(job.id)
    assert job.output_path == bot.pipeline.storage.location(name), job.output_path
    return name


def input_key(image_path: str | None) -> str:
    """The stored name (`inputs/{uuid}.jpg`) of a request's input image, as the bot wrote it."""
    name = files.input_name(image_path)
    assert name is not None, f"not an input image the bot wrote: {image_path!r}"
    return f"{files.INPUTS}/{name}"
