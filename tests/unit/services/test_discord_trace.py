"""The Discord session's trace: what it counts from real requests to a local HTTP server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from aiohttp import web

from bot.services.discord_trace import discord_trace
from bot.services.metrics import Metrics

CLIP = b"\x00\x01" * 50_000


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """Answers 204 to an interaction callback, 404 under /missing, else 200 after reading the body."""

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        if "/missing/" in request.path:
            return web.json_response({"message": "Unknown Message", "code": 10008}, status=404)
        return web.Response(status=204 if request.path.endswith("/callback") else 200)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/api/v10"
    await runner.cleanup()


async def test_errors_uploads_and_interaction_answers_are_counted(server: str) -> None:
    metrics = Metrics()
    get = metrics.registry.get_sample_value
    async with aiohttp.ClientSession(trace_configs=[discord_trace(metrics)]) as session:
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("payload_json", '{"content": "the clip"}', content_type="application/json")
        form.add_field("files[0]", CLIP, filename="sora-1.mp4", content_type="video/mp4")
        async with session.post(f"{server}/channels/1/messages", data=form) as response:
            assert response.status == 200
        uploaded = get("sora_discord_upload_bytes_total")
        assert (
            uploaded is not None and len(CLIP) < uploaded < len(CLIP) + 1024
        )  # the file and its part headers

        # A JSON body uploads no file; a 404 is an error by its status.
        async with session.patch(f"{server}/missing/2", json={"content": "x" * 5000}) as response:
            assert response.status == 404
        assert get("sora_discord_upload_bytes_total") == uploaded
        assert get("sora_discord_errors_total", {"status": "404"}) == 1

        # The callback answers the interaction: timed from its id's creation. Other webhook posts aren't.
        before = time.time()
        interaction_id = discord.utils.time_snowflake(discord.utils.utcnow()) - (1000 << 22)  # 1 s ago
        async with session.post(f"{server}/interactions/{interaction_id}/a-token/callback", json={"type": 5}):
            pass
        async with session.post(f"{server}/webhooks/1/a-token", json={"content": "a followup"}):
            pass
        assert get("sora_interaction_answer_seconds_count") == 1
        answered = get("sora_interaction_answer_seconds_sum")
        assert answered is not None and 1.0 <= answered <= 1.0 + (time.time() - before) + 0.001


async def test_a_failing_count_does_not_change_the_requests_outcome(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()

    def broken(status: int) -> None:
        raise RuntimeError("the registry is broken")

    metrics.discord_answer = broken  # type: ignore[method-assign]
    async with (
        aiohttp.ClientSession(trace_configs=[discord_trace(metrics)]) as session,
        session.get(f"{server}/interactions/secret-token-here") as response,
    ):
        assert response.status == 200
    assert "could not count a Discord request" in caplog.text
    assert "secret-token-here" not in caplog.text


async def test_a_trace_the_caller_brings_keeps_its_callbacks_and_counts_too(server: str) -> None:
    metrics, started = Metrics(), []

    async def record(_: aiohttp.ClientSession, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
        started.append(params.url.path)

    own = aiohttp.TraceConfig()
    own.on_request_start.append(record)
    assert discord_trace(metrics, own) is own
    async with aiohttp.ClientSession(trace_configs=[own]) as session, session.get(f"{server}/missing/3"):
        pass
    assert started == ["/api/v10/missing/3"]
    assert metrics.registry.get_sample_value("sora_discord_errors_total", {"status": "404"}) == 1
