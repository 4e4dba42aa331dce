"""The store a process uses, from its settings."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot.errors import ConfigError
from bot.settings import Settings
from bot.storage.base import Storage
from bot.storage.local import FileStorage
from bot.storage.s3 import S3Storage


def parse_storage_url(url: str | None, output_dir: Path) -> tuple[str, str, str]:
    """(scheme, bucket or folder, prefix) of a STORAGE_URL; unset: the output folder."""
    if not url:
        return "file", str(output_dir), ""
    parts = urlsplit(url)
    if parts.scheme == "file":
        folder = unquote(parts.netloc + parts.path)
        if not folder:
            raise ConfigError("STORAGE_URL: a file:// URL needs a folder, e.g. file:///data/clips")
        return "file", folder, ""
    if parts.scheme == "s3":
        if not parts.netloc or parts.query or parts.fragment or "@" in parts.netloc:
            raise ConfigError(
                "STORAGE_URL: an s3:// URL is s3://bucket or s3://bucket/prefix (credentials go in "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            )
        return "s3", parts.netloc, unquote(parts.path).strip("/")
    raise ConfigError("STORAGE_URL must start with file:// or s3://")


def open_storage(settings: Settings) -> Storage:
    """The process's store; its working folder (OUTPUT_DIR) is created if missing."""
    scheme, where, prefix = parse_storage_url(settings.storage_url, settings.output_dir)
    if scheme == "file":
        folder = Path(where)
        folder.mkdir(parents=True, exist_ok=True)
        return FileStorage(folder)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    return S3Storage(
        settings.output_dir,
        bucket=where,
        prefix=prefix,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        retry_seconds=settings.storage_retry_seconds,
    )
