"""Acknowledgement latency: a burst of /video commands from 50 users; time from the interaction's dispatch by
the fake Discord to the bot's defer callback arriving there. Baseline: a bare discord.py bot whose /video only
defers, against the same fake with the same burst.

Under load: the same burst while the bot fits four dense 12 s 1080p clips under Discord's 10 MiB (through its
media processes, MEDIA_WORKERS; and, for comparison, in threads of its own process as before issue 16),
against the bare bot's idle burst of the same run."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import discord
from discord import app_commands
from discord.ext import commands

from bench.common import (
    BenchWorld,
    Row,
    bench_world,
    main_for,
    median,
    ms,
    percentile,
    production_logging,
    ratio,
    temp_dir,
    until,
)
from bench.reencode import LIMIT, _grainy_source
from bot.media.fit import fit_clip
from bot.settings import Settings
from tests.fakes.discord import INTERACTION_CALLBACK, RecordedRequest, running_bot
from tests.harness import TestBot

NAME = "ack"
USERS = 50
FITS = 4  # dense clips being fitted while the burst arrives
MEDIA = Settings.model_fields["media_workers"].get_default(call_default_factory=True)
# The dense source is slow to make (about a minute): kept between runs.
DENSE = Path(tempfile.gettempdir()) / "sora-bench-dense"


class BareBot(commands.Bot):
    """The least a discord.py bot can do: /video defers, nothing else."""

    def __init__(self, guild_id: int) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            guild_ready_timeout=0.05,
        )
        self.guild_id = guild_id

    async def setup_hook(self) -> None:
        @app_commands.command(name="video", description="Make a clip")
        async def video(interaction: discord.Interaction, prompt: str) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)

        guild = discord.Object(self.guild_id)
        self.tree.add_command(video, guild=guild)
        await self.tree.sync(guild=guild)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


def _callbacks(world: BenchWorld) -> dict[str, RecordedRequest]:
    return {
        r.params["interaction_token"]: r
        for r in world.fake.requests
        if r.route == INTERACTION_CALLBACK and r.status
    }


def _answered(world: BenchWorld, token: str) -> bool:
    message = world.fake.original(token) or {}
    return bool(message.get("embeds") or message.get("content"))


@dataclass
class Round:
    kind: str  # "bare", "sora", "sora-load" (fits in media processes), "sora-load-threads" (in threads)
    latencies: list[float] = field(default_factory=list)
    late: int = 0  # callbacks the fake refused as too late (404 10062)
    accepted: int = 0  # SoraBot: commands answered with a status embed
    refused: int = 0  # SoraBot: commands answered with an error
    status_latencies: list[float] = field(default_factory=list)  # dispatch -> status embed (SoraBot)
    fits: int = 0  # fits finished while the burst was measured (the load made progress)
    burst_seconds: float = 0.0
    media_cpu: float = 0.0  # CPU seconds the media processes used during the burst


async def _burst(world: BenchWorld, count: int, result: Round, *, sora: bool) -> None:
    # One command first, so neither bot pays its first-use costs inside the burst.
    warm = await world.video(10_000)
    await until(lambda: warm.token in _callbacks(world), timeout=30, what="the warm-up acknowledgement")
    if sora:
        await until(lambda: _answered(world, warm.token), timeout=30, what="the warm-up answer")
    await asyncio.sleep(0.5)

    start = world.fake.mark()
    interactions = await asyncio.gather(*(world.video(i) for i in range(count)))
    tokens = {i.token for i in interactions}
    await until(lambda: tokens <= _callbacks(world).keys(), timeout=60, what=f"{count} acknowledgements")
    callbacks = _callbacks(world)
    for inter in interactions:
        callback = callbacks[inter.token]
        result.latencies.append(callback.at - inter.created_at)
        result.late += callback.status == 404
    if not sora:
        return
    await until(lambda: all(_answered(world, t) for t in tokens), timeout=120, what=f"{count} status answers")
    first_edit: dict[str, float] = {}
    for r in world.fake.requests[start:]:
        token = r.params.get("interaction_token")
        if r.method == "PATCH" and r.status == 200 and token in tokens and token not in first_edit:
            first_edit[token] = r.at
    for inter in interactions:
        message = world.fake.original(inter.token) or {}
        if message.get("embeds"):
            result.accepted += 1
        else:
            result.refused += 1
        if inter.token in first_edit:
            result.status_latencies.append(first_edit[inter.token] - inter.created_at)


async def _run_bare(world: BenchWorld, count: int, result: Round) -> None:
    async with running_bot(world.fake, BareBot(world.guild_id)):
        await _burst(world, count, result, sora=False)


async def _run_sora(world: BenchWorld, count: int, result: Round, *, load: Path | None = None,
                    threads: bool = False) -> None:  # fmt: skip
    settings = world.settings(
        default_jobs_per_hour=10_000,
        default_concurrent_jobs=1_000,
        default_video_seconds_per_day=10**7,
        max_concurrent_jobs=256,
        **({"media_workers": 0} if threads else {}),
    )
    bot = TestBot(settings, guild_ready_timeout=0.05)
    async with running_bot(world.fake, bot):
        if load is None:
            await _burst(world, count, result, sora=True)
            return
        stop = asyncio.Event()
        done: list[float] = []
        fitting = [
            asyncio.create_task(_fit_until(stop, bot, load, world.tmp / f"fit-{n}.mp4", done))
            for n in range(FITS)
        ]
        try:
            await asyncio.sleep(2.0)  # the encoders are running before the burst arrives
            workers = _media_pids(bot)
            cpu_before = _cpu_seconds(workers)
            started = time.monotonic()
            await _burst(world, count, result, sora=True)
            ended = time.monotonic()
            result.media_cpu = _cpu_seconds(workers) - cpu_before
            if any(task.done() for task in fitting):
                raise RuntimeError("a fit stopped during the burst: the load was not there")
            result.fits = sum(started <= at <= ended for at in done)  # finished during the burst (progress)
            result.burst_seconds = ended - started
        finally:
            # Each finishes the fit it is in: a fit in a thread can't be stopped, and one left running would
            # load the next round.
            stop.set()
            await asyncio.gather(*fitting, return_exceptions=True)


def _media_pids(bot: TestBot) -> list[int]:
    """The bot's media worker processes (none when it fits in threads)."""
    executor = bot.pipeline.media._executor
    return list(executor._processes or {}) if executor is not None else []


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes so far (Linux /proc), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the line)
    return total / os.sysconf("SC_CLK_TCK")


