"""Stitch: a /story of five 12 s 1080p shots with sound (sora-2-pro) joined into one MP4, cut and crossfaded;
wall time against the clips' own length, and peak memory for 2 against 5 shots. Each stitch runs in a child
process pinned to 2 CPUs that reports its own VmHWM (exec gives it a fresh address space, so the figure is the
stitch alone). The shots are rendered once by the local renderer and cached between runs."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import MIB, Row, main_for, ratio, temp_dir
from bot.media.probe import probe_clip
from bot.media.render import render_clip

NAME = "stitch"
CACHE = Path(tempfile.gettempdir()) / "sora-bot-bench"
SHOTS = 5
FEW = 2
CORES = 2
PROMPTS = (
    "A lighthouse keeper climbs the spiral stairs at dusk, lantern in hand",
    "The lantern is lit and the beam sweeps across a stormy sea",
    "A small fishing boat turns towards the light, waves breaking over its bow",
    "The boat slips into the harbour as the storm clears",
    "Dawn: the keeper waves from the gallery as gulls circle the tower",
)
_ROOT = Path(__file__).resolve().parent.parent

# The child imports only the media module, pins itself to CORES CPUs, stitches, and prints what it saw.
CHILD = """
import json, os, sys, time
from pathlib import Path
cores = sorted(os.sched_getaffinity(0))[: int(sys.argv[1])]
os.sched_setaffinity(0, cores)
from bot.media.stitch import stitch

def hwm_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1

before = hwm_kib()
started = time.perf_counter()
result = stitch([Path(p) for p in sys.argv[4:]], Path(sys.argv[3]), transition=sys.argv[2])
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_kib": hwm_kib(), "imports_kib": before, "cores": len(cores),
                  "duration": result.duration_seconds, "size": result.size_bytes}))
"""


@dataclass(frozen=True)
class Stitched:
    shots: int
    transition: str
    seconds: float
    peak_kib: int
    imports_kib: int
    cores: int
    duration: float
    size: int


def _shots(width: int, height: int, seconds: int) -> tuple[list[Path], float]:
    """The story's shots with sound, rendered on the first run and reused after; and the time that took."""
    folder = CACHE / "stitch-shots"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    shots = []
    for index, prompt in enumerate(PROMPTS[:SHOTS]):
        shot = folder / f"shot{index}-{width}x{height}-{seconds}s-pro.mp4"
        if not shot.exists():
            render_clip(shot, prompt=prompt, width=width, height=height, duration=seconds, audio=True)
        shots.append(shot)
    return shots, time.perf_counter() - started


async def _stitch(shots: list[Path], transition: str, dest: Path) -> Stitched:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(CORES),
        transition,
        str(dest),
        *map(str, shots),
        cwd=_ROOT,
        env={**os.environ, "PYTHONPATH": str(_ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"stitch child exited {proc.returncode}: {err.decode()[-500:]}")
    facts = json.loads(out)
    return Stitched(
        len(shots),
        transition,
        facts["seconds"],
        facts["peak_kib"],
        facts["imports_kib"],
        facts["cores"],
        facts["duration"],
        facts["size"],
    )


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


async def run(quick: bool) -> list[Row]:
    width, height, seconds = (1280, 720, 4) if quick else (1920, 1080, 12)
    shots, prepared = await asyncio.to_thread(_shots, width, height, seconds)
    length = sum(probe_clip(shot).duration for shot in shots)
    runs: dict[tuple[str, int], Stitched] = {}
    with temp_dir(NAME) as tmp:
        for transition in ("cut", "crossfade"):
            for count in (FEW, SHOTS):
                dest = tmp / f"story-{transition}-{count}.mp4"
                runs[transition, count] = await _stitch(shots[:count], transition, dest)
    shape = f"{SHOTS} x {seconds} s {height}p shots with sound"
    prep_note = "shots cached" if prepared < 1 else f"shots rendered in {prepared:.0f} s"
    rows = []
    for transition in ("cut", "crossfade"):
        full = runs[transition, SHOTS]
        rows.append(
            Row(
                NAME,
                f"{shape}, {transition}: wall time",
                f"{full.seconds:.1f} s",
                f"{length:.0f} s of video",
                f"{full.seconds / length:.2f}x real time (goal < 1 on {CORES} cores)",
                f"{full.cores} CPUs; output {full.duration:.2f} s, {full.size / MIB:.1f} MiB; {prep_note}",
            )
        )
    for transition in ("cut", "crossfade"):
        few, full = runs[transition, FEW], runs[transition, SHOTS]
        rows.append(
            Row(
                NAME,
                f"{height}p {transition}: peak RSS, {FEW} -> {SHOTS} shots",
                f"{_mib(few.peak_kib)} -> {_mib(full.peak_kib)}",
                f"{_mib(few.imports_kib)} after imports",
                f"{ratio(full.peak_kib, few.peak_kib):.2f}x (goal flat, <= 1.1x)",
                f"stitch's own share {_mib(few.peak_kib - few.imports_kib)} ->"
                f" {_mib(full.peak_kib - full.imports_kib)}; child VmHWM",
            )
        )
    return rows


def main() -> None:
    main_for(run, __doc__)


if __name__ == "__main__":
    main()
