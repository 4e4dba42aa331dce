"""Clips in a bucket (the local S3 server): the real bot keeps its files there and nowhere else, survives a
bucket that stops answering mid-job without losing the paid clip or paying twice, and retention deletes its
files and nothing else in the bucket."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
from PIL import Image

from bot.client import SoraBot
from bot.domain.models import JobState
from tests.e2e.conftest import World, finished, until
from tests.fakes.tcp_proxy import TcpProxy
from tests.s3 import S3Server

pytestmark = pytest.mark.parametrize("storage", ["s3"], indirect=True)


def _still() -> dict[str, tuple[str, bytes, str]]:
    data = io.BytesIO()
    Image.new("RGB", (320, 240), (40, 90, 200)).save(data, format="PNG")
    return {"pic": ("pic.png", data.getvalue(), "image/png")}


@pytest.fixture
async def proxy(world: World) -> AsyncIterator[TcpProxy]:
    """The bot reaches the S3 server only through this proxy, which a test can cut."""
    endpoint = urlsplit(world.storage["s3_endpoint_url"])
    tcp = TcpProxy(endpoint.hostname or "127.0.0.1", endpoint.port or 80)
    await tcp.start()
    world.storage["s3_endpoint_url"] = urlunsplit(("http", f"127.0.0.1:{tcp.port}", "", "", ""))
    try:
        yield tcp
    finally:
        await tcp.stop()


async def _paid_while_the_bucket_is_cut(
    world: World, bot: SoraBot, proxy: TcpProxy, caplog: pytest.LogCaptureFixture, prompt: str
) -> float:
    """Job 1 at Prodia, then the bucket cut off: once the clip came back, storing it has failed; the job is
    still running (not failed, not delivering). Returns when the job started."""
    await world.video_answer(prompt=prompt)

    async def running() -> bool:
        job = await bot.pipeline.store.get(1)
        return job is not None and job.state is JobState.RUNNING

    await until(running, what="job 1 at Prodia")
    await proxy.cut()
    await until(lambda: "storage unavailable" in caplog.text, timeout=30, what="the failed upload")
    job = await bot.pipeline.store.get(1)
    assert job is not None and job.state is JobState.RUNNING and job.started_at is not None
    return job.started_at


def _bucket(world: World) -> str:
    return urlsplit(world.storage["storage_url"]).netloc


def _working_files(world: World) -> list[str]:
    return sorted(
        str(p.relative_to(world.tmp / "clips")) for p in (world.tmp / "clips").rglob("*") if p.is_file()
    )


async def test_a_clip_and_its_image_live_in_the_bucket_and_no_working_copy_stays(
    world: World, s3_server: S3Server
) -> None:
    async with world.bot() as bot:
        answer = await world.video_answer(prompt="a blue kite", image="pic", attachments=_still())
        assert answer.get("embeds"), answer
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        assert job.output_path == f"{world.storage['storage_url']}/1.mp4"
        [posted] = await until(world.clips, what="the clip")
        stored = s3_server.objects(_bucket(world))
        image = f"clips/{job.request.image_path}"
        assert set(stored) == {"clips/1.mp4", image}, stored
        assert stored["clips/1.mp4"] == len(world.fake.attachment_bytes(posted["attachments"][0]))

        # /show reads the clip back from the bucket on a borrowed copy, gone once it is posted.
        token = await world.command("show", world.bob, job_id=1)
        await until(lambda: len(world.clips()) == 2, what="the clip shown again")
        assert "shown again" in world.clips()[1]["content"], world.answer(token)
        assert _working_files(world) == []


async def test_a_bucket_that_stops_answering_keeps_the_paid_clip_and_delivers_it_once_when_it_is_back(
    world: World, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    world.prodia.processing_seconds = 1.0
    overrides = {"lease_seconds": 1.5, "storage_retry_seconds": 0.5, "job_timeout_seconds": 4.0}
    async with world.bot(metrics_port=0, **overrides) as bot:
        started = await _paid_while_the_bucket_is_cut(
            world, bot, proxy, caplog, "a clip the bucket can't take yet"
        )
        # Down for longer than the job's timeout: the paid clip is here, so the job is not timed out.
        await asyncio.sleep(max(0.0, started + 5.0 - time.time()))
        job = await bot.pipeline.store.get(1)
        assert job is not None
        assert job.state is JobState.RUNNING, job.error
        assert (world.tmp / "clips" / "scratch" / "1.mp4").is_file()  # kept until the store takes it
        assert world.clips() == []
        port = bot.ops_port
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as ready:
            assert ready.status == 503 and "storage unreachable" in await ready.text()

        proxy.restore()
        done = await finished(bot, 1)
        assert done.state is JobState.DELIVERED, done.error
        await until(lambda: len(world.clips()) == 1, what="the clip")
        assert len(world.prodia.jobs) == 1  # never sent twice
        downloads = [r for r in world.prodia.requests if r.route == "GET file"]
        assert len(downloads) == 1  # nor fetched again: the clip was kept here
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("commit", 0.4)]
        # The kept copy goes once the store has the clip (just after the post: wait for it, don't race it).
        await until(lambda: _working_files(world) == [], what="the kept copy deleted")
    assert len(world.clips()) == 1


async def test_retention_deletes_the_bots_files_from_the_bucket_and_nothing_else(
    world: World, s3_server: S3Server
) -> None:
    async with world.bot() as bot:
        await world.video_answer(prompt="a clip to expire", image="pic", attachments=_still())
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED
        storage = bot.pipeline.storage
        await storage.put_bytes("1.poster-320.jpg", b"poster")
        await storage.put_bytes("notes.txt", b"the operator's")
        await storage.put_bytes("2.mp4.bak", b"the operator's too")
        async with bot.pipeline.db.transaction() as conn:
            await conn.execute("UPDATE jobs SET finished_at = finished_at - 5184000")  # 60 days ago
        assert await bot.pipeline.scheduler.clean_old_clips() == 1
        assert set(s3_server.objects(_bucket(world))) == {"clips/notes.txt", "clips/2.mp4.bak"}
        after = await bot.pipeline.store.get(1)
        assert after is not None and after.output_path is None
    assert not any(Path(world.tmp).glob("clips/.work-*"))


async def test_a_paid_clip_the_bucket_refused_past_the_timeout_is_delivered_after_a_restart(
    world: World, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker holding the clip stops while the bucket is down, after the job's timeout: the next one
    fetches the clip from Prodia again by its id (it is paid for: no timeout applies) and delivers it."""
    caplog.set_level(logging.WARNING)
    world.prodia.processing_seconds = 1.0
    overrides = {"lease_seconds": 1.5, "storage_retry_seconds": 0.5, "job_timeout_seconds": 3.0}
    async with world.bot(**overrides) as bot:
        started = await _paid_while_the_bucket_is_cut(
            world, bot, proxy, caplog, "a clip that outlives its worker"
        )
        await asyncio.sleep(max(0.0, started + 3.5 - time.time()))  # past the timeout
    proxy.restore()
    async with world.bot(**overrides) as bot:
        done = await finished(bot, 1)
        assert done.state is JobState.DELIVERED, done.error
        await until(lambda: len(world.clips()) == 1, what="the clip")
    assert len(world.prodia.jobs) == 1  # never sent twice: fetched again by its id
    assert len([r for r in world.prodia.requests if r.route == "GET file"]) == 2
