"""The database going away (PostgreSQL restarting, the network to it failing) while the bot runs: commands
are refused with a clear private message and nothing is stored; a job at Prodia is not failed but resumed
once the database answers again, and delivered once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from bot.domain.models import JobState
from tests.conftest import postgres_database
from tests.e2e.conftest import World, all_jobs, finished, until
from tests.fakes.tcp_proxy import TcpProxy


@pytest.fixture
async def proxy(world: World) -> AsyncIterator[TcpProxy]:
    """The bot reaches its PostgreSQL database only through this proxy."""
    async with postgres_database() as url:
        parts = urlsplit(url)
        tcp = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
        await tcp.start()
        world.database_url = url.replace(f":{parts.port or 5432}/", f":{tcp.port}/")
        try:
            yield tcp
        finally:
            await tcp.stop()


async def _running(world: World, bot: object) -> bool:
    jobs = await bot.pipeline.store.list_jobs(states=[JobState.RUNNING])  # type: ignore[attr-defined]
    return bool(jobs)


async def test_a_job_at_prodia_survives_the_database_going_away(
    world: World, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    world.prodia.processing_seconds = 1.0
    async with world.bot(lease_seconds=1.5) as bot:
        await world.video(prompt="a lighthouse in a storm")
        await until(lambda: _running(world, bot), what="the job at Prodia")
        await proxy.cut()  # Prodia finishes the clip while the database is gone
        # Down until storing the finished clip failed (a fixed pause raced the bot's next poll of Prodia).
        await until(lambda: "job 1: database unavailable" in caplog.text, timeout=30, what="the failed store")
        proxy.restore()
        job = await finished(bot, 1, timeout=30)
        assert job.state is JobState.DELIVERED, (job.state, job.error)
        assert [kind for kind, _ in await bot.pipeline.store.ledger(1)] == ["reserve", "commit"]
    assert proxy.refused > 0  # the bot did try while it was down
    assert len(world.clips()) == 1
    assert len(world.prodia.jobs) == 1  # resumed by its Prodia id, never sent again
    # It really was caught: storing the finished clip failed, and the job was picked up again, not failed.
    assert (
        "job 1: database unavailable" in caplog.text
        and "resuming it when the database is back" in caplog.text
    )
    assert "job 1 running -> failed" not in caplog.text


async def test_a_command_while_the_database_is_down_is_refused_privately(
    world: World, proxy: TcpProxy
) -> None:
    async with world.bot() as bot:
        await proxy.cut()
        answer = await world.video_answer(prompt="a quiet harbour at dawn")
        assert "database can't be reached" in str(answer.get("content")), answer
        proxy.restore()
        assert await all_jobs(bot) == []  # nothing was stored, nothing reserved
        answer = await world.video_answer(prompt="a quiet harbour at dawn")
        assert answer.get("embeds"), answer  # and once it is back, the next one is accepted
        assert len(await all_jobs(bot)) == 1