async def _fit_until(stop: asyncio.Event, bot: TestBot, source: Path, dest: Path, done: list[float]) -> None:
    """Fit `source` under 10 MiB again and again until `stop`, as the bot's deliveries do (its media pool);
    the time each fit finished goes to `done`."""
    while not stop.is_set():
        await bot.pipeline.media.run(fit_clip, source, dest, max_bytes=LIMIT)
        done.append(time.monotonic())


async def _round(kind: str, count: int, tmp: Path, dense: Path | None = None) -> Round:
    """One bot, one fresh world, one burst.

    For SoraBot nothing renders while we measure: every accepted job stays "processing" at the fake Prodia
    (`stuck`). That fake runs in this event loop, as in the e2e harness, so its 20 ms re-check of every stuck
    job is paid next to the bot: conservative for SoraBot.
    """
    result = Round(kind)
    async with bench_world(tmp, users=USERS) as world:
        if kind == "bare":
            await _run_bare(world, count, result)
        else:
            world.prodia.stuck = True
            load = dense if kind.startswith("sora-load") else None
            await _run_sora(world, count, result, load=load, threads=kind == "sora-load-threads")
    return result


async def run(quick: bool) -> list[Row]:
    count = 100 if quick else 200
    rounds = 2 if quick else 4
    results: list[Round] = []
    DENSE.mkdir(exist_ok=True)
    dense = await asyncio.to_thread(_grainy_source, DENSE)
    with temp_dir(NAME) as tmp, production_logging(tmp / "bot.log") as watch:
        for n in range(rounds):
            # Alternate the order, so neither bot always runs on a cooler (or hotter) machine.
            kinds = ("bare", "sora", "sora-load", "sora-load-threads")
            order = kinds if n % 2 == 0 else kinds[::-1]
            for kind in order:
                folder = tmp / f"{kind}-{n}"
                folder.mkdir()
                started = time.monotonic()
                results.append(await _round(kind, count, folder, dense))
                took = time.monotonic() - started
                print(f"  ack: {kind} round {n + 1}: {ms(median(results[-1].latencies))} median,"
                      f" took {took:.1f} s", file=sys.stderr)  # fmt: skip
    loaded = [x for r in results if r.kind == "sora-load" for x in r.latencies]
    threaded = [x for r in results if r.kind == "sora-load-threads" for x in r.latencies]
    pooled = [r for r in results if r.kind == "sora-load"]
    in_threads = [r for r in results if r.kind == "sora-load-threads"]
    burst_time = sum(r.burst_seconds for r in pooled)
    progress = (
        f"the media processes used {sum(r.media_cpu for r in pooled):.1f} CPU-s in {burst_time:.1f} s of"
        f" bursts (the load went on); fits finished during the bursts: {sum(r.fits for r in pooled)}"
        f" (processes), {sum(r.fits for r in in_threads)} (threads)"
    )
    soras = [r for r in results if r.kind == "sora"]
    bares = [r for r in results if r.kind == "bare"]
    sora = [x for r in soras for x in r.latencies]
    bare = [x for r in bares for x in r.latencies]
    status = [x for r in soras for x in r.status_latencies]
    per_round = [ratio(median(s.latencies), median(b.latencies)) for s, b in zip(soras, bares, strict=True)]
    accepted = sum(r.accepted for r in soras)
    refused = sum(r.refused for r in soras)
    burst = f"{rounds} rounds x {count} /video from {USERS} users, fresh bot and fakes each"
    p50, p99 = median(sora), percentile(sora, 99)
    b50, b99 = median(bare), percentile(bare, 99)
    return [
        Row(
            NAME,
            "dispatch -> defer, median",
            ms(p50),
            ms(b50) + " (bare bot)",
            f"{ratio(p50, b50):.2f}x (goal <= 1.2x)",
            f"{burst}; per-round ratio of medians {min(per_round):.2f}-{max(per_round):.2f};"
            f" {accepted} accepted, {refused} refused",
        ),
        Row(
            NAME,
            "dispatch -> defer, p99",
            ms(p99),
            ms(b99) + " (bare bot)",
            f"{ratio(p99, b99):.2f}x (goal <= 1.2x, < 3 s)",
            f"max {ms(max(sora))} vs {ms(max(bare))}; refused as late (> 3 s)"
            f" {sum(r.late for r in soras)} vs {sum(r.late for r in bares)}; {watch.note()}",
        ),
        Row(
            NAME,
            f"under load ({FITS} dense 12 s fits), p99",
            ms(percentile(loaded, 99)) + f" (median {ms(median(loaded))})",
            ms(b99) + " (bare bot, idle)",
            f"{ratio(percentile(loaded, 99), b99):.2f}x (goal <= 1.5x)",
            f"{FITS} fits queued at once: in the media processes ({MEDIA} at a time, SCHED_IDLE); in threads"
            f" of the bot's process instead (all {FITS} at once, as before):"
            f" p99 {ms(percentile(threaded, 99))}, {ratio(percentile(threaded, 99), b99):.2f}x; {progress}",
        ),
        Row(
            NAME,
            "dispatch -> status message, median / p99",
            f"{ms(median(status))} / {ms(percentile(status, 99))}",
            "",
            "",
            "SoraBot's first edit of the deferred answer (queue position, Cancel)",
        ),
    ]


def main() -> None:
    main_for(run, __doc__)


if __name__ == "__main__":
    main()
