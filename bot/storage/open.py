"""The store a process uses, from its settings."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot import files
from bot.errors import ConfigError
from bot.settings import Settings
from bot.storage.base import Storage
from bot.storage.local import FileStorage
from bot.storage.s3 import S3Storage

log = logging.getLogger(__name__)
SCRATCH = "scratch"  # with a bucket: the process's working copies, in OUTPUT_DIR/scratch


def parse_storage_url(url: str | None, output_dir: Path) -> tuple[str, str, str]:
    """(scheme, bucket or folder, prefix) of a STORAGE_URL; unset: the output folder."""
    if not url:
        return "file", str(output_dir), ""
    parts = urlsplit(url)
    if parts.scheme == "file":
        # file:///srv/clips and file://localhost/srv/clips are /srv/clips; file://data/clips is relative.
        host = "" if parts.netloc == "localhost" else parts.netloc
        folder = unquote(host + parts.path)
        if not folder:
            raise ConfigError("STORAGE_URL: a file:// URL needs a folder, e.g. file:///data/clips")
        return "file", folder, ""
    if parts.scheme == "s3":
        if not parts.netloc or parts.query or parts.fragment or "@" in parts.netloc or ":" in parts.netloc:
            raise ConfigError(
                "STORAGE_URL: an s3:// URL is s3://bucket or s3://bucket/prefix (credentials go in "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            )
        prefix = unquote(parts.path).strip("/")
        if prefix and any(segment in ("", ".", "..") for segment in prefix.split("/")):
            raise ConfigError("STORAGE_URL: the prefix of an s3:// URL has an empty, . or .. part")
        return "s3", parts.netloc, prefix
    raise ConfigError("STORAGE_URL must start with file:// or s3://")


def _warn_if_unmigrated(folder: Path) -> None:
    names = [
        entry.name for entry in folder.iterdir() if entry.is_file() and files.job_of(entry.name) is not None
    ]
    if names:
        log.warning(
            "OUTPUT_DIR %s holds %d clip file(s) of the output folder store; the bucket serves only what "
            "`sora-bot storage migrate` copied into it (the folder may go once it reports failed 0)",
            folder,
            len(names),
        )


def open_storage(settings: Settings, *, working: bool = True) -> Storage:
    """The process's store. A `working` process (the bot's) gets its working folder created if missing and,
    with a bucket, a warning about clips the output folder store left in OUTPUT_DIR."""
    scheme, where, prefix = parse_storage_url(settings.storage_url, settings.output_dir)
    if scheme == "file":
        folder = Path(where)
        folder.mkdir(parents=True, exist_ok=True)
        return FileStorage(folder)
    # The working copies go in a folder of their own, which the retention sweep clears: never OUTPUT_DIR
    # itself, which may still hold an output folder's clips (not migrated yet, or kept as a backup).
    scratch = settings.output_dir / SCRATCH
    if working:  # not `sora-bot storage migrate`: it copies from OUTPUT_DIR and leaves it as it is
        scratch.mkdir(parents=True, exist_ok=True)
        _warn_if_unmigrated(settings.output_dir)
    try:
        return S3Storage(
            scratch,
            bucket=where,
            prefix=prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            retry_seconds=settings.storage_retry_seconds,
            public_endpoint_url=settings.s3_public_endpoint_url,
        )
    except ValueError as exc:  # obstore refuses a bucket name or a configuration
        raise ConfigError(f"STORAGE_URL / S3 settings: {str(exc).splitlines()[0][:200]}") from None
