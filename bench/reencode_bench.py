"""Re-encode: fit_clip bringing a heavy 12 s 1080p clip with audio under Discord's 10 MiB upload limit (the
source is built, once, by bench/reencode.py and cached between runs); in the bot's media processes
(MEDIA_WORKERS, at the lowest priority) against a thread of this process (as before issue 16), alternating."""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import MIB, Row, main_for, temp_dir
from bench.reencode import LIMIT, _grainy_source
from bot.media.fit import fit_clip
from bot.media.pool import MediaPool
from bot.media.probe import probe_clip

NAME = "reencode"
CACHE = Path(tempfile.gettempdir()) / "sora-bot-bench"


async def run(quick: bool) -> list[Row]:
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    source = await asyncio.to_thread(_grainy_source, CACHE)
    prepared = time.perf_counter() - started
    before = probe_clip(source)
    pool = MediaPool(max(1, (os.cpu_count() or 1) - 1))
    walls: dict[str, list[float]] = {"thread": [], "pool": []}
    with temp_dir(NAME) as tmp:
        dest = tmp / "fitted.mp4"
        for n in range(2 if quick else 3):
            for way in ("thread", "pool") if n % 2 == 0 else ("pool", "thread"):
                started = time.perf_counter()
                if way == "pool":
                    result = await pool.run(fit_clip, source, dest, max_bytes=LIMIT)
                else:
                    result = await asyncio.to_thread(fit_clip, source, dest, max_bytes=LIMIT)
                walls[way].append(time.perf_counter() - started)
        # One worker ran every pooled fit (they came one at a time): its own peak.
        workers_peak = await pool.run(_peak_mib)
        await pool.close()
        after = probe_clip(dest) if result is not None else None
    wall = statistics.median(walls["pool"])
    threaded = statistics.median(walls["thread"])
    own_peak = _peak_mib()
    source_note = (
        f"source {before.width}x{before.height} {before.duration:.1f} s, {before.size_bytes / MIB:.1f} MiB"
    )
    prep_note = "cached" if prepared < 1 else f"built in {prepared:.0f} s"
    if result is None or after is None:
        return [Row(NAME, "12 s 1080p clip -> 10 MiB: wall time", f"{wall:.1f} s", "", "", "did not fit")]
    return [
        Row(
            NAME,
            "12 s 1080p clip -> 10 MiB: wall time (media process)",
            f"{wall:.1f} s",
            f"{threaded:.1f} s in a thread",
            f"{wall / threaded:.2f}x (goal <= 1.2x)",
            f"median of {len(walls['pool'])} each, alternating; {source_note} ({prep_note});"
            f" {result.attempts} attempt(s); {wall / before.duration:.2f}x real time",
        ),
        Row(
            NAME,
            "12 s 1080p clip -> 10 MiB: peak memory",
            f"{workers_peak:.0f} MiB (media process)",
            f"{own_peak:.0f} MiB (this process, fits in threads)",
            "",
            "the worker's peak is the re-encode's own; the bot's process no longer holds it",
        ),
        Row(
            NAME,
            "12 s 1080p clip -> 10 MiB: output size",
            f"{result.size_bytes / MIB:.2f} MiB",
            f"{before.size_bytes / MIB:.1f} MiB source",
            f"{result.size_bytes / LIMIT:.2f} of limit (goal <= 1)",
            f"{result.width}x{result.height}, {before.duration:.2f} s -> {after.duration:.2f} s,"
            f" {after.video_codec}/{after.audio_codec}, video {result.video_bitrate / 1000:.0f} kb/s",
        ),
    ]


def _peak_mib() -> float:
    """This process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    main_for(run, __doc__)


if __name__ == "__main__":
    main()
