"""The media pool runs functions in other processes at a lower priority; a call whose worker died is sent
again to a new pool, one that kills its worker every time fails with MediaCrashed; close stops them all."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.errors import InvalidImage, MediaCrashed
from bot.i18n.messages import speaking
from bot.media.fit import fit_clip
from bot.media.images import MAX_IMAGE_BYTES, prepare_image
from bot.media.pool import NICENESS, TRIES, MediaPool
from bot.media.probe import probe_clip
from bot.media.render import render_clip
from tests.media_faults import KillOnce

# Run in the workers (module level, so they can be sent there).


def whoami() -> tuple[int, int]:
    """This process's id and scheduling priority (its niceness)."""
    return os.getpid(), os.getpriority(os.PRIO_PROCESS, 0)


def scheduler() -> int:
    """This process's scheduling policy."""
    return os.sched_getscheduler(0)


def wait_for(started: Path, release: Path) -> int:
    """Say this process has started the call (its pid in `started`), then wait until `release` exists."""
    started.write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return os.getpid()


def die(record: Path) -> None:
    """Note this worker's pid in `record`, then kill it (as an out-of-memory kill or a codec crash would)."""
    with record.open("a") as out:
        out.write(f"{os.getpid()}\n")
    os.kill(os.getpid(), signal.SIGKILL)


async def gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether the process ends (and is reaped, by the fork server that started it) within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        await asyncio.sleep(0.01)
    return False


async def appears(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        await asyncio.sleep(0.01)


@pytest.fixture
async def pool() -> AsyncIterator[MediaPool]:
    media = MediaPool(1)
    yield media
    await media.close()


async def test_a_function_runs_in_another_process_at_a_lower_priority(pool: MediaPool) -> None:
    pid, priority = await pool.run(whoami)
    assert pid != os.getpid()
    here = os.getpriority(os.PRIO_PROCESS, 0)
    assert priority == min(19, here + NICENESS) > here
    # Linux: the idle class, which runs only on CPU time nothing else wants.
    assert await pool.run(scheduler) == os.SCHED_IDLE != os.sched_getscheduler(0)
    again, _ = await pool.run(whoami)
    assert again == pid  # the worker stays for the next call


async def test_a_call_whose_worker_is_killed_is_sent_again_to_a_new_worker(
    pool: MediaPool, tmp_path: Path
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    call = asyncio.ensure_future(pool.run(wait_for, started, release))
    await appears(started)
    worker = int(started.read_text())
    started.unlink()
    os.kill(worker, signal.SIGKILL)
    await appears(started)  # sent again, to a new worker
    assert int(started.read_text()) != worker
    release.touch()
    assert await call == int(started.read_text())
    assert await gone(worker)


async def test_a_call_that_kills_its_worker_every_time_fails_after_its_tries(
    pool: MediaPool, tmp_path: Path
) -> None:
    record = tmp_path / "pids"
    with pytest.raises(MediaCrashed) as raised:
        await pool.run(die, record)
    assert "die" in raised.value.detail
    pids = [int(line) for line in record.read_text().split()]
    assert len(pids) == len(set(pids)) == TRIES  # each try in a new worker, then given up
    with speaking("de"):  # what a member reads: marked, so translated
        assert raised.value.user_message.startswith("Die Videoverarbeitung des Bots")
    pid, _ = await pool.run(whoami)  # the pool goes on
    assert pid not in (*pids, os.getpid())


async def test_a_clip_is_fitted_through_files_and_a_killed_fit_leaves_no_clip(
    pool: MediaPool, tmp_path: Path
) -> None:
    source, fitted = tmp_path / "clip.mp4", tmp_path / "fitted.mp4"
    render_clip(source, prompt="a pan", width=640, height=360, duration=2, audio=True, seed=1)
    killer = MediaPool(1, before_call=KillOnce("fit_clip", tmp_path / "killed"))
    try:
        # Its first worker dies as the fit starts; it is sent again and made once.
        result = await killer.run(fit_clip, source, fitted, max_bytes=source.stat().st_size // 2)
    finally:
        await killer.close()
    assert (tmp_path / "killed").exists()
    assert result is not None and result.path == fitted
    assert probe_clip(fitted).size_bytes == result.size_bytes <= source.stat().st_size // 2


async def test_errors_come_back_as_raised_with_their_values_in_the_callers_language(pool: MediaPool) -> None:
    with speaking("de"), pytest.raises(InvalidImage) as raised:
        await pool.run(prepare_image, b"\0" * (MAX_IMAGE_BYTES + 2**19), (1280, 720))
    assert raised.value.values["megabytes"] == "20,5"  # written in German, in the worker


async def test_close_stops_the_workers_and_a_call_they_were_running(tmp_path: Path) -> None:
    media = MediaPool(2)
    started, release = tmp_path / "started", tmp_path / "release"
    call = asyncio.ensure_future(media.run(wait_for, started, release))
    await appears(started)
    worker = int(started.read_text())
    await media.close()
    assert await gone(worker, timeout=0.5)  # stopped, not waited for
    with pytest.raises(MediaCrashed):
        await call
    with pytest.raises(MediaCrashed) as closed:
        await media.run(whoami)
    assert "closed" in closed.value.detail


async def test_no_workers_means_threads_of_this_process() -> None:
    media = MediaPool(0)
    pid, priority = await media.run(whoami)
    assert (pid, priority) == (os.getpid(), os.getpriority(os.PRIO_PROCESS, 0))
    await media.close()
