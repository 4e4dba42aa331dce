"""Shared pieces of the benchmarks: result rows, statistics, bounded waits, logging like production, and a
small world (fake Discord guild + fake Prodia) to run the real bot against on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.logs import RedactSecrets
from bot.settings import Settings
from tests import harness
from tests.fakes.discord import CHANNEL_MESSAGES_POST, Interaction
from tests.fakes.prodia import TXT2VID, FakeProdia
from tests.harness import Stage, discord_with_guild, logging_restored
from tests.s3 import CREDENTIALS, S3Server

PRODIA_TOKEN = "prodia-bench-token-7c41e2"
FAKE_BOT_TOKEN = "discord-test-token"  # FakeDiscord's default; masked in logs like the real one would be
MIB = 1024 * 1024
CDN_ROUTE = "GET /cdn/{attachment_id}/{filename}"

RunFn = Callable[[bool], Coroutine[Any, Any, list["Row"]]]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the results table."""

    benchmark: str
    metric: str
    value: str
    baseline: str = ""
    goal: str = ""  # the "ratio/goal" column
    notes: str = ""


# -- statistics ------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 200 samples is the 198th smallest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else math.inf


# -- waiting ---------------------------------------------------------------------------------------------


async def until(check: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.02) -> Any:
    """`tests.harness.until`, polling more often (a benchmark's wait ends closer to the event)."""
    return await harness.until(check, timeout, what, interval=interval)


# -- logging ---------------------------------------------------------------------------------------------


@dataclass
class LogWatch:
    """Counts WARNING+ records while the bot runs in this process; keeps a few distinct samples."""

    count: int = 0
    samples: list[str] = field(default_factory=list)

    def note(self) -> str:
        return f"{self.count} warning/error log lines" if self.count else "no warnings logged"


class _Counter(logging.Handler):
    def __init__(self, watch: LogWatch) -> None:
        super().__init__(logging.WARNING)
        self.watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "voice will NOT be supported" in message:  # discord.py at start-up: not the bot's business
            return
        self.watch.count += 1
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message += f" ({type(error).__name__}: {error})"
        elif record.exc_text:  # the secrets filter turned the traceback into text already
            message += f" ({record.exc_text.strip().splitlines()[-1]})"
        line = f"{record.levelname} {record.name}: {message}"[:300]
        if len(self.watch.samples) < 5 and line not in self.watch.samples:
            self.watch.samples.append(line)


@contextlib.contextmanager
def production_logging(
    log_file: Path, secrets: Sequence[str] = (FAKE_BOT_TOKEN, PRODIA_TOKEN)
) -> Iterator[LogWatch]:
    """Log the way `sora-bot run` does (INFO, same format, secrets masked), into a file instead of stderr,
    so in-process runs pay the same logging cost without flooding the terminal."""
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    watch = LogWatch()
    try:
        with logging_restored():
            root = logging.getLogger()
            root.handlers[:] = [handler, _Counter(watch)]
            root.setLevel(logging.INFO)
            for name in ("httpx", "httpcore"):
                logging.getLogger(name).setLevel(logging.WARNING)
            yield watch
    finally:
        handler.close()
        for sample in watch.samples:
            print(f"  [bot log] {sample}", file=sys.stderr)


@contextlib.contextmanager
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server for the block, with its credentials in this process's environment (the bot's S3
    client reads them there, and `world.environment` passes them to a bot process)."""
    server = S3Server()
    server.start()
    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    try:
        yield server
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"sora-bench-{prefix}-") as folder:
        yield Path(folder)


# -- the world -------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class BenchWorld(Stage):
    """A `Stage` with `users` members; the bot runs with production settings (no test speed-ups)."""

    users: list[int]

    async def video(self, index: int, *, limit: int | None = None, prompt: str | None = None) -> Interaction:
        """Dispatch /video from user `index % len(users)`."""
        return await self.fake.slash(
            "video",
            [{"name": "prompt", "value": prompt or f"benchmark clip number {index}"}],
            guild_id=self.guild_id,
            channel_id=self.channel_id,
            user_id=self.users[index % len(self.users)],
            attachment_size_limit=limit,
        )

    def posted_clips(self, start: int = 0) -> list[Any]:
        """Answered channel-message POSTs that carried a file (the posted clips), from `start`."""
        return [
            r
            for r in self.fake.requests[start:]
            if r.route == CHANNEL_MESSAGES_POST and r.status == 200 and r.files
        ]


@contextlib.asynccontextmanager
async def bench_world(
    tmp: Path,
    *,
    users: int,
    premium_tier: int = 0,
) -> AsyncIterator[BenchWorld]:
    """A fake Discord with one guild, one channel and `users` members, and a fake Prodia, both started in
    this event loop (next to the bot under test, as in the e2e harness)."""
    fake, guild = discord_with_guild("bench", premium_tier=premium_tier)
    channel = guild.add_channel("clips")
    members = [guild.add_member(name=f"user{i}") for i in range(users)]
    async with fake, FakeProdia(token=PRODIA_TOKEN, clip_dir=tmp / "prodia-clips") as prodia:
        yield BenchWorld(
            fake=fake, prodia=prodia, guild_id=guild.id, channel_id=channel, users=members, tmp=tmp
        )


async def warm_prodia_cache(prodia_url: str) -> None:
    """Have the fake render (and pad) its 4 s 720p clip once, so measured jobs are served from its cache."""
    headers = {"Authorization": f"Bearer {PRODIA_TOKEN}"}
    async with httpx.AsyncClient(timeout=60, headers=headers) as client:
        response = await client.post(
            f"{prodia_url}/job/async",
            json={"type": TXT2VID, "config": {"prompt": "warm the render cache", "duration": 4}},
        )
        response.raise_for_status()
        job_id = response.json()["id"]

        async def done() -> bool:
            state = await client.get(f"{prodia_url}/job/async/{job_id}/job.state.current")
            return state.text.strip() == "processed"

        # The job renders the clip and makes the padded copy (`clip_bytes_extra`), both cached by the fake.
        await until(done, timeout=60, what="the fake's first render", interval=0.1)


# -- running one benchmark alone -------------------------------------------------------------------------


def format_table(rows: Sequence[Row]) -> str:
    lines = [
        "| benchmark | metric | value | baseline | ratio/goal | notes |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = (row.benchmark, row.metric, row.value, row.baseline, row.goal, row.notes)
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def clean_environment() -> None:
    """Settings come only from what a benchmark passes: no stray DATABASE_URL, MAX_CONCURRENT_JOBS, ..."""
    for name in Settings.model_fields:
        os.environ.pop(name.upper(), None)


def main_for(run: RunFn, description: str | None) -> None:
    """`python -m bench.NAME [--quick]`: run one benchmark and print its rows."""
    clean_environment()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    print(format_table(asyncio.run(run(args.quick))))
