"""What the bot's HTTP session with Discord tells the metrics, through aiohttp's tracing (discord.py's
`http_trace`). Every request the bot makes to Discord goes through that one session: REST calls, interaction
callbacks and webhooks (followups, the clip's posts) alike, each attempt of a retry included, which catching
`discord.HTTPException` where requests are made would miss (discord.py retries 429s and 5xx itself)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import TypeVar

import aiohttp
import discord
import yarl

from bot.services.metrics import Metrics

log = logging.getLogger(__name__)

P = TypeVar("P")
Callback = Callable[[aiohttp.ClientSession, SimpleNamespace, P], Awaitable[None]]


def discord_trace(metrics: Metrics, trace: aiohttp.TraceConfig | None = None) -> aiohttp.TraceConfig:
    """`trace` (a new one when None) made to count, for the bot's Discord session, errors by status, bytes
    uploaded and the time to answer an interaction. discord.py takes one trace config: one the caller brings
    keeps its own callbacks."""

    async def headers_sent(
        _: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestHeadersSentParams
    ) -> None:
        # Files go as multipart bodies; a JSON body carries none.
        ctx.upload = params.headers.get("Content-Type", "").startswith("multipart/")

    async def chunk_sent(
        _: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestChunkSentParams
    ) -> None:
        if getattr(ctx, "upload", False):
            metrics.uploaded(len(params.chunk))

    async def request_end(
        _: aiohttp.ClientSession, __: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        status = params.response.status
        metrics.discord_answer(status)
        interaction_id = _answered_interaction(params.method, params.url)
        if interaction_id is not None and status < 300:
            created = discord.utils.snowflake_time(interaction_id).timestamp()
            metrics.interaction_answered(time.time() - created)

    if trace is None:
        trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_observer(headers_sent))
    trace.on_request_chunk_sent.append(_observer(chunk_sent))
    trace.on_request_end.append(_observer(request_end))
    return trace


def _answered_interaction(method: str, url: yarl.URL) -> int | None:
    """The interaction's id when the request is its callback (the first response or defer), else None."""
    # POST .../interactions/{interaction_id}/{token}/callback: the only request that can answer one first.
    parts = url.path.rstrip("/").split("/")
    if method != "POST" or len(parts) < 4 or parts[-1] != "callback" or parts[-4] != "interactions":
        return None
    return int(parts[-3]) if parts[-3].isdigit() else None


def _observer(callback: Callback[P]) -> Callback[P]:
    """The callback, made unable to change the request's outcome: aiohttp awaits it inside the request."""

    async def observe(session: aiohttp.ClientSession, ctx: SimpleNamespace, params: P) -> None:
        try:
            await callback(session, ctx, params)
        # A broken count is logged and the request goes on (the URL is not logged: it can hold a token).
        except Exception:
            log.warning("could not count a Discord request for the metrics", exc_info=True)

    return observe
