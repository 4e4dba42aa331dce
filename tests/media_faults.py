"""What a test does to a media worker process (bot.media.pool): kill it, for real, on a chosen call."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class KillOnce:
    """A pool's `before_call`: SIGKILLs the worker the first time it is to run the function named `name`,
    its pid written to `marker` (which, shared by every worker, makes it once)."""

    name: str
    marker: Path

    def __call__(self, fn: Callable[..., Any]) -> None:
        if getattr(fn, "__name__", None) != self.name:
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # killed once already
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)

    def killed(self) -> int | None:
        """The pid of the worker killed, once it was."""
        return int(self.marker.read_text()) if self.marker.exists() else None
