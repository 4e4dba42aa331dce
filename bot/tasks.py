"""The one way to run background work: a named task whose failure is logged, kept referenced while it runs,
and a `Loop` that repeats a step on a period until stopped (a failed step is logged; the loop goes on)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

# Running tasks started by `spawn`: the event loop keeps only weak references, so a bare task can vanish.
_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """create_task with a name, a reference kept until it ends and a failure logged instead of lost."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s failed", task.get_name(), exc_info=task.exception())


class Loop:
    """Runs `step` every `seconds` (after `before`, if given; after one period with `wait_first`) from
    `start()` until `stop()`."""

    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[object]],
        seconds: float,
        *,
        before: Callable[[], Awaitable[object]] | None = None,
        wait_first: bool = False,
    ) -> None:
        self.name = name
        self._step = step
        self._seconds = seconds
        self._before = before
        self._wait_first = wait_first  # a period before the first step, not after
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = spawn(self._run(), self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if self._before is not None:
            await self._before()
        if self._wait_first:
            await asyncio.sleep(self._seconds)
        while True:
            try:
                await self._step()
            except Exception:
                # One failed round (a database hiccup) must not end the loop.
                log.exception("%s failed; trying again in %.0f s", self.name, self._seconds)
            await asyncio.sleep(self._seconds)
