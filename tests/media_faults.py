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
    """A pool's `before_call`: SIGKILLs the worker the first `times` times it is to run the function named
    `name`, each pid written to `marker` (then `marker`.2, .3 ...; shared by every worker, so it counts)."""

    name: str
    marker: Path
    times: int = 1

    def __call__(self, fn: Callable[..., Any]) -> None:
        if getattr(fn, "__name__", None) != self.name:
            return
        for n in range(self.times):
            try:
                fd = os.open(self._marker(n), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue  # killed this time already
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)

    def _marker(self, n: int) -> Path:
        return self.marker if n == 0 else self.marker.with_name(f"{self.marker.name}.{n + 1}")

    def killed(self) -> int | None:
        """The pid of the (first) worker killed, once it was."""
        return int(self.marker.read_text()) if self.marker.exists() else None

    def kills(self) -> list[int]:
        """The pids of every worker killed so far."""
        return [int(self._marker(n).read_text()) for n in range(self.times) if self._marker(n).exists()]
