"""The `sora-bot` command: run | gateway | worker | generate | story | db | storage migrate | health |
dashboard."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
import time
from pathlib import Path
from typing import Any

from bot import __version__
from bot.cli_dashboard import add_parser as add_dashboard_parser
from bot.cli_dashboard import run_dashboard
from bot.cli_i18n import add_parser as add_i18n_parser
from bot.cli_i18n import run_i18n
from bot.cli_story import add_parser as add_story_parser
from bot.cli_story import run_story
from bot.domain.models import SEED_MAX, TERMINAL, Job, JobRequest, JobState
from bot.errors import ConfigError, DatabaseError, SoraBotError, StorageUnavailable, UserFacingError
from bot.logs import setup_logging
from bot.pipeline import FileDeliverer, Pipeline
from bot.settings import Settings, load_settings, redact_url
from bot.storage import migrate
from bot.storage.local import FileStorage
from bot.storage.open import open_storage, parse_storage_url
from bot.storage.s3 import S3Storage
from bot.store.copy import copy_database
from bot.store.db import Database
from bot.store.meta import heartbeats

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130
PROGRESS_EVERY = 5.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sora-bot", description="Sora 2 clips from Discord, through Prodia."
    )
    parser.add_argument("--version", action="version", version=f"sora-bot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("run", help="run the Discord bot (gateway and workers in one process)")
    commands.add_parser("gateway", help="accept commands and buttons only; workers run the jobs")
    commands.add_parser("worker", help="claim and run jobs and deliver them through Discord's REST API")

    gen = commands.add_parser("generate", help="run one job through the pipeline, without Discord")
    gen.add_argument("prompt", help="what should happen in the clip (3 to 4,096 characters)")
    gen.add_argument("--image", type=Path, help="a PNG, JPEG or WebP to animate (image-to-video)")
    gen.add_argument("--duration", type=int, default=4, help="4, 8 or 12 seconds (default 4)")
    gen.add_argument("--aspect-ratio", default="16:9", help="16:9 (default) or 9:16")
    gen.add_argument("--model", default="sora-2", help="sora-2 (default) or sora-2-pro")
    gen.add_argument("--resolution", help="720p or 1080p (sora-2-pro only)")
    gen.add_argument("--seed", type=int, help=f"1 to {SEED_MAX:,}, for reproducible results")
    gen.add_argument("--out", type=Path, required=True, help="where to write the MP4")
    gen.add_argument("--backend", choices=["prodia", "local"], help="override PRODIA_BACKEND")
    gen.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    gen.add_argument("-v", "--verbose", action="store_true", help="log every job transition")

    add_story_parser(commands)

    db = commands.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("migrate", help="apply pending migrations")
    migrate_to = db.add_parser(
        "migrate-to", help="copy the SQLite database (DATABASE_URL) into an empty PostgreSQL database"
    )
    migrate_to.add_argument("url", help="postgresql://user[:password]@host[:port]/database")
    backup = db.add_parser("backup", help="copy the live database with SQLite's online backup")
    backup.add_argument("path", type=Path)

    storage = commands.add_parser("storage", help="the store of clips and images").add_subparsers(
        dest="storage_command", required=True
    )
    migrate_storage = storage.add_parser(
        "migrate",
        help="copy the bot's files from a local folder into the bucket STORAGE_URL names (deletes nothing)",
        description=(
            "Copy the bot's files (clips, their re-encodes, posters, previews, last frames, input images)"
            " from a local folder into the s3:// bucket STORAGE_URL names. Files the bucket holds already"
            " at the same size are skipped: run it again to resume or to catch up. Local files are never"
            " deleted (nor anything in the bucket): remove the folder yourself once the bot runs on the"
            " bucket."
        ),
    )
    migrate_storage.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="FOLDER",
        help="the folder to copy from (default: OUTPUT_DIR)",
    )
    migrate_storage.add_argument(
        "--dry-run", action="store_true", help="only say what would be copied and what skipped"
    )

    add_i18n_parser(commands)
    add_dashboard_parser(commands)
    health = commands.add_parser("health", help="exit 0 if the database is current and a scheduler is alive")
    health.add_argument("--max-age", type=float, default=120.0, help="seconds since the last heartbeat")
    health.add_argument("--role", choices=["gateway", "worker"], help="only processes in this role")
    health.add_argument(
        "--any-host",
        action="store_true",
        help="any process of the deployment, not only this host's (container's)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "i18n":
        return run_i18n(args)  # the catalogs and the command tree only: no settings, no database
    overrides: dict[str, Any] = {}
    if getattr(args, "backend", None):
        overrides["prodia_backend"] = args.backend
    try:
        settings = load_settings(**overrides)
        if args.command in ("run", "gateway", "worker"):
            setup_logging(settings.log_level, settings.secrets(), settings.log_format)
            return _run(settings, {"run": "all"}.get(args.command, args.command))
        if args.command in ("generate", "story"):
            level = "INFO" if args.verbose else "ERROR"
            setup_logging(level, settings.secrets(), settings.log_format)
            return asyncio.run((_generate if args.command == "generate" else run_story)(settings, args))
        setup_logging(settings.log_level, settings.secrets(), settings.log_format)
        if args.command == "dashboard":
            return run_dashboard(settings)
        if args.command == "health":
            return asyncio.run(_health(settings, args))
        if args.command == "storage":
            return asyncio.run(_migrate_storage(settings, args.source, dry_run=args.dry_run))
        return asyncio.run(_db(settings, args))
    except ConfigError as exc:
        print(f"sora-bot: configuration error: {exc.detail}", file=sys.stderr)
        return EXIT_CONFIG
    except DatabaseError as exc:
        print(f"sora-bot: database error: {exc.detail}", file=sys.stderr)
        return EXIT_CONFIG
    except SoraBotError as exc:
        text = exc.user_message if isinstance(exc, UserFacingError) else exc.detail
        print(f"sora-bot: {text}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("sora-bot: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(settings: Settings, role: str) -> int:
    settings.require("discord_token")
    if settings.prodia_backend == "prodia" and role != "gateway":
        settings.require("prodia_token")
    from bot.client import run_bot  # noqa: PLC0415 - discord.py is only loaded by the commands that use it

    return run_bot(settings, role)  # type: ignore[arg-type]


async def _db(settings: Settings, args: argparse.Namespace) -> int:
    if args.db_command == "migrate-to":
        return await _migrate_to(settings, args.url)
    db = await Database.open(
        settings.database_target,
        migrate=args.db_command == "migrate",
        busy_timeout=settings.database_busy_timeout_seconds,
    )
    try:
        if args.db_command == "backup":
            await db.backup(args.path)
            print(f"backed up {settings.database_label} to {args.path}")
        else:
            print(f"{settings.database_label} is at the current schema")
    finally:
        await db.close()
    return 0


async def _migrate_to(settings: Settings, url: str) -> int:
    if settings.database_engine != "sqlite":
        raise ConfigError("DATABASE_URL must name the SQLite database to copy from")
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("the target must be a postgresql:// URL")
    if not settings.database_path.exists():
        raise DatabaseError(f"there is no SQLite database at {settings.database_path}")
    source = await Database.open(settings.database_path, migrate=False)
    try:
        target = await Database.open(url)
        try:
            counts = await copy_database(source, target)
        finally:
            await target.close()
    finally:
        await source.close()
    copied = ", ".join(f"{n} {table}" for table, n in counts.items() if n)
    print(f"copied {settings.database_path} to {redact_url(url)}: {copied or 'nothing (empty)'}")
    return 0


async def _migrate_storage(settings: Settings, source: Path | None, *, dry_run: bool) -> int:
    folder = (source or settings.output_dir).resolve()
    scheme, where, _ = parse_storage_url(settings.storage_url, settings.output_dir)
    if scheme != "s3":
        same = Path(where).resolve() == folder
        raise ConfigError(
            f"STORAGE_URL {'is' if settings.storage_url else 'is unset: it defaults to'} the folder"
            f" {where}{', the one to copy from' if same else ''}; storage migrate copies into a bucket: set"
            " STORAGE_URL=s3://bucket/prefix (with S3_ENDPOINT_URL and the AWS_* credentials for it)"
        )
    if not folder.is_dir():
        raise ConfigError(f"there is no folder {folder} to copy from (--from, or OUTPUT_DIR)")
    target = open_storage(settings, working=False)
    assert isinstance(target, S3Storage)
    source_store = FileStorage(folder)
    try:
        todo = await migrate.plan(source_store, target)
    except StorageUnavailable as exc:
        raise SoraBotError(exc.detail) from None  # for the operator: what failed, not "try again later"
    there = target.location("")
    what = f"{len(todo.to_copy)} files ({todo.bytes / 1e6:.1f} MB) from {folder} to {there}"
    extra = f"; {todo.ignored} other files in the folder are not the bot's" if todo.ignored else ""
    if dry_run:
        print(f"dry run: would copy {what}; would skip {todo.skipped} already there{extra}")
        return 0
    print(f"copying {what}; {todo.skipped} already there{extra}", flush=True)
    last = time.monotonic()

    def progress(tally: migrate.Tally) -> None:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_EVERY:
            last = time.monotonic()
            print(f"{tally.line()} ({tally.copied_bytes / 1e6:.1f} of {todo.bytes / 1e6:.1f} MB)", flush=True)

    def failed(name: str, reason: str) -> None:
        print(f"sora-bot: could not copy {name}: {reason}", file=sys.stderr, flush=True)

    def gone(name: str) -> None:
        print(f"{name} left the folder since it was listed (retention?): skipped", flush=True)

    tally = await migrate.copy(source_store, target, todo, on_done=progress, on_failure=failed, on_gone=gone)
    print(f"{tally.line()}: {tally.copied_bytes / 1e6:.1f} MB to {there}; the local files are left in place")
    if tally.stopped:
        untried = len(todo.to_copy) + todo.skipped - tally.copied - tally.skipped - tally.failed
        print(
            f"sora-bot: stopped after {migrate.FAILURES_TO_STOP} failures in a row ({untried} files not"
            " tried); run it again to resume",
            file=sys.stderr,
        )
    elif tally.failed:
        plural = "s" if tally.failed != 1 else ""
        print(f"sora-bot: {tally.failed} file{plural} not copied; run it again to retry", file=sys.stderr)
    return EXIT_FAILED if tally.failed else 0


async def _generate(settings: Settings, args: argparse.Namespace) -> int:
    if settings.prodia_backend == "prodia":
        settings.require("prodia_token")
    values: dict[str, Any] = {
        "prompt": args.prompt,
        "duration": args.duration,
        "aspect_ratio": args.aspect_ratio,
        "model": args.model,
        "resolution": args.resolution,
        "seed": args.seed,
    }
    try:
        request = JobRequest.parse(**values)
        image_bytes = _read_image(args.image) if args.image else None
    except SoraBotError as exc:
        print(f"sora-bot: {exc.detail}", file=sys.stderr)
        return EXIT_CONFIG

    pipeline = await Pipeline.open(settings, {"file": FileDeliverer()})
    try:
        if image_bytes is not None:
            try:
                image_path = await pipeline.store_image(image_bytes, request.size)
            except SoraBotError as exc:
                print(f"sora-bot: {exc.detail}", file=sys.stderr)
                return EXIT_CONFIG
            request = JobRequest.parse(**values, kind="img2vid", image_path=str(image_path))
        progress = _Progress(quiet=args.quiet)
        pipeline.store.listeners.append(progress.on_transition)
        job = await pipeline.submit(
            request, user_id=0, target={"kind": "file", "path": str(args.out.resolve())}
        )
        progress.watch(job)
        await pipeline.start()
        final = await progress.wait(pipeline)
        # Jobs recovered from an earlier, interrupted run finish too before we leave.
        await pipeline.scheduler.wait_idle()
    finally:
        await pipeline.close()
    if final.state is JobState.DELIVERED:
        cost = final.actual_cost if final.actual_cost is not None else final.estimated_cost
        kind = "reported" if final.actual_cost is not None else "estimated"
        elapsed = (final.finished_at or time.time()) - (final.started_at or final.created_at)
        print(f"job {final.id} delivered")
        print(f"  output: {args.out}")
        print(f"  cost:   ${cost:.2f} ({kind})")
        print(f"  prodia: {final.prodia_job_id} via {final.endpoint}, {elapsed:.1f}s")
        return 0
    print(f"sora-bot: job {final.id} {final.state.value}: {final.user_error or final.error}", file=sys.stderr)
    if final.error and final.error != final.user_error:
        print(f"sora-bot: detail: {final.error}", file=sys.stderr)
    return EXIT_FAILED


async def _health(settings: Settings, args: argparse.Namespace) -> int:
    """Healthy when the database is current and a process (of `--role`, on this host unless `--any-host`)
    wrote a heartbeat within `--max-age`: workers from their scheduler loop, gateways while connected."""
    db = await Database.open(settings.database_target, migrate=False)
    try:
        beats = await heartbeats(db)
    finally:
        await db.close()
    here = socket.gethostname()
    mine = [
        b for b in beats if (args.role is None or b.role == args.role) and (args.any_host or b.host == here)
    ]
    newest = max(mine, key=lambda b: b.at, default=None)
    who = f"{args.role or 'bot'} process{'' if args.any_host else ' on ' + here}"
    age = time.time() - newest.at if newest else None
    if newest is None or age is None or age > max(args.max_age, 0):
        print(f"unhealthy: no {who} wrote a heartbeat in the last {args.max_age:.0f}s", file=sys.stderr)
        return EXIT_FAILED
    print(f"healthy: {newest.role} {newest.owner} wrote a heartbeat {age:.0f}s ago")
    return 0


def _read_image(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SoraBotError(f"can't read the image {path}: {exc.strerror}") from None


class _Progress:
    """Prints one line per state change of the watched job, and the elapsed time while it generates."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.job_id: int | None = None
        self.started = time.monotonic()
        self.done = asyncio.Event()
        self.recovered: list[Job] = []

    def watch(self, job: Job) -> None:
        self.job_id = job.id
        self._say(
            f"job {job.id}: {job.state.value} ({job.request.job_type.value}, est ${job.estimated_cost:.2f})"
        )

    async def on_transition(self, job: Job, previous: JobState) -> None:
        if job.id != self.job_id:
            if job.state in TERMINAL:
                self._say(f"recovered job {job.id}: {job.state.value} {job.user_error or ''}".rstrip())
            return
        self._say(f"job {job.id}: {job.state.value} ({time.monotonic() - self.started:.1f}s)")
        if job.state in TERMINAL:
            self.done.set()

    async def wait(self, pipeline: Pipeline) -> Job:
        assert self.job_id is not None
        while not self.done.is_set():
            try:
                async with asyncio.timeout(PROGRESS_EVERY):
                    await self.done.wait()
            except TimeoutError:
                job = await pipeline.store.get(self.job_id)
                if job is not None and job.state in TERMINAL:
                    break
                if job is not None:
                    self._say(
                        f"job {job.id}: {job.state.value}, {time.monotonic() - self.started:.0f}s elapsed"
                    )
        job = await pipeline.store.get(self.job_id)
        assert job is not None
        return job

    def _say(self, line: str) -> None:
        if not self.quiet:
            print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
