"""Run the benchmarks against the real bot and the fake servers on 127.0.0.1 and print one markdown table.

    python bench/run.py [--quick] [--only NAME ...]

Each benchmark also runs alone: `python -m bench.NAME [--quick]` (reencode: `python -m bench.reencode_bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib
import os
import platform
import sys
import time
import traceback
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# `python bench/run.py` puts bench/ first on the path; the project root has to be there instead.
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
    sys.path[0] = str(_HERE.parent)
elif str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

BENCHMARKS = {
    "ack": "bench.ack",
    "throughput": "bench.throughput",
    "memory": "bench.memory",
    "quota": "bench.quota",
    "fairness": "bench.fairness",
    "recovery": "bench.recovery",
    "reencode": "bench.reencode_bench",
    "scale": "bench.scale",
    "storage": "bench.storage",
    "stitch": "bench.stitch",
    "dashboard": "bench.dashboard",
}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def machine_line(load_before: str) -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Machine: nproc {usable} ({os.cpu_count()} CPUs), {_cpu_model()}, Python {platform.python_version()}"
        f" ({platform.python_implementation()}), {platform.system()} {platform.release()}; {now};"
        f" load average before/after {load_before} -> {_load()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run (under ~60 s)")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help="run only NAME (repeatable)",
    )
    args = parser.parse_args()

    from bench.common import Row, clean_environment, format_table

    clean_environment()
    names = args.only or list(BENCHMARKS)
    rows: list[Row] = []
    failed = 0
    load_before = _load()
    started = time.monotonic()
    for name in names:
        print(f"running {name}{' (quick)' if args.quick else ''} ...", file=sys.stderr, flush=True)
        began = time.monotonic()
        try:
            module = importlib.import_module(BENCHMARKS[name])
            rows.extend(asyncio.run(module.run(args.quick)))
        except Exception as exc:
            failed += 1
            traceback.print_exc()
            rows.append(Row(name, "ERROR", type(exc).__name__, "", "", str(exc)[:200]))
        print(f"  {name} took {time.monotonic() - began:.1f} s", file=sys.stderr, flush=True)
    print(format_table(rows))
    print()
    print(machine_line(load_before))
    print(
        f"Total wall time {time.monotonic() - started:.0f} s{' (--quick)' if args.quick else ''}.", flush=True
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
