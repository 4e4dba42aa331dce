"""Where the bot keeps every file it owns: its output folder (`file://`) or an S3-compatible bucket (`s3://`).

`open_storage(settings)` gives the one `Storage` of a process; bot.files names what goes in it."""

from bot.storage.base import Storage
from bot.storage.open import open_storage

__all__ = ["Storage", "open_storage"]
