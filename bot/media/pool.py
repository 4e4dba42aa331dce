"""CPU-heavy media work (re-encodes, posters, previews, frames, input images, the local renderer, stitching)
in worker processes at a lower scheduling priority, so it never holds the bot's GIL nor takes a core from its
event loop. Functions are module-level and exchange paths: clips stream from and to files, never through the
pipe. A worker that dies breaks its pool (CPython fails every call in it): the calls are sent again to a new
pool, and one that kills its worker every time fails with MediaCrashed (its caller retries, within bounds)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ParamSpec, TypeVar

from bot.errors import MediaCrashed
from bot.i18n.messages import current, speaking

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Added to a worker's niceness: the event loop (and Discord's 3 s acknowledgement deadline) comes first.
NICENESS = 10
# Imported once by the fork server: each new worker is forked with PyAV and Pillow loaded, not loading them on
# its first call.
PRELOAD = ["bot.media.fit", "bot.media.images", "bot.media.render", "bot.media.stitch"]
# How many times a call is sent to a pool that breaks under it before it fails with MediaCrashed.
TRIES = 3
# Seconds close() waits for the workers it stopped.
CLOSE_SECONDS = 10.0

# Runs in the worker before each call, with the function called (a test's way to kill a worker mid-call).
BeforeCall = Callable[[Callable[..., Any]], None]


class MediaPool:
    """Runs media functions in at most `max_workers` worker processes at once (0: in threads of this process,
    as `asyncio.to_thread` would). The processes are started from a fork server, never forked from the bot:
    forking a threaded asyncio process can copy a lock some other thread held. As with any such pool, a worker
    imports the program's main module, so a script using it starts under `if __name__ == "__main__":`."""

    def __init__(
        self, max_workers: int, *, niceness: int = NICENESS, before_call: BeforeCall | None = None
    ) -> None:
        if max_workers < 0:
            raise ValueError(f"max_workers must be 0 or more, got {max_workers}")
        self.max_workers = max_workers
        self._niceness = niceness
        self._before_call = before_call  # tests only
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)  # before the fork server starts (the first call)
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` in a worker process, in the language of the moment; its result or exception.

        A worker that dies breaks the whole pool under CPython: every call in it fails, not only the one that
        killed it. So a call whose pool broke (or that could not reach a worker) is sent again to a new pool,
        up to TRIES times in all: a call that kills its worker each time ends in MediaCrashed, the others
        that only shared its pool go through."""
        if self.max_workers == 0:
            return await asyncio.to_thread(fn, *args, **kwargs)
        name = getattr(fn, "__qualname__", repr(fn))
        for attempt in range(1, TRIES + 1):
            if self._closed:
                raise MediaCrashed(f"the media pool closed before {name} ran")
            executor = self._current()
            try:
                future = await self._submit(executor, fn, args, kwargs)
            except (BrokenProcessPool, RuntimeError, OSError, EOFError) as exc:
                # The pool broke (or was shut down, or could not start a worker) before this call reached it:
                # nothing of it ran.
                self._discard(executor)
                log.warning("media call %s not started (%s); try %d of %d", name, exc, attempt, TRIES)
                continue
            # Shielded: a caller that stops waiting (cancelled) leaves the call to finish or fail where it
            # runs. Cancelling its future instead would let a pool that breaks later try to fail a cancelled
            # future, which raises in the executor's own thread (CPython 3.11) instead of failing the rest.
            wrapped = asyncio.wrap_future(future)
            wrapped.add_done_callback(_retrieved)
            try:
                return await asyncio.shield(wrapped)
            except BrokenProcessPool as exc:
                self._discard(executor)
                if self._closed:  # (closing stops the workers)
                    raise MediaCrashed(f"the media pool closed while {name} ran") from None
                log.warning("a media process died while %s ran (%s); try %d of %d", name, exc, attempt, TRIES)
        raise MediaCrashed(f"the media process running {name} died {TRIES} times")

    async def _submit(
        self,
        executor: ProcessPoolExecutor,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Future[T]:
        # In a thread: a submit may start a worker (and, the first time, the fork server), which waits for it.
        return await asyncio.to_thread(executor.submit, _call, current(), self._before_call, fn, args, kwargs)

    def _current(self) -> ProcessPoolExecutor:
        if self._closed:
            raise RuntimeError("the media pool is closed")
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.max_workers,
                mp_context=self._context,
                initializer=_lower_priority,
                initargs=(self._niceness,),
            )
        return self._executor

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        """Let the next call start a new pool in place of `broken` (once, however many calls saw it break)."""
        if self._executor is broken:
            self._executor = None
            broken.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        """Stop the workers, those still running a call too (the scheduler has handed their jobs back by then:
        a re-encode left unfinished is made again by the next run), and wait for them."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is None:
            return
        processes = list((executor._processes or {}).values())
        for process in processes:
            if process.is_alive():
                process.terminate()
        await asyncio.to_thread(_join, processes)
        await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Take a finished call's outcome, so one nobody awaits any more is not reported as never retrieved."""
    if not future.cancelled():
        future.exception()


def _lower_priority(niceness: int) -> None:
    """A worker's initializer: yield the CPU to the bot's own process. Linux's SCHED_IDLE runs the worker only
    on CPU time nothing else wants (a nice-0 thread that wakes up takes the core at once); elsewhere, nice."""
    os.nice(niceness)
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _call(
    locale: str,
    before: BeforeCall | None,
    fn: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> T:
    """In the worker: `fn` in the caller's language (an error's values are written in it, as in a thread)."""
    if before is not None:
        before(fn)
    with speaking(locale):
        return fn(*args, **kwargs)


def _join(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    for process in processes:
        process.join(CLOSE_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
