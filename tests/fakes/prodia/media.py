"""The fake's MP4s: rendering a clip into the cache, and padded copies (a trailing ``free`` box)."""

from __future__ import annotations

import os
import shutil
import struct
import uuid
from pathlib import Path


def free_box_header(size: int) -> bytes:
    """Header of a top-level MP4 ``free`` box whose total size (header included) is ``size``."""
    if size < 8:
        raise ValueError("an MP4 box is at least 8 bytes")
    if size <= 0xFFFFFFFF:
        return struct.pack(">I4s", size, b"free")
    # 64-bit "largesize" form: size field 1, then the real size after the type.
    return struct.pack(">I4sQ", 1, b"free", size)


def write_padded_copy(source: Path, dest: Path, extra: int) -> None:
    """Copy ``source`` to ``dest`` plus a trailing ``free`` box of ``extra`` bytes, never held in memory."""
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        shutil.copyfile(source, tmp)
        with tmp.open("r+b") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            fh.write(free_box_header(extra))
            # Extending with truncate() fills with zeros (sparse on most filesystems): no payload in memory.
            fh.truncate(end + extra)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def _render(
    path: Path,
    *,
    prompt: str,
    width: int,
    height: int,
    duration: int,
    audio: bool,
    image: Path | None,
    seed: int | None,
) -> None:
    """Render into a temporary file and rename, so a cached clip is either complete or absent."""
    from bot.media.render import render_clip

    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp.mp4")
    try:
        render_clip(
            tmp,
            prompt=prompt,
            width=width,
            height=height,
            duration=duration,
            audio=audio,
            image=image,
            seed=seed,
        )
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
