"""Running the fake standalone: ``python -m tests.fakes.prodia --port 0 --token TOKEN``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import tempfile
from pathlib import Path

from tests.fakes.prodia.constants import OUTPUT_LIST_STYLES
from tests.fakes.prodia.fake import FakeProdia


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.prodia", description="A fake Prodia v2 job API on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--token", default="test-token", help="the only accepted bearer token")
    parser.add_argument("--clip-dir", type=Path, default=None, help="render cache (default: a temp dir)")
    parser.add_argument("--processing-seconds", type=float, default=0.0, help="minimum time a job processes")
    parser.add_argument(
        "--async-refused",
        action="append",
        default=[],
        metavar="TYPE",
        help="job type whose async submission answers 400 (repeatable)",
    )
    parser.add_argument("--capacity-error", action="store_true", help="every POST answers 429 + Retry-After")
    parser.add_argument("--retry-after", default="1", help="Retry-After value of 429 answers")
    parser.add_argument("--capacity", type=int, help="most jobs processing at once (then 429)")
    parser.add_argument("--reject", action="store_true", help="every valid POST answers a 400 job error")
    parser.add_argument("--stuck", action="store_true", help="jobs never finish")
    parser.add_argument("--clip-bytes-extra", type=int, default=0, help="pad every MP4 by this many bytes")
    parser.add_argument(
        "--output-list-style",
        choices=OUTPUT_LIST_STYLES,
        default="json",
        help="how GET output spells its list",
    )
    parser.add_argument("--result-ttl", type=float, help="seconds a finished async job's result is kept")
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as stack:
        clip_dir = args.clip_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="fake-prodia-"))
        )
        fake = FakeProdia(token=args.token, clip_dir=clip_dir, processing_seconds=args.processing_seconds)
        fake.async_refused = set(args.async_refused)
        fake.capacity_error = args.capacity_error
        fake.retry_after = args.retry_after
        fake.capacity = args.capacity
        fake.reject = args.reject
        fake.stuck = args.stuck
        fake.clip_bytes_extra = args.clip_bytes_extra
        fake.output_list_style = args.output_list_style
        fake.result_ttl = args.result_ttl
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        url = await fake.start(args.port)
        print(f"listening on {url}", flush=True)  # the line callers wait for
        try:
            await stop.wait()
        finally:
            await fake.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m tests.fakes.prodia``."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(_run(_parse_args(argv)))
