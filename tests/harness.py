"""What the end-to-end tests and the benchmarks share: the bot as they run it, the fakes it runs against
(a fake Discord guild with a channel, and a fake Prodia, on 127.0.0.1) and a bounded wait."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.client import SoraBot
from bot.settings import Settings
from tests.fakes.discord import FakeDiscord, FakeGuild, running_bot
from tests.fakes.prodia import FakeProdia


class TestBot(SoraBot):
    """SoraBot with discord.py's 5 s pause before a re-IDENTIFY removed (it only slows tests)."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


def discord_with_guild(
    name: str, *, premium_tier: int = 0, cdn_dir: Path | None = None
) -> tuple[FakeDiscord, FakeGuild]:
    """A fake Discord (not started yet) with one guild the bot is in, answering like Discord does."""
    fake = FakeDiscord(cdn_dir=cdn_dir)
    guild = fake.add_guild(name=name, premium_tier=premium_tier)
    # Like Discord: an interaction not answered within 3 s is refused.
    fake.callback_deadline = 3.0
    return fake, guild


@dataclass(kw_only=True)
class Stage:
    """The fakes a bot under test is pointed at: a guild with its channel, and a fake Prodia."""

    fake: FakeDiscord
    prodia: FakeProdia
    guild_id: int
    channel_id: int
    tmp: Path
    database_url: str = ""  # the bot's database; empty: an SQLite file in tmp
    # Where the bot keeps files (settings by lower-case name); empty: its output folder, tmp/clips. With a
    # bucket, each process started by `environment` gets a working folder of its own: nothing is shared.
    storage: dict[str, str] = field(default_factory=dict)

    @property
    def guild(self) -> FakeGuild:
        return self.fake.guilds[self.guild_id]

    def settings(self, **overrides: Any) -> Settings:
        """Settings for an in-process bot pointed at the fakes (no .env, nothing from the environment)."""
        values: dict[str, Any] = {
            "_env_file": None,
            "discord_token": self.fake.bot_token,
            "prodia_token": self.prodia.token,
            "prodia_base_url": self.prodia.base_url,
            "database_url": self.database_url or f"sqlite:///{self.tmp}/bot.db",
            "output_dir": self.tmp / "clips",
            "dev_guild_id": self.guild_id,
            **self.storage,
        }
        values.update(overrides)
        return Settings(**values)

    def environment(self, **values: str) -> dict[str, str]:
        """The environment of a ``sora-bot`` process pointed at the fakes: this process's without any
        setting, the fakes' URLs and tokens, then ``values`` (e.g. ``DATABASE_URL``, ``LEASE_SECONDS``)."""
        env = {name: value for name, value in os.environ.items() if name.lower() not in Settings.model_fields}
        env.update(
            DISCORD_TOKEN=self.fake.bot_token,
            DISCORD_API_BASE_URL=self.fake.api_base,
            DISCORD_GATEWAY_URL=self.fake.gateway_url,
            DEV_GUILD_ID=str(self.guild_id),
            PRODIA_TOKEN=self.prodia.token,
            PRODIA_BASE_URL=self.prodia.base_url,
            DATABASE_URL=self.database_url or f"sqlite:///{self.tmp}/bot.db",
            OUTPUT_DIR=str(self.tmp / "clips"),
            LOG_LEVEL="INFO",
        )
        if self.storage:
            env.update({name.upper(): value for name, value in self.storage.items()})
            env["OUTPUT_DIR"] = str(self.tmp / f"work-{uuid.uuid4().hex[:8]}")
        env.update(values)
        return env

    @contextlib.asynccontextmanager
    async def bot(self, **overrides: Any) -> AsyncIterator[TestBot]:
        """A `TestBot` with `settings` (and ``overrides``), running against the fakes for the block."""
        bot = TestBot(self.settings(**overrides), guild_ready_timeout=0.05)
        async with running_bot(self.fake, bot):
            yield bot


@contextlib.contextmanager
def logging_restored() -> Iterator[None]:
    """Put the root logger's handlers and level, and httpx's and httpcore's levels, back afterwards (the
    bot's `setup_logging` and the benchmarks' logging change them process-wide)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    try:
        yield
    finally:
        root.handlers[:], root.level = saved
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)


class WaitTimeout(AssertionError):
    """A bounded wait ran out."""


async def until(
    check: Callable[[], Any], timeout: float = 30.0, what: str = "condition", *, interval: float = 0.05
) -> Any:
    """Wait (at most ``timeout`` seconds) for ``check()`` to return something truthy; it may be a coroutine
    function."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


async def stop_processes(procs: dict[str, asyncio.subprocess.Process]) -> list[str]:
    """SIGTERM every process still running and wait for each; one not gone within 30 s is killed. Returns
    the names of those that had to be killed."""
    for proc in procs.values():
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    stuck = []
    for name, proc in procs.items():
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            stuck.append(name)
    return stuck
