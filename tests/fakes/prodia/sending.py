"""Turning a `_Reply` into HTTP: plain, file or multipart answers, truncated ones, dropped connections."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from aiohttp import MultipartWriter, web

from tests.fakes.prodia.constants import _CHUNK
from tests.fakes.prodia.jobs import _iso
from tests.fakes.prodia.records import _Reply

if TYPE_CHECKING:
    from aiohttp.abc import AbstractStreamWriter


class _Cut(Exception):
    """Raised by `_Writer` once a truncated body reached its limit."""


class _Writer:
    """Forwards a MultipartWriter's output to a response, optionally stopping after ``limit`` bytes."""

    def __init__(self, resp: web.StreamResponse, limit: int | None = None) -> None:
        self._resp = resp
        self._limit = limit
        self._sent = 0

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._limit is not None and self._sent + len(data) >= self._limit:
            await self._resp.write(bytes(data[: self._limit - self._sent]))
            self._sent = self._limit
            raise _Cut
        await self._resp.write(data)
        self._sent += len(data)


def _invalid(message: str, job: Any) -> _Reply:
    """Prodia's answer to a job it refuses: 400 multipart whose ``job`` part carries ``id`` and ``error``."""
    now = _iso(datetime.now(UTC))
    data: dict[str, Any] = {"id": str(uuid.uuid4())}
    if isinstance(job, dict) and isinstance(job.get("type"), str):
        data["type"] = job["type"]
    data.update({"created_at": now, "updated_at": now, "state": {"current": "failed"}, "error": message})
    return _Reply(400, multipart_job=json.dumps(data).encode())


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def _unauthorized() -> web.Response:
    return _text(401, "token is invalid")


def _drop(request: web.Request, resp: web.StreamResponse | None = None) -> web.StreamResponse:
    """Close the connection under the client's feet.

    Whatever aiohttp then tries to write fails with a ConnectionError, which it swallows quietly, so the
    returned response is never seen.
    """
    if request.transport is not None:
        request.transport.close()
    return resp if resp is not None else web.Response(status=500)


async def _send(request: web.Request, reply: _Reply, *, truncate: bool = False) -> web.StreamResponse:
    if reply.drop:
        return _drop(request)
    if reply.multipart_job is not None:
        return await _send_multipart(request, reply, truncate=truncate)
    if reply.file is not None:
        if not truncate:
            headers = {"Content-Type": "video/mp4", **reply.headers}
            return web.FileResponse(reply.file, status=reply.status, headers=headers, chunk_size=_CHUNK)
        resp = web.StreamResponse(status=reply.status, headers={"Content-Type": "video/mp4", **reply.headers})
        size = reply.file.stat().st_size
        resp.content_length = size
        await resp.prepare(request)
        left = size // 2
        with reply.file.open("rb") as fh:
            while left > 0:
                chunk = await asyncio.to_thread(fh.read, min(_CHUNK, left))
                if not chunk:
                    break
                await resp.write(chunk)
                left -= len(chunk)
        return _drop(request, resp)
    if not truncate:
        return web.Response(
            status=reply.status, body=reply.data, content_type=reply.content_type, headers=reply.headers
        )
    resp = web.StreamResponse(status=reply.status, headers=reply.headers)
    resp.content_type = reply.content_type
    # A tiny body cannot be halved meaningfully: promise more than it has instead.
    resp.content_length = len(reply.data) if len(reply.data) >= 2 else len(reply.data) + 16
    await resp.prepare(request)
    await resp.write(reply.data[: len(reply.data) // 2] if len(reply.data) >= 2 else reply.data)
    return _drop(request, resp)


async def _send_multipart(request: web.Request, reply: _Reply, *, truncate: bool) -> web.StreamResponse:
    assert reply.multipart_job is not None
    resp = web.StreamResponse(status=reply.status, headers=reply.headers)
    with contextlib.ExitStack() as stack:
        writer = MultipartWriter("form-data")
        part = writer.append(reply.multipart_job, {"Content-Type": "application/json"})
        part.set_content_disposition("form-data", name="job", filename="job.json")
        if reply.file is not None:
            # A file payload is streamed in chunks by aiohttp, so large clips never sit in memory.
            fh = stack.enter_context(reply.file.open("rb"))
            part = writer.append(fh, {"Content-Type": "video/mp4"})
            part.set_content_disposition("form-data", name="output", filename="video.mp4")
        resp.headers["Content-Type"] = writer.content_type
        size = writer.size
        if size is not None:
            resp.content_length = size
        await resp.prepare(request)
        if truncate:
            limit = (size or 2) // 2
            with contextlib.suppress(_Cut):
                await writer.write(cast("AbstractStreamWriter", _Writer(resp, limit)))
            return _drop(request, resp)
        await writer.write(cast("AbstractStreamWriter", _Writer(resp)))
        await resp.write_eof()
    return resp
