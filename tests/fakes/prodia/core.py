"""`ProdiaCore`: the fake's knobs and state, its lifecycle, and the plumbing every request goes through."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import BodyPartReader, web

from tests.fakes.prodia.constants import _WORK_FIRST_KINDS, API_PREFIX, OutputListStyle
from tests.fakes.prodia.faults import Fault, _as_bytes, _malformed, _without_video
from tests.fakes.prodia.jobs import FakeJob
from tests.fakes.prodia.records import RecordedRequest, _Body, _Reply
from tests.fakes.prodia.sending import _drop, _send, _text, _unauthorized
from tests.fakes.server import FakeServer

Handler = Callable[[web.Request, _Body | None], Awaitable[_Reply]]


class ProdiaCore(FakeServer[RecordedRequest, Fault]):
    """The knobs and state, the lifecycle, and what every route goes through: auth, faults, recording."""

    def __init__(self, *, token: str = "test-token", clip_dir: Path, processing_seconds: float = 0.0) -> None:
        super().__init__()
        self.token = token
        self.clip_dir = Path(clip_dir)
        # How long an accepted job stays "processing" at least (also delays the sync answer).
        self.processing_seconds = processing_seconds
        self.async_refused: set[str] = set()  # job types whose POST /job/async answers 400
        self.stuck = False  # jobs never finish while set (sync requests then never answer)
        self.revoked = False  # every request gets 401 while set (see the `bad_token` fault)
        self.capacity_error = False  # every POST answers 429 + Retry-After while set
        self.reject = False  # every valid POST answers 400 (job error: moderation) while set
        self.retry_after = "1"  # Retry-After of capacity errors and unknown job types
        self.capacity: int | None = None  # most jobs processing at once; a POST beyond answers 429
        self.peak_in_flight = 0  # the most jobs that were processing at once
        self.capacity_refusals = 0  # POSTs refused because `capacity` was reached
        self.clip_bytes_extra = 0  # pad each produced MP4 with a `free` box of this many bytes (0 or >= 8)
        self.output_list_style: OutputListStyle = "json"  # how GET output spells its list
        self.result_ttl: float | None = None  # seconds a finished async job's result is kept (None: forever)
        self.async_refusal_text: str | None = None  # async refusals look like a config error with this text
        self.exact_image_size = True  # img2vid inputs must have exactly the clip's pixel size
        # A slow download: while set, GET file sends half the clip, then waits for the event to send the rest
        # (`downloads_held` counts the downloads that reached the wait).
        self.download_gate: asyncio.Event | None = None
        self.downloads_held = 0
        self.jobs: dict[str, FakeJob] = {}
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._renders: dict[str, asyncio.Task[None]] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 and return the base URL, e.g. ``http://127.0.0.1:PORT/v2``."""
        self.clip_dir.mkdir(parents=True, exist_ok=True)
        self._stopping = asyncio.Event()  # a stopped fake may be started again
        return await super().start(port)

    def _listening(self, origin: str) -> str:
        return super()._listening(f"{origin}{API_PREFIX}")

    async def _closing(self) -> None:
        """Hanging requests are dropped, background jobs cancelled."""
        self._stopping.set()
        pending = [*self._tasks, *self._renders.values()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # -- conveniences for tests --------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        """Queue a fault and return it (so a test can check ``hits`` later)."""
        self.faults.append(fault)
        return fault

    @property
    def in_flight(self) -> int:
        """Jobs accepted and not yet finished (what ``capacity`` counts)."""
        return sum(1 for job in self.jobs.values() if job.state in ("queued", "processing"))

    # -- plumbing ----------------------------------------------------------------------------------------

    async def _serve(self, request: web.Request, route: str | None, work: Handler) -> web.StreamResponse:
        body = await self._read_body(request) if request.method == "POST" and route else None
        rec = self._record(request, route, body)
        if self.revoked or request.headers.get("Authorization") != f"Bearer {self.token}":
            return _unauthorized()
        fault = self._take_fault(rec)
        if fault is not None and not fault.after_work and fault.kind not in _WORK_FIRST_KINDS:
            return await self._inflict(request, route, fault, None)
        reply = await work(request, body)
        if fault is not None:
            return await self._inflict(request, route, fault, reply)
        if route == "GET file" and reply.file is not None and self.download_gate is not None:
            return await self._send_held(request, reply, self.download_gate)
        return await _send(request, reply)

    async def _send_held(
        self, request: web.Request, reply: _Reply, gate: asyncio.Event
    ) -> web.StreamResponse:
        """The clip's first half, then the rest once `gate` is set (or dropped as the fake stops)."""
        assert reply.file is not None
        data = await asyncio.to_thread(reply.file.read_bytes)
        resp = web.StreamResponse(status=reply.status, headers={"Content-Type": "video/mp4", **reply.headers})
        resp.content_length = len(data)
        await resp.prepare(request)
        await resp.write(data[: len(data) // 2])
        self.downloads_held += 1
        released = asyncio.ensure_future(gate.wait())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([released, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            released.cancel()
            stopping.cancel()
        if not gate.is_set():
            return _drop(request, resp)
        with contextlib.suppress(ConnectionError):  # the client gave up meanwhile
            await resp.write(data[len(data) // 2 :])
            await resp.write_eof()
        return resp

    def _record(self, request: web.Request, route: str | None, body: _Body | None) -> RecordedRequest:
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            route=route,
            query=dict(request.query),
            headers={name.lower(): value for name, value in request.headers.items()},
            content_type=request.headers.get("Content-Type", ""),
            job=body.job if body else None,
            inputs=[(name, len(data)) for name, data in body.inputs] if body else [],
            job_id=request.match_info.get("id"),
        )
        self.requests.append(rec)
        return rec

    async def _read_body(self, request: web.Request) -> _Body:
        body = _Body()
        if request.content_type == "application/json":
            raw = await request.read()
            try:
                body.job = json.loads(raw)
            except ValueError:
                body.error = "request body is not valid JSON"
            return body
        if request.content_type != "multipart/form-data":
            body.error = f"unsupported content type '{request.content_type}'"
            return body
        jobs: list[bytes] = []
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    body.error = "nested multipart bodies are not supported"
                    continue
                data = bytes(await part.read())
                if part.name == "job":
                    jobs.append(data)
                elif part.name == "input":
                    body.inputs.append((part.filename, data))
                elif body.error is None:
                    body.error = f"unexpected multipart part '{part.name}'"
        except (ValueError, AssertionError, RuntimeError) as exc:
            body.error = f"unreadable multipart body: {exc}"
            return body
        if body.error is not None:
            return body
        if len(jobs) != 1:
            body.error = f"multipart body needs exactly one 'job' part, got {len(jobs)}"
            return body
        try:
            body.job = json.loads(jobs[0])
        except ValueError:
            body.error = "the 'job' part is not valid JSON"
        return body

    # -- faults ------------------------------------------------------------------------------------------

    async def _inflict(
        self, request: web.Request, route: str | None, fault: Fault, reply: _Reply | None
    ) -> web.StreamResponse:
        kind = fault.kind
        if kind == "status":
            data, ctype = _as_bytes(
                fault.body if fault.body is not None else f"fake fault: HTTP {fault.status}"
            )
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return web.Response(status=fault.status, body=data, content_type=ctype, headers=headers)
        if kind == "hang":
            await self._stopping.wait()
            return _drop(request)
        if kind == "drop":
            return _drop(request)
        if kind == "not_found":
            return _text(404, "job not found")
        if kind == "bad_token":
            self.revoked = True
            return _unauthorized()
        assert reply is not None, "work-first faults always have a reply"
        if kind == "truncate":
            return await _send(request, reply, truncate=True)
        if kind == "malformed":
            return await _send(request, _malformed(route, fault))
        return await _send(request, _without_video(route, fault, reply))
