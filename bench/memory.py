"""Memory: peak RSS of a `sora-bot run` process that posts 1, then 20, concurrent 50 MB clips (the fakes run
in this process). The bot runs under a tiny launcher that reports getrusage(RUSAGE_CHILDREN).ru_maxrss: the
peak of the bot alone (wait4() on a child forked straight from this big process would count our pages)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    MIB,
    BenchWorld,
    Row,
    bench_world,
    main_for,
    median,
    ratio,
    temp_dir,
    until,
    warm_prodia_cache,
)

NAME = "memory"
CLIP_BYTES = 50 * MIB
UPLOAD_LIMIT = 100 * MIB  # a boost tier 3 guild: 50 MB clips go up as they are, no re-encoding
SORA_BOT = str(Path(sys.executable).parent / "sora-bot")

LAUNCHER = (
    "import resource, signal, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))\n"
    "code = child.wait()\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


@dataclass
class Measured:
    clips: int
    peak_kib: int
    idle_kib: int | None  # the bot's VmHWM after start-up, before any job
    exit_code: int
    sizes: list[int]
    seconds: float


def _env(world: BenchWorld) -> dict[str, str]:
    return world.environment(
        PRODIA_POLL_MIN_SECONDS="0.1",
        PRODIA_POLL_MAX_SECONDS="0.5",
        DATABASE_URL=f"sqlite:///{world.tmp}/run.db",
        MAX_CONCURRENT_JOBS="32",
        DEFAULT_JOBS_PER_HOUR="1000",
        DEFAULT_CONCURRENT_JOBS="100",
        DEFAULT_VIDEO_SECONDS_PER_DAY="1000000",
    )


def _bot_pid(launcher_pid: int) -> int | None:
    """The launcher's only child: the bot."""
    try:
        children = Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class Launched:
    """A `sora-bot run` under the launcher: its process, and (once stopped) its exit code and peak RSS."""

    proc: asyncio.subprocess.Process
    report: Path
    code: int | None = None

    @property
    def peak_kib(self) -> int:
        return int(self.report.read_text()) if self.report.exists() else -1


@contextlib.asynccontextmanager
async def launched_bot(world: BenchWorld, env: dict[str, str], label: str) -> AsyncIterator[Launched]:
    """`sora-bot run` under the launcher, its commands registered, for the block; stopped with SIGTERM."""
    report = world.tmp / f"{label}-maxrss.txt"
    with (world.tmp / f"{label}.out").open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            LAUNCHER,
            str(report),
            SORA_BOT,
            "run",
            env=env,
            cwd=world.tmp,  # no stray .env
            stdout=out,
            stderr=out,
        )
    launched = Launched(proc, report)
    try:
        await world.fake.wait_for_gateway(timeout=60)
        await until(lambda: world.fake.commands.get(world.guild_id), timeout=60, what="the bot's commands")
        yield launched
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)  # the launcher forwards it to the bot
        try:
            launched.code = await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            _kill_tree(proc.pid)
            launched.code = await proc.wait()


async def post_clips(world: BenchWorld, clips: int, what: str) -> tuple[float, list[Any]]:
    """`clips` /video at once, each from its own member; (seconds until all were posted, the posts)."""
    start = world.fake.mark()
    started = time.monotonic()
    await asyncio.gather(*(world.video(i, limit=UPLOAD_LIMIT) for i in range(clips)))
    await until(
        lambda: len(world.posted_clips(start)) >= clips, timeout=60 + 10 * clips, what=what, interval=0.1
    )
    return time.monotonic() - started, world.posted_clips(start)


async def _measure(clips: int, tmp: Path) -> Measured:
    async with bench_world(tmp, users=clips, premium_tier=3) as world:
        world.prodia.clip_bytes_extra = CLIP_BYTES
        await warm_prodia_cache(world.prodia.base_url)
        async with launched_bot(world, _env(world), "bot") as bot:
            await asyncio.sleep(0.5)
            pid = _bot_pid(bot.proc.pid)
            idle = _vm_hwm_kib(pid) if pid else None
            seconds, posts = await post_clips(world, clips, f"{clips} clips posted by the bot process")
            sizes = [len(r.files[0][2]) for r in posts]
        assert bot.code is not None
        return Measured(clips, bot.peak_kib, idle, bot.code, sizes, seconds)


def _kill_tree(launcher_pid: int) -> None:
    bot = _bot_pid(launcher_pid)
    for pid in (bot, launcher_pid):
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _mib(kib: int | None) -> str:
    return "?" if kib is None else f"{kib / 1024:.0f} MiB"


async def run(quick: bool) -> list[Row]:
    many = 5 if quick else 20
    results: list[Measured] = []
    with temp_dir(NAME) as tmp:
        for clips in (1, many):
            folder = tmp / f"clips-{clips}"
            folder.mkdir()
            results.append(await _measure(clips, folder))
    one, lots = results
    sizes = [s for r in results for s in r.sizes]
    return [
        Row(
            NAME,
            f"peak RSS, {lots.clips} concurrent {CLIP_BYTES // MIB} MiB clips",
            _mib(lots.peak_kib),
            f"{_mib(one.peak_kib)} (1 clip)",
            f"{ratio(lots.peak_kib, one.peak_kib):.2f}x (goal <= 1.2x)",
            f"`sora-bot run` subprocess; idle after start-up {_mib(one.idle_kib)} / {_mib(lots.idle_kib)};"
            f" posted {len(sizes)} clips of {median(sizes) / MIB:.1f} MiB (not re-encoded) in"
            f" {one.seconds:.1f} s / {lots.seconds:.1f} s; exit codes {one.exit_code}/{lots.exit_code}"
            " after SIGTERM",
        )
    ]


def main() -> None:
    main_for(run, __doc__)


if __name__ == "__main__":
    main()
