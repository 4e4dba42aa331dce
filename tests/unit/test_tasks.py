"""bot.tasks: a loop outlives a failed round; a spawned task's failure is logged, not lost."""

from __future__ import annotations

import asyncio

import pytest

from bot.tasks import Loop, spawn


async def test_a_failed_round_does_not_end_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[int] = []
    done = asyncio.Event()

    async def step() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("a database hiccup")
        done.set()

    loop = Loop("test loop", step, 0.01)
    loop.start()
    await asyncio.wait_for(done.wait(), 5)
    assert loop.running
    await loop.stop()
    assert not loop.running and len(rounds) >= 2
    assert "test loop failed" in caplog.text and "a database hiccup" in caplog.text


async def test_a_spawned_task_failure_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def fail() -> None:
        raise ValueError("lost?")

    task = spawn(fail(), "one-off")
    with pytest.raises(ValueError, match="lost"):
        await task
    await asyncio.sleep(0)  # the done-callback runs on the next turn
    assert "task one-off failed" in caplog.text
