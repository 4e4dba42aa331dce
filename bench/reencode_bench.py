"""Re-encode: fit_clip bringing a heavy 12 s 1080p clip with audio under Discord's 10 MiB upload limit (the
source is built, once, by bench/reencode.py and cached between runs)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import MIB, Row, main_for, temp_dir
from bench.reencode import LIMIT, _grainy_source
from bot.media.fit import fit_clip
from bot.media.probe import probe_clip

NAME = "reencode"
CACHE = Path(tempfile.gettempdir()) / "sora-bot-bench"


async def run(quick: bool) -> list[Row]:
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    source = await asyncio.to_thread(_grainy_source, CACHE)
    prepared = time.perf_counter() - started
    before = probe_clip(source)
    with temp_dir(NAME) as tmp:
        dest = tmp / "fitted.mp4"
        started = time.perf_counter()
        result = await asyncio.to_thread(fit_clip, source, dest, max_bytes=LIMIT)
        wall = time.perf_counter() - started
        after = probe_clip(dest) if result is not None else None
    source_note = (
        f"source {before.width}x{before.height} {before.duration:.1f} s, {before.size_bytes / MIB:.1f} MiB"
    )
    prep_note = "cached" if prepared < 1 else f"built in {prepared:.0f} s"
    if result is None or after is None:
        return [Row(NAME, "12 s 1080p clip -> 10 MiB: wall time", f"{wall:.1f} s", "", "", "did not fit")]
    return [
        Row(
            NAME,
            "12 s 1080p clip -> 10 MiB: wall time",
            f"{wall:.1f} s",
            f"{before.duration:.0f} s of video",
            f"{wall / before.duration:.2f}x real time",
            f"{source_note} ({prep_note}); {result.attempts} attempt(s)",
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


def main() -> None:
    main_for(run, __doc__)


if __name__ == "__main__":
    main()
